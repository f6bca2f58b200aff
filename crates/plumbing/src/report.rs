//! `target/rollout/gate-report.json`: what was gated and how it went. Fields
//! are stable: new ones may be added, none renamed or removed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rollout_core::{Place, Selection, StepKind};
use serde::{Deserialize, Serialize};

/// Version of the report's shape.
pub const SCHEMA: u32 = 1;

/// The report's file name, in the rollout output directory
/// (`target/rollout/`).
pub const REPORT_FILE: &str = "gate-report.json";

/// Where the gate writes its report in a target's rollout output directory
/// (`Settings::rollout_dir`).
pub fn report_path(rollout_dir: &Path) -> PathBuf {
    rollout_dir.join(REPORT_FILE)
}

/// The gate's verdict as `gate-report.json` writes it (`interrupted` is the
/// gate's own word for [`Verdict::Error`](rollout_core::Verdict)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GateVerdict {
    Pass,
    Fail,
    Interrupted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Pass,
    /// Passed with a reservation the summary names (dev certificates, a
    /// lossy capture): does not fail the gate.
    Warn,
    /// Failed, but the step is allowed to fail.
    AllowedFailure,
    Fail,
    Timeout,
    /// Not run: deselected, or a step it needs did not pass. Written
    /// `skip`, the shared word; older reports wrote `skipped`, which is
    /// still read (docs/CHANGELOG.md).
    #[serde(rename = "skip", alias = "skipped")]
    Skipped,
    Interrupted,
}

impl StepStatus {
    /// Whether this status makes the gate fail: failed, timed out or
    /// interrupted (a warning and an allowed failure do not).
    pub fn fails_the_gate(self) -> bool {
        self.status() == rollout_core::Status::Fail
    }

    /// The step's status in the workspace's shared words: a warning and an
    /// allowed failure warn; a failure, a timeout and an interruption fail.
    pub fn status(self) -> rollout_core::Status {
        use rollout_core::Status;
        match self {
            Self::Pass => Status::Pass,
            Self::Warn | Self::AllowedFailure => Status::Warn,
            Self::Fail | Self::Timeout | Self::Interrupted => Status::Fail,
            Self::Skipped => Status::Skip,
        }
    }

    /// The status of a step whose command returned checks of `status`: a
    /// pass, a warning or a failure (a skip is a pass: the step ran).
    pub fn of(status: rollout_core::Status) -> Self {
        match status {
            rollout_core::Status::Pass | rollout_core::Status::Skip => Self::Pass,
            rollout_core::Status::Warn => Self::Warn,
            rollout_core::Status::Fail => Self::Fail,
        }
    }

    /// Whether steps that need this one may run: it passed, perhaps with a
    /// warning.
    pub fn lets_dependents_run(self) -> bool {
        matches!(self, Self::Pass | Self::Warn)
    }
}

/// The state of the Townlet checkout's git repository when gated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GitState {
    /// `git rev-parse HEAD`.
    pub commit: String,
    /// `git rev-parse HEAD^{tree}`.
    pub tree: String,
    /// Uncommitted changes to tracked files were present.
    pub dirty: bool,
    /// The branch checked out, absent when detached.
    pub branch: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepReport {
    pub id: String,
    /// `command`, `capture`, `tls-smoke`, `baseline-diff`, `monitor`,
    /// `merge-policy`, `terminal-smoke`.
    pub kind: StepKind,
    pub status: StepStatus,
    pub duration_ms: u64,
    /// Exit code of the step's process, when it had one and it exited.
    pub exit_code: Option<i32>,
    /// The step's full output.
    pub log: Option<PathBuf>,
    /// One line saying what happened.
    pub summary: String,
    /// The places the step's tool named for what it found (ruff's
    /// diagnostics, mypy's errors beyond the debt, pytest's failed tests),
    /// from the tools' JSON or JUnit output; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Place>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GateReport {
    pub schema: u32,
    /// Version of the rollout tooling that wrote it.
    pub tool_version: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub duration_ms: u64,
    /// The Townlet checkout that was gated.
    pub root: PathBuf,
    /// Absent when the root is not a git repository.
    pub git: Option<GitState>,
    pub verdict: GateVerdict,
    pub steps: Vec<StepReport>,
    /// Versions of the external tools used (`python`, `pytest`, `ruff`, ...).
    #[serde(default)]
    pub tools: std::collections::BTreeMap<String, String>,
    /// Every configured step was selected and the full pytest suite ran (no
    /// `--steps`, `--skip` or `--suite`); only such a run can clear a tag.
    #[serde(default)]
    pub complete: bool,
    /// What was asked for on the command line.
    #[serde(default)]
    pub selection: Selection,
    /// The rollout definition the gate ran with; absent in reports of older
    /// versions.
    #[serde(default)]
    pub config: Option<ConfigUsed>,
}

/// Which rollout definition a report was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfigUsed {
    pub path: PathBuf,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
}

impl GateReport {
    /// What a partial run selected (`--steps ruff,mypy --suite telemetry`),
    /// or `None` for a complete run.
    pub fn partial_selection(&self) -> Option<String> {
        if self.complete {
            return None;
        }
        let sel = &self.selection;
        let mut what = Vec::new();
        if !sel.steps.is_empty() {
            what.push(format!("--steps {}", sel.steps.join(",")));
        }
        if !sel.skip.is_empty() {
            what.push(format!("--skip {}", sel.skip.join(",")));
        }
        if let Some(suite) = &sel.suite {
            what.push(format!("--suite {suite}"));
        }
        Some(if what.is_empty() {
            "a partial run".to_string()
        } else {
            what.join(" ")
        })
    }

    /// Steps that ran (were not skipped or left out).
    pub fn ran(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.status != StepStatus::Skipped)
            .count()
    }

    /// Reads a report written by the gate.
    pub fn load(path: &Path) -> Result<Self> {
        let text = input::read_to_string(path, input::Kind::DOCUMENT)
            .map_err(|error| anyhow::anyhow!("gate report {error}"))?;
        serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not a gate report", path.display()))
    }

    /// Writes the report atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        rollout_core::fs::write_atomic(path, &json)
    }
}

#[cfg(test)]
mod status_word_tests {
    use super::StepStatus;

    #[test]
    fn a_skipped_step_is_written_skip_and_the_old_word_still_reads() {
        assert_eq!(
            serde_json::to_string(&StepStatus::Skipped).expect("json"),
            "\"skip\""
        );
        for word in ["\"skip\"", "\"skipped\""] {
            let read: StepStatus = serde_json::from_str(word).expect("read");
            assert_eq!(read, StepStatus::Skipped);
        }
        assert_eq!(
            serde_json::to_string(&StepStatus::AllowedFailure).expect("json"),
            "\"allowed-failure\""
        );
    }
}
