//! A report as the workspace's [`Outcome`]: one check per check of a file,
//! and the summary line a gate step shows.

use rollout_core::{Outcome, Place, Verdict};

use crate::report::{Check, FileReport, Report, Status};

impl Report {
    /// The outcome of this comparison: its verdict, one [`rollout_core::Check`]
    /// per check of a file (id `<file>: <check>`, the check's summary and,
    /// when it did not pass, its details and the candidate lines of its
    /// first mismatches), and a summary that says what passed or what
    /// differs first:
    ///
    /// - `12 checks within tolerance, 1 warned (first: t.jsonl: ticks: ...) against `baselines` (blessed at ...)`
    /// - `2 check(s) differ from the baseline (blessed at ...); first: t.jsonl: fields: ...`
    pub fn outcome(&self) -> Outcome {
        let checks = self
            .files
            .iter()
            .flat_map(|f| f.checks.iter().map(move |c| outcome_check(f, c)))
            .collect();
        Outcome {
            verdict: self.verdict,
            summary: self.summary(),
            checks,
        }
    }

    /// One line: how many checks passed against which baseline, or how
    /// many differ and the first that does.
    pub fn summary(&self) -> String {
        let relation = self
            .baseline_relation
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let c = self.counts;
        match self.verdict {
            Verdict::Pass => {
                let warn = match self.first(Status::Warn) {
                    Some(w) => format!(", {} warned (first: {w})", c.warn),
                    None => String::new(),
                };
                format!(
                    "{} checks within tolerance{warn} against `{}`{relation}",
                    c.pass,
                    self.baseline.display()
                )
            }
            Verdict::Fail | Verdict::Error => {
                let first = self.first(Status::Fail).unwrap_or_default();
                format!(
                    "{} check(s) differ from the baseline{relation}; first: {first}",
                    c.fail
                )
            }
        }
    }

    /// `file: check: summary` of the first check with this status.
    fn first(&self, status: Status) -> Option<String> {
        self.files
            .iter()
            .flat_map(|f| f.checks.iter().map(move |c| (f, c)))
            .find(|(_, c)| c.status == status)
            .map(|(f, c)| format!("{}: {}: {}", f.path, c.name, c.summary))
    }
}

/// One check of a file as a check of the outcome.
fn outcome_check(f: &FileReport, c: &Check) -> rollout_core::Check {
    let check = rollout_core::Check::new(format!("{}: {}", f.path, c.name), c.status, &c.summary);
    if !matches!(c.status, Status::Fail | Status::Warn) {
        return check;
    }
    let places = c
        .mismatches
        .iter()
        .map(|m| Place {
            file: f.path.clone(),
            line: m.candidate_line.and_then(|l| u32::try_from(l).ok()),
            column: None,
            code: None,
            message: match &m.path {
                Some(path) => format!(
                    "{}: {path}: baseline {}, candidate {}",
                    m.at, m.baseline, m.candidate
                ),
                None => format!(
                    "{}: baseline {}, candidate {}",
                    m.at, m.baseline, m.candidate
                ),
            },
        })
        .collect();
    check.with_details(c.details.clone()).with_places(places)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use rollout_core::Status as S;

    use super::*;
    use crate::report::{FileKind, Mismatch};

    fn report(checks: Vec<Check>, relation: Option<&str>) -> Report {
        let file = FileReport::new("t.jsonl".into(), FileKind::Telemetry, checks);
        let mut r = Report::new(
            PathBuf::from("/b"),
            PathBuf::from("/c"),
            "numpy".into(),
            "facade".into(),
            vec![file],
        );
        r.baseline_relation = relation.map(str::to_string);
        r
    }

    #[test]
    fn a_passing_report_says_what_passed_and_warns_with_its_first_warning() {
        let pass = Check::new("schema", S::Pass, "same keys");
        let mut warn = Check::new("ticks", S::Warn, "2 ticks missing");
        warn.details = vec!["missing 3-4".into()];
        let o = report(vec![pass.clone(), warn], Some("blessed at abc (HEAD)")).outcome();
        assert_eq!(
            o.summary,
            "1 checks within tolerance, 1 warned (first: t.jsonl: ticks: 2 ticks missing) against `/b` (blessed at abc (HEAD))"
        );
        assert_eq!((o.verdict, o.status()), (Verdict::Pass, S::Warn));
        let ids: Vec<&str> = o.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["t.jsonl: schema", "t.jsonl: ticks"]);
        let warned: Vec<_> = o.not_passing().collect();
        assert_eq!(warned.len(), 1);
        assert_eq!(warned[0].details, ["missing 3-4"]);
        let o = report(vec![pass], None).outcome();
        assert_eq!(o.summary, "1 checks within tolerance against `/b`");
        assert_eq!(o.status(), S::Pass);
    }

    #[test]
    fn a_failing_report_names_its_first_difference_and_where() {
        let mut fail = Check::new("fields", S::Fail, "1 value differs");
        fail.mismatches = vec![Mismatch {
            at: "tick 2".into(),
            path: Some("queue.x".into()),
            tick: Some(2),
            index: None,
            baseline: 1.into(),
            candidate: 3.into(),
            candidate_line: Some(7),
        }];
        let o = report(
            vec![Check::new("schema", S::Pass, "same"), fail],
            Some("rel"),
        )
        .outcome();
        assert_eq!(
            o.summary,
            "1 check(s) differ from the baseline (rel); first: t.jsonl: fields: 1 value differs"
        );
        assert_eq!(
            (o.verdict, o.status(), o.exit_code()),
            (Verdict::Fail, S::Fail, 1)
        );
        let failed = o.not_passing().next().expect("a failed check");
        assert_eq!(failed.id, "t.jsonl: fields");
        assert_eq!(
            failed.places[0].to_string(),
            "t.jsonl:7: tick 2: queue.x: baseline 1, candidate 3"
        );
    }
}
