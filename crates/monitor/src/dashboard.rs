//! `monitor dashboard --emit grafana`: a Grafana dashboard (JSON model,
//! `schemaVersion` [`SCHEMA_VERSION`]) over the textfile metrics and the
//! recording rules of [`crate::prom`], with the thresholds the alert rules
//! use. No datasource UID is baked in: every query names the
//! `${datasource}` variable, and an `env` variable selects environments.
//!
//! Every series a panel shows is an integer count (ticks, payloads, queue
//! lengths), so an alert's `> t` is Grafana's "at or above" `floor(t) + 1`:
//! the panels turn colour exactly where the alerts fire.

use serde_json::{Value, json};

use crate::prom::DROP_RATE_RECORD;
use crate::rules::{DROP_WINDOW, RuleSettings, fmt_num};

/// The dashboard JSON schema version of current Grafana (12.x / 13.x).
pub const SCHEMA_VERSION: u32 = 42;
/// The dashboard's UID: fixed, so that importing it again updates it.
pub const UID: &str = "townlet-rollout";

const GREEN: &str = "green";
const ORANGE: &str = "orange";
const RED: &str = "red";

/// The dashboard for `rules`, as pretty JSON with a final newline.
pub fn grafana(rules: &RuleSettings) -> String {
    let mut text = serde_json::to_string_pretty(&model(rules)).unwrap_or_default();
    text.push('\n');
    text
}

/// The dashboard's JSON model.
pub fn model(rules: &RuleSettings) -> Value {
    let mut panels = Vec::new();
    let mut y = 0;
    for (title, row) in [
        ("Runtime variant", variant_panels(rules)),
        ("Telemetry", telemetry_panels(rules)),
        ("Queues", queue_panels(rules)),
        ("Transport and monitor", transport_panels()),
    ] {
        panels.push(json!({
            "type": "row", "title": title, "collapsed": false, "panels": [],
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
        }));
        y += 1;
        let mut x = 0;
        let mut height = 0;
        for (width, h, mut panel) in row {
            if x + width > 24 {
                x = 0;
                y += height;
            }
            panel["gridPos"] = json!({"h": h, "w": width, "x": x, "y": y});
            panels.push(panel);
            x += width;
            height = h;
        }
        y += height;
    }
    for (id, panel) in panels.iter_mut().enumerate() {
        panel["id"] = json!(id + 1);
    }
    json!({
        "uid": UID,
        "title": "Townlet rollout",
        "description": format!(
            "The rollout plan's monitoring hooks per environment: runtime_variant (expected '{}'), telemetry drops, missing ticks, queues and plaintext transport, from the node_exporter textfile of `cargo xtask monitor --prom-textfile` and the recording rules of configs/prometheus/townlet.rules.yml. Made by `cargo xtask monitor dashboard --emit grafana`.",
            rules.variant
        ),
        "tags": ["townlet", "rollout"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": true,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "fiscalYearStartMonth": 0,
        "liveNow": false,
        "annotations": {"list": [{
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": true,
            "hide": true,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }]},
        "templating": {"list": variables()},
        "panels": panels,
    })
}

/// `datasource` (any Prometheus) and `env` (every environment with ticks).
fn variables() -> Vec<Value> {
    vec![
        json!({
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "refresh": 1,
            "hide": 0,
            "description": "The Prometheus that scrapes node_exporter's textfile collector.",
        }),
        json!({
            "name": "env",
            "label": "Environment",
            "type": "query",
            "datasource": datasource(),
            "query": "label_values(townlet_tick, env)",
            "refresh": 2,
            "sort": 1,
            "multi": true,
            "includeAll": true,
            "hide": 0,
            "description": "Environments whose monitor reported a tick (`townlet_tick`).",
        }),
    ]
}

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// One query of a panel.
fn target(ref_id: &str, expr: &str, legend: &str, instant: bool) -> Value {
    json!({
        "refId": ref_id,
        "datasource": datasource(),
        "expr": expr,
        "legendFormat": legend,
        "range": !instant,
        "instant": instant,
        "editorMode": "code",
    })
}

/// Thresholds: green below the first step; each step's colour at and above
/// its value.
fn thresholds(steps: &[(f64, &str)]) -> Value {
    let mut list = vec![json!({"color": GREEN, "value": null})];
    list.extend(
        steps
            .iter()
            .map(|(value, color)| json!({"color": color, "value": value})),
    );
    json!({"mode": "absolute", "steps": list})
}

/// The first integer count an alert `> t` fires at.
fn fires_at(t: f64) -> f64 {
    t.floor() + 1.0
}

/// A panel of `kind` (its grid position and id are set by [`model`]).
struct Panel<'a> {
    kind: &'a str,
    title: &'a str,
    description: String,
    unit: &'a str,
    thresholds: Value,
    targets: Vec<Value>,
}

impl Panel<'_> {
    fn json(self, options: Value, extra: Value) -> Value {
        let mut defaults = json!({
            "unit": self.unit,
            "thresholds": self.thresholds,
            "color": {"mode": "thresholds"},
            "mappings": [],
        });
        if let (Some(d), Value::Object(extra)) = (defaults.as_object_mut(), extra) {
            d.extend(extra);
        }
        json!({
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": datasource(),
            "targets": self.targets,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options,
        })
    }
}

/// The variant state per environment: 2 the expected variant, 1 another,
/// 0 ticks without a variant.
fn variant_state_expr(variant: &str) -> String {
    let v = variant.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "max by (env) (townlet_runtime_variant_info{{env=~\"$env\", variant=\"{v}\"}}) * 2 or max by (env) (townlet_runtime_variant_info{{env=~\"$env\", variant!=\"{v}\"}}) * 0 + 1 or max by (env) (townlet_runtime_variant_reported{{env=~\"$env\"}} == 0)"
    )
}

fn variant_mappings(variant: &str) -> Value {
    json!([{
        "type": "value",
        "options": {
            "2": {"text": variant, "color": GREEN, "index": 0},
            "1": {"text": format!("NOT {variant}"), "color": RED, "index": 1},
            "0": {"text": "not reported", "color": ORANGE, "index": 2},
        },
    }])
}

fn variant_panels(rules: &RuleSettings) -> Vec<(u32, u32, Value)> {
    let variant = &rules.variant;
    let expr = variant_state_expr(variant);
    let states = thresholds(&[]);
    let now = Panel {
        kind: "stat",
        title: "runtime_variant now",
        description: format!(
            "Per environment: '{variant}' (green), another variant (red: TownletRuntimeVariantNotExpected, critical), or ticks without a variant (orange: TownletRuntimeVariantMissing, warning; tick_health lines do not print it, the telemetry stream's snapshot does). The variant's name is in the alert and in townlet_runtime_variant_info."
        ),
        unit: "none",
        thresholds: states.clone(),
        targets: vec![target("A", &expr, "{{env}}", true)],
    }
    .json(
        json!({
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value_and_name",
            "justifyMode": "auto",
            "orientation": "auto",
            "wideLayout": true,
            "showPercentChange": false,
        }),
        json!({"mappings": variant_mappings(variant), "noValue": "no environment reports ticks"}),
    );
    let timeline = Panel {
        kind: "state-timeline",
        title: "runtime_variant over time",
        description: format!(
            "One row per environment: when it reported '{variant}', another variant, or ticks without a variant. Every environment green means every environment reports '{variant}'."
        ),
        unit: "none",
        thresholds: states,
        targets: vec![target("A", &expr, "{{env}}", false)],
    }
    .json(
        json!({
            "showValue": "never",
            "mergeValues": true,
            "rowHeight": 0.9,
            "alignValue": "left",
            "legend": {"showLegend": true, "displayMode": "list", "placement": "bottom", "calcs": []},
            "tooltip": {"mode": "single", "sort": "none"},
        }),
        json!({
            "mappings": variant_mappings(variant),
            "custom": {"fillOpacity": 80, "lineWidth": 0},
        }),
    );
    vec![(8, 6, now), (16, 6, timeline)]
}

/// A time series panel's options and its field defaults' `custom`.
fn timeseries(options_axis: &str) -> (Value, Value) {
    (
        json!({
            "legend": {"showLegend": true, "displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }),
        json!({"custom": {
            "axisLabel": options_axis,
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 0,
            "showPoints": "never",
            "spanNulls": false,
            "thresholdsStyle": {"mode": "line+area"},
        }}),
    )
}

fn telemetry_panels(rules: &RuleSettings) -> Vec<(u32, u32, Value)> {
    let drops = &rules.drops;
    let mut steps = vec![(fires_at(drops.warning.unwrap_or(0.0)), ORANGE)];
    if let Some(critical) = drops.critical {
        steps.push((fires_at(critical), RED));
    }
    let threshold_text = match (drops.warning, drops.critical) {
        (None, None) => "no threshold is configured or learnt, so any drop warns".to_string(),
        (warning, critical) => format!(
            "warning above {}, critical above {} ({})",
            warning.map_or("0".into(), fmt_num),
            critical.map_or("never".into(), fmt_num),
            drops.source
        ),
    };
    let (options, custom) = timeseries(&format!("payloads dropped per {DROP_WINDOW} ticks"));
    let rate = Panel {
        kind: "timeseries",
        title: "Telemetry drops per 100 ticks",
        description: format!(
            "Payloads dropped over the last {DROP_WINDOW} ticks per environment (recording rule {DROP_RATE_RECORD}, from tick_health `dropped`): TownletTelemetryDrops fires after 5 minutes; {threshold_text}. Needs configs/prometheus/townlet.rules.yml loaded."
        ),
        unit: "short",
        thresholds: thresholds(&steps),
        targets: vec![target(
            "A",
            &format!("{DROP_RATE_RECORD}{{env=~\"$env\"}}"),
            "{{env}}",
            false,
        )],
    }
    .json(options, custom);
    let (options, custom) = timeseries("ticks missing (cumulative)");
    let missing = Panel {
        kind: "timeseries",
        title: "Ticks missing from the telemetry stream",
        description: "Ticks the transport lost from each environment's telemetry stream, cumulative (townlet_telemetry_missing_ticks): TownletTelemetryGap fires while it grows and 15 minutes after. Only environments with a monitored stream have it.".into(),
        unit: "short",
        thresholds: thresholds(&[(1.0, ORANGE)]),
        targets: vec![target(
            "A",
            "townlet_telemetry_missing_ticks{env=~\"$env\"}",
            "{{env}}",
            false,
        )],
    }
    .json(options, custom);
    vec![(12, 8, rate), (12, 8, missing)]
}

fn queue_panels(rules: &RuleSettings) -> Vec<(u32, u32, Value)> {
    let k = fmt_num(rules.spike_factor);
    let limit_steps: Vec<(f64, &str)> = rules
        .exit_queue_limit
        .map(|limit| vec![(fires_at(limit as f64), ORANGE)])
        .unwrap_or_default();
    let limit_text = match rules.exit_queue_limit {
        Some(limit) => format!("the configured limit {limit}"),
        None => "the stream's employment.queue_limit (no limit is configured)".to_string(),
    };
    let (options, custom) = timeseries("exit queue length");
    let exit_queue = Panel {
        kind: "timeseries",
        title: "Employment exit queue against its limit",
        description: format!(
            "Exit queue per environment (tick_health exit_queue or employment.pending_count), its limit ({limit_text}) and {k} x its moving median (at least 1): TownletExitQueueSpike fires after 1 minute above either."
        ),
        unit: "short",
        thresholds: thresholds(&limit_steps),
        targets: vec![
            target("A", "townlet_exit_queue_length{env=~\"$env\"}", "{{env}} exit queue", false),
            target("B", "townlet_exit_queue_limit{env=~\"$env\"}", "{{env}} limit", false),
            target(
                "C",
                &format!("{k} * clamp_min(townlet_exit_queue_median{{env=~\"$env\"}}, 1)"),
                &format!("{{{{env}}}} {k} x median"),
                false,
            ),
        ],
    }
    .json(options, custom);
    let (options, custom) = timeseries("queue length");
    let queue = Panel {
        kind: "timeseries",
        title: "tick_health queue",
        description: format!(
            "The `queue` of tick_health per environment (logs only), against the exit queue's limit ({limit_text}) for scale; no alert reads it."
        ),
        unit: "short",
        thresholds: thresholds(&limit_steps),
        targets: vec![
            target("A", "townlet_queue_length{env=~\"$env\"}", "{{env}} queue", false),
            target("B", "townlet_exit_queue_limit{env=~\"$env\"}", "{{env}} exit queue limit", false),
        ],
    }
    .json(options, custom);
    vec![(12, 8, exit_queue), (12, 8, queue)]
}

fn transport_panels() -> Vec<(u32, u32, Value)> {
    let plaintext = Panel {
        kind: "stat",
        title: "Plaintext telemetry endpoints",
        description: "Each endpoint Townlet logged `telemetry_tcp_plaintext_enabled` for (townlet_telemetry_plaintext_info): loopback is a warning (development only), any other host critical; both are TownletTelemetryPlaintext. Empty when every transport uses TLS.".into(),
        unit: "none",
        thresholds: thresholds(&[]),
        targets: vec![target(
            "A",
            "max by (env, endpoint) (townlet_telemetry_plaintext_info{env=~\"$env\", loopback=\"false\"}) * 2 or max by (env, endpoint) (townlet_telemetry_plaintext_info{env=~\"$env\", loopback=\"true\"})",
            "{{env}} {{endpoint}}",
            true,
        )],
    }
    .json(
        json!({
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value_and_name",
            "justifyMode": "auto",
            "orientation": "auto",
            "wideLayout": true,
            "showPercentChange": false,
        }),
        json!({
            "noValue": "none: no plaintext transport logged",
            "mappings": [{
                "type": "value",
                "options": {
                    "2": {"text": "plaintext to a non-loopback host (critical)", "color": RED, "index": 0},
                    "1": {"text": "plaintext on loopback (warning)", "color": ORANGE, "index": 1},
                },
            }],
        }),
    );
    let (options, custom) = timeseries("seconds since written");
    let age = Panel {
        kind: "timeseries",
        title: "Monitor textfile age",
        description: "Seconds since node_exporter saw the Townlet textfile change (node_textfile_mtime_seconds): above 900 for 10 minutes is TownletMonitorTextfileStale, and every other panel shows old figures.".into(),
        unit: "s",
        thresholds: thresholds(&[(901.0, RED)]),
        targets: vec![target(
            "A",
            "time() - node_textfile_mtime_seconds{file=~\".*townlet.*\"}",
            "{{instance}} {{file}}",
            false,
        )],
    }
    .json(options, custom);
    vec![(12, 6, plaintext), (12, 6, age)]
}
