//! The annotated tag's message: what was gated, who signed off, what was
//! overridden, and how to roll back. Pure: data in, text out.

use plumbing::report::{GateReport, StepStatus};
use serde::Serialize;

use crate::signoff::{TeamState, TeamStatus, detail, short};

/// The line that marks a tag as made by this tool (a rerun reuses such a tag
/// at HEAD instead of cutting another).
pub(crate) const MARKER: &str = "Created by `cargo xtask tag`";

/// A facade commit to revert on rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RollbackCommit {
    pub commit: String,
    pub subject: String,
    /// The exact command that reverts it.
    pub revert: String,
}

impl RollbackCommit {
    pub fn new(commit: String, subject: String) -> Self {
        let revert = format!("git revert --no-edit {commit}");
        Self {
            commit,
            subject,
            revert,
        }
    }
}

/// A failed check that `--execute` went past because of a named flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Override {
    pub flag: String,
    pub check: String,
    pub summary: String,
}

/// Everything the message says.
pub(crate) struct Input<'a> {
    pub name: &'a str,
    pub commit: &'a str,
    pub branch: Option<&'a str>,
    pub gate: Option<&'a GateReport>,
    pub signoffs: &'a [TeamStatus],
    pub overrides: &'a [Override],
    pub previous: Option<&'a str>,
    pub facade_paths: &'a [String],
    pub rollback: &'a [RollbackCommit],
}

fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn status_word(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pass => "pass",
        StepStatus::Warn => "warn",
        StepStatus::AllowedFailure => "allowed-failure",
        StepStatus::Fail => "FAIL",
        StepStatus::Timeout => "timeout",
        StepStatus::Skipped => "skip",
        StepStatus::Interrupted => "interrupted",
    }
}

/// The baseline-diff verdict: the status of the gate's `baseline-diff` step.
pub(crate) fn baseline_verdict(report: &GateReport) -> String {
    let steps: Vec<_> = report
        .steps
        .iter()
        .filter(|s| s.kind == rollout_core::StepKind::BaselineDiff || s.id == "baseline-diff")
        .collect();
    if steps.is_empty() {
        return "not run by this gate (no baseline-diff step)".into();
    }
    steps
        .iter()
        .map(|s| format!("{} (step {}: {})", status_word(s.status), s.id, s.summary))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Builds the tag message.
pub(crate) fn build(i: &Input<'_>) -> String {
    let mut lines = Vec::new();
    lines.push(format!("Townlet {}", i.name));
    lines.push(String::new());
    lines.push(match i.branch {
        Some(b) => format!("Release {} of commit {} on {b}.", i.name, i.commit),
        None => format!("Release {} of commit {} (detached HEAD).", i.name, i.commit),
    });
    lines.push(format!(
        "{MARKER} (rollout tooling {}).",
        env!("CARGO_PKG_VERSION")
    ));
    lines.push(String::new());
    match i.gate {
        Some(g) => gate_section(g, i.commit, &mut lines),
        None => lines.push("Gate: no usable gate report".into()),
    }
    lines.push(String::new());
    signoff_section(i, &mut lines);
    lines.push(String::new());
    override_section(i.overrides, &mut lines);
    lines.push(String::new());
    rollback_section(i, &mut lines);
    let mut message = lines.join("\n");
    message.push('\n');
    message
}

/// `Gate: ...`, one line per step, and the baseline-diff verdict.
fn gate_section(g: &GateReport, commit: &str, lines: &mut Vec<String>) {
    let verdict = format!("{:?}", g.verdict).to_lowercase();
    let gated = match &g.git {
        Some(git) if git.commit == commit => "this commit".to_string(),
        Some(git) => format!("commit {} (not this commit)", short(&git.commit)),
        None => "no git state".to_string(),
    };
    let steps = match g.partial_selection() {
        None => format!("{} steps", g.ran()),
        Some(what) => format!(
            "partial run ({what}): {} of {} steps ran",
            g.ran(),
            g.steps.len()
        ),
    };
    lines.push(format!(
        "Gate: {verdict} for {gated}, {steps} in {}, started {}",
        secs(g.duration_ms),
        g.started_at
    ));
    let width = g.steps.iter().map(|s| s.id.len()).max().unwrap_or(0);
    for s in &g.steps {
        lines.push(format!(
            "  {:<15} {:width$} {:>8}  {}",
            status_word(s.status),
            s.id,
            secs(s.duration_ms),
            s.summary
        ));
    }
    lines.push(format!("Baseline diff: {}", baseline_verdict(g)));
}

/// `Sign-offs:` and one line per team.
fn signoff_section(i: &Input<'_>, lines: &mut Vec<String>) {
    lines.push("Sign-offs:".into());
    for s in i.signoffs {
        let prefix = match s.state {
            TeamState::Valid => "",
            _ => "NOT SIGNED: ",
        };
        lines.push(format!(
            "  {prefix}{} ({}) {}",
            s.name,
            s.team,
            detail(s, i.commit)
        ));
    }
    if i.signoffs.is_empty() {
        lines.push("  none required".into());
    }
}

/// `Overrides:` and the `--allow-*` flags that let a failed check pass.
fn override_section(overrides: &[Override], lines: &mut Vec<String>) {
    lines.push("Overrides:".into());
    if overrides.is_empty() {
        lines.push("  none".into());
    }
    for o in overrides {
        lines.push(format!(
            "  {}: check {} failed: {}",
            o.flag, o.check, o.summary
        ));
    }
}

/// `Rollback:`: the facade commits since the previous release and how to
/// revert them.
fn rollback_section(i: &Input<'_>, lines: &mut Vec<String>) {
    lines.push("Rollback:".into());
    let since = match i.previous {
        Some(p) => format!("since {p}"),
        None => "since the start of history (no earlier release tag)".into(),
    };
    let paths = i.facade_paths.join(", ");
    if i.rollback.is_empty() {
        lines.push(format!(
            "  No commits {since} touch the facade paths ({paths}); nothing to revert."
        ));
    } else {
        lines.push(format!("  Facade commits ({paths}) {since}, newest first:"));
        for c in i.rollback {
            lines.push(format!("    {} {}", short(&c.commit), c.subject));
        }
        lines.push("  Revert them all, newest first:".into());
        let all: Vec<&str> = i.rollback.iter().map(|c| c.commit.as_str()).collect();
        lines.push(format!("    git revert --no-edit {}", all.join(" ")));
        lines.push("  Or one at a time, in this order:".into());
        for c in i.rollback {
            lines.push(format!("    {}", c.revert));
        }
    }
    if let Some(p) = i.previous {
        lines.push(format!(
            "  Consumers can pin the previous release instead: {p}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plumbing::report::{GateVerdict, GitState, StepReport};

    fn report() -> GateReport {
        GateReport {
            schema: 1,
            tool_version: "0.1.0".into(),
            started_at: "2026-11-28T08:00:00Z".into(),
            duration_ms: 12_345,
            root: "/t".into(),
            git: Some(GitState {
                commit: "c".into(),
                tree: "t".into(),
                dirty: false,
                branch: Some("main".into()),
            }),
            verdict: GateVerdict::Pass,
            steps: vec![
                StepReport {
                    id: "pytest".into(),
                    kind: rollout_core::StepKind::Command,
                    status: StepStatus::Pass,
                    duration_ms: 10_000,
                    exit_code: Some(0),
                    log: None,
                    summary: "812 passed".into(),
                    diagnostics: Vec::new(),
                },
                StepReport {
                    id: "baseline".into(),
                    kind: rollout_core::StepKind::BaselineDiff,
                    status: StepStatus::Pass,
                    duration_ms: 2_300,
                    exit_code: None,
                    log: None,
                    summary: "no differences".into(),
                    diagnostics: Vec::new(),
                },
            ],
            tools: Default::default(),
            complete: true,
            selection: Default::default(),
            config: None,
        }
    }

    #[test]
    fn message_has_every_section() {
        let g = report();
        let rollback = vec![
            RollbackCommit::new("b".repeat(40), "world: newer".into()),
            RollbackCommit::new("a".repeat(40), "telemetry: older".into()),
        ];
        let overrides = vec![Override {
            flag: "--allow-dirty".into(),
            check: "clean".into(),
            summary: "1 uncommitted change".into(),
        }];
        let msg = build(&Input {
            name: "v0.9.0-m4",
            commit: &"c".repeat(40),
            branch: Some("main"),
            gate: Some(&g),
            signoffs: &[],
            overrides: &overrides,
            previous: Some("v0.8.0"),
            facade_paths: &["src/townlet/world".into()],
            rollback: &rollback,
        });
        assert!(msg.starts_with("Townlet v0.9.0-m4\n\n"), "{msg}");
        assert!(msg.contains(MARKER));
        assert!(
            msg.contains("Baseline diff: pass (step baseline: no differences)"),
            "{msg}"
        );
        assert!(msg.contains("  --allow-dirty: check clean failed: 1 uncommitted change"));
        let all = format!("git revert --no-edit {} {}", "b".repeat(40), "a".repeat(40));
        assert!(msg.contains(&all), "{msg}");
        assert!(msg.find(&"b".repeat(12)) < msg.find(&"a".repeat(12)));
    }

    #[test]
    fn a_partial_run_is_not_summarised_as_every_step() {
        let mut g = report();
        g.complete = false;
        g.selection.steps = vec!["pytest".into()];
        g.steps[1].status = StepStatus::Skipped;
        let msg = build(&Input {
            name: "v0.9.0-m4",
            commit: "c",
            branch: Some("main"),
            gate: Some(&g),
            signoffs: &[],
            overrides: &[],
            previous: None,
            facade_paths: &[],
            rollback: &[],
        });
        assert!(
            msg.contains(
                "Gate: pass for this commit, partial run (--steps pytest): 1 of 2 steps ran in"
            ),
            "{msg}"
        );
    }

    #[test]
    fn no_baseline_step_is_said() {
        let mut g = report();
        g.steps.truncate(1);
        assert_eq!(
            baseline_verdict(&g),
            "not run by this gate (no baseline-diff step)"
        );
    }
}
