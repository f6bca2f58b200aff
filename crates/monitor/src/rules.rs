//! The alert rules, evaluated incrementally: a [`SourceEval`] is fed one log
//! line or one telemetry state at a time and keeps bounded state (a 100-tick
//! drop window, a moving-median window, at most [`MAX_RANGES`] tick ranges per
//! alert), so following a live log for hours uses constant memory.

use std::collections::{BTreeMap, VecDeque};

use rollout_core::Severity;

use telemetry::log::{self as logline, LogEvent};

mod alerts;
#[cfg(test)]
mod tests;
mod types;

pub use types::*;

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

/// Points kept for a chart; halved (every other point) when full.
const MAX_POINTS: usize = 20_000;

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
    /// The ticks since the last point kept, merged (thinned inputs).
    pending: Option<Point>,
    stride: u64,
    seen: u64,
    variant_reported: u64,
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
            pending: None,
            stride: 1,
            seen: 0,
            variant_reported: 0,
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

    /// The points kept for the chart, the ticks of the last stride
    /// included.
    pub fn points(&self) -> Vec<Point> {
        let mut points = self.points.clone().unwrap_or_default();
        points.extend(self.pending);
        points
    }

    /// Ticks read, with a variant, and with an unexpected one.
    pub fn variant_ticks(&self) -> VariantTicks {
        VariantTicks {
            present: self.seen,
            reported: self.variant_reported,
            unexpected: self.bad_variant.ticks,
        }
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
        self.variant_reported += u64::from(variant_ok.is_some());
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
            queue_low: sample.queue,
            exit_queue_low: sample.exit_queue,
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

    /// Keeps a point per stride of ticks for the chart, the ticks between
    /// merged into it (their extremes kept); when full, adjacent points are
    /// merged and the stride doubles.
    fn record_point(&mut self, point: Point) {
        let Some(points) = &mut self.points else {
            return;
        };
        let merged = match self.pending.take() {
            Some(earlier) => earlier.merge(point),
            None => point,
        };
        if !self.seen.is_multiple_of(self.stride) {
            self.pending = Some(merged);
            return;
        }
        points.push(merged);
        if points.len() >= MAX_POINTS {
            let pairs = std::mem::take(points);
            let mut it = pairs.chunks(2);
            for pair in &mut it {
                points.push(match pair {
                    [a, b] => a.merge(*b),
                    [a] => *a,
                    _ => continue,
                });
            }
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
