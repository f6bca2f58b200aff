//! A small evaluator of the LogQL log pipeline subset the Loki rules use,
//! written after Loki's documented semantics and its `pkg/logql/log`
//! sources: no Loki engine or `logcli` is installable from apt, npm or
//! PyPI, so the rules' matchers are evaluated here, line by line.
//!
//! Subset: a stream selector (taken as matching: the tests feed one
//! stream), line filters `|=` (substring) and `|~` (unanchored regular
//! expression), `| logfmt` (Loki's decoder: bare words are keys with empty
//! values, a later key overwrites an earlier one, a syntax error stops the
//! line's decoding and sets `__error__`), label filters `=`, `!=`, `=~`,
//! `!~` (regexes anchored, a missing label is empty), `__error__=""`,
//! `| regexp` (named groups become labels), `| label_format dst=src` (a
//! rename) and `| unwrap label` (a float, else `__error__`), then `[range]`.

use std::collections::BTreeMap;

use regex::Regex;

/// What a log query makes of one line: its labels and, with `unwrap`, its
/// sample; `None` when the line is filtered out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Selected {
    pub labels: BTreeMap<String, String>,
    pub value: Option<f64>,
}

#[derive(Debug)]
enum Stage {
    Contains(String),
    Matches(Regex),
    Logfmt,
    Label(String, String, String),
    Regexp(Regex),
    LabelFormat(String, String),
    Unwrap(String),
}

/// A parsed log query (`{...} stages [range]`).
pub(crate) struct Query {
    stages: Vec<Stage>,
    pub range: String,
}

struct Scanner<'a> {
    rest: &'a str,
}

impl<'a> Scanner<'a> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }
    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }
    fn word(&mut self) -> &'a str {
        self.skip_ws();
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        word
    }
    fn string(&mut self) -> String {
        self.skip_ws();
        if let Some(raw) = self.rest.strip_prefix('`') {
            let end = raw.find('`').expect("closing backtick");
            self.rest = &raw[end + 1..];
            return raw[..end].to_string();
        }
        let body = self.rest.strip_prefix('"').expect("a string");
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &body[i + 1..];
                    return out;
                }
                '\\' => {
                    let (_, e) = chars.next().expect("escape");
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        e => e,
                    });
                }
                c => out.push(c),
            }
        }
        panic!("unterminated string in {body}")
    }
}

fn anchored(re: &str) -> Regex {
    Regex::new(&format!("^(?:{re})$")).expect("label regex")
}

impl Query {
    /// Parses the subset; panics (failing the test) on anything else.
    pub(crate) fn parse(text: &str) -> Query {
        let close = text.find('}').expect("selector");
        let mut s = Scanner {
            rest: &text[close + 1..],
        };
        let mut stages = Vec::new();
        loop {
            if s.eat("|=") {
                stages.push(Stage::Contains(s.string()));
            } else if s.eat("|~") {
                stages.push(Stage::Matches(Regex::new(&s.string()).expect("line regex")));
            } else if s.eat("|") {
                let word = s.word();
                match word {
                    "logfmt" => stages.push(Stage::Logfmt),
                    "regexp" => stages.push(Stage::Regexp(Regex::new(&s.string()).expect("re"))),
                    "unwrap" => stages.push(Stage::Unwrap(s.word().to_string())),
                    "label_format" => {
                        let dst = s.word().to_string();
                        assert!(s.eat("="), "label_format dst=src");
                        stages.push(Stage::LabelFormat(dst, s.word().to_string()));
                    }
                    name => {
                        let op = ["=~", "!~", "!=", "="]
                            .into_iter()
                            .find(|op| s.eat(op))
                            .unwrap_or_else(|| panic!("no operator after {name}"));
                        stages.push(Stage::Label(name.into(), op.into(), s.string()));
                    }
                }
            } else if s.eat("[") {
                let end = s.rest.find(']').expect("range end");
                let range = s.rest[..end].to_string();
                assert_eq!(s.rest[end + 1..].trim(), "", "text after the range");
                return Query { stages, range };
            } else {
                panic!("not in the subset: {}", s.rest);
            }
        }
    }

    /// Runs the pipeline over one line.
    pub(crate) fn select(&self, line: &str) -> Option<Selected> {
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        let mut value = None;
        for stage in &self.stages {
            match stage {
                Stage::Contains(s) => {
                    if !line.contains(s.as_str()) {
                        return None;
                    }
                }
                Stage::Matches(re) => {
                    if !re.is_match(line) {
                        return None;
                    }
                }
                Stage::Logfmt => {
                    if let Err(()) = logfmt(line, &mut labels) {
                        labels.insert("__error__".into(), "LogfmtParserErr".into());
                    }
                }
                Stage::Label(name, op, want) => {
                    let have = labels.get(name).map_or("", String::as_str);
                    let keep = match op.as_str() {
                        "=" => have == want,
                        "!=" => have != want,
                        "=~" => anchored(want).is_match(have),
                        _ => !anchored(want).is_match(have),
                    };
                    if !keep {
                        return None;
                    }
                }
                Stage::Regexp(re) => {
                    if let Some(caps) = re.captures(line) {
                        for name in re.capture_names().flatten() {
                            let v = caps.name(name).map_or("", |m| m.as_str());
                            labels.insert(name.into(), v.into());
                        }
                    }
                }
                Stage::LabelFormat(dst, src) => {
                    let v = labels.remove(src).unwrap_or_default();
                    labels.insert(dst.clone(), v);
                }
                Stage::Unwrap(name) => {
                    let raw = labels.remove(name).unwrap_or_default();
                    match raw.parse::<f64>() {
                        Ok(v) if v.is_finite() => value = Some(v),
                        _ => {
                            labels.insert("__error__".into(), "SampleExtractionErr".into());
                        }
                    }
                }
            }
        }
        Some(Selected { labels, value })
    }
}

/// Loki's logfmt decoder: every key with its value (empty for a bare
/// word), later keys overwriting earlier ones; `Err` on a syntax error
/// (a `"` in a key, `=` or `"` in an unquoted value, an unterminated
/// quote), which stops the decoding.
fn logfmt(line: &str, labels: &mut BTreeMap<String, String>) -> Result<(), ()> {
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i] <= b' ' {
            i += 1;
        }
        if i >= b.len() {
            return Ok(());
        }
        let start = i;
        while i < b.len() && b[i] > b' ' && b[i] != b'=' {
            if b[i] == b'"' {
                return Err(());
            }
            i += 1;
        }
        let key = sanitize(&line[start..i]);
        if i >= b.len() || b[i] <= b' ' {
            set(labels, key, String::new());
            continue;
        }
        // `=`
        if i == start {
            return Err(());
        }
        i += 1;
        if i >= b.len() || b[i] <= b' ' {
            set(labels, key, String::new());
            continue;
        }
        if b[i] == b'"' {
            let mut j = i + 1;
            let mut out = String::new();
            loop {
                if j >= b.len() {
                    return Err(());
                }
                match b[j] {
                    b'\\' if j + 1 < b.len() => {
                        out.push(match b[j + 1] {
                            b'n' => '\n',
                            b't' => '\t',
                            c => c as char,
                        });
                        j += 2;
                    }
                    b'"' => break,
                    _ => {
                        let c = line[j..].chars().next().unwrap_or(' ');
                        out.push(c);
                        j += c.len_utf8();
                    }
                }
            }
            set(labels, key, out);
            i = j + 1;
            continue;
        }
        let vstart = i;
        while i < b.len() && b[i] > b' ' {
            if b[i] == b'=' || b[i] == b'"' {
                return Err(());
            }
            i += 1;
        }
        set(labels, key, line[vstart..i].to_string());
    }
}

fn set(labels: &mut BTreeMap<String, String>, key: String, value: String) {
    if !key.is_empty() {
        labels.insert(key, value);
    }
}

/// A key as a label name: characters other than letters, digits and `_`
/// become `_`, and a leading digit gets a `_` before it.
fn sanitize(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[test]
fn logfmt_reads_townlet_lines_as_loki_does() {
    let mut l = BTreeMap::new();
    logfmt(
        "2026-11-28 07:45:59,227 INFO townlet.core.sim_loop tick_health tick=1 duration_ms=2.06 dropped=None exit_queue=0",
        &mut l,
    )
    .expect("parses");
    assert_eq!(l["tick"], "1");
    assert_eq!(l["dropped"], "None");
    assert_eq!(l["tick_health"], "");
    assert!(!l.contains_key("runtime_variant"));
    let mut l = BTreeMap::new();
    assert!(logfmt("a=1 b=x\"y c=2", &mut l).is_err());
    let mut l = BTreeMap::new();
    logfmt("v=\"fa cade\" v2=1", &mut l).expect("quoted");
    assert_eq!(l["v"], "fa cade");
}
