//! The kinds of gate step: a word of the config (`gate.steps[].kind`) and
//! of the gate's report (`steps[].kind`), so it belongs to neither.

use serde::{Deserialize, Serialize};

/// What runs a gate step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, schemars::JsonSchema)]
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

impl StepKind {
    /// The kind as the config and the report write it.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Command => "command",
            StepKind::TlsSmoke => "tls-smoke",
            StepKind::BaselineDiff => "baseline-diff",
            StepKind::MergePolicy => "merge-policy",
            StepKind::TerminalSmoke => "terminal-smoke",
            StepKind::Monitor => "monitor",
            StepKind::Capture => "capture",
        }
    }
}

impl std::fmt::Display for StepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::StepKind;

    #[test]
    fn the_written_word_is_the_serialised_one() {
        for kind in [
            StepKind::Command,
            StepKind::TlsSmoke,
            StepKind::BaselineDiff,
            StepKind::MergePolicy,
            StepKind::Monitor,
            StepKind::TerminalSmoke,
            StepKind::Capture,
        ] {
            let json = serde_json::to_string(&kind).expect("json");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }
}
