//! The one check contract: what every command and every gate step
//! concludes. A command's [`Outcome`] is a [`Verdict`] (and so an exit
//! code), a one-line summary and the [`Check`]s behind it; a check has an
//! id, a [`Status`], a summary, detail lines and the [`Place`]s it names.
//! The gate runs a built-in step by calling the command's library and reads
//! only this; every report type stays inside the crate that owns it.

use serde::{Deserialize, Serialize};

use crate::output::Style;

/// The status of one check, in the same words in every command's report.
/// Ordered from best to worst, so that the worst of several is their `max`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Not checked (the summary says why).
    Skip,
    /// Passed with a reservation the summary names.
    Warn,
    Fail,
}

impl Status {
    /// The status word as printed (`pass`, `skip`, `warn`, `FAIL`).
    pub fn word(self, style: &Style) -> String {
        match self {
            Status::Pass => style.pass(),
            Status::Skip => style.skip(),
            Status::Warn => style.warn(),
            Status::Fail => style.fail(),
        }
    }

    /// The name in reports (`pass`, `skip`, `warn`, `fail`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// What a command concluded, and so its exit code (`pass`, `fail`, `error`
/// for could not run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Everything checked passed (warnings allowed).
    Pass,
    /// A check found a problem.
    Fail,
    /// It could not run (bad input, bad config, missing tool): a report that
    /// says so. A command that cannot even report returns `Err`, which
    /// means the same.
    Error,
}

impl Verdict {
    /// The process exit code, the same for every command: 0 pass, 1 a
    /// problem found, 2 could not run.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Error => 2,
        }
    }

    pub fn from_ok(ok: bool) -> Self {
        if ok { Verdict::Pass } else { Verdict::Fail }
    }
}

impl Status {
    /// The verdict of checks with this status as their worst: a failure
    /// fails, anything else passes.
    pub fn verdict(self) -> Verdict {
        if self == Status::Fail {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }
}

impl Verdict {
    /// The worse of two verdicts: could not run, then failed, then passed.
    pub fn worst(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Error, _) | (_, Verdict::Error) => Verdict::Error,
            (Verdict::Fail, _) | (_, Verdict::Fail) => Verdict::Fail,
            _ => Verdict::Pass,
        }
    }
}

/// How serious a finding or an alert is, from least to most. `error` is a
/// finding that fails its check (tls-smoke); `critical` is an alert that
/// pages (monitor, Prometheus' `severity` label). Ordered so that the worst
/// of several is their `max`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
    #[default]
    Critical,
}

impl Severity {
    /// The word in reports and labels (`warning`, `error`, `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }

    /// The status of a check that found something this serious: a warning
    /// warns, anything worse fails.
    pub fn status(self) -> Status {
        match self {
            Severity::Warning => Status::Warn,
            Severity::Error | Severity::Critical => Status::Fail,
        }
    }
}

/// One finding at a place in the checked tree: a file, perhaps a line and
/// column, the tool's code for it, and what it says. `gate-report.json`
/// writes these as a step's `diagnostics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Place {
    /// Relative to the Townlet root when the tool named a file under it.
    pub file: String,
    /// 1-based; absent when the tool named only the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The tool's code for it (`I001`, `attr-defined`), or the test's id for
    /// a failed test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Place {
    /// `path:line:col: CODE message`, as the tools print places.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ":")?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        write!(f, " {}", self.message)
    }
}

/// One check of a command: its id (stable, what a report and an override
/// flag name), how it ended, one line saying why, detail lines for a person
/// and the places it found something at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Check {
    pub id: String,
    pub status: Status,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub places: Vec<Place>,
}

impl Check {
    pub fn new(id: impl Into<String>, status: Status, summary: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            status,
            summary: summary.into(),
            details: Vec::new(),
            places: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }

    pub fn with_places(mut self, places: Vec<Place>) -> Self {
        self.places = places;
        self
    }
}

/// What a command concluded: its verdict (so its exit code), one line that
/// says so, and the checks behind it. Every command's `run` returns one;
/// the gate turns one into a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Outcome {
    pub verdict: Verdict,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

impl Outcome {
    /// An outcome with only a verdict and a summary (a command that checks
    /// nothing, such as printing completions).
    pub fn new(verdict: Verdict, summary: impl Into<String>) -> Self {
        Self {
            verdict,
            summary: summary.into(),
            checks: Vec::new(),
        }
    }

    /// An outcome whose verdict is that of its checks' worst status.
    pub fn of_checks(summary: impl Into<String>, checks: Vec<Check>) -> Self {
        let verdict = checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Pass)
            .verdict();
        Self {
            verdict,
            summary: summary.into(),
            checks,
        }
    }

    pub fn with_checks(mut self, checks: Vec<Check>) -> Self {
        self.checks = checks;
        self
    }

    /// The process exit code: 0 pass, 1 a problem found, 2 could not run.
    pub fn exit_code(&self) -> u8 {
        self.verdict.exit_code()
    }

    /// The status a gate step shows for this outcome: the worst of its
    /// checks' statuses, and `fail` whenever the verdict is not a pass.
    pub fn status(&self) -> Status {
        let worst = self
            .checks
            .iter()
            .map(|c| c.status)
            .filter(|s| *s != Status::Skip)
            .max()
            .unwrap_or(Status::Pass);
        match self.verdict {
            Verdict::Pass => worst.min(Status::Warn),
            Verdict::Fail | Verdict::Error => Status::Fail,
        }
    }

    /// The checks that did not pass (failed, then warned, in their order).
    pub fn not_passing(&self) -> impl Iterator<Item = &Check> {
        let failed = self.checks.iter().filter(|c| c.status == Status::Fail);
        let warned = self.checks.iter().filter(|c| c.status == Status::Warn);
        failed.chain(warned)
    }
}

/// What the command line selected of a list of named things (gate steps,
/// tag checks): `--steps a,b` keeps only those (and what they need),
/// `--skip c` leaves those out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Selection {
    pub steps: Vec<String>,
    pub skip: Vec<String>,
    /// A named subset of the suite (the gate's `--suite`).
    pub suite: Option<String>,
}

impl Selection {
    /// Whether nothing was selected or skipped: everything runs.
    pub fn is_everything(&self) -> bool {
        self.steps.is_empty() && self.skip.is_empty() && self.suite.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_is_as_bad_as_its_worst_check() {
        let pass = Check::new("a", Status::Pass, "ok");
        let warn = Check::new("b", Status::Warn, "hm");
        let fail = Check::new("c", Status::Fail, "no");
        let o = Outcome::of_checks("s", vec![pass.clone(), warn.clone()]);
        assert_eq!(
            (o.verdict, o.status(), o.exit_code()),
            (Verdict::Pass, Status::Warn, 0)
        );
        let o = Outcome::of_checks("s", vec![pass, warn, fail]);
        assert_eq!(
            (o.verdict, o.status(), o.exit_code()),
            (Verdict::Fail, Status::Fail, 1)
        );
        let ids: Vec<&str> = o.not_passing().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c", "b"]);
        let o = Outcome::new(Verdict::Error, "could not run");
        assert_eq!((o.status(), o.exit_code()), (Status::Fail, 2));
    }

    #[test]
    fn severities_order_and_map_to_statuses() {
        assert!(Severity::Warning < Severity::Error && Severity::Error < Severity::Critical);
        assert_eq!(Severity::Warning.status(), Status::Warn);
        assert_eq!(Severity::Critical.status(), Status::Fail);
        let read: Severity = serde_json::from_str("\"error\"").expect("json");
        assert_eq!(read, Severity::Error);
    }
}
