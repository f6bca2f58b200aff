//! Prometheus: node_exporter textfile metrics, and alerting rules that raise
//! the same alerts from those metrics as the built-in rules do.
//!
//! The rules compare gauges the tool computes exactly as its own rules do
//! (the drop rate over the last 100 ticks, the moving median of the exit
//! queue), so a dashboard alerts exactly when `cargo xtask monitor` does.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::EnvMetrics;
use crate::rules::{DROP_WINDOW, RuleSettings, fmt_num};

/// Escapes a label value for the exposition format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The textfile: one family per metric, `# HELP` and `# TYPE` first, no
/// timestamps.
pub fn textfile(envs: &[EnvMetrics]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        if samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let env = |e: &EnvMetrics| format!("env=\"{}\"", label(&e.env));
    let each = |f: &dyn Fn(&EnvMetrics) -> Option<String>| -> Vec<(String, String)> {
        envs.iter()
            .filter_map(|e| f(e).map(|v| (env(e), v)))
            .collect()
    };
    family(
        "townlet_runtime_variant_info",
        "gauge",
        "The runtime_variant an environment reports (value 1).",
        envs.iter()
            .filter_map(|e| {
                e.metrics.runtime_variant.as_ref().map(|v| {
                    (
                        format!("{},variant=\"{}\"", env(e), label(v)),
                        "1".to_string(),
                    )
                })
            })
            .collect(),
    );
    family(
        "townlet_tick",
        "gauge",
        "The last tick seen.",
        each(&|e| e.metrics.tick.map(|v| v.to_string())),
    );
    family(
        "townlet_telemetry_dropped_total",
        "counter",
        "Telemetry payloads dropped (tick_health dropped, cumulative).",
        each(&|e| e.metrics.dropped_total.map(|v| v.to_string())),
    );
    family(
        "townlet_telemetry_drop_rate_per_100_ticks",
        "gauge",
        "Telemetry payloads dropped over the last 100 ticks.",
        each(&|e| e.metrics.drop_rate_per_100_ticks.map(fmt_num)),
    );
    family(
        "townlet_telemetry_missing_ticks",
        "gauge",
        "Ticks missing from the telemetry stream.",
        each(&|e| e.metrics.missing_ticks.map(|v| v.to_string())),
    );
    family(
        "townlet_queue_length",
        "gauge",
        "tick_health queue.",
        each(&|e| e.metrics.queue.map(|v| v.to_string())),
    );
    family(
        "townlet_exit_queue_length",
        "gauge",
        "Employment exit queue (tick_health exit_queue or employment.pending_count).",
        each(&|e| e.metrics.exit_queue.map(|v| v.to_string())),
    );
    family(
        "townlet_exit_queue_median",
        "gauge",
        "Moving median of the exit queue over the previous ticks (after warm-up).",
        each(&|e| e.metrics.exit_queue_median.map(fmt_num)),
    );
    family(
        "townlet_exit_queue_limit",
        "gauge",
        "The exit queue length above which the queue is a spike.",
        each(&|e| e.metrics.exit_queue_limit.map(|v| v.to_string())),
    );
    family(
        "townlet_telemetry_plaintext_info",
        "gauge",
        "A plaintext TCP telemetry endpoint was enabled (value 1).",
        envs.iter()
            .flat_map(|e| {
                e.metrics.plaintext_endpoints.iter().map(|(ep, lo)| {
                    (
                        format!("{},endpoint=\"{}\",loopback=\"{lo}\"", env(e), label(ep)),
                        "1".to_string(),
                    )
                })
            })
            .collect(),
    );
    out
}

/// Writes the textfile atomically (node_exporter never sees half a file).
pub fn write_textfile(path: &Path, envs: &[EnvMetrics]) -> Result<()> {
    rollout_config::fs::write_atomic(path, textfile(envs).as_bytes())
}

/// Prometheus alerting rules equivalent to the built-in rules.
pub fn alert_rules(rules: &RuleSettings) -> String {
    let variant = rules.variant.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::from(
        "# Alerting rules equivalent to `cargo xtask monitor` (written by\n# `cargo xtask monitor rules --emit prometheus`); they read the metrics\n# of `--prom-textfile`.\ngroups:\n  - name: townlet-monitor\n    rules:\n",
    );
    let mut rule = |name: &str, expr: String, severity: &str, rule_id: &str, summary: &str| {
        let _ = write!(
            out,
            "      - alert: {name}\n        expr: '{}'\n        labels:\n          severity: {severity}\n          rule: {rule_id}\n        annotations:\n          summary: '{}'\n",
            expr.replace('\'', "''"),
            summary.replace('\'', "''"),
        );
    };
    rule(
        "TownletRuntimeVariantNotExpected",
        format!("townlet_runtime_variant_info{{variant!=\"{variant}\"}} == 1"),
        "critical",
        "runtime-variant",
        &format!(
            "{{{{ $labels.env }}}} reports runtime_variant {{{{ $labels.variant }}}}, not {variant}"
        ),
    );
    let warning = rules.drops.warning.unwrap_or(0.0);
    // The warning stops where the critical alert starts, as in the tool.
    let below_critical = rules
        .drops
        .critical
        .map(|c| format!(" <= {}", fmt_num(c)))
        .unwrap_or_default();
    rule(
        "TownletTelemetryDrops",
        format!(
            "townlet_telemetry_drop_rate_per_100_ticks > {}{below_critical}",
            fmt_num(warning)
        ),
        "warning",
        "telemetry-drops",
        &format!(
            "{{{{ $labels.env }}}} dropped {{{{ $value }}}} telemetry payloads in the last {DROP_WINDOW} ticks"
        ),
    );
    if let Some(c) = rules.drops.critical {
        rule(
            "TownletTelemetryDropsCritical",
            format!("townlet_telemetry_drop_rate_per_100_ticks > {}", fmt_num(c)),
            "critical",
            "telemetry-drops",
            &format!(
                "{{{{ $labels.env }}}} dropped {{{{ $value }}}} telemetry payloads in the last {DROP_WINDOW} ticks"
            ),
        );
    }
    let k = fmt_num(rules.spike_factor);
    let spike = format!(
        "townlet_exit_queue_length > townlet_exit_queue_limit or townlet_exit_queue_length > {k} * clamp_min(townlet_exit_queue_median, 1)"
    );
    rule(
        "TownletExitQueueSpike",
        spike,
        "warning",
        "exit-queue-spike",
        "{{ $labels.env }} employment exit queue is {{ $value }}",
    );
    rule(
        "TownletTelemetryPlaintextLocal",
        "townlet_telemetry_plaintext_info{loopback=\"true\"} == 1".into(),
        "warning",
        "plaintext-transport",
        "{{ $labels.env }} sends telemetry in plaintext to {{ $labels.endpoint }} (localhost development only)",
    );
    rule(
        "TownletTelemetryPlaintextRemote",
        "townlet_telemetry_plaintext_info{loopback=\"false\"} == 1".into(),
        "critical",
        "plaintext-transport",
        "{{ $labels.env }} sends telemetry in plaintext to {{ $labels.endpoint }}",
    );
    rule(
        "TownletTelemetryGap",
        "townlet_telemetry_missing_ticks > 0".into(),
        "warning",
        "telemetry-gap",
        "{{ $labels.env }} telemetry stream is missing {{ $value }} ticks",
    );
    out
}
