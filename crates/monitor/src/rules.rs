//! The alert rules, evaluated incrementally: a [`SourceEval`] is fed one log
//! line or one telemetry state at a time and keeps bounded state (a 100-tick
//! drop window, a moving-median window, at most [`MAX_RANGES`] tick ranges per
//! alert), so following a live log for hours uses constant memory.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use rollout_core::Severity;
use serde::Serialize;

use telemetry::log::{self as logline, LogEvent};

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
}

impl Rule {
    pub const ALL: [Rule; 5] = [
        Rule::RuntimeVariant,
        Rule::TelemetryDrops,
        Rule::ExitQueueSpike,
        Rule::PlaintextTransport,
        Rule::TelemetryGap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::RuntimeVariant => "runtime-variant",
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
    /// The runbook the emitted alert rules link to.
    pub runbook_url: String,
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

/// Ranges of ticks where a condition held, bounded.
#[derive(Debug, Clone, Default)]
struct Ranges {
    list: Vec<TickRange>,
    open: Option<TickRange>,
    more: u64,
    ticks: u64,
}

impl Ranges {
    fn hit(&mut self, tick: u64) {
        self.ticks += 1;
        match &mut self.open {
            Some(r) if tick >= r.end => r.end = tick,
            _ => {
                self.close();
                self.open = Some(TickRange {
                    start: tick,
                    end: tick,
                });
            }
        }
    }

    fn miss(&mut self) {
        self.close();
    }

    fn add(&mut self, r: TickRange) {
        self.close();
        self.ticks = self.ticks.saturating_add(r.end - r.start).saturating_add(1);
        self.push(r);
    }

    fn push(&mut self, r: TickRange) {
        if self.list.len() < MAX_RANGES {
            self.list.push(r);
        } else {
            self.more += 1;
        }
    }

    fn close(&mut self) {
        if let Some(r) = self.open.take() {
            self.push(r);
        }
    }

    fn snapshot(&self) -> (Vec<TickRange>, u64) {
        let mut list = self.list.clone();
        let mut more = self.more;
        if let Some(r) = self.open {
            if list.len() < MAX_RANGES {
                list.push(r);
            } else {
                more += 1;
            }
        }
        (list, more)
    }

    fn is_empty(&self) -> bool {
        self.ticks == 0
    }
}

/// The kind of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Log,
    Telemetry,
}

/// One sample for the chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub tick: u64,
    pub dropped: Option<u64>,
    pub queue: Option<u64>,
    pub exit_queue: Option<u64>,
    /// Whether the runtime variant was the expected one; `None` when unknown.
    pub variant_ok: Option<bool>,
}

/// Points kept for a chart; halved (every other point) when full.
const MAX_POINTS: usize = 20_000;

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

/// What the variant rule reports for ticks after a diff removed
/// `runtime_variant`.
const REMOVED: &str = "none (removed by a diff)";

/// The rules' state for one input.
#[derive(Debug, Clone)]
pub struct SourceEval {
    env: String,
    file: String,
    kind: Kind,
    settings: RuleSettings,
    last_tick: Option<u64>,
    // runtime variant
    bad_variant: Ranges,
    bad_variants: BTreeMap<String, u64>,
    variant_evidence: Vec<Evidence>,
    variant: Option<String>,
    /// `runtime_variant` through a telemetry stream: a diff that removes it
    /// is not 'facade' either.
    variant_watch: telemetry::KeyWatch,
    /// Malformed `tick_health` lines: the first few, and how many.
    malformed: Vec<String>,
    malformed_count: u64,
    /// Lines skipped for their length: the first one's line, how many, and
    /// the length they exceeded.
    long_lines: Option<(u64, u64, String)>,
    // drops
    drop_window: VecDeque<(u64, u64)>,
    drop_base: u64,
    dropped: Option<u64>,
    warned_total: u64,
    pending_warning: Option<Evidence>,
    first_drop: Option<(u64, Evidence)>,
    drop_warn: Ranges,
    drop_crit: Ranges,
    drop_rate: Option<f64>,
    peak_rate: Option<(f64, u64)>,
    // exit queue
    eq_window: VecDeque<u64>,
    eq_limit_seen: Option<u64>,
    spikes: Ranges,
    spike_peak: Option<(u64, u64, String)>,
    spike_evidence: Option<Evidence>,
    exit_queue: Option<u64>,
    eq_median: Option<f64>,
    queue: Option<u64>,
    // plaintext
    plaintext: BTreeMap<String, (u64, Evidence)>,
    // gaps
    gaps: Ranges,
    gap_evidence: Vec<Evidence>,
    // chart
    points: Option<Vec<Point>>,
    stride: u64,
    seen: u64,
}

impl SourceEval {
    pub fn new(env: &str, file: &str, kind: Kind, settings: RuleSettings) -> Self {
        Self {
            env: env.to_string(),
            file: file.to_string(),
            kind,
            settings,
            last_tick: None,
            bad_variant: Ranges::default(),
            bad_variants: BTreeMap::new(),
            variant_evidence: Vec::new(),
            variant: None,
            variant_watch: telemetry::KeyWatch::new("runtime_variant"),
            malformed: Vec::new(),
            malformed_count: 0,
            long_lines: None,
            drop_window: VecDeque::new(),
            drop_base: 0,
            dropped: None,
            warned_total: 0,
            pending_warning: None,
            first_drop: None,
            drop_warn: Ranges::default(),
            drop_crit: Ranges::default(),
            drop_rate: None,
            peak_rate: None,
            eq_window: VecDeque::new(),
            eq_limit_seen: None,
            spikes: Ranges::default(),
            spike_peak: None,
            spike_evidence: None,
            exit_queue: None,
            eq_median: None,
            queue: None,
            plaintext: BTreeMap::new(),
            gaps: Ranges::default(),
            gap_evidence: Vec::new(),
            points: None,
            stride: 1,
            seen: 0,
        }
    }

    /// Keeps points for a chart (bounded; thinned evenly when long).
    pub fn collect_points(mut self) -> Self {
        self.points = Some(Vec::new());
        self
    }

    pub fn env(&self) -> &str {
        &self.env
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn points(&self) -> &[Point] {
        self.points.as_deref().unwrap_or(&[])
    }

    /// Ranges of ticks missing from a telemetry stream (the first ones).
    pub fn gap_ranges(&self) -> Vec<TickRange> {
        self.gaps.snapshot().0
    }

    /// The exit queue limit the spike rule applies to this input, if any.
    pub fn exit_queue_limit(&self) -> Option<u64> {
        self.settings.exit_queue_limit.or(self.eq_limit_seen)
    }

    fn at(&self, line: u64) -> Evidence {
        Evidence {
            file: self.file.clone(),
            line,
        }
    }

    /// Feeds one log line (1-based line number); returns the tick of a
    /// `tick_health` line.
    pub fn log_line(&mut self, line_no: u64, line: &str) -> Option<u64> {
        match logline::parse(line) {
            Some(LogEvent::BadTick { value }) => {
                let what = match value {
                    Some(v) => format!("`tick={v}` is not a tick"),
                    None => "it has no `tick=`".to_string(),
                };
                self.warn_malformed(line_no, format!("tick_health line skipped: {what}"));
            }
            Some(LogEvent::TickHealth(t)) => {
                for (key, value) in &t.malformed {
                    self.warn_malformed(
                        line_no,
                        format!(
                            "tick_health `{key}={value}` is not a number: read as not reported"
                        ),
                    );
                }
                let tick = t.tick;
                let dropped = t.dropped.unwrap_or(self.warned_total);
                self.tick(
                    t.tick,
                    line_no,
                    Sample {
                        dropped: Some(dropped),
                        queue: t.queue,
                        exit_queue: t.exit_queue,
                        queue_limit: None,
                        variant: t.runtime_variant,
                    },
                );
                return Some(tick);
            }
            Some(LogEvent::BufferExceeded { dropped, .. }) => {
                self.warned_total = self.warned_total.saturating_add(dropped);
                if self.pending_warning.is_none() {
                    self.pending_warning = Some(self.at(line_no));
                }
            }
            Some(LogEvent::Plaintext { endpoint }) => {
                if let Some(e) = self.plaintext.get_mut(endpoint) {
                    e.0 += 1;
                } else if self.plaintext.len() < MAX_RANGES {
                    let ev = self.at(line_no);
                    self.plaintext.insert(endpoint.to_string(), (1, ev));
                }
            }
            None => {}
        }
        None
    }

    /// Notes a malformed `tick_health` line with its place.
    fn warn_malformed(&mut self, line_no: u64, what: String) {
        const LISTED: usize = 5;
        self.malformed_count += 1;
        if self.malformed.len() < LISTED {
            self.malformed
                .push(format!("`{}`:{line_no}: {what}", self.file));
        }
    }

    /// Notes a line skipped because it is longer than `cap` (the rule is
    /// `input::over_long_line`).
    pub fn skip_long_line(&mut self, line_no: u64, cap: &str) {
        match &mut self.long_lines {
            Some((_, count, _)) => *count += 1,
            None => self.long_lines = Some((line_no, 1, cap.to_string())),
        }
    }

    /// Lines skipped for their length so far.
    pub fn long_lines_skipped(&self) -> u64 {
        self.long_lines.as_ref().map_or(0, |(_, count, _)| *count)
    }

    /// The warnings about malformed and skipped lines, for the input's
    /// summary.
    pub fn take_warnings(&mut self) -> Vec<String> {
        let mut warnings = std::mem::take(&mut self.malformed);
        let more = self.malformed_count.saturating_sub(warnings.len() as u64);
        if more > 0 {
            warnings.push(format!("… and {more} more malformed tick_health lines"));
        }
        if let Some((first, count, cap)) = self.long_lines.take() {
            let in_all = if count == 1 {
                "1 such line in all".to_string()
            } else {
                format!("{count} such lines in all, the first here")
            };
            warnings.push(format!(
                "`{}`:{first}: line longer than {cap} skipped ({in_all}): not a record the alert rules read",
                self.file
            ));
        }
        warnings
    }

    /// Feeds one reconstructed telemetry state.
    pub fn telemetry_state(&mut self, s: &telemetry::TickState) {
        let num = |path: &str| s.field(path).present().and_then(serde_json::Value::as_u64);
        // Ticks missing between payloads were dropped by the transport.
        if let Some((start, end)) = s.missing_before {
            self.gaps.add(TickRange { start, end });
            if self.gap_evidence.len() < 3 {
                self.gap_evidence.push(self.at(s.line));
            }
        }
        let variant = match self.variant_watch.observe(s) {
            telemetry::Presence::Present(serde_json::Value::String(v)) => Some(v.clone()),
            telemetry::Presence::Present(other) => Some(other.to_string()),
            telemetry::Presence::RemovedNow | telemetry::Presence::Removed => {
                Some(REMOVED.to_string())
            }
            telemetry::Presence::NotSeen => None,
        };
        self.tick(
            s.tick,
            s.line,
            Sample {
                dropped: None,
                queue: None,
                exit_queue: num("employment.pending_count"),
                queue_limit: num("employment.queue_limit"),
                variant: variant.as_deref(),
            },
        );
    }

    fn tick(&mut self, tick: u64, line: u64, sample: Sample<'_>) {
        if self.last_tick.is_some_and(|last| tick < last) {
            // A new run in the same file (restart, or a truncated log).
            self.restart();
        }
        let first = self.last_tick.is_none();
        self.last_tick = Some(tick);
        self.seen += 1;

        let variant_ok = sample
            .variant
            .map(|variant| self.observe_variant(tick, line, variant));
        if let Some(cumulative) = sample.dropped {
            self.observe_drops(tick, line, first, cumulative);
        }
        self.pending_warning = None;
        self.queue = sample.queue.or(self.queue);
        if let Some(limit) = sample.queue_limit {
            self.eq_limit_seen = Some(limit);
        }
        if let Some(exit_queue) = sample.exit_queue {
            self.observe_exit_queue(tick, line, exit_queue);
        }
        self.record_point(Point {
            tick,
            dropped: sample.dropped,
            queue: sample.queue,
            exit_queue: sample.exit_queue,
            variant_ok,
        });
    }

    /// Judges one tick's runtime variant; true when it is the expected one.
    fn observe_variant(&mut self, tick: u64, line: u64, variant: &str) -> bool {
        let expected = variant == self.settings.variant;
        if expected {
            self.bad_variant.miss();
        } else {
            self.bad_variant.hit(tick);
            if let Some(count) = self.bad_variants.get_mut(variant) {
                *count += 1;
            } else if self.bad_variants.len() < MAX_RANGES {
                self.bad_variants.insert(variant.to_string(), 1);
                self.variant_evidence.push(self.at(line));
            }
        }
        if self.variant.as_deref() != Some(variant) {
            self.variant = Some(variant.to_string());
        }
        expected
    }

    /// Drops per 100 ticks, from the cumulative count.
    fn observe_drops(&mut self, tick: u64, line: u64, first: bool, cumulative: u64) {
        if first && tick > DROP_WINDOW {
            self.drop_base = cumulative;
        }
        let before = self
            .drop_window
            .back()
            .map_or(self.drop_base, |&(_, count)| count);
        if cumulative > before && self.first_drop.is_none() {
            let evidence = self
                .pending_warning
                .clone()
                .unwrap_or_else(|| self.at(line));
            self.first_drop = Some((tick, evidence));
        }
        self.drop_window.push_back((tick, cumulative));
        while let Some(&(oldest_tick, count)) = self.drop_window.front() {
            if oldest_tick.saturating_add(DROP_WINDOW) > tick {
                break;
            }
            self.drop_base = count;
            self.drop_window.pop_front();
        }
        let rate = cumulative.saturating_sub(self.drop_base) as f64;
        self.drop_rate = Some(rate);
        self.dropped = Some(cumulative);
        if self.peak_rate.is_none_or(|(peak, _)| rate > peak) {
            self.peak_rate = Some((rate, tick));
        }
        match self.settings.drops.severity(rate) {
            Some(severity) => {
                self.drop_warn.hit(tick);
                if severity == Severity::Critical {
                    self.drop_crit.hit(tick);
                } else {
                    self.drop_crit.miss();
                }
            }
            None => {
                self.drop_warn.miss();
                self.drop_crit.miss();
            }
        }
    }

    /// Exit queue spikes: above the limit, or above k times the moving median.
    fn observe_exit_queue(&mut self, tick: u64, line: u64, exit_queue: u64) {
        self.exit_queue = Some(exit_queue);
        let factor = self.settings.spike_factor;
        let median = (self.eq_window.len() >= MEDIAN_WARMUP).then(|| median(&self.eq_window));
        self.eq_median = median;
        let limit = self.settings.exit_queue_limit.or(self.eq_limit_seen);
        let reason = if let Some(limit) = limit.filter(|&limit| exit_queue > limit) {
            Some(format!("above the limit {limit}"))
        } else {
            median
                .filter(|&median| exit_queue as f64 > factor * median.max(1.0))
                .map(|median| format!("above {factor} x its moving median {median}"))
        };
        match reason {
            Some(reason) => {
                self.spikes.hit(tick);
                if self.spike_evidence.is_none() {
                    self.spike_evidence = Some(self.at(line));
                }
                if self
                    .spike_peak
                    .as_ref()
                    .is_none_or(|(peak, _, _)| exit_queue > *peak)
                {
                    self.spike_peak = Some((exit_queue, tick, reason));
                }
            }
            None => self.spikes.miss(),
        }
        self.eq_window.push_back(exit_queue);
        if self.eq_window.len() > self.settings.window {
            self.eq_window.pop_front();
        }
    }

    /// Keeps every stride-th tick for the chart, halving the points when full.
    fn record_point(&mut self, point: Point) {
        let Some(points) = &mut self.points else {
            return;
        };
        if !self.seen.is_multiple_of(self.stride) {
            return;
        }
        points.push(point);
        if points.len() >= MAX_POINTS {
            let mut index: u64 = 0;
            points.retain(|_| {
                index += 1;
                !index.is_multiple_of(2)
            });
            self.stride *= 2;
        }
    }

    fn restart(&mut self) {
        self.drop_window.clear();
        self.drop_base = 0;
        self.warned_total = 0;
        self.eq_window.clear();
        self.last_tick = None;
        self.bad_variant.miss();
        self.drop_warn.miss();
        self.drop_crit.miss();
        self.spikes.miss();
    }

    /// The highest drop rate per 100 ticks seen.
    pub fn peak_rate(&self) -> f64 {
        self.peak_rate.map_or(0.0, |(p, _)| p)
    }

    /// The last figures.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            tick: self.last_tick,
            dropped_total: self.dropped,
            drop_rate_per_100_ticks: self.drop_rate,
            queue: self.queue,
            exit_queue: self.exit_queue,
            exit_queue_median: self.eq_median,
            exit_queue_limit: self.settings.exit_queue_limit.or(self.eq_limit_seen),
            runtime_variant: self.variant.clone(),
            plaintext_endpoints: self
                .plaintext
                .keys()
                .map(|e| (e.clone(), logline::is_loopback(e)))
                .collect(),
            missing_ticks: (self.kind == Kind::Telemetry).then_some(self.gaps.ticks),
        }
    }

    /// The alerts raised so far.
    pub fn alerts(&self) -> Vec<Alert> {
        let mut out = Vec::new();
        out.extend(self.variant_alert());
        out.extend(self.drops_alert());
        out.extend(self.spike_alert());
        out.extend(self.plaintext_alerts());
        out.extend(self.gap_alert());
        out
    }

    fn alert(
        &self,
        rule: Rule,
        severity: Severity,
        message: String,
        ranges: &Ranges,
        evidence: Vec<Evidence>,
    ) -> Alert {
        let (ticks, more_ranges) = ranges.snapshot();
        let first_tick = match (rule, &self.first_drop) {
            (Rule::TelemetryDrops, Some((tick, _))) => Some(*tick),
            _ => ticks.first().map(|range| range.start),
        };
        Alert {
            env: self.env.clone(),
            rule,
            severity,
            first_tick,
            message,
            ticks,
            more_ranges,
            evidence,
        }
    }

    fn variant_alert(&self) -> Option<Alert> {
        if self.bad_variant.is_empty() {
            return None;
        }
        let found: Vec<String> = self
            .bad_variants
            .iter()
            .map(|(variant, count)| format!("'{variant}' ({count} ticks)"))
            .collect();
        Some(self.alert(
            Rule::RuntimeVariant,
            Severity::Critical,
            format!(
                "runtime_variant is not '{}': found {}",
                self.settings.variant,
                found.join(", ")
            ),
            &self.bad_variant,
            self.variant_evidence.clone(),
        ))
    }

    fn drops_alert(&self) -> Option<Alert> {
        if self.drop_warn.is_empty() {
            return None;
        }
        let thresholds = &self.settings.drops;
        let severity = if self.drop_crit.is_empty() {
            Severity::Warning
        } else {
            Severity::Critical
        };
        let (began, evidence) = match &self.first_drop {
            Some((tick, evidence)) => (
                format!("drops began at tick {tick} ({evidence}); "),
                vec![evidence.clone()],
            ),
            None => (String::new(), Vec::new()),
        };
        let (peak, peak_tick) = self.peak_rate.unwrap_or((0.0, 0));
        let threshold_text = match (thresholds.warning, thresholds.critical) {
            (None, None) => {
                "any drop is a warning without learnt or configured thresholds".to_string()
            }
            (warning, critical) => format!(
                "warning above {}, critical above {} ({})",
                warning.map_or("0".into(), fmt_num),
                critical.map_or("never".into(), fmt_num),
                thresholds.source
            ),
        };
        Some(self.alert(
            Rule::TelemetryDrops,
            severity,
            format!(
                "telemetry dropped payloads: {began}{} dropped by tick {}; peak {} per {DROP_WINDOW} ticks at tick {peak_tick}; {threshold_text}",
                self.dropped.unwrap_or(0),
                self.last_tick.unwrap_or(0),
                fmt_num(peak),
            ),
            &self.drop_warn,
            evidence,
        ))
    }

    fn spike_alert(&self) -> Option<Alert> {
        if self.spikes.is_empty() {
            return None;
        }
        let (peak, tick, reason) = self.spike_peak.clone().unwrap_or((0, 0, String::new()));
        let what = match self.kind {
            Kind::Log => "exit_queue",
            Kind::Telemetry => "employment.pending_count",
        };
        Some(self.alert(
            Rule::ExitQueueSpike,
            Severity::Warning,
            format!(
                "employment exit queue spike: {what} reached {peak} at tick {tick}, {reason}; {} ticks affected",
                self.spikes.ticks
            ),
            &self.spikes,
            self.spike_evidence.iter().cloned().collect(),
        ))
    }

    fn plaintext_alerts(&self) -> Vec<Alert> {
        self.plaintext
            .iter()
            .map(|(endpoint, (count, evidence))| {
                let (severity, why) = if logline::is_loopback(endpoint) {
                    (
                        Severity::Warning,
                        "plaintext is for localhost development only",
                    )
                } else {
                    (
                        Severity::Critical,
                        "a non-loopback endpoint receives telemetry unencrypted",
                    )
                };
                Alert {
                    env: self.env.clone(),
                    rule: Rule::PlaintextTransport,
                    severity,
                    message: format!(
                        "telemetry_tcp_plaintext_enabled endpoint={endpoint} (logged {count} time{}): {why}",
                        if *count == 1 { "" } else { "s" }
                    ),
                    first_tick: None,
                    ticks: Vec::new(),
                    more_ranges: 0,
                    evidence: vec![evidence.clone()],
                }
            })
            .collect()
    }

    fn gap_alert(&self) -> Option<Alert> {
        if self.gaps.is_empty() {
            return None;
        }
        Some(self.alert(
            Rule::TelemetryGap,
            Severity::Warning,
            format!(
                "{} ticks missing from the telemetry stream (payloads dropped)",
                self.gaps.ticks
            ),
            &self.gaps,
            self.gap_evidence.clone(),
        ))
    }
}

struct Sample<'a> {
    dropped: Option<u64>,
    queue: Option<u64>,
    exit_queue: Option<u64>,
    queue_limit: Option<u64>,
    variant: Option<&'a str>,
}

fn median(window: &VecDeque<u64>) -> f64 {
    let mut v: Vec<u64> = window.iter().copied().collect();
    v.sort_unstable();
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        // As floats: two counts near `u64::MAX` would overflow their sum.
        (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0
    }
}

/// A number without a needless `.0`.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn th(tick: u64, dropped: u64, exit_queue: u64) -> String {
        format!(
            "2026-01-01 00:00:00,000 INFO townlet.core.sim_loop tick_health tick={tick} duration_ms=1.0 queue=0 dropped={dropped} exit_queue={exit_queue}"
        )
    }

    #[test]
    fn drop_rate_is_per_100_ticks() {
        let mut e = SourceEval::new(
            "e",
            "f",
            Kind::Log,
            RuleSettings::new(
                "facade",
                DropThresholds {
                    warning: Some(10.0),
                    critical: None,
                    source: "config".into(),
                },
            ),
        );
        // 1 drop per tick from tick 101: at tick 110 the window holds 10 drops.
        for t in 1..=110u64 {
            e.log_line(t, &th(t, t.saturating_sub(100), 0));
        }
        assert_eq!(e.metrics().drop_rate_per_100_ticks, Some(10.0));
        assert!(e.alerts().is_empty());
        e.log_line(111, &th(111, 11, 0));
        let a = e.alerts();
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[0].ticks,
            vec![TickRange {
                start: 111,
                end: 111
            }]
        );
    }

    #[test]
    fn median_spike_needs_warmup() {
        let mut s = RuleSettings::new("facade", DropThresholds::none());
        s.spike_factor = 3.0;
        let mut e = SourceEval::new("e", "f", Kind::Log, s);
        for t in 1..=9u64 {
            e.log_line(t, &th(t, 0, 2));
        }
        e.log_line(10, &th(10, 0, 100));
        assert!(e.alerts().is_empty(), "{:?}", e.alerts());
        for t in 11..=20u64 {
            e.log_line(t, &th(t, 0, 2));
        }
        e.log_line(21, &th(21, 0, 6));
        assert!(e.alerts().is_empty(), "6 is not above 3 x 2");
        e.log_line(22, &th(22, 0, 7));
        assert_eq!(e.alerts().len(), 1);
    }

    #[test]
    fn buffer_warnings_count_when_dropped_is_not_reported() {
        let mut e = SourceEval::new(
            "e",
            "f",
            Kind::Log,
            RuleSettings::new("facade", DropThresholds::none()),
        );
        let line = |t: u64| {
            format!(
                "2026-01-05 10:00:00,000 INFO townlet.core.sim_loop tick_health tick={t} duration_ms=1.0 queue=0 dropped=None exit_queue=0"
            )
        };
        e.log_line(1, &line(1));
        e.log_line(2, "2026-01-05 10:00:00,000 WARNING townlet.telemetry.worker Telemetry buffer exceeded 6000 bytes; dropped 3 payloads");
        e.log_line(3, &line(2));
        let a = e.alerts();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].first_tick, Some(2));
        assert_eq!(a[0].evidence[0].line, 2);
        assert_eq!(e.metrics().dropped_total, Some(3));
    }

    #[test]
    fn a_restarted_run_starts_a_new_window() {
        let mut e = SourceEval::new(
            "e",
            "f",
            Kind::Log,
            RuleSettings::new("facade", DropThresholds::none()),
        );
        for t in 1..=50u64 {
            e.log_line(t, &th(t, 40, 0));
        }
        assert_eq!(e.metrics().drop_rate_per_100_ticks, Some(40.0));
        e.log_line(51, &th(1, 0, 0));
        assert_eq!(e.metrics().drop_rate_per_100_ticks, Some(0.0));
        assert_eq!(e.metrics().tick, Some(1));
    }
}
