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
    /// An absolute `http(s)://` address the relative `runbook_url` is
    /// resolved against (where the repository's files are served), so
    /// that the alerts' `runbook_url` is a link Alertmanager and Grafana
    /// can open; absent: the relative path as it is.
    #[serde(default)]
    pub runbook_base_url: Option<String>,
    /// Labels every emitted alert rule carries besides `severity` and
    /// `rule` (`team: townlet`): what Alertmanager routes on.
    #[serde(default)]
    pub alert_labels: std::collections::BTreeMap<String, String>,
    /// The LogQL stream selector of Townlet's logs in Loki, for the rules
    /// of `monitor rules --emit loki`.
    #[serde(default = "default_loki_selector")]
    pub loki_selector: String,
    /// The stream label that names the environment in Loki (the alerts'
    /// `env` label).
    #[serde(default = "default_loki_env_label")]
    pub loki_env_label: String,
    /// The LogQL range that stands for the built-in rules' tick windows.
    #[serde(default = "default_loki_range")]
    pub loki_range: String,
    /// How often `monitor --prom-textfile` rewrites the textfile while it
    /// reads a stream (`--follow`, or a pipe on stdin): at least
    /// [`MIN_TEXTFILE_INTERVAL`].
    #[serde(default = "default_textfile_interval")]
    pub textfile_interval: Span,
}

fn default_loki_selector() -> String {
    r#"{job="townlet"}"#.into()
}

fn default_loki_env_label() -> String {
    "env".into()
}

fn default_loki_range() -> String {
    "5m".into()
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
            loki_selector: default_loki_selector(),
            loki_env_label: default_loki_env_label(),
            loki_range: default_loki_range(),
            runbook_base_url: None,
            alert_labels: std::collections::BTreeMap::new(),
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
    validate_loki(section, check)?;
    validate_runbook_base(section, check)?;
    validate_alert_labels(section, check)?;
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

/// The Loki keys: a stream selector Loki accepts, a label name, a range.
fn validate_loki(section: &MonitorSection, check: &Checker<'_>) -> Result<(), ConfigError> {
    if let Err(why) = super::logql::stream_selector(&section.loki_selector) {
        return Err(check.err(
            "monitor.loki_selector".into(),
            format!(
                "expected a LogQL stream selector such as `{{job=\"townlet\"}}`: {why}, found {:?}",
                section.loki_selector
            ),
        ));
    }
    if !super::logql::is_label_name(&section.loki_env_label) {
        return Err(check.err(
            "monitor.loki_env_label".into(),
            format!(
                "expected a label name (letters, digits and `_`, not starting with a digit or `__`), found {:?}",
                section.loki_env_label
            ),
        ));
    }
    if super::logql::range_seconds(&section.loki_range).is_none() {
        return Err(check.err(
            "monitor.loki_range".into(),
            format!(
                "expected a LogQL range of whole seconds, minutes or hours from 1m to 24h (`5m`, `90s`, `1h`), found {:?}",
                section.loki_range
            ),
        ));
    }
    Ok(())
}

/// `runbook_base_url`: an absolute `http://` or `https://` address with a
/// host, nothing a URL join or a YAML string would mangle; with it,
/// `runbook_url` must be the relative path to join.
fn validate_runbook_base(section: &MonitorSection, check: &Checker<'_>) -> Result<(), ConfigError> {
    let Some(base) = &section.runbook_base_url else {
        return Ok(());
    };
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or_default());
    let bad_char =
        base.contains(|c: char| c.is_whitespace() || c.is_control() || "'\"#?".contains(c));
    if host.is_none_or(str::is_empty) || bad_char {
        return Err(check.err(
            "monitor.runbook_base_url".into(),
            format!(
                "expected an absolute `http://` or `https://` URL with a host and no quotes, spaces, `#` or `?`, found {base:?}"
            ),
        ));
    }
    if section.runbook_url.contains("://") || section.runbook_url.starts_with('/') {
        return Err(check.err(
            "monitor.runbook_url".into(),
            format!(
                "expected a relative path to resolve against `monitor.runbook_base_url`, found {:?}\nhint: set the whole address in `runbook_url` and leave out `runbook_base_url`, or make `runbook_url` relative (`docs/runbook.md`)",
                section.runbook_url
            ),
        ));
    }
    Ok(())
}

/// Labels the monitor's rules set themselves are not extra labels; names
/// are Prometheus label names.
fn validate_alert_labels(section: &MonitorSection, check: &Checker<'_>) -> Result<(), ConfigError> {
    for (name, value) in &section.alert_labels {
        let key = format!("monitor.alert_labels.{name}");
        let valid = name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if !valid || name.is_empty() || name.starts_with("__") {
            return Err(check.err(
                key,
                "expected a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`)".into(),
            ));
        }
        if ["severity", "rule", "env", "alertname"].contains(&name.as_str()) {
            return Err(check.err(
                key,
                "`severity`, `rule`, `env` and `alertname` are set by the rules and the metrics, not here".into(),
            ));
        }
        if value.is_empty() || value.contains(|c: char| c.is_control()) {
            return Err(check.err(
                key,
                format!("expected a non-empty value without control characters, found {value:?}"),
            ));
        }
    }
    Ok(())
}
