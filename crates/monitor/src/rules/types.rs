//! The rules' vocabulary: the rules, their settings and thresholds, the
//! alerts they raise and the figures they keep.

use std::fmt;

use rollout_core::Severity;
use serde::Serialize;

/// Tick ranges kept per alert; further ranges are only counted.
pub const MAX_RANGES: usize = 20;
/// Ticks of history before the moving-median spike test applies.
pub const MEDIAN_WARMUP: usize = 10;
/// The drop rate is measured over this many ticks.
pub const DROP_WINDOW: u64 = 100;

/// The built-in rules. Names are stable (JSON `rule`, Prometheus `rule` label).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    RuntimeVariant,
    TelemetryDrops,
    ExitQueueSpike,
    PlaintextTransport,
    TelemetryGap,
    /// An environment reported ticks but no `runtime_variant`: the facade
    /// cannot be verified there. Last in the order of alerts of one
    /// severity and environment; second in [`Rule::ALL`] (the report's).
    RuntimeVariantMissing,
}

impl Rule {
    pub const ALL: [Rule; 6] = [
        Rule::RuntimeVariant,
        Rule::RuntimeVariantMissing,
        Rule::TelemetryDrops,
        Rule::ExitQueueSpike,
        Rule::PlaintextTransport,
        Rule::TelemetryGap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::RuntimeVariant => "runtime-variant",
            Rule::RuntimeVariantMissing => "runtime-variant-missing",
            Rule::TelemetryDrops => "telemetry-drops",
            Rule::ExitQueueSpike => "exit-queue-spike",
            Rule::PlaintextTransport => "plaintext-transport",
            Rule::TelemetryGap => "telemetry-gap",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the thresholds of the drop rule came from.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DropThresholds {
    /// Drops per 100 ticks above which a warning is raised; absent: any drop.
    pub warning: Option<f64>,
    /// Drops per 100 ticks above which the alert is critical; absent: never.
    pub critical: Option<f64>,
    /// `config`, `learnt` or `none`.
    pub source: String,
}

impl DropThresholds {
    pub fn none() -> Self {
        Self {
            warning: None,
            critical: None,
            source: "none".into(),
        }
    }

    /// The severity of a drop rate, if it raises an alert.
    pub fn severity(&self, rate: f64) -> Option<Severity> {
        if self.critical.is_some_and(|c| rate > c) {
            Some(Severity::Critical)
        } else if rate > self.warning.unwrap_or(0.0) {
            Some(Severity::Warning)
        } else {
            None
        }
    }
}

/// Everything the rules need to know.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RuleSettings {
    /// The one acceptable `runtime_variant`.
    pub variant: String,
    pub drops: DropThresholds,
    pub exit_queue_limit: Option<u64>,
    pub spike_factor: f64,
    pub window: usize,
    /// The runbook the emitted alert rules link to (absolute when
    /// `monitor.runbook_base_url` is set).
    pub runbook_url: String,
    /// Labels every emitted alert rule carries besides `severity` and
    /// `rule` (`monitor.alert_labels`).
    pub alert_labels: std::collections::BTreeMap<String, String>,
}

impl RuleSettings {
    pub fn new(variant: &str, drops: DropThresholds) -> Self {
        Self {
            variant: variant.to_string(),
            drops,
            exit_queue_limit: None,
            spike_factor: 3.0,
            window: 50,
            runbook_url: "docs/runbook.md".into(),
            alert_labels: std::collections::BTreeMap::new(),
        }
    }
}

/// A place in an input: file and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Evidence {
    pub file: String,
    pub line: u64,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Consecutive ticks (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TickRange {
    pub start: u64,
    pub end: u64,
}

impl fmt::Display for TickRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// One alert: a rule that fired in one input of one environment.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Alert {
    pub env: String,
    pub rule: Rule,
    pub severity: Severity,
    /// What happened, with the figures.
    pub message: String,
    /// The first tick the alert concerns: where drops began for
    /// `telemetry-drops`, else the start of the first range.
    pub first_tick: Option<u64>,
    /// Ticks where the rule held (at most [`MAX_RANGES`]).
    pub ticks: Vec<TickRange>,
    /// Ranges beyond those listed.
    pub more_ranges: u64,
    /// The lines that show it (first occurrences).
    pub evidence: Vec<Evidence>,
}

/// The kind of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Log,
    Telemetry,
}

/// One sample for the chart: one tick, or, once a long input is thinned,
/// the ticks from this one to the next point, with their extremes kept so
/// that a one-tick spike still shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub tick: u64,
    /// The cumulative drops at the last tick it stands for.
    pub dropped: Option<u64>,
    /// The highest queue of the ticks it stands for.
    pub queue: Option<u64>,
    /// The highest exit queue of the ticks it stands for.
    pub exit_queue: Option<u64>,
    /// The lowest queue and exit queue of the ticks it stands for.
    pub queue_low: Option<u64>,
    pub exit_queue_low: Option<u64>,
    /// Whether the runtime variant was the expected one (`false` when any
    /// tick it stands for was not); `None` when unknown.
    pub variant_ok: Option<bool>,
}

impl Point {
    /// The point standing for this one's ticks and `later`'s.
    pub fn merge(self, later: Point) -> Point {
        let max = |a: Option<u64>, b: Option<u64>| a.max(b);
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Point {
            tick: self.tick,
            dropped: later.dropped.or(self.dropped),
            queue: max(self.queue, later.queue),
            exit_queue: max(self.exit_queue, later.exit_queue),
            queue_low: min(self.queue_low, later.queue_low),
            exit_queue_low: min(self.exit_queue_low, later.exit_queue_low),
            variant_ok: match (self.variant_ok, later.variant_ok) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (a, b) => a.or(b),
            },
        }
    }
}

/// How many ticks of an input report the runtime variant, and how many of
/// those are not the expected one: exact, whatever the chart's thinning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VariantTicks {
    /// Ticks read.
    pub present: u64,
    /// Ticks whose variant is known.
    pub reported: u64,
    /// Ticks whose variant is not the expected one.
    pub unexpected: u64,
}

/// The last figures of an input, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Metrics {
    pub tick: Option<u64>,
    pub dropped_total: Option<u64>,
    pub drop_rate_per_100_ticks: Option<f64>,
    pub queue: Option<u64>,
    pub exit_queue: Option<u64>,
    /// The moving median the spike rule compares with (after warm-up).
    pub exit_queue_median: Option<f64>,
    /// The limit the spike rule applies (configured, else the stream's
    /// `employment.queue_limit`).
    pub exit_queue_limit: Option<u64>,
    pub runtime_variant: Option<String>,
    /// Plaintext endpoints seen, with whether each is loopback.
    pub plaintext_endpoints: Vec<(String, bool)>,
    /// Ticks missing from a telemetry stream.
    pub missing_ticks: Option<u64>,
}

/// A number without a needless `.0`.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}
