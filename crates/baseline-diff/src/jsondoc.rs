//! Comparison of JSON values: numbers under the tolerance rule (with per-path
//! overrides), everything else exactly. Used for JSON documents and for the
//! telemetry fields compared tick by tick.

use rollout_config::model::AddedPaths;
use serde_json::Value;

use crate::report::{Check, Mismatch, Status, num};
use crate::tolerance::{Closeness, NumRule, Overrides};

/// What differs at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffKind {
    /// Numbers outside tolerance, or other values not equal.
    Value,
    /// The baseline has it, the candidate does not.
    Missing,
    /// The candidate has it, the baseline does not.
    Added,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub kind: DiffKind,
    pub path: String,
    pub baseline: Value,
    pub candidate: Value,
}

/// Compares JSON values.
#[derive(Debug, Clone)]
pub struct ValueCmp<'a> {
    pub rule: NumRule,
    pub overrides: &'a Overrides,
    /// Field patterns not compared (`baseline.ignore`): values that change
    /// from run to run, such as timestamps.
    pub ignore: &'a [String],
}

impl ValueCmp<'_> {
    fn ignored(&self, path: &str) -> bool {
        self.ignore
            .iter()
            .any(|p| telemetry::pattern_reaches(p, path))
    }

    /// Calls `out` for each difference below `path`; returns the number of
    /// leaves compared.
    pub fn compare(
        &self,
        path: &mut String,
        b: &Value,
        c: &Value,
        out: &mut dyn FnMut(Diff),
    ) -> u64 {
        match (b, c) {
            (Value::Object(x), Value::Object(y)) => self.compare_objects(path, x, y, out),
            (Value::Array(x), Value::Array(y)) => self.compare_arrays(path, x, y, out),
            (Value::Number(x), Value::Number(y)) => {
                if !self.numbers_close(path, x, y) {
                    out(Diff {
                        kind: DiffKind::Value,
                        path: path.clone(),
                        baseline: b.clone(),
                        candidate: c.clone(),
                    });
                }
                1
            }
            _ => {
                if b != c {
                    out(Diff {
                        kind: DiffKind::Value,
                        path: path.clone(),
                        baseline: b.clone(),
                        candidate: c.clone(),
                    });
                }
                1
            }
        }
    }

    /// Two objects, key by key: the baseline's keys in its order, then the
    /// keys only the candidate has.
    fn compare_objects(
        &self,
        path: &mut String,
        x: &serde_json::Map<String, Value>,
        y: &serde_json::Map<String, Value>,
        out: &mut dyn FnMut(Diff),
    ) -> u64 {
        let mut n = 0;
        for (k, bv) in x {
            let len = path.len();
            push(path, k);
            if self.ignored(path) {
                path.truncate(len);
                continue;
            }
            match y.get(k) {
                Some(cv) => n += self.compare(path, bv, cv, out),
                None => out(Diff {
                    kind: DiffKind::Missing,
                    path: path.clone(),
                    baseline: bv.clone(),
                    candidate: Value::Null,
                }),
            }
            path.truncate(len);
        }
        for (k, cv) in y {
            if !x.contains_key(k) {
                let len = path.len();
                push(path, k);
                if self.ignored(path) {
                    path.truncate(len);
                    continue;
                }
                out(Diff {
                    kind: DiffKind::Added,
                    path: path.clone(),
                    baseline: Value::Null,
                    candidate: cv.clone(),
                });
                path.truncate(len);
            }
        }
        n
    }

    /// Two arrays, element by element, then their lengths.
    fn compare_arrays(
        &self,
        path: &mut String,
        x: &[Value],
        y: &[Value],
        out: &mut dyn FnMut(Diff),
    ) -> u64 {
        let mut n = 0;
        for (i, (bv, cv)) in x.iter().zip(y).enumerate() {
            let len = path.len();
            push(path, &i.to_string());
            n += self.compare(path, bv, cv, out);
            path.truncate(len);
        }
        if x.len() != y.len() {
            out(Diff {
                kind: DiffKind::Value,
                path: format!("{path} (length)"),
                baseline: Value::from(x.len()),
                candidate: Value::from(y.len()),
            });
        }
        n
    }

    /// Whether two numbers at `path` are equal integers or close under the
    /// rule (and the override for the path).
    fn numbers_close(&self, path: &str, x: &serde_json::Number, y: &serde_json::Number) -> bool {
        let same_int = match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(a), Some(b), _, _) => Some(a == b),
            (_, _, Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        if same_int == Some(true) {
            return true;
        }
        let (bf, cf) = (
            x.as_f64().unwrap_or(f64::NAN),
            y.as_f64().unwrap_or(f64::NAN),
        );
        let rule = match self.overrides.find(path) {
            Some((_, t)) => self.rule.with(t),
            None => self.rule,
        };
        rule.check(bf, cf) == Closeness::Close
    }
}

fn push(path: &mut String, seg: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(seg);
}

/// Compares two JSON documents: one check.
pub(crate) fn compare_documents(
    cmp: &ValueCmp<'_>,
    added: AddedPaths,
    examples: usize,
    b: &Value,
    c: &Value,
) -> Check {
    let mut diffs = Vec::new();
    let (mut changed, mut missing, mut extra) = (0u64, 0u64, 0u64);
    let leaves = cmp.compare(&mut String::new(), b, c, &mut |d| {
        match d.kind {
            DiffKind::Value => changed += 1,
            DiffKind::Missing => missing += 1,
            DiffKind::Added => extra += 1,
        }
        if diffs.len() < examples.max(1) * 4 {
            diffs.push(d);
        }
    });
    let added_counts = added == AddedPaths::Fail;
    let failing = changed + missing + if added_counts { extra } else { 0 };
    let status = if failing > 0 {
        Status::Fail
    } else if extra > 0 && added == AddedPaths::Warn {
        Status::Warn
    } else {
        Status::Pass
    };
    let summary = if failing == 0 && extra == 0 {
        format!("{leaves} values equal within tolerance")
    } else {
        let mut parts = Vec::new();
        if changed > 0 {
            parts.push(format!("{changed} values differ"));
        }
        if missing > 0 {
            parts.push(format!("{missing} keys missing in the candidate"));
        }
        if extra > 0 {
            parts.push(format!("{extra} keys only in the candidate"));
        }
        format!("{} (of {leaves} values compared)", parts.join(", "))
    };
    let mut ch = Check::new("values", status, summary);
    let mut shown = 0;
    for d in diffs {
        if d.kind == DiffKind::Added && added == AddedPaths::Ignore {
            continue;
        }
        if shown >= examples {
            break;
        }
        shown += 1;
        ch.details.push(describe_diff(&d));
        ch.mismatches.push(Mismatch {
            at: d.path.clone(),
            path: Some(d.path),
            tick: None,
            index: None,
            baseline: d.baseline,
            candidate: d.candidate,
            candidate_line: None,
        });
    }
    let total = changed
        + missing
        + if added == AddedPaths::Ignore {
            0
        } else {
            extra
        };
    if total > shown as u64 {
        ch.details
            .push(format!("... and {} more", total - shown as u64));
    }
    ch
}

/// `a.b: baseline 1, candidate 2` and friends.
pub(crate) fn describe_diff(d: &Diff) -> String {
    format!("{}: {}", d.path, describe_values(d))
}

/// `baseline 1, candidate 2`, `missing in the candidate (baseline 1)`, ...
pub(crate) fn describe_values(d: &Diff) -> String {
    match d.kind {
        DiffKind::Value => format!(
            "baseline {}, candidate {}",
            short(&d.baseline),
            short(&d.candidate)
        ),
        DiffKind::Missing => format!("missing in the candidate (baseline {})", short(&d.baseline)),
        DiffKind::Added => format!("only in the candidate ({})", short(&d.candidate)),
    }
}

/// A value cut to a readable length. Strings are quoted as JSON quotes
/// them, but their control characters are kept: the human renderer shows
/// them with `rollout_core::printable`, the one escaping rule.
pub(crate) fn short(v: &Value) -> String {
    let s = match v {
        Value::Number(n) => n.as_f64().map_or_else(
            || n.to_string(),
            |f| {
                if n.is_f64() {
                    num(f).to_string()
                } else {
                    n.to_string()
                }
            },
        ),
        other => {
            let mut text = String::new();
            write_value(&mut text, other);
            text
        }
    };
    if s.len() > 80 {
        let mut end = 77;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

/// `v` as JSON text, but with strings quoted by [`quoted`].
fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::String(text) => out.push_str(&quoted(text)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&quoted(key));
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `"text"` with only `"` and `\` escaped, as quoting needs.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_config::model::{NanPolicy, Tolerance, ToleranceRule};
    use serde_json::json;

    fn cmp(o: &Overrides) -> ValueCmp<'_> {
        ValueCmp {
            rule: NumRule::new(
                Tolerance {
                    abs: 1e-6,
                    rel: 0.0,
                },
                ToleranceRule::Numpy,
                NanPolicy::Equal,
            ),
            overrides: o,
            ignore: &[],
        }
    }

    #[test]
    fn numbers_with_tolerance_others_exactly() {
        let o = Overrides::default();
        let b = json!({"a": 1.0, "b": "x", "c": [1, 2], "d": {"e": 0.5}});
        let c = json!({"a": 1.0000005, "b": "x", "c": [1, 2], "d": {"e": 0.5}, "z": 1});
        let ch = compare_documents(&cmp(&o), AddedPaths::Warn, 5, &b, &c);
        assert_eq!(ch.status, Status::Warn, "{ch:?}");
        let c2 = json!({"a": 1.1, "b": "y", "c": [1], "d": {}});
        let ch = compare_documents(&cmp(&o), AddedPaths::Warn, 5, &b, &c2);
        assert_eq!(ch.status, Status::Fail);
        assert_eq!(
            ch.details,
            [
                "a: baseline 1.0, candidate 1.1",
                "b: baseline \"x\", candidate \"y\"",
                "c (length): baseline 2, candidate 1",
                "d.e: missing in the candidate (baseline 0.5)"
            ]
        );
    }

    #[test]
    fn overrides_apply_by_path() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("d".to_string(), Tolerance { abs: 0.5, rel: 0.0 });
        let o = Overrides::new(&m);
        let ch = compare_documents(
            &cmp(&o),
            AddedPaths::Warn,
            5,
            &json!({"d": {"e": 1.0}}),
            &json!({"d": {"e": 1.4}}),
        );
        assert_eq!(ch.status, Status::Pass);
    }
}
