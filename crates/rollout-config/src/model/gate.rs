//! `gate`: the validation gate's steps.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::types::{CommandLine, Span};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GateSection {
    /// How many steps run at once; absent means the number of CPUs.
    #[serde(default)]
    pub jobs: Option<usize>,
    /// Named pytest selections for `--suite NAME`: arguments that replace
    /// `{suite...}` in step commands.
    #[serde(default)]
    pub suites: BTreeMap<String, Vec<String>>,
    /// The steps, in display order.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// What runs a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// An external command.
    Command,
    /// `cargo xtask tls-smoke`, called as a library.
    TlsSmoke,
    /// `cargo xtask baseline-diff`, called as a library.
    BaselineDiff,
    /// The high-risk-path merge policy, called as a library.
    MergePolicy,
    /// `cargo xtask monitor` over logs and telemetry, called as a library.
    Monitor,
    /// A command run in a pseudo-terminal for a bounded time.
    TerminalSmoke,
    /// The rollout capture (`capture` section), with Townlet's logging.
    Capture,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique name; also the log file name.
    pub id: String,
    #[serde(default = "default_kind")]
    pub kind: StepKind,
    /// Required for `command` and `terminal-smoke`.
    #[serde(default)]
    pub command: Option<CommandLine>,
    /// Working directory, relative to the Townlet root (default: the root).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Longest the step may run (default: `capture.timeout` for a capture
    /// step, else 10 minutes); see [`Step::timeout`].
    #[serde(default)]
    pub timeout: Option<Span>,
    /// Steps that must pass first.
    #[serde(default)]
    pub needs: Vec<String>,
    /// A failure is reported but does not fail the gate.
    #[serde(default)]
    pub allow_failure: bool,
    /// `command` steps running mypy: the debt file (relative to the config
    /// file) whose known errors are tolerated; the step then passes when the
    /// errors found are within the debt.
    #[serde(default)]
    pub debt: Option<PathBuf>,
    /// `tls-smoke`: run against an in-process collector on 127.0.0.1 with
    /// generated dev certificates instead of the configured endpoint.
    #[serde(default)]
    pub loopback: bool,
    /// `tls-smoke`: a handshake that used the dev CA of `tls-smoke certs`
    /// (generated now or earlier) passes instead of warning that the real
    /// certificates were not tested.
    #[serde(default)]
    pub accept_dev_certs: bool,
    /// `baseline-diff`: the candidate to compare with the baselines
    /// (default `{capture_dir}`).
    #[serde(default)]
    pub candidate: Option<String>,
    /// `monitor`: the logs and telemetry streams to check (told apart by
    /// content), relative to the Townlet root, with placeholders.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// `terminal-smoke`: texts that must appear on the screen.
    #[serde(default)]
    pub expect: Vec<String>,
    /// `terminal-smoke`: a regular expression with one number group that
    /// must be seen with at least two increasing values (`Tick: (\d+)`).
    #[serde(default)]
    pub advancing: Option<String>,
    /// `terminal-smoke`: how long to watch the screen at most before judging.
    #[serde(default)]
    pub run_for: Option<Span>,
    /// `merge-policy`: `fail` (default) or `warn` when a high-risk change is
    /// not staged on the staging branch.
    #[serde(default)]
    pub policy: Option<Policy>,
}

/// How a policy violation counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Fail,
    Warn,
}

fn default_kind() -> StepKind {
    StepKind::Command
}

/// How long a step may run unless it says otherwise.
pub(super) const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

impl Step {
    /// Longest the step may run.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0)
    }
}
