//! Prometheus: node_exporter textfile metrics, and alerting rules that raise
//! the same alerts from those metrics as the built-in rules do.
//!
//! The rules compare gauges the tool computes exactly as its own rules do
//! (the drop rate over the last 100 ticks, the moving median of the exit
//! queue), so a dashboard alerts exactly when `cargo xtask monitor` does.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::EnvMetrics;
use crate::rules::{DROP_WINDOW, Metrics, RuleSettings, fmt_num};

/// Escapes a label value for the exposition format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The textfile: one family per metric, `# HELP` and `# TYPE` first, no
/// timestamps, in the Prometheus text format 0.0.4 that node_exporter's
/// textfile collector parses. Written here rather than by prometheus-client,
/// which writes OpenMetrics: its counter family `townlet_telemetry_dropped`
/// with the sample `townlet_telemetry_dropped_total` fails `promtool check
/// metrics` (exit 3, "no help text") under 0.0.4, and it appends a `.` to
/// every help text.
pub fn textfile(envs: &[EnvMetrics]) -> String {
    let mut out = String::new();
    let variants = envs
        .iter()
        .filter_map(|e| {
            e.metrics.runtime_variant.as_ref().map(|v| {
                (
                    format!("{},variant=\"{}\"", env_label(e), label(v)),
                    "1".to_string(),
                )
            })
        })
        .collect();
    family(
        &mut out,
        ("townlet_runtime_variant_info", "gauge"),
        "The runtime_variant an environment reports (value 1).",
        variants,
    );
    for gauge in &PER_ENV {
        let samples = envs
            .iter()
            .filter_map(|e| (gauge.value)(&e.metrics).map(|v| (env_label(e), v)))
            .collect();
        family(&mut out, (gauge.name, gauge.kind), gauge.help, samples);
    }
    let plaintext = envs
        .iter()
        .flat_map(|e| {
            e.metrics.plaintext_endpoints.iter().map(|(ep, lo)| {
                (
                    format!(
                        "{},endpoint=\"{}\",loopback=\"{lo}\"",
                        env_label(e),
                        label(ep)
                    ),
                    "1".to_string(),
                )
            })
        })
        .collect();
    family(
        &mut out,
        ("townlet_telemetry_plaintext_info", "gauge"),
        "A plaintext TCP telemetry endpoint was enabled (value 1).",
        plaintext,
    );
    out
}

/// One metric family: `# HELP` and `# TYPE`, then its samples (labels and
/// value); nothing when it has none.
fn family(
    out: &mut String,
    (name, kind): (&str, &str),
    help: &str,
    samples: Vec<(String, String)>,
) {
    if samples.is_empty() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

fn env_label(e: &EnvMetrics) -> String {
    format!("env=\"{}\"", label(&e.env))
}

/// A family with one sample per environment that has a value.
struct PerEnv {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&Metrics) -> Option<String>,
}

/// The families of one value per environment, in the textfile's order.
const PER_ENV: [PerEnv; 9] = [
    PerEnv {
        name: "townlet_runtime_variant_reported",
        kind: "gauge",
        help: "Whether the environment reported a runtime_variant (1) or ticks without one (0).",
        value: |m| {
            m.tick
                .map(|_| u8::from(m.runtime_variant.is_some()).to_string())
        },
    },
    PerEnv {
        name: "townlet_tick",
        kind: "gauge",
        help: "The last tick seen.",
        value: |m| m.tick.map(|v| v.to_string()),
    },
    PerEnv {
        name: "townlet_telemetry_dropped_total",
        kind: "counter",
        help: "Telemetry payloads dropped (tick_health dropped, cumulative).",
        value: |m| m.dropped_total.map(|v| v.to_string()),
    },
    PerEnv {
        name: "townlet_telemetry_drop_rate_per_100_ticks",
        kind: "gauge",
        help: "Telemetry payloads dropped over the last 100 ticks.",
        value: |m| m.drop_rate_per_100_ticks.map(fmt_num),
    },
    PerEnv {
        name: "townlet_telemetry_missing_ticks",
        kind: "gauge",
        help: "Ticks missing from the telemetry stream.",
        value: |m| m.missing_ticks.map(|v| v.to_string()),
    },
    PerEnv {
        name: "townlet_queue_length",
        kind: "gauge",
        help: "tick_health queue.",
        value: |m| m.queue.map(|v| v.to_string()),
    },
    PerEnv {
        name: "townlet_exit_queue_length",
        kind: "gauge",
        help: "Employment exit queue (tick_health exit_queue or employment.pending_count).",
        value: |m| m.exit_queue.map(|v| v.to_string()),
    },
    PerEnv {
        name: "townlet_exit_queue_median",
        kind: "gauge",
        help: "Moving median of the exit queue over the previous ticks (after warm-up).",
        value: |m| m.exit_queue_median.map(fmt_num),
    },
    PerEnv {
        name: "townlet_exit_queue_limit",
        kind: "gauge",
        help: "The exit queue length above which the queue is a spike.",
        value: |m| m.exit_queue_limit.map(|v| v.to_string()),
    },
];

/// Writes the textfile atomically (node_exporter never sees half a file).
pub fn write_textfile(path: &Path, envs: &[EnvMetrics]) -> Result<()> {
    rollout_core::fs::write_atomic(path, textfile(envs).as_bytes())
}

/// One alerting rule as emitted (the Loki rules take their names,
/// severities, `for:` and texts from these).
pub(crate) struct AlertRule<'a> {
    pub(crate) alert: &'a str,
    pub(crate) expr: String,
    /// How long the condition must hold before the alert fires.
    pub(crate) hold: &'a str,
    pub(crate) severity: &'a str,
    pub(crate) rule: &'a str,
    pub(crate) summary: &'a str,
    pub(crate) description: String,
}

/// The `for:` of each kind of alert: long enough that one bad scrape does
/// not page, short against the hours a rollout takes.
pub(crate) const HOLD_STATE: &str = "1m";
const HOLD_RATE: &str = "5m";
const HOLD_TEXTFILE: &str = "10m";
/// Long enough for an environment's telemetry stream (which states the
/// variant in its first snapshot) to be read after its log began.
const HOLD_MISSING: &str = "5m";

/// A Prometheus rule file (`groups:`), as serde writes it.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct RuleFile<'a> {
    pub(crate) groups: Vec<RuleGroup<'a>>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct RuleGroup<'a> {
    pub(crate) name: &'a str,
    pub(crate) rules: Vec<Entry<'a>>,
}

/// A recording rule or an alerting rule of the group.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum Entry<'a> {
    Record(RecordEntry<'a>),
    Alert(RuleEntry<'a>),
}

/// One recording rule in Prometheus' own keys.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct RecordEntry<'a> {
    record: &'a str,
    expr: &'a str,
}

/// One alerting rule in Prometheus' own keys and order.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct RuleEntry<'a> {
    pub(crate) alert: &'a str,
    pub(crate) expr: &'a str,
    #[serde(rename = "for")]
    pub(crate) hold: &'a str,
    pub(crate) labels: RuleLabels<'a>,
    pub(crate) annotations: RuleAnnotations<'a>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct RuleLabels<'a> {
    pub(crate) severity: &'a str,
    pub(crate) rule: &'a str,
    /// `monitor.alert_labels` (`team`, ...).
    #[serde(flatten)]
    pub(crate) extra: &'a std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct RuleAnnotations<'a> {
    pub(crate) summary: &'a str,
    pub(crate) description: &'a str,
    pub(crate) runbook_url: String,
}

/// The recording rules, evaluated before the alerts of the same group:
/// the drop rate per 100 ticks per environment (what the drop alerts and
/// the dashboard read), and payloads dropped per second.
pub const RECORDING_RULES: [(&str, &str); 2] = [
    (
        DROP_RATE_RECORD,
        "max by (env) (townlet_telemetry_drop_rate_per_100_ticks)",
    ),
    (
        "townlet:telemetry_dropped:rate5m",
        "sum by (env) (rate(townlet_telemetry_dropped_total[5m]))",
    ),
];

/// The drop rate over the last 100 ticks, one series per environment.
pub const DROP_RATE_RECORD: &str = "townlet:telemetry_drop_rate:100ticks";

/// The metric families of the textfile ([`textfile`]).
pub fn textfile_families() -> Vec<&'static str> {
    let mut names = vec!["townlet_runtime_variant_info"];
    names.extend(PER_ENV.iter().map(|g| g.name));
    names.push("townlet_telemetry_plaintext_info");
    names
}

/// Alerting rules (Prometheus YAML) equivalent to the built-in rules, over
/// the textfile's metrics: one alert per condition, its severities as
/// separate rules of the same name with a `severity` label; each with
/// `for:`, a summary, a description and a runbook link, and the labels of
/// `monitor.alert_labels`. Plus the alerts of the textfile itself: stale,
/// or unreadable by node_exporter; and, first in the group, the recording
/// rules ([`RECORDING_RULES`]). Written by serde (`serde_yaml_ng`), so
/// every expression and text is quoted as YAML needs.
pub fn alert_rules(rules: &RuleSettings) -> Result<String> {
    let conditions = condition_rules(rules);
    let records = RECORDING_RULES
        .iter()
        .map(|(record, expr)| Entry::Record(RecordEntry { record, expr }));
    let alerts = conditions.iter().map(|rule| {
        Entry::Alert(RuleEntry {
            alert: rule.alert,
            expr: &rule.expr,
            hold: rule.hold,
            labels: RuleLabels {
                severity: rule.severity,
                rule: rule.rule,
                extra: &rules.alert_labels,
            },
            annotations: RuleAnnotations {
                summary: rule.summary,
                description: &rule.description,
                runbook_url: format!("{}#{}", rules.runbook_url, rule.alert.to_lowercase()),
            },
        })
    });
    let file = RuleFile {
        groups: vec![RuleGroup {
            name: "townlet-monitor",
            rules: records.chain(alerts).collect(),
        }],
    };
    let yaml = serde_yaml_ng::to_string(&file).context("cannot write the alert rules as YAML")?;
    Ok(format!(
        "# Alerting rules equivalent to `cargo xtask monitor` (written by\n# `cargo xtask monitor rules --emit prometheus`); they read the metrics\n# of `--prom-textfile` through node_exporter's textfile collector.\n{yaml}"
    ))
}

pub(crate) fn condition_rules(rules: &RuleSettings) -> Vec<AlertRule<'static>> {
    let variant = rules.variant.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = vec![
        AlertRule {
            alert: "TownletRuntimeVariantNotExpected",
            expr: format!("townlet_runtime_variant_info{{variant!=\"{variant}\"}} == 1"),
            hold: HOLD_STATE,
            severity: "critical",
            rule: "runtime-variant",
            summary: "{{ $labels.env }} reports runtime_variant {{ $labels.variant }}",
            description: format!(
                "The M4 rollout expects runtime_variant '{variant}' everywhere; {{{{ $labels.env }}}} runs {{{{ $labels.variant }}}}, so the facade is not what is serving."
            ),
        },
        AlertRule {
            alert: "TownletRuntimeVariantMissing",
            expr: "townlet_runtime_variant_reported == 0".into(),
            hold: HOLD_MISSING,
            severity: "warning",
            rule: "runtime-variant-missing",
            summary: "{{ $labels.env }} reports ticks but no runtime_variant",
            description: format!(
                "No input of {{{{ $labels.env }}}} states its runtime_variant (tick_health lines do not print it; its telemetry stream is not monitored or lost its snapshot), so whether '{variant}' serves there cannot be verified."
            ),
        },
    ];
    out.extend(drop_rules(rules));
    let k = fmt_num(rules.spike_factor);
    out.push(AlertRule {
        alert: "TownletExitQueueSpike",
        expr: format!(
            "townlet_exit_queue_length > townlet_exit_queue_limit or townlet_exit_queue_length > {k} * clamp_min(townlet_exit_queue_median, 1)"
        ),
        hold: HOLD_STATE,
        severity: "warning",
        rule: "exit-queue-spike",
        summary: "{{ $labels.env }} employment exit queue is {{ $value }}",
        description: format!(
            "The employment exit queue is above its limit or above {k} times its moving median."
        ),
    });
    for (loopback, severity, where_) in [
        ("true", "warning", " (localhost: development only)"),
        ("false", "critical", ""),
    ] {
        out.push(AlertRule {
            alert: "TownletTelemetryPlaintext",
            expr: format!("townlet_telemetry_plaintext_info{{loopback=\"{loopback}\"}} == 1"),
            hold: "0m",
            severity,
            rule: "plaintext-transport",
            summary: "{{ $labels.env }} sends telemetry in plaintext to {{ $labels.endpoint }}",
            description: format!(
                "Townlet logged telemetry_tcp_plaintext_enabled{where_}: the TCP transport runs without TLS."
            ),
        });
    }
    // The count is cumulative: the alert is on ticks going missing (it
    // resolves 15 minutes after the last loss), and on a new stream that
    // already lost some.
    out.push(AlertRule {
        alert: "TownletTelemetryGap",
        expr: "delta(townlet_telemetry_missing_ticks[15m]) > 0 or (townlet_telemetry_missing_ticks > 0 unless townlet_telemetry_missing_ticks offset 15m)".into(),
        hold: "0m",
        severity: "warning",
        rule: "telemetry-gap",
        summary: "{{ $labels.env }} telemetry stream is missing ticks",
        description: "Ticks went missing from the telemetry stream in the last 15 minutes (transport backpressure): a capture like this cannot be compared tick by tick.".into(),
    });
    out.extend(textfile_rules());
    out
}

/// Drops per 100 ticks: a warning between the thresholds, critical above.
fn drop_rules(rules: &RuleSettings) -> Vec<AlertRule<'static>> {
    let warning = rules.drops.warning.unwrap_or(0.0);
    let summary = "{{ $labels.env }} dropped {{ $value }} telemetry payloads in the last 100 ticks";
    let mut out = Vec::new();
    // The warning stops where the critical alert starts, as in the tool.
    let below_critical = rules
        .drops
        .critical
        .map(|c| format!(" <= {}", fmt_num(c)))
        .unwrap_or_default();
    out.push(AlertRule {
        alert: "TownletTelemetryDrops",
        expr: format!(
            "{DROP_RATE_RECORD} > {}{below_critical}",
            fmt_num(warning)
        ),
        hold: HOLD_RATE,
        severity: "warning",
        rule: "telemetry-drops",
        summary,
        description: match rules.drops.warning {
            Some(_) => format!(
                "Telemetry drops per {DROP_WINDOW} ticks are above the warning threshold {} ({}).",
                fmt_num(warning),
                rules.drops.source
            ),
            None => format!(
                "Telemetry payloads were dropped in the last {DROP_WINDOW} ticks; no threshold is configured or learnt, so any drop warns."
            ),
        },
    });
    if let Some(critical) = rules.drops.critical {
        out.push(AlertRule {
            alert: "TownletTelemetryDrops",
            expr: format!("{DROP_RATE_RECORD} > {}", fmt_num(critical)),
            hold: HOLD_RATE,
            severity: "critical",
            rule: "telemetry-drops",
            summary,
            description: format!(
                "Telemetry drops per {DROP_WINDOW} ticks are above the critical threshold {} ({}).",
                fmt_num(critical),
                rules.drops.source
            ),
        });
    }
    out
}

/// The textfile itself: not refreshed (a stopped `monitor --follow`), or
/// not readable by node_exporter.
fn textfile_rules() -> Vec<AlertRule<'static>> {
    vec![
        AlertRule {
            alert: "TownletMonitorTextfileStale",
            expr: "time() - node_textfile_mtime_seconds{file=~\".*townlet.*\"} > 900".into(),
            hold: HOLD_TEXTFILE,
            severity: "warning",
            rule: "textfile",
            summary: "the Townlet monitor textfile {{ $labels.file }} was not refreshed for 15 minutes",
            description: "`cargo xtask monitor --follow --prom-textfile` is not running or not writing: the other Townlet alerts judge old figures.".into(),
        },
        AlertRule {
            alert: "TownletMonitorTextfileUnreadable",
            expr: "node_textfile_scrape_error == 1".into(),
            hold: HOLD_TEXTFILE,
            severity: "warning",
            rule: "textfile",
            summary: "node_exporter cannot read its textfile directory on {{ $labels.instance }}",
            description: "node_textfile_scrape_error is 1: a textfile there does not parse, so the Townlet metrics may be missing.".into(),
        },
    ]
}
