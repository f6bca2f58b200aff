//! Control characters from data in the report (issue 20, item 10): escaped
//! by `rollout_core::printable` in the human and Markdown forms, exact in
//! JSON.

use baseline_diff::{compare_paths, render};
use rollout_core::{Format, Style};
use serde_json::json;

use crate::fixtures::*;

/// The first character of `text` that acts on a terminal: a C0 control but
/// the line break and the tab, DEL, a C1 control (CSI is U+009B) or a
/// bidirectional override.
fn acts_on_a_terminal(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

#[test]
fn control_characters_from_data_are_escaped_for_people_and_exact_in_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, cand) = (dir.path().join("base"), dir.path().join("cand"));
    std::fs::create_dir_all(&base).expect("mkdir");
    std::fs::create_dir_all(&cand).expect("mkdir");
    let variant = "\u{1b}[31mlegacy\u{9b}2J\u{202e}";
    let key = "\u{1b}[2Jkey\u{202e}";
    let stream_name = "run\u{1b}]0;pwned\u{7}.jsonl";
    jsonl(&base.join(stream_name), &stream(&[2, 3]));
    let mut lines = stream(&[2, 3]);
    lines[0] = snapshot(1, variant, 0.0);
    lines[2] = diff(3, 0.0, json!({ key: 1 }), &[]);
    jsonl(&cand.join(stream_name), &lines);
    let doc_name = "doc\u{9b}1m.json";
    std::fs::write(base.join(doc_name), json!({ key: "a\u{9b}b" }).to_string()).expect("write");
    std::fs::write(
        cand.join(doc_name),
        json!({ key: "a\u{202e}c" }).to_string(),
    )
    .expect("write");

    let report = compare_paths(&settings(), &base, &cand).expect("compare");
    for format in [Format::Human, Format::Markdown] {
        let text = render(&report, format, Style::new(false)).expect("render");
        assert_eq!(acts_on_a_terminal(&text), None, "{format:?}:\n{text}");
        assert!(text.contains("run\\x1b]0;pwned\\x07.jsonl"), "{text}");
        assert!(text.contains("doc\\u{9b}1m.json"), "{text}");
        assert!(text.contains("\\x1b[31mlegacy\\u{9b}2J\\u{202e}"), "{text}");
        assert!(text.contains("\\x1b[2Jkey\\u{202e}"), "{text}");
    }

    // JSON keeps every name and value exact.
    let text = render(&report, Format::Json, Style::new(false)).expect("render");
    let parsed: serde_json::Value = serde_json::from_str(&text).expect("json");
    let files = parsed["files"].as_array().expect("files");
    let paths: Vec<&str> = files.iter().filter_map(|f| f["path"].as_str()).collect();
    assert!(
        paths.contains(&stream_name) && paths.contains(&doc_name),
        "{paths:?}"
    );
    let mut strings = Vec::new();
    collect_strings(&parsed, &mut strings);
    for exact in [variant, key, "a\u{202e}c"] {
        assert!(
            strings.iter().any(|s| s.contains(exact)),
            "{exact:?} not in {strings:?}"
        );
    }
}

/// Every string of a JSON document, keys included.
fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                out.push(key.clone());
                collect_strings(item, out);
            }
        }
        _ => {}
    }
}
