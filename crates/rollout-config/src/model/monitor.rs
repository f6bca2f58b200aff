//! `monitor`: alert thresholds for tick-health logs and telemetry.

use std::path::PathBuf;

use std::time::Duration;

use super::Checker;
use super::types::{Span, parse_span};
use crate::error::{ConfigError, InvalidValue};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSection {
    /// Thresholds learnt from known-good runs, relative to the config file.
    #[serde(default = "default_thresholds_file")]
    pub thresholds_file: PathBuf,
    /// Dropped payloads per 100 ticks above which a warning is raised;
    /// absent: learnt, or any drop.
    #[serde(default)]
    pub drop_warning_per_100_ticks: Option<f64>,
    /// Dropped payloads per 100 ticks above which the alert is critical.
    #[serde(default)]
    pub drop_critical_per_100_ticks: Option<f64>,
    /// An exit queue longer than this is a spike.
    #[serde(default)]
    pub exit_queue_limit: Option<u64>,
    /// An exit queue above this many times its moving median is a spike.
    #[serde(default = "default_spike_factor")]
    pub exit_queue_spike_factor: f64,
    /// Ticks in the moving median the spike factor applies to.
    #[serde(default = "default_window")]
    pub exit_queue_window: usize,
    /// `learn`: the warning threshold is the highest drop rate seen in
    /// known-good runs times (1 + this margin).
    #[serde(default = "default_margin")]
    pub learn_margin: f64,
    /// `learn`: the critical threshold is the warning threshold times this.
    #[serde(default = "default_critical_factor")]
    pub learn_critical_factor: f64,
    /// The lowest alert severity that fails `cargo xtask monitor`:
    /// `warning` or `critical` (default).
    #[serde(default, deserialize_with = "alert_severity")]
    pub fail_on: Severity,
    /// Where the runbook of the emitted alert rules is (`runbook_url`
    /// annotation, with `#alert-name` appended).
    #[serde(default = "default_runbook_url")]
    pub runbook_url: String,
    /// How often `monitor --prom-textfile` rewrites the textfile while it
    /// reads a stream (`--follow`, or a pipe on stdin): at least
    /// [`MIN_TEXTFILE_INTERVAL`].
    #[serde(default = "default_textfile_interval")]
    pub textfile_interval: Span,
}

/// The shortest `monitor.textfile_interval` (and `--textfile-interval`):
/// node_exporter reads the file when it is scraped, every 15 s or so, so
/// rewriting it more often than every second only costs disk writes.
pub const MIN_TEXTFILE_INTERVAL: Duration = Duration::from_secs(1);

fn default_textfile_interval() -> Span {
    Span(Duration::from_secs(15))
}

/// Parses `--textfile-interval` as [`parse_span`] does, and checks it is at
/// least [`MIN_TEXTFILE_INTERVAL`].
pub fn parse_textfile_interval(text: &str) -> Result<Duration, InvalidValue> {
    let interval = parse_span(text)?;
    check_textfile_interval(interval, &format!("'{text}'"))?;
    Ok(interval)
}

fn check_textfile_interval(interval: Duration, found: &str) -> Result<(), InvalidValue> {
    if interval < MIN_TEXTFILE_INTERVAL {
        return Err(InvalidValue(format!(
            "expected an interval of at least 1s (node_exporter reads the textfile only when scraped), found {found}"
        )));
    }
    Ok(())
}

fn default_runbook_url() -> String {
    "docs/runbook.md".into()
}

/// Alert severities are the workspace's one [`rollout_core::Severity`].
pub use rollout_core::Severity;

/// The severities an alert can have, as Prometheus' and Alertmanager's
/// `severity` label has them: the YAML shape of [`Severity`] where an alert
/// is meant (`error` is a finding's word, tls-smoke's).
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum AlertSeverity {
    Warning,
    Critical,
}

fn alert_severity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Severity, D::Error> {
    Ok(match AlertSeverity::deserialize(d)? {
        AlertSeverity::Warning => Severity::Warning,
        AlertSeverity::Critical => Severity::Critical,
    })
}

fn default_window() -> usize {
    50
}

fn default_margin() -> f64 {
    0.5
}

fn default_critical_factor() -> f64 {
    4.0
}

fn default_thresholds_file() -> PathBuf {
    PathBuf::from("../baselines/{target}/monitor-thresholds.yaml")
}

fn default_spike_factor() -> f64 {
    3.0
}

impl Default for MonitorSection {
    fn default() -> Self {
        Self {
            thresholds_file: default_thresholds_file(),
            drop_warning_per_100_ticks: None,
            drop_critical_per_100_ticks: None,
            exit_queue_limit: None,
            exit_queue_spike_factor: default_spike_factor(),
            exit_queue_window: default_window(),
            learn_margin: default_margin(),
            learn_critical_factor: default_critical_factor(),
            fail_on: Severity::default(),
            runbook_url: default_runbook_url(),
            textfile_interval: default_textfile_interval(),
        }
    }
}

fn validate_textfile_interval(
    section: &MonitorSection,
    check: &Checker<'_>,
) -> Result<(), ConfigError> {
    let interval = section.textfile_interval;
    check_textfile_interval(interval.0, &interval.to_string())
        .map_err(|invalid| check.err("monitor.textfile_interval".into(), invalid.0))
}

/// The checks of `monitor` serde cannot express: factors, windows,
/// margins and thresholds.
pub(crate) fn validate(section: &MonitorSection, check: &Checker<'_>) -> Result<(), ConfigError> {
    if section.runbook_url.trim().is_empty() || section.runbook_url.contains(['\'', '\n', '#']) {
        return Err(check.err(
            "monitor.runbook_url".into(),
            format!(
                "expected a URL or path without quotes, newlines or `#` (the alert's anchor is appended), found {:?}",
                section.runbook_url
            ),
        ));
    }
    validate_textfile_interval(section, check)?;
    if !(section.exit_queue_spike_factor.is_finite() && section.exit_queue_spike_factor > 1.0) {
        return Err(check.err(
            "monitor.exit_queue_spike_factor".into(),
            format!(
                "expected a number > 1, found {}",
                section.exit_queue_spike_factor
            ),
        ));
    }
    if section.exit_queue_window < 3 {
        return Err(check.err(
            "monitor.exit_queue_window".into(),
            format!(
                "expected at least 3 ticks, found {}",
                section.exit_queue_window
            ),
        ));
    }
    if !(section.learn_margin.is_finite() && section.learn_margin >= 0.0) {
        return Err(check.err(
            "monitor.learn_margin".into(),
            format!(
                "expected a finite number >= 0, found {}",
                section.learn_margin
            ),
        ));
    }
    if !(section.learn_critical_factor.is_finite() && section.learn_critical_factor >= 1.0) {
        return Err(check.err(
            "monitor.learn_critical_factor".into(),
            format!(
                "expected a number >= 1, found {}",
                section.learn_critical_factor
            ),
        ));
    }
    for (key, v) in [
        (
            "monitor.drop_warning_per_100_ticks",
            section.drop_warning_per_100_ticks,
        ),
        (
            "monitor.drop_critical_per_100_ticks",
            section.drop_critical_per_100_ticks,
        ),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v >= 0.0)
        {
            return Err(check.err(
                key.into(),
                format!("expected a finite number >= 0, found {v}"),
            ));
        }
    }
    if let (Some(w), Some(c)) = (
        section.drop_warning_per_100_ticks,
        section.drop_critical_per_100_ticks,
    ) && c < w
    {
        return Err(check.err(
            "monitor.drop_critical_per_100_ticks".into(),
            format!("expected at least the warning threshold {w}, found {c}"),
        ));
    }
    Ok(())
}
