//! The mypy debt ratchet. Known errors live in a debt file (by default
//! `baselines/<target>/mypy-debt.txt`), one per line as mypy prints them but without
//! the line number (`path: error: message  [code]`), so that moving code does
//! not change the debt; repeats are counted by repeating the line. The gate
//! passes while the errors found are within the debt, fails listing only the
//! new ones, and reports debt that was paid off.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// One error as mypy printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MypyError {
    pub path: String,
    pub line: u32,
    /// 1-based, when mypy gave one (its JSON output always does).
    pub column: Option<u32>,
    pub message: String,
    pub code: Option<String>,
}

/// What identifies an error across edits: file, message, error code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DebtKey {
    pub path: String,
    pub message: String,
    pub code: Option<String>,
}

impl fmt::Display for DebtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error: {}", self.path, self.message)?;
        if let Some(code) = &self.code {
            write!(f, "  [{code}]")?;
        }
        Ok(())
    }
}

impl MypyError {
    /// The error as a report diagnostic, for annotations.
    pub(crate) fn diagnostic(&self) -> rollout_core::Place {
        rollout_core::Place {
            file: self.path.clone(),
            line: Some(self.line),
            column: self.column,
            code: self.code.clone(),
            message: self.message.clone(),
        }
    }

    pub(crate) fn key(&self) -> DebtKey {
        DebtKey {
            path: self.path.clone(),
            message: self.message.clone(),
            code: self.code.clone(),
        }
    }
}

impl fmt::Display for MypyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: error: {}", self.path, self.line, self.message)?;
        if let Some(code) = &self.code {
            write!(f, "  [{code}]")?;
        }
        Ok(())
    }
}

/// mypy's output, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MypyOutput {
    pub errors: Vec<MypyError>,
    /// The count from `Found N errors in M files`, or 0 for `Success:`;
    /// `None` when mypy printed neither.
    pub reported: Option<usize>,
}

/// Parses mypy's output: its JSON lines (`-O json`, which the gate asks
/// for) and its default text (with or without column numbers and error
/// ends), which it still prints for errors that stop it. Notes and
/// unrelated lines are skipped.
pub(crate) fn parse_mypy(output: &str) -> MypyOutput {
    let mut errors = Vec::new();
    let mut reported = None;
    for line in output.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("Found ") {
            if let Some(n) = rest.split(' ').next().and_then(|n| n.parse().ok()) {
                reported = Some(n);
            }
            continue;
        }
        if line.starts_with("Success: no issues found") {
            reported = Some(0);
            continue;
        }
        if let Some(e) = parse_json_line(line).or_else(|| parse_error_line(line)) {
            errors.push(e);
        }
    }
    MypyOutput { errors, reported }
}

/// One line of `mypy -O json`; fields the gate does not use are ignored.
#[derive(Debug, serde::Deserialize)]
struct JsonLine {
    file: String,
    line: i64,
    column: i64,
    message: String,
    code: Option<String>,
    severity: String,
}

/// An error of mypy's JSON output (`{"file": ..., "line": 212, "column":
/// 32, ...}`, its column counted from 0); `None` for notes and other lines.
pub(crate) fn parse_json_line(line: &str) -> Option<MypyError> {
    if !line.starts_with('{') {
        return None;
    }
    let json: JsonLine = serde_json::from_str(line).ok()?;
    if json.severity != "error" {
        return None;
    }
    Some(MypyError {
        path: json.file.trim_start_matches("./").replace('\\', "/"),
        line: u32::try_from(json.line).ok().filter(|&l| l > 0)?,
        column: u32::try_from(json.column)
            .ok()
            .and_then(|c| c.checked_add(1)),
        message: json.message,
        code: json.code,
    })
}

fn parse_error_line(line: &str) -> Option<MypyError> {
    let (location, message) = line.split_once(": error: ")?;
    // location: path:line[:col][:endline:endcol]
    let mut parts = location.rsplitn(5, ':').collect::<Vec<_>>();
    parts.reverse();
    let numeric = parts.iter().rposition(|p| p.parse::<u32>().is_err())?;
    if numeric == parts.len() - 1 {
        return None;
    }
    let path = parts[..=numeric].join(":");
    let line_no: u32 = parts[numeric + 1].parse().ok()?;
    let column = parts.get(numeric + 2).and_then(|c| c.parse().ok());
    let (message, code) = match message.rsplit_once("  [") {
        Some((m, c)) if c.ends_with(']') && !c[..c.len() - 1].contains(' ') => {
            (m.to_string(), Some(c[..c.len() - 1].to_string()))
        }
        _ => (message.to_string(), None),
    };
    let path = path.trim_start_matches("./").replace('\\', "/");
    Some(MypyError {
        path,
        line: line_no,
        column,
        message,
        code,
    })
}

/// Known errors with their counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Debt(pub BTreeMap<DebtKey, usize>);

impl Debt {
    pub(crate) fn total(&self) -> usize {
        self.0.values().sum()
    }

    pub(crate) fn from_errors(errors: &[MypyError]) -> Self {
        let mut map = BTreeMap::new();
        for e in errors {
            *map.entry(e.key()).or_insert(0) += 1;
        }
        Debt(map)
    }

    /// Reads a debt file; a missing file is no debt.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = match input::read_to_string(path, input::Kind::DOCUMENT) {
            Ok(text) => text,
            Err(input::InputError::Missing { .. }) => return Ok(Debt::default()),
            Err(error) => return Err(anyhow::anyhow!("mypy debt {error}")),
        };
        let mut map = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((path_part, rest)) = line.split_once(": error: ") else {
                bail!(
                    "{}:{}: expected `path: error: message  [code]`, found '{line}'\nhint: regenerate it with `cargo xtask gate --steps mypy --update-debt`",
                    path.display(),
                    i + 1
                );
            };
            let e =
                parse_error_line(&format!("{path_part}:0: error: {rest}")).with_context(|| {
                    format!(
                        "{}:{}: cannot read debt entry '{line}'",
                        path.display(),
                        i + 1
                    )
                })?;
            *map.entry(e.key()).or_insert(0) += 1;
        }
        Ok(Debt(map))
    }

    /// The file's text: a header, then one line per error, sorted.
    pub(crate) fn render(&self) -> String {
        let mut out = String::from(
            "# mypy errors tolerated by `cargo xtask gate` (legacy debt).\n\
             # One line per error, as mypy prints it without the line number; repeats count.\n\
             # Shrink it with `cargo xtask gate --steps mypy --update-debt` once errors are fixed.\n",
        );
        for (key, count) in &self.0 {
            for _ in 0..*count {
                out.push_str(&key.to_string());
                out.push('\n');
            }
        }
        out
    }
}

/// The verdict of the ratchet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ratchet {
    /// Errors beyond the debt (the last occurrences of a key whose count grew).
    pub new: Vec<MypyError>,
    /// Debt no longer seen, with how many were paid off.
    pub paid: Vec<(DebtKey, usize)>,
    pub known: usize,
}

pub(crate) fn compare(errors: &[MypyError], debt: &Debt) -> Ratchet {
    let mut seen: BTreeMap<DebtKey, usize> = BTreeMap::new();
    let mut new = Vec::new();
    let mut known = 0;
    for e in errors {
        let key = e.key();
        let n = seen.entry(key.clone()).or_insert(0);
        *n += 1;
        if *n > debt.0.get(&key).copied().unwrap_or(0) {
            new.push(e.clone());
        } else {
            known += 1;
        }
    }
    let paid = debt
        .0
        .iter()
        .filter_map(|(k, &allowed)| {
            let found = seen.get(k).copied().unwrap_or(0);
            (found < allowed).then(|| (k.clone(), allowed - found))
        })
        .collect();
    Ratchet { new, paid, known }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_SHAPE: &str = "\
src/townlet/observations/builder.py:212: error: Invalid index type \"int\" for \"ndarray[tuple[Any, ...], dtype[Any]] | dict[str, object]\"; expected type \"str\"  [index]
src/townlet/observations/builder.py:215: error: Invalid index type \"int\" for \"ndarray[tuple[Any, ...], dtype[Any]] | dict[str, object]\"; expected type \"str\"  [index]
src/townlet/observations/builder.py:240: error: \"object\" has no attribute \"get\"  [attr-defined]
src/townlet/observations/builder.py:913: error: Statement is unreachable  [unreachable]
src/townlet/observations/builder.py:913: note: see https://example.invalid for more
pyproject.toml: note: unused section(s): module = ['townlet.world.console_service']
Found 4 errors in 1 file (checked 4 source files)
";

    #[test]
    fn parses_errors_codes_and_the_summary() {
        let out = parse_mypy(REAL_SHAPE);
        assert_eq!(out.reported, Some(4));
        assert_eq!(out.errors.len(), 4);
        assert_eq!(out.errors[0].line, 212);
        assert_eq!(out.errors[0].code.as_deref(), Some("index"));
        assert_eq!(out.errors[3].message, "Statement is unreachable");
        let with_columns =
            parse_mypy("./a/b.py:3:7: error: Name \"x\" is not defined  [name-defined]\n");
        assert_eq!(with_columns.errors[0].path, "a/b.py");
        assert_eq!(with_columns.errors[0].line, 3);
        let with_ends = parse_mypy("a.py:3:7:3:9: error: Bad\n");
        assert_eq!(
            (with_ends.errors[0].line, with_ends.errors[0].code.clone()),
            (3, None)
        );
        assert_eq!(
            parse_mypy("Success: no issues found in 3 source files\n").reported,
            Some(0)
        );
    }

    /// `mypy -O json` of the same errors (its columns count from 0), with
    /// the note mypy prints after them.
    const REAL_JSON: &str = r#"{"file": "src/townlet/observations/builder.py", "line": 212, "column": 32, "end_line": 212, "end_column": 69, "message": "Invalid index type \"int\" for \"ndarray[tuple[Any, ...], dtype[Any]] | dict[str, object]\"; expected type \"str\"", "hint": null, "code": "index", "severity": "error"}
{"file": "src/townlet/observations/builder.py", "line": 215, "column": 32, "end_line": 215, "end_column": 69, "message": "Invalid index type \"int\" for \"ndarray[tuple[Any, ...], dtype[Any]] | dict[str, object]\"; expected type \"str\"", "hint": null, "code": "index", "severity": "error"}
{"file": "src/townlet/observations/builder.py", "line": 240, "column": 15, "end_line": 240, "end_column": 20, "message": "\"object\" has no attribute \"get\"", "hint": null, "code": "attr-defined", "severity": "error"}
{"file": "src/townlet/observations/builder.py", "line": 913, "column": 8, "end_line": 913, "end_column": 9, "message": "Statement is unreachable", "hint": "see https://example.invalid for more", "code": "unreachable", "severity": "error"}
{"file": "src/townlet/observations/builder.py", "line": 913, "column": 8, "end_line": 913, "end_column": 9, "message": "a note", "hint": null, "code": null, "severity": "note"}
pyproject.toml: note: unused section(s): module = ['townlet.world.console_service']"#;

    #[test]
    fn json_lines_give_the_same_debt_as_text() {
        let json = parse_mypy(REAL_JSON);
        assert_eq!(json.reported, None);
        assert_eq!(json.errors.len(), 4);
        assert_eq!(json.errors[0].column, Some(33));
        assert_eq!(
            Debt::from_errors(&json.errors),
            Debt::from_errors(&parse_mypy(REAL_SHAPE).errors)
        );
        assert_eq!(
            json.errors[2].diagnostic().to_string(),
            "src/townlet/observations/builder.py:240:16: attr-defined \"object\" has no attribute \"get\""
        );
    }

    #[test]
    fn line_numbers_do_not_matter_and_repeats_count() {
        let debt = Debt::from_errors(&parse_mypy(REAL_SHAPE).errors);
        let moved = REAL_SHAPE
            .replace(":212:", ":300:")
            .replace(":240:", ":10:");
        let r = compare(&parse_mypy(&moved).errors, &debt);
        assert!(r.new.is_empty() && r.paid.is_empty(), "{r:?}");
        assert_eq!(r.known, 4);

        let one_more = format!(
            "{REAL_SHAPE}src/townlet/observations/builder.py:241: error: \"object\" has no attribute \"get\"  [attr-defined]\n"
        );
        let r = compare(&parse_mypy(&one_more).errors, &debt);
        assert_eq!(r.new.len(), 1);
        assert_eq!(r.new[0].line, 241);
    }

    #[test]
    fn fixed_errors_are_reported_as_paid_off() {
        let debt = Debt::from_errors(&parse_mypy(REAL_SHAPE).errors);
        let fixed: String = REAL_SHAPE
            .lines()
            .filter(|l| !l.contains(":215:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let r = compare(&parse_mypy(&fixed).errors, &debt);
        assert!(r.new.is_empty());
        assert_eq!(r.paid.len(), 1);
        assert_eq!(r.paid[0].1, 1);
    }

    #[test]
    fn the_file_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mypy-debt.txt");
        let debt = Debt::from_errors(&parse_mypy(REAL_SHAPE).errors);
        std::fs::write(&path, debt.render()).expect("write");
        assert_eq!(Debt::load(&path).expect("load"), debt);
        assert_eq!(
            Debt::load(&dir.path().join("missing.txt")).expect("missing is empty"),
            Debt::default()
        );
        std::fs::write(&path, "# header\nnot a debt line\n").expect("write");
        let err = Debt::load(&path).expect_err("bad line").to_string();
        assert!(
            err.contains("mypy-debt.txt:2: expected `path: error: message  [code]`"),
            "{err}"
        );
    }
}
