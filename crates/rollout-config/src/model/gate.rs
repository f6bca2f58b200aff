//! `gate`: the validation gate's steps.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::CaptureSection;
use super::Checker;
use crate::error::ConfigError;
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

/// What runs a step: the workspace's one [`rollout_core::StepKind`].
pub use rollout_core::StepKind;

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

/// The checks of `gate` serde cannot express: unique step ids, commands
/// where needed, kind-specific keys on their kinds, regular expressions,
/// known and acyclic needs, non-empty suites.
pub(crate) fn validate(
    section: &GateSection,
    capture: &CaptureSection,
    check: &Checker<'_>,
) -> Result<(), ConfigError> {
    if section.jobs == Some(0) {
        return Err(check.err(
            "gate.jobs".into(),
            "expected at least 1, found 0 (leave it out to use every CPU)".into(),
        ));
    }
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, step) in section.steps.iter().enumerate() {
        let key = format!("gate.steps[{i}]");
        if step.id.is_empty()
            || !step
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(check.err(
                format!("{key}.id"),
                format!("expected letters, digits, '-' or '_', found '{}'", step.id),
            ));
        }
        if let Some(first) = ids.insert(step.id.as_str(), i) {
            return Err(check.err(
                format!("{key}.id"),
                format!(
                    "step id '{}' is already used by gate.steps[{first}]",
                    step.id
                ),
            ));
        }
        validate_step(step, &key, capture, check)?;
        validate_env(step, &key, check)?;
    }
    for (i, step) in section.steps.iter().enumerate() {
        for (j, need) in step.needs.iter().enumerate() {
            if !ids.contains_key(need.as_str()) {
                let mut msg = format!("step '{}' needs unknown step '{need}'", step.id);
                if let Some(best) = crate::error::closest(need, ids.keys().copied()) {
                    msg.push_str(&format!(", did you mean '{best}'?"));
                }
                return Err(check.err(format!("gate.steps[{i}].needs[{j}]"), msg));
            }
        }
    }
    if let Some(cycle) = find_cycle(&section.steps) {
        let first = ids.get(cycle[0].as_str()).copied().unwrap_or(0);
        return Err(check.err(
            format!("gate.steps[{first}].needs"),
            format!(
                "steps depend on each other in a cycle: {}",
                cycle.join(" -> ")
            ),
        ));
    }
    for (suite, args) in &section.suites {
        if args.is_empty() {
            return Err(check.err(
                format!("gate.suites.{suite}"),
                "expected at least one pytest argument".into(),
            ));
        }
    }
    Ok(())
}

/// The checks of one step (`key` is `gate.steps[i]`): a command where its
/// kind needs one, kind-specific keys only on their kind, a regular
/// expression with a number group, inputs for a monitor, a positive timeout.
fn validate_step(
    step: &Step,
    key: &str,
    capture: &CaptureSection,
    check: &Checker<'_>,
) -> Result<(), ConfigError> {
    let needs_command = matches!(step.kind, StepKind::Command | StepKind::TerminalSmoke);
    if needs_command && step.command.is_none() {
        return Err(check.err(
            key.to_string(),
            format!(
                "step '{}' of kind {} needs a `command`",
                step.id,
                step.kind.as_str()
            ),
        ));
    }
    if step.kind == StepKind::Capture {
        if step.command.is_some() {
            return Err(check.err(
                format!("{key}.command"),
                format!(
                    "step '{}' of kind capture runs `capture.commands`; it takes no `command`",
                    step.id
                ),
            ));
        }
        if capture.commands.is_empty() {
            return Err(check.err(
                key.to_string(),
                format!(
                    "step '{}' of kind capture needs commands under `capture.commands`",
                    step.id
                ),
            ));
        }
    }
    if let Some((name, kind)) = misplaced_key(step) {
        return Err(check.err(
            format!("{key}.{name}"),
            format!(
                "`{name}` applies to {} steps, but step '{}' is a {} step",
                kind.as_str(),
                step.id,
                step.kind.as_str()
            ),
        ));
    }
    if let Some(re) = &step.advancing {
        match regex::Regex::new(re) {
            Ok(compiled) if compiled.captures_len() >= 2 => {}
            Ok(_) => {
                return Err(check.err(
                    format!("{key}.advancing"),
                    format!(
                        "expected a regular expression with a number group such as `Tick: (\\d+)`, found '{re}' without a group"
                    ),
                ));
            }
            Err(e) => {
                return Err(check.err(
                    format!("{key}.advancing"),
                    format!("invalid regular expression: {e}"),
                ));
            }
        }
    }
    if step.kind == StepKind::Monitor && step.inputs.is_empty() {
        return Err(check.err(
            key.to_string(),
            format!(
                "step '{}' of kind monitor needs `inputs` (logs or telemetry to check)",
                step.id
            ),
        ));
    }
    if step.timeout.is_some_and(|t| t.0.is_zero()) {
        return Err(check.err(
            format!("{key}.timeout"),
            "expected a positive duration, found 0".into(),
        ));
    }
    Ok(())
}

/// The step's environment (`key` is `gate.steps[i]`) as a process can be
/// given it: names not empty and without `=` or NUL, values without NUL.
fn validate_env(step: &Step, key: &str, check: &Checker<'_>) -> Result<(), ConfigError> {
    for (name, value) in &step.env {
        let path = format!("{key}.env.{name}");
        let shown = rollout_core::output::printable(name);
        if name.is_empty() {
            return Err(check.key_err(
                &path,
                format!("{key}.env"),
                "expected an environment variable name, found an empty one".into(),
            ));
        }
        if name.contains(['=', '\0']) {
            return Err(check
                .key_err(
                    &path,
                    format!("{key}.env"),
                    format!(
                        "expected an environment variable name without `=` or NUL, found '{shown}'"
                    ),
                )
                .hint("write each variable as `NAME: value` under `env`"));
        }
        if value.contains('\0') {
            let msg = format!(
                "expected a value without NUL, found '{}'",
                rollout_core::output::printable(value)
            );
            return Err(check.err(path, msg).key(format!("{key}.env.{shown}")));
        }
    }
    Ok(())
}

/// A key of another kind's steps set on this step, with that kind.
fn misplaced_key(step: &Step) -> Option<(&'static str, StepKind)> {
    let keys = [
        ("debt", step.debt.is_some(), StepKind::Command),
        ("loopback", step.loopback, StepKind::TlsSmoke),
        (
            "accept_dev_certs",
            step.accept_dev_certs,
            StepKind::TlsSmoke,
        ),
        (
            "candidate",
            step.candidate.is_some(),
            StepKind::BaselineDiff,
        ),
        ("inputs", !step.inputs.is_empty(), StepKind::Monitor),
        ("expect", !step.expect.is_empty(), StepKind::TerminalSmoke),
        (
            "advancing",
            step.advancing.is_some(),
            StepKind::TerminalSmoke,
        ),
        ("run_for", step.run_for.is_some(), StepKind::TerminalSmoke),
        ("policy", step.policy.is_some(), StepKind::MergePolicy),
    ];
    keys.into_iter()
        .find(|(_, set, kind)| *set && step.kind != *kind)
        .map(|(name, _, kind)| (name, kind))
}

/// The first dependency cycle among steps, as ids from start back to start.
fn find_cycle(steps: &[Step]) -> Option<Vec<String>> {
    let by_id: BTreeMap<&str, &Step> = steps.iter().map(|s| (s.id.as_str(), s)).collect();
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        id: &'a str,
        by_id: &BTreeMap<&'a str, &'a Step>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(id) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| *s == id).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(id, 1);
        stack.push(id);
        if let Some(step) = by_id.get(id) {
            for need in &step.needs {
                if let Some(c) = visit(need, by_id, state, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        state.insert(id, 2);
        None
    }
    for s in steps {
        let mut stack = Vec::new();
        if let Some(c) = visit(&s.id, &by_id, &mut state, &mut stack) {
            return Some(c);
        }
    }
    None
}
