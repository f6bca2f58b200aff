//! What each of `monitor`'s commands runs with: plain values, every one
//! already resolved (by `xtask` from the command line over the config over
//! defaults, by the gate from the config and its capture), paths absolute.
//! The rule settings of a rollout config are a pure function of it and of
//! the learnt thresholds ([`rule_settings`]); reading those is the one I/O
//! ([`learnt_thresholds`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use rollout_config::RolloutConfig;
use rollout_core::Severity;

use crate::input::Input;
use crate::learn::{self, Learnt};
use crate::rules::{DropThresholds, RuleSettings};

/// `cargo xtask monitor` (and the gate's monitor step): judge the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The inputs, in the order their reports list them.
    pub inputs: Vec<Input>,
    /// When no input was named: the Townlet root whose last capture the
    /// inputs are (the run says so on stderr).
    pub last_capture_of: Option<PathBuf>,
    pub rules: RuleSettings,
    /// The lowest severity of an alert that fails.
    pub fail_on: Severity,
    /// What becomes of an input that is missing or has nothing to judge.
    pub unreadable: Unreadable,
    /// `--follow`: keep reading the inputs as they grow.
    pub follow: Option<FollowSettings>,
    /// Where node_exporter textfile metrics are written (atomically).
    pub prom_textfile: Option<PathBuf>,
    /// How often the textfile is rewritten while a stream is read: with
    /// `--follow`, every interval; from a pipe without it, as lines arrive
    /// and at most this often. Always once more at the end.
    pub textfile_interval: Duration,
}

impl Settings {
    /// Judging `inputs` once with the rollout config's rules and its
    /// `monitor.fail_on`, an input that is missing or has nothing to judge
    /// being its own failed check while the others are still judged: the
    /// gate's monitor step over its capture (which may have logged nothing).
    pub fn from_config(config: &RolloutConfig, inputs: Vec<Input>) -> Result<Self> {
        let learnt = learnt_thresholds(config)?;
        Ok(Self {
            inputs,
            last_capture_of: None,
            rules: rule_settings(config, learnt.as_ref()),
            fail_on: config.monitor.fail_on,
            unreadable: Unreadable::Judge,
            follow: None,
            prom_textfile: None,
            textfile_interval: config.monitor.textfile_interval.0,
        })
    }
}

/// What becomes of an input that is missing, or that has nothing the rules
/// read (a log without `tick_health` lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// The command line named it: a missing file is an error (exit 2), and
    /// so is every input having nothing to judge; an unusable input among
    /// usable ones is a failed check.
    Refuse,
    /// A missing or unusable input is its own failed check and the others
    /// are still judged (the gate's capture).
    Judge,
}

/// `--follow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FollowSettings {
    /// Stop when no input has grown for this long; `None`: never.
    pub stop_after_idle: Option<Duration>,
}

/// `monitor learn`: drop thresholds from known-good runs.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnSettings {
    /// Logs of known-good runs; a directory stands for its `*.log` files.
    pub from: Vec<PathBuf>,
    /// The thresholds file to write.
    pub output: PathBuf,
    /// When another command uses the output's directory, wait for it
    /// instead of failing.
    pub wait: bool,
    /// The rules the runs are read with (their drop thresholds do not
    /// apply: learning measures raw drop rates).
    pub rules: RuleSettings,
    /// The warning threshold is the highest drop rate seen times
    /// (1 + margin).
    pub margin: f64,
    /// The critical threshold is the warning threshold times this.
    pub critical_factor: f64,
}

/// The format of the emitted alert rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    Prometheus,
    /// Loki ruler rules (LogQL over Townlet's log lines).
    Loki,
}

/// `monitor rules`: alerting rules equivalent to the built-in ones.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesSettings {
    pub emit: Emit,
    pub rules: RuleSettings,
    /// Where Townlet's logs are in Loki (`--emit loki`).
    pub loki: LokiSettings,
    /// Written atomically; `None`: the command's output.
    pub output: Option<PathBuf>,
}

/// Where Townlet's logs are in Loki, for the LogQL rules (the config's
/// `monitor.loki_*`, already validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LokiSettings {
    /// The LogQL stream selector (`{job="townlet"}`).
    pub selector: String,
    /// The stream label naming the environment.
    pub env_label: String,
    /// The LogQL range standing for the built-in rules' tick windows.
    pub range: String,
}

impl LokiSettings {
    /// The rollout config's `monitor.loki_*`.
    pub fn from_config(config: &RolloutConfig) -> Self {
        let m = &config.monitor;
        Self {
            selector: m.loki_selector.clone(),
            env_label: m.loki_env_label.clone(),
            range: m.loki_range.clone(),
        }
    }
}

/// The format of the emitted dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashboardEmit {
    Grafana,
}

/// `monitor dashboard`: a dashboard over the textfile metrics, with the
/// thresholds of the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardSettings {
    pub emit: DashboardEmit,
    pub rules: RuleSettings,
    /// Written atomically; `None`: the command's output.
    pub output: Option<PathBuf>,
}

/// `monitor chart`: the inputs drawn as SVG.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSettings {
    pub inputs: Vec<Input>,
    pub rules: RuleSettings,
    /// The SVG file to write.
    pub out: PathBuf,
}

/// The thresholds learnt in `monitor.thresholds_file`, when the config does
/// not set drop thresholds itself and the file exists; an error when it
/// exists and cannot be read or is not a thresholds file.
pub fn learnt_thresholds(config: &RolloutConfig) -> Result<Option<Learnt>> {
    let m = &config.monitor;
    let configured =
        m.drop_warning_per_100_ticks.is_some() || m.drop_critical_per_100_ticks.is_some();
    if configured || !::input::is_present(&m.thresholds_file) {
        return Ok(None);
    }
    learn::load(&m.thresholds_file).map(Some)
}

/// The rule settings of a rollout config: the drop thresholds it sets,
/// else those `learnt` (from `monitor.thresholds_file`, see
/// [`learnt_thresholds`]), else none (any drop warns).
pub fn rule_settings(config: &RolloutConfig, learnt: Option<&Learnt>) -> RuleSettings {
    let m = &config.monitor;
    let drops = if m.drop_warning_per_100_ticks.is_some() || m.drop_critical_per_100_ticks.is_some()
    {
        DropThresholds {
            warning: m.drop_warning_per_100_ticks,
            critical: m.drop_critical_per_100_ticks,
            source: format!("configured in `{}`", config.path.display()),
        }
    } else if let Some(learnt) = learnt {
        DropThresholds {
            warning: Some(learnt.drop_warning_per_100_ticks),
            critical: Some(learnt.drop_critical_per_100_ticks),
            source: format!("learnt in `{}`", m.thresholds_file.display()),
        }
    } else {
        DropThresholds::none()
    };
    RuleSettings {
        drops,
        ..rule_settings_without_thresholds(config)
    }
}

/// The rule settings of a rollout config, without drop thresholds (what
/// `learn` reads its runs with).
pub fn rule_settings_without_thresholds(config: &RolloutConfig) -> RuleSettings {
    let m = &config.monitor;
    RuleSettings {
        variant: config.runtime_variant.clone(),
        drops: DropThresholds::none(),
        exit_queue_limit: m.exit_queue_limit,
        spike_factor: m.exit_queue_spike_factor,
        window: m.exit_queue_window,
        runbook_url: runbook_link(m.runbook_base_url.as_deref(), &m.runbook_url),
        alert_labels: m.alert_labels.clone(),
    }
}

/// The runbook address the alert rules link to: `runbook_url` resolved
/// against `runbook_base_url` when that is set (the config checked that it
/// is absolute and `runbook_url` relative), else `runbook_url` as it is.
fn runbook_link(base: Option<&str>, runbook_url: &str) -> String {
    match base {
        Some(base) => format!(
            "{}/{}",
            base.trim_end_matches('/'),
            runbook_url.trim_start_matches("./")
        ),
        None => runbook_url.to_string(),
    }
}
