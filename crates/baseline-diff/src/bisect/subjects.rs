//! The distinct differences of a report: each failed check with its
//! subject (a telemetry key path tree, a field, a JSON key), or the failed
//! check itself when it has no finer subject (an array, a file, the
//! runtime variant, the ticks). Each is named by one string,
//! `<file>: <check>[: <subject>]`, which is how a bisect tells them apart
//! from commit to commit.

use std::collections::BTreeMap;

use rollout_config::model::AddedPaths;

use crate::report::{Check, Report, Status};

/// One distinct difference: the report's check id and its subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Difference {
    /// `<file>: <check>`, as the report's outcome names the check.
    pub(super) check: String,
    pub(super) subject: Option<String>,
}

impl Difference {
    /// The name that identifies it: `<file>: <check>[: <subject>]`.
    pub(super) fn id(&self) -> String {
        match &self.subject {
            Some(s) => format!("{}: {s}", self.check),
            None => self.check.clone(),
        }
    }
}

/// The differences `report` shows, by id.
pub(super) fn differences(report: &Report, added: AddedPaths) -> BTreeMap<String, Difference> {
    let mut out = BTreeMap::new();
    for f in &report.files {
        for c in f.checks.iter().filter(|c| c.status == Status::Fail) {
            let check = format!("{}: {}", f.path, c.name);
            let subjects = subjects_of(c, added);
            if subjects.is_empty() {
                let d = Difference {
                    check: check.clone(),
                    subject: None,
                };
                out.insert(d.id(), d);
            }
            for subject in subjects {
                let d = Difference {
                    check: check.clone(),
                    subject: Some(subject),
                };
                out.insert(d.id(), d);
            }
        }
    }
    out
}

/// The subjects of a failed check, from what it lists: the key path trees
/// of `schema` (`removed: a.b`), the fields of `fields (...)`, the keys of
/// a JSON document's `values`. Empty for checks without finer subjects.
fn subjects_of(c: &Check, added: AddedPaths) -> Vec<String> {
    let mut subjects: Vec<String> = if c.name == "schema" {
        c.details
            .iter()
            .filter(|d| d.starts_with("removed: ") || added == AddedPaths::Fail)
            .filter(|d| d.starts_with("removed: ") || d.starts_with("added: "))
            .map(|d| strip_below(d).to_string())
            .collect()
    } else if c.name.starts_with("fields (") {
        c.details
            .iter()
            .filter_map(|d| d.split_once(": differs at ").map(|(p, _)| p.to_string()))
            .collect()
    } else if c.name == "values" {
        c.mismatches
            .iter()
            .filter(|m| added == AddedPaths::Fail || !m.baseline.is_null())
            .map(|m| m.path.clone().unwrap_or_else(|| m.at.clone()))
            .collect()
    } else {
        Vec::new()
    };
    subjects.sort();
    subjects.dedup();
    subjects
}

/// `removed: a.b (and 3 paths below it)` without what is below.
fn strip_below(detail: &str) -> &str {
    match detail.rfind(" (and ") {
        Some(i) if detail.ends_with(" below it)") => &detail[..i],
        _ => detail,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::report::{FileKind, FileReport};

    #[test]
    fn each_failed_check_and_subject_is_one_difference() {
        let mut schema = Check::new("schema", Status::Fail, "1 key paths removed");
        schema.details = vec![
            "removed: extras (and 2 paths below it)".into(),
            "added: novel".into(),
        ];
        let mut fields = Check::new("fields (queue_metrics.*)", Status::Fail, "differs");
        fields.details = vec![
            "queue_metrics.b: differs at 3 ticks (2-4); first at tick 2 (candidate line 2): 2 -> 5"
                .into(),
        ];
        let arr = Check::new("obs", Status::Fail, "3 elements differ");
        let ok = Check::new("ticks", Status::Pass, "same");
        let file = FileReport::new(
            "t.jsonl".into(),
            FileKind::Telemetry,
            vec![schema, fields, arr, ok],
        );
        let r = Report::new(
            PathBuf::from("/b"),
            PathBuf::from("/c"),
            "numpy".into(),
            "facade".into(),
            vec![file],
        );
        let ids: Vec<String> = differences(&r, AddedPaths::Warn).into_keys().collect();
        assert_eq!(
            ids,
            [
                "t.jsonl: fields (queue_metrics.*): queue_metrics.b",
                "t.jsonl: obs",
                "t.jsonl: schema: removed: extras",
            ]
        );
        let all = differences(&r, AddedPaths::Fail);
        assert!(all.contains_key("t.jsonl: schema: added: novel"));
    }
}
