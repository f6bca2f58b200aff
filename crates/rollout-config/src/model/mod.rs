//! The rollout definition, `configs/rollout.yaml`: its shape (one module per
//! section), loading, and the checks serde cannot express.

mod baseline;
mod capture;
mod gate;
mod monitor;
mod release;
mod target;
mod tls;
pub mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use baseline::{AddedPaths, BaselineSection, NanPolicy, Tolerance, ToleranceRule};
pub use capture::{CaptureSection, LOG_LEVELS};
pub use gate::{GateSection, Policy, Step, StepKind};
pub use monitor::{MonitorSection, Severity};
pub use release::{ReleaseSection, SignoffTeam};
pub use target::TargetSection;
pub use tls::TlsSmokeSection;
pub use types::{CommandLine, Span};

use crate::error::ConfigError;
use crate::locate::Locator;

/// `configs/rollout.yaml` as written, before paths are resolved.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutFile {
    /// The `runtime_variant` every Townlet payload must report.
    #[serde(default = "default_variant")]
    pub runtime_variant: String,
    #[serde(default)]
    pub target: TargetSection,
    #[serde(default)]
    pub release: ReleaseSection,
    #[serde(default)]
    pub gate: GateSection,
    #[serde(default)]
    pub tls_smoke: TlsSmokeSection,
    #[serde(default)]
    pub capture: CaptureSection,
    #[serde(default)]
    pub baseline: BaselineSection,
    #[serde(default)]
    pub monitor: MonitorSection,
}

fn default_variant() -> String {
    "facade".into()
}

/// A loaded and validated rollout definition. Paths written relative to the
/// config file are absolute here.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes (lower-case hex): which definition a
    /// report was made with.
    pub sha256: String,
    #[serde(flatten)]
    pub file: RolloutFile,
}

impl std::ops::Deref for RolloutConfig {
    type Target = RolloutFile;
    fn deref(&self) -> &RolloutFile {
        &self.file
    }
}

impl RolloutConfig {
    /// Reads and validates the rollout definition at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(path, format!("cannot read rollout config: {e}"))
                .hint("pass `--config PATH`, or run from a checkout of the rollout tooling")
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text` as the contents of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut file: RolloutFile = crate::yaml::from_str(text, path)?;
        validate(&file, &Locator::new(text), path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let absolute = |p: &Path| normalize(&dir.join(p));
        file.target.root = file.target.root.as_deref().map(absolute);
        file.baseline.dir = absolute(&file.baseline.dir);
        file.monitor.thresholds_file = absolute(&file.monitor.thresholds_file);
        for step in &mut file.gate.steps {
            step.debt = step.debt.as_deref().map(absolute);
            if step.timeout.is_none() && step.kind == StepKind::Capture {
                step.timeout = Some(file.capture.timeout);
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            sha256: crate::fs::sha256_hex(text.as_bytes()),
            file,
        })
    }
}

impl RolloutConfig {
    /// Fills the `{target}` placeholder in the paths that hold per-target
    /// data (baselines, thresholds, debt files).
    pub fn fill_target(&mut self, target: &str) {
        let fill = |p: &Path| PathBuf::from(p.to_string_lossy().replace("{target}", target));
        self.file.baseline.dir = fill(&self.file.baseline.dir);
        self.file.monitor.thresholds_file = fill(&self.file.monitor.thresholds_file);
        for step in &mut self.file.gate.steps {
            step.debt = step.debt.as_deref().map(fill);
        }
    }
}

/// Removes `.` and `..` components lexically, so that printed paths are
/// readable (`/w/examples/sample`, not `/w/configs/../examples/sample`).
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn validate(f: &RolloutFile, loc: &Locator, path: &Path) -> Result<(), ConfigError> {
    let err = |key: String, msg: String| {
        ConfigError::new(path, msg)
            .at(loc.value(&key).or_else(|| loc.nearest(&key)))
            .key(key)
    };

    if f.runtime_variant.trim().is_empty() {
        return Err(err(
            "runtime_variant".into(),
            "expected a variant name such as 'facade', found an empty string".into(),
        ));
    }
    if f.target.python.trim().is_empty() {
        return Err(err(
            "target.python".into(),
            "expected an interpreter path, found an empty string".into(),
        ));
    }

    // Release.
    for (key, value) in [
        ("release.main_branch", &f.release.main_branch),
        ("release.staging_branch", &f.release.staging_branch),
        ("release.base_tag", &f.release.base_tag),
        ("release.signoff_ref", &f.release.signoff_ref),
    ] {
        if !valid_ref_name(value) {
            return Err(err(
                key.into(),
                format!("'{value}' is not a valid git ref name"),
            ));
        }
    }
    if !f.release.signoff_ref.starts_with("refs/notes/") {
        return Err(err(
            "release.signoff_ref".into(),
            format!(
                "expected a ref under refs/notes/, found '{}'",
                f.release.signoff_ref
            ),
        ));
    }
    if f.release.remote.trim().is_empty() || f.release.remote.starts_with('-') {
        return Err(err(
            "release.remote".into(),
            format!(
                "expected a remote name such as 'origin', found '{}'",
                f.release.remote
            ),
        ));
    }
    if f.release.release_tags.trim().is_empty() {
        return Err(err(
            "release.release_tags".into(),
            "expected a tag glob such as 'v*', found an empty string".into(),
        ));
    }
    let mut team_ids = BTreeSet::new();
    for (i, team) in f.release.signoff_teams.iter().enumerate() {
        if team.id.is_empty()
            || !team
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(
                format!("release.signoff_teams[{i}].id"),
                format!("expected letters, digits, '-' or '_', found '{}'", team.id),
            ));
        }
        if !team_ids.insert(team.id.as_str()) {
            return Err(err(
                format!("release.signoff_teams[{i}].id"),
                format!("team '{}' is listed twice", team.id),
            ));
        }
    }

    // Gate steps: unique ids, commands where needed, known and acyclic needs.
    if f.gate.jobs == Some(0) {
        return Err(err(
            "gate.jobs".into(),
            "expected at least 1, found 0 (leave it out to use every CPU)".into(),
        ));
    }
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, step) in f.gate.steps.iter().enumerate() {
        let key = format!("gate.steps[{i}]");
        if step.id.is_empty()
            || !step
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(
                format!("{key}.id"),
                format!("expected letters, digits, '-' or '_', found '{}'", step.id),
            ));
        }
        if let Some(first) = ids.insert(step.id.as_str(), i) {
            return Err(err(
                format!("{key}.id"),
                format!(
                    "step id '{}' is already used by gate.steps[{first}]",
                    step.id
                ),
            ));
        }
        let needs_command = matches!(step.kind, StepKind::Command | StepKind::TerminalSmoke);
        if needs_command && step.command.is_none() {
            return Err(err(
                key,
                format!(
                    "step '{}' of kind {} needs a `command`",
                    step.id,
                    kind_name(step.kind)
                ),
            ));
        }
        if step.kind == StepKind::Capture {
            if step.command.is_some() {
                return Err(err(
                    format!("{key}.command"),
                    format!(
                        "step '{}' of kind capture runs `capture.commands`; it takes no `command`",
                        step.id
                    ),
                ));
            }
            if f.capture.commands.is_empty() {
                return Err(err(
                    key,
                    format!(
                        "step '{}' of kind capture needs commands under `capture.commands`",
                        step.id
                    ),
                ));
            }
        }
        let misplaced = [
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
        for (name, set, kind) in misplaced {
            if set && step.kind != kind {
                return Err(err(
                    format!("{key}.{name}"),
                    format!(
                        "`{name}` applies to {} steps, but step '{}' is a {} step",
                        kind_name(kind),
                        step.id,
                        kind_name(step.kind)
                    ),
                ));
            }
        }
        if let Some(re) = &step.advancing {
            match regex::Regex::new(re) {
                Ok(compiled) if compiled.captures_len() >= 2 => {}
                Ok(_) => {
                    return Err(err(
                        format!("{key}.advancing"),
                        format!(
                            "expected a regular expression with a number group such as `Tick: (\\d+)`, found '{re}' without a group"
                        ),
                    ));
                }
                Err(e) => {
                    return Err(err(
                        format!("{key}.advancing"),
                        format!("invalid regular expression: {e}"),
                    ));
                }
            }
        }
        if step.kind == StepKind::Monitor && step.inputs.is_empty() {
            return Err(err(
                key.clone(),
                format!(
                    "step '{}' of kind monitor needs `inputs` (logs or telemetry to check)",
                    step.id
                ),
            ));
        }
        if step.timeout.is_some_and(|t| t.0.is_zero()) {
            return Err(err(
                format!("{key}.timeout"),
                "expected a positive duration, found 0".into(),
            ));
        }
    }
    for (i, step) in f.gate.steps.iter().enumerate() {
        for (j, need) in step.needs.iter().enumerate() {
            if !ids.contains_key(need.as_str()) {
                let mut msg = format!("step '{}' needs unknown step '{need}'", step.id);
                if let Some(best) = crate::error::closest(need, ids.keys().copied()) {
                    msg.push_str(&format!(", did you mean '{best}'?"));
                }
                return Err(err(format!("gate.steps[{i}].needs[{j}]"), msg));
            }
        }
    }
    if let Some(cycle) = find_cycle(&f.gate.steps) {
        let first = ids.get(cycle[0].as_str()).copied().unwrap_or(0);
        return Err(err(
            format!("gate.steps[{first}].needs"),
            format!(
                "steps depend on each other in a cycle: {}",
                cycle.join(" -> ")
            ),
        ));
    }
    for (suite, args) in &f.gate.suites {
        if args.is_empty() {
            return Err(err(
                format!("gate.suites.{suite}"),
                "expected at least one pytest argument".into(),
            ));
        }
    }

    // Capture.
    let c = &f.capture;
    if !LOG_LEVELS.contains(&c.log_level.as_str()) {
        return Err(err(
            "capture.log_level".into(),
            format!(
                "expected one of {}, found '{}'",
                LOG_LEVELS.join(", "),
                c.log_level
            ),
        ));
    }
    if c.timeout.0.is_zero() {
        return Err(err(
            "capture.timeout".into(),
            "expected a positive duration, found 0".into(),
        ));
    }
    if let Some(sim) = &c.sim_config
        && sim.trim().is_empty()
    {
        return Err(err(
            "capture.sim_config".into(),
            "expected a Townlet config path relative to the Townlet root, found an empty string"
                .into(),
        ));
    }
    for key in c.set.keys() {
        if key.trim().is_empty() || key.split('.').any(str::is_empty) {
            return Err(err(
                format!("capture.set.{key}"),
                format!(
                    "expected a dotted key of the Townlet config such as 'telemetry.transport.buffer.max_buffer_bytes', found '{key}'"
                ),
            ));
        }
    }
    if !c.set.is_empty() && c.sim_config.is_none() {
        return Err(err(
            "capture.set".into(),
            "`set` changes `capture.sim_config`, which is not given".into(),
        )
        .hint(
            "add `sim_config: configs/examples/poc_hybrid.yaml` (relative to the Townlet root)",
        ));
    }
    for (i, line) in c.commands.iter().enumerate() {
        if c.sim_config.is_none() && line.argv.iter().any(|a| a.contains("{sim_config}")) {
            return Err(err(
                format!("capture.commands[{i}]"),
                "the command uses `{sim_config}`, but `capture.sim_config` is not given".into(),
            ));
        }
    }

    // Baseline tolerances.
    let check_tol = |key: String, t: &Tolerance| -> Result<(), ConfigError> {
        for (name, v) in [("abs", t.abs), ("rel", t.rel)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(err(
                    format!("{key}.{name}"),
                    format!("expected a finite number >= 0, found {v}"),
                ));
            }
        }
        Ok(())
    };
    check_tol("baseline.tolerance".into(), &f.baseline.tolerance)?;
    for (name, t) in &f.baseline.overrides {
        if name.trim().is_empty() || name.split('.').any(str::is_empty) {
            return Err(err(
                format!("baseline.overrides.{name}"),
                format!(
                    "expected a field path such as 'queue_metrics.*' or an array name, found '{name}'"
                ),
            ));
        }
        check_tol(format!("baseline.overrides.{name}"), t)?;
    }
    for (i, field) in f.baseline.ignore.iter().enumerate() {
        if field.trim().is_empty() || field.split('.').any(str::is_empty) {
            return Err(err(
                format!("baseline.ignore[{i}]"),
                format!(
                    "expected a dotted field path such as '*.capture_timestamp', found '{field}'"
                ),
            ));
        }
    }
    for (i, field) in f.baseline.fields.iter().enumerate() {
        if field.trim().is_empty() || field.split('.').any(str::is_empty) {
            return Err(err(
                format!("baseline.fields[{i}]"),
                format!("expected a dotted field path such as 'queue_metrics.*', found '{field}'"),
            ));
        }
    }

    // Monitor.
    if !(f.monitor.exit_queue_spike_factor.is_finite() && f.monitor.exit_queue_spike_factor > 1.0) {
        return Err(err(
            "monitor.exit_queue_spike_factor".into(),
            format!(
                "expected a number > 1, found {}",
                f.monitor.exit_queue_spike_factor
            ),
        ));
    }
    if f.monitor.exit_queue_window < 3 {
        return Err(err(
            "monitor.exit_queue_window".into(),
            format!(
                "expected at least 3 ticks, found {}",
                f.monitor.exit_queue_window
            ),
        ));
    }
    if !(f.monitor.learn_margin.is_finite() && f.monitor.learn_margin >= 0.0) {
        return Err(err(
            "monitor.learn_margin".into(),
            format!(
                "expected a finite number >= 0, found {}",
                f.monitor.learn_margin
            ),
        ));
    }
    if !(f.monitor.learn_critical_factor.is_finite() && f.monitor.learn_critical_factor >= 1.0) {
        return Err(err(
            "monitor.learn_critical_factor".into(),
            format!(
                "expected a number >= 1, found {}",
                f.monitor.learn_critical_factor
            ),
        ));
    }
    for (key, v) in [
        (
            "monitor.drop_warning_per_100_ticks",
            f.monitor.drop_warning_per_100_ticks,
        ),
        (
            "monitor.drop_critical_per_100_ticks",
            f.monitor.drop_critical_per_100_ticks,
        ),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v >= 0.0)
        {
            return Err(err(
                key.into(),
                format!("expected a finite number >= 0, found {v}"),
            ));
        }
    }
    if let (Some(w), Some(c)) = (
        f.monitor.drop_warning_per_100_ticks,
        f.monitor.drop_critical_per_100_ticks,
    ) && c < w
    {
        return Err(err(
            "monitor.drop_critical_per_100_ticks".into(),
            format!("expected at least the warning threshold {w}, found {c}"),
        ));
    }
    Ok(())
}

/// The kind as written in the file.
pub fn kind_name(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Command => "command",
        StepKind::TlsSmoke => "tls-smoke",
        StepKind::BaselineDiff => "baseline-diff",
        StepKind::MergePolicy => "merge-policy",
        StepKind::TerminalSmoke => "terminal-smoke",
        StepKind::Monitor => "monitor",
        StepKind::Capture => "capture",
    }
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

/// A conservative check of git's ref-name rules (`git check-ref-format`).
pub fn valid_ref_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['/', '-', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && name != "@"
        && !name
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names() {
        assert!(valid_ref_name("release/m4-rollout"));
        assert!(valid_ref_name("v0.9.0-m4"));
        assert!(!valid_ref_name("v0.9 m4"));
        assert!(!valid_ref_name("a..b"));
        assert!(!valid_ref_name("x.lock"));
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("/w/configs/../examples/./s")),
            PathBuf::from("/w/examples/s")
        );
    }
}
