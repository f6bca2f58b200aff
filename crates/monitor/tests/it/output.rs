//! The human report, as a reviewed snapshot.

use monitor::{Input, Kind, render};

use crate::fixtures::evaluate;
use rollout_core::Style;

use crate::fixtures::{self, Keys};

#[test]
fn human_report_lists_every_rule_with_alerts_and_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(
        dir.path(),
        "drop_warning_per_100_ticks: 5\ndrop_critical_per_100_ticks: 50",
    );
    let mut log = fixtures::plaintext_warning("demo.local:8765");
    log.push_str(&fixtures::log(Keys::Newer, 120, |t| {
        (u64::from(t % 10 == 0), 0, 0)
    }));
    let prod = fixtures::telemetry(
        (1..=10).chain(15..=40),
        |t| {
            if t > 30 {
                "legacy".into()
            } else {
                "facade".into()
            }
        },
        |_| 0,
    );
    let inputs = vec![
        Input {
            env: "staging".into(),
            path: fixtures::write(dir.path(), "staging.log", &log),
            kind: Some(Kind::Log),
        },
        Input {
            env: "prod".into(),
            path: fixtures::write(dir.path(), "prod.jsonl", &prod),
            kind: None,
        },
    ];
    let report = evaluate(&ctx.settings, &inputs, None).expect("evaluate");
    let mut out = Vec::new();
    render::human(&report, &Style::new(false), &mut out).expect("render");
    let text = String::from_utf8(out).expect("utf8");
    let dir_text = format!("{}/", dir.path().display());
    insta::assert_snapshot!(text.replace(&dir_text, "TMP/"));
}

/// Whether `text` holds a character that acts on a terminal: a C0 control
/// but the line break and the tab, DEL, a C1 control (CSI is U+009B) or a
/// bidirectional override.
fn acts_on_a_terminal(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// Issue 20, item 10: ESC, CSI and a bidi override in a log's values and in
/// its file name are shown escaped in every human output (the report, the
/// `--follow` lines), and kept exact in the JSON report.
#[test]
fn control_characters_from_data_never_reach_the_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ctx = fixtures::context(dir.path(), "");
    let variant = "\u{1b}[31mlegacy\u{9b}2J\u{202e}";
    let endpoint = "\u{1b}]0;pwned\u{7}evil\u{202e}.example:8765";
    let mut log = fixtures::plaintext_warning(endpoint).into_bytes();
    let ticks = fixtures::log(Keys::Newer, 12, |_| (0, 0, 1))
        .replace(
            "tick=5 duration_ms=1.43 queue=0 dropped=0",
            "tick=5 duration_ms=1.43 queue=0 dropped=\u{1b}[2J\u{9b}1m",
        )
        .replace(
            "exit_queue=1\n",
            &format!("exit_queue=1 runtime_variant={variant}\n"),
        );
    log.extend(ticks.as_bytes());
    // A raw 0x9b byte, not UTF-8: read as U+FFFD.
    log.extend(b"2026-01-05 10:00:59,000 INFO x tick_health tick=13 queue=\x9b exit_queue=1\n");
    let path = dir.path().join("run\u{1b}[1m\u{202e}.log");
    std::fs::write(&path, &log).expect("write");
    let input = Input {
        env: "prod".into(),
        path: path.clone(),
        kind: Some(Kind::Log),
    };
    let report = evaluate(&ctx.settings, &[input], None).expect("evaluate");
    let rules: Vec<monitor::Rule> = report.alerts.iter().map(|a| a.rule).collect();
    assert!(rules.contains(&monitor::Rule::RuntimeVariant), "{rules:?}");
    assert!(
        rules.contains(&monitor::Rule::PlaintextTransport),
        "{rules:?}"
    );
    assert!(!report.inputs[0].warnings.is_empty());

    let mut human = Vec::new();
    render::human(&report, &Style::new(false), &mut human).expect("render");
    let human = String::from_utf8(human).expect("utf-8");
    assert_eq!(acts_on_a_terminal(&human), None, "{human}");
    assert!(
        human.contains("'\\x1b[31mlegacy\\u{9b}2J\\u{202e}'"),
        "{human}"
    );
    assert!(
        human.contains("endpoint=\\x1b]0;pwned\\x07evil\\u{202e}.example:8765"),
        "{human}"
    );
    assert!(
        human.contains("`dropped=\\x1b[2J\\u{9b}1m` is not a number"),
        "{human}"
    );
    assert!(human.contains("run\\x1b[1m\\u{202e}.log:"), "{human}");

    // The JSON report keeps every value exact.
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&report).expect("json")).expect("parse");
    let messages: Vec<&str> = json["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["message"].as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains(&format!("'{variant}'"))),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains(endpoint)),
        "{messages:?}"
    );
    assert_eq!(json["inputs"][0]["path"], path.display().to_string());

    // `--follow` prints each alert as it is raised, escaped too.
    ctx.format = rollout_core::Format::Human;
    let (out, captured) = rollout_core::Out::memory();
    ctx.out = out;
    let input = Input {
        env: "prod".into(),
        path: path.clone(),
        kind: None,
    };
    let settings = fixtures::follow_settings(
        &ctx.settings,
        vec![input],
        rollout_core::Severity::Critical,
        std::time::Duration::from_millis(300),
    );
    monitor::follow::run(&ctx, &settings).expect("follow");
    let followed = captured.text();
    assert!(
        followed.contains("runtime-variant [prod] critical"),
        "{followed}"
    );
    assert_eq!(acts_on_a_terminal(&followed), None, "{followed}");
}
