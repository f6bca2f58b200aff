//! Comparison of two telemetry streams: `runtime_variant`, the schema (key
//! paths of the reconstructed states at the ticks both streams have), tick
//! alignment with the ticks the candidate lost, and the configured fields
//! tick by tick.
//!
//! Each stream is read and summarised on its own thread (and its lines are
//! parsed in parallel by the telemetry reader); this thread joins the two by
//! tick. Memory does not grow with the streams: only per-tick rows of the
//! compared fields cross the threads, through bounded channels, and the
//! report keeps capped lists.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use anyhow::{Result, anyhow};
use rollout_config::model::AddedPaths;
use serde_json::Value;
use telemetry::{FieldPattern, Keep, Options, PayloadType, Selection, Stream, TickState};

use crate::jsondoc::{Diff, DiffKind, ValueCmp, describe_values};
use crate::report::{Check, Mismatch, Ranges, Status, TickAlignment};

mod checks;

use checks::{schema_check, ticks_check, variant_check};

/// Settings for comparing streams.
#[derive(Debug, Clone)]
pub struct StreamSettings<'a> {
    pub cmp: ValueCmp<'a>,
    /// Field patterns compared tick by tick (`queue_metrics.*`).
    pub fields: Vec<String>,
    /// The `runtime_variant` every candidate payload must carry.
    pub runtime_variant: String,
    pub added: AddedPaths,
    pub examples: usize,
    /// Ticks the candidate may lack before the ticks check fails.
    pub max_missing_ticks: u64,
}

/// The values one pattern matched at a tick.
#[derive(Debug)]
enum FieldRow {
    /// The state was not known there (stream began with diffs).
    Unknown,
    Values(Vec<(Arc<str>, Value)>),
}

/// The concrete field paths of one stream, each allocated once: most ticks
/// match the same paths.
#[derive(Default)]
struct PathNames(HashSet<Arc<str>>);

/// Distinct paths [`PathNames`] keeps (paths with ids in them can be
/// endless; past this many they are allocated at each match).
const MAX_PATH_NAMES: usize = 10_000;

impl PathNames {
    fn get(&mut self, path: &str) -> Arc<str> {
        if let Some(known) = self.0.get(path) {
            return Arc::clone(known);
        }
        let name: Arc<str> = Arc::from(path);
        if self.0.len() < MAX_PATH_NAMES {
            self.0.insert(Arc::clone(&name));
        }
        name
    }
}

/// What a state says about its top-level keys: those present with their
/// shape fingerprints, those known to be absent, and whether every other key
/// is absent too (a complete state) or unknown.
#[derive(Debug)]
struct KeysAt {
    complete: bool,
    present: Vec<(Arc<str>, u64)>,
    absent: Vec<Arc<str>>,
}

impl KeysAt {
    fn of(state: &TickState) -> Self {
        Self {
            complete: state.complete,
            present: state.shapes().map(|(k, f)| (Arc::from(k), f)).collect(),
            absent: state.absent_keys().map(Arc::from).collect(),
        }
    }

    /// Whether `state` says the same as `self` about its keys.
    fn same_as(&self, state: &TickState) -> bool {
        self.complete == state.complete
            && self.present.len() == state.shapes().count()
            && self.absent.len() == state.absent_keys().count()
            && self
                .present
                .iter()
                .zip(state.shapes())
                .all(|((k, f), (key, shape))| *f == shape && &**k == key)
            && self
                .absent
                .iter()
                .zip(state.absent_keys())
                .all(|(k, key)| &**k == key)
    }

    /// The keys of `state`: `last` when it says the same (most ticks do),
    /// so that rows share it and the join judges it once.
    fn shared(state: &TickState, last: &mut Option<Arc<Self>>) -> Arc<Self> {
        match last {
            Some(keys) if keys.same_as(state) => Arc::clone(keys),
            _ => {
                let keys = Arc::new(Self::of(state));
                *last = Some(Arc::clone(&keys));
                keys
            }
        }
    }

    /// Whether the state says whether `key` exists.
    fn knows(&self, key: &str) -> bool {
        self.complete
            || self.present.iter().any(|(k, _)| &**k == key)
            || self.absent.iter().any(|k| &**k == key)
    }
}

#[derive(Debug)]
struct TickRow {
    tick: u64,
    line: u64,
    /// Ticks lost right before this one.
    keys: Arc<KeysAt>,
    fields: Vec<FieldRow>,
}

/// What one side learnt about its stream as a whole.
#[derive(Debug, Default)]
struct Side {
    ticks: u64,
    /// Every key path of the stream.
    paths: HashSet<Arc<str>>,
    /// The key paths of each shape fingerprint.
    shape_paths: HashMap<u64, Vec<Arc<str>>>,
    /// More than [`MAX_SCHEMA_PATHS`] distinct key paths: the rest were not
    /// kept.
    paths_overflow: bool,
    /// A full state was seen.
    full_seen: bool,
    /// The tick and payload type of the first payload.
    first: Option<(u64, PayloadType)>,
    /// Schema versions seen (a few).
    versions: Vec<String>,
    /// Ticks lost inside the stream (gaps between payloads).
    lost: Ranges,
    variant: VariantTrack,
    /// Pattern index -> concrete values matched at some tick.
    matched: Vec<u64>,
}

#[derive(Debug)]
struct VariantTrack {
    carried: u64,
    watch: telemetry::KeyWatch,
    /// (tick, line, value) of payloads carrying another value.
    wrong: Vec<(u64, u64, Value)>,
    wrong_ticks: Ranges,
    /// (tick, line) where it disappeared after being present.
    gone: Vec<(u64, u64)>,
}

const VARIANT: &str = "runtime_variant";

impl Default for VariantTrack {
    fn default() -> Self {
        Self {
            carried: 0,
            watch: telemetry::KeyWatch::new(VARIANT),
            wrong: Vec::new(),
            wrong_ticks: Ranges::default(),
            gone: Vec::new(),
        }
    }
}
/// Rows cross the threads in chunks of this many (one channel operation
/// each, not one per tick) ...
const ROWS_PER_CHUNK: usize = 64;
/// ... and at most this many chunks wait for the join.
const CHUNKS_IN_FLIGHT: usize = 32;
const MAX_LISTED: usize = 50;
/// Distinct differing field paths tracked.
const MAX_PATHS: usize = 1000;
/// Distinct key paths kept per stream for the schema check (Townlet's
/// streams have hundreds). Object keys that are ids (agent names, say) make
/// a new path per id; past this many the schema is not judged, so that
/// memory stays bounded.
pub const MAX_SCHEMA_PATHS: usize = 100_000;

/// Differences of one field path over the ticks.
#[derive(Debug)]
struct PathStat {
    ticks: Ranges,
    /// The first difference, its tick and candidate line.
    first: (Diff, u64, u64),
}

/// Compares two telemetry files; `Err` when either cannot be read.
pub fn compare_streams(s: &StreamSettings<'_>, base: &Path, cand: &Path) -> Result<Vec<Check>> {
    let patterns = s
        .fields
        .iter()
        .map(|f| FieldPattern::new(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("baseline.fields: {e}"))?;
    // Only the compared fields and runtime_variant are built into values;
    // the rest of each payload is checked and fingerprinted for the schema.
    let variant = FieldPattern::new(VARIANT).map_err(|e| anyhow!(e))?;
    let options = Options::default()
        .keep(Keep::fields(patterns.iter().cloned().chain([variant])))
        .schema(true);
    let base_stream = Stream::open_with(base, options.clone())?;
    let cand_stream = Stream::open_with(cand, options)?;
    let expected = s.runtime_variant.as_str();
    std::thread::scope(|scope| {
        let (btx, brx) = sync_channel(CHUNKS_IN_FLIGHT);
        let (ctx, crx) = sync_channel(CHUNKS_IN_FLIGHT);
        let pats = &patterns;
        let bh = scope.spawn(move || summarise(base_stream, pats, expected, btx));
        let ch = scope.spawn(move || summarise(cand_stream, pats, expected, ctx));
        let joined = join(s, Rows::new(brx), Rows::new(crx));
        let bside = bh
            .join()
            .map_err(|_| anyhow!("the reader of `{}` panicked", base.display()))?;
        let cside = ch
            .join()
            .map_err(|_| anyhow!("the reader of `{}` panicked", cand.display()))?;
        // Errors of reading come first: they explain a short join.
        let bside = bside?;
        let cside = cside?;
        let Joined {
            fields: mut fields_check,
            align,
            judged,
        } = joined;
        let mut checks = vec![variant_check(s, &bside, &cside)];
        checks.push(schema_check(s, &bside, &cside, &judged, align.aligned));
        checks.push(ticks_check(s, &align, &bside, &cside));
        for (i, p) in s.fields.iter().enumerate() {
            if bside.matched.get(i) == Some(&0) && cside.matched.get(i) == Some(&0) {
                fields_check.details.push(format!(
                    "note: field pattern '{p}' matched nothing on either side"
                ));
            }
        }
        fields_check.ticks = Some(align);
        checks.push(fields_check);
        Ok(checks)
    })
}

type RowResult = Result<Vec<TickRow>>;

/// The rows of one side, as the join takes them: in order, until the end or
/// the first error.
struct Rows {
    rx: Receiver<RowResult>,
    chunk: std::vec::IntoIter<TickRow>,
}

impl Rows {
    fn new(rx: Receiver<RowResult>) -> Self {
        Self {
            rx,
            chunk: Vec::new().into_iter(),
        }
    }

    fn next(&mut self) -> Option<TickRow> {
        loop {
            if let Some(row) = self.chunk.next() {
                return Some(row);
            }
            self.chunk = self.rx.recv().ok()?.ok()?.into_iter();
        }
    }
}

/// The sending end of [`Rows`]: gathers rows into chunks.
struct RowSender {
    tx: std::sync::mpsc::SyncSender<RowResult>,
    chunk: Vec<TickRow>,
    /// The join stopped taking rows.
    gone: bool,
}

impl RowSender {
    fn push(&mut self, row: TickRow) {
        self.chunk.push(row);
        if self.chunk.len() >= ROWS_PER_CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.chunk.is_empty() {
            let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(ROWS_PER_CHUNK));
            self.gone |= self.tx.send(Ok(chunk)).is_err();
        }
    }
}

fn summarise(
    stream: Stream,
    patterns: &[FieldPattern],
    expected: &str,
    tx: std::sync::mpsc::SyncSender<RowResult>,
) -> Result<Side> {
    let mut side = Side {
        matched: vec![0; patterns.len()],
        ..Side::default()
    };
    let mut rows = RowSender {
        tx,
        chunk: Vec::with_capacity(ROWS_PER_CHUNK),
        gone: false,
    };
    let mut last_keys = None;
    let mut names = PathNames::default();
    for item in stream {
        let mut state = match item {
            Ok(s) => s,
            Err(e) => {
                let msg = e.to_string();
                rows.flush();
                let _closed = rows.tx.send(Err(anyhow!("{msg}")));
                return Err(e.into());
            }
        };
        // The stream itself refuses ticks that do not increase.
        side.ticks += 1;
        side.first.get_or_insert((state.tick, state.payload_type));
        if state.payload_type.is_full() {
            side.full_seen = true;
        }
        if let Some(v) = &state.schema_version
            && side.versions.len() < 4
            && !side.versions.contains(v)
        {
            side.versions.push(v.clone());
        }
        if let Some((a, b)) = state.missing_before {
            side.lost.push_range(a, b);
        }
        for shape in std::mem::take(&mut state.new_shapes) {
            let mut paths = Vec::with_capacity(shape.paths.len());
            for p in shape.paths {
                match side.paths.get(p.as_str()) {
                    Some(known) => paths.push(Arc::clone(known)),
                    None if side.paths.len() < MAX_SCHEMA_PATHS => {
                        let p: Arc<str> = Arc::from(p);
                        side.paths.insert(Arc::clone(&p));
                        paths.push(p);
                    }
                    None => side.paths_overflow = true,
                }
            }
            side.shape_paths.insert(shape.shape, paths);
        }
        track_variant(&mut side.variant, &state, expected);
        if rows.gone {
            continue;
        }
        let fields = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut values = Vec::new();
                match state.select_each(p, |path, v| values.push((names.get(path), v.clone()))) {
                    Selection::Values(_) => {
                        side.matched[i] += values.len() as u64;
                        FieldRow::Values(values)
                    }
                    // Not decoded cannot happen: the reader keeps every
                    // pattern.
                    Selection::Unknown | Selection::NotDecoded => FieldRow::Unknown,
                }
            })
            .collect();
        let row = TickRow {
            tick: state.tick,
            line: state.line,
            keys: KeysAt::shared(&state, &mut last_keys),
            fields,
        };
        rows.push(row);
    }
    rows.flush();
    Ok(side)
}

fn track_variant(v: &mut VariantTrack, state: &TickState, expected: &str) {
    let presence = v.watch.observe(state);
    // Only payloads that set it count; later ticks inherit it.
    let carries = state.set_keys.iter().any(|k| &**k == VARIANT);
    if carries {
        v.carried += 1;
        let value = match presence {
            telemetry::Presence::Present(value) => value.clone(),
            _ => Value::Null,
        };
        if value.as_str() != Some(expected) {
            v.wrong_ticks.push(state.tick);
            if v.wrong.len() < MAX_LISTED {
                v.wrong.push((state.tick, state.line, value));
            }
        }
    } else if presence == telemetry::Presence::RemovedNow && v.gone.len() < MAX_LISTED {
        v.gone.push((state.tick, state.line));
    }
}

/// What joining the streams by tick found.
struct Joined {
    fields: Check,
    align: TickAlignment,
    judged: Judged,
}

/// The shapes whose key paths are judged: those of top-level keys at ticks
/// both streams have, where the other stream also knows whether the key
/// exists.
#[derive(Default)]
struct Judged {
    baseline: HashSet<u64>,
    candidate: HashSet<u64>,
    /// The pair judged last: the next tick's is most often the same.
    last: Option<(Arc<KeysAt>, Arc<KeysAt>)>,
}

impl Judged {
    fn add(&mut self, b: &Arc<KeysAt>, c: &Arc<KeysAt>) {
        if let Some((lb, lc)) = &self.last
            && Arc::ptr_eq(lb, b)
            && Arc::ptr_eq(lc, c)
        {
            return;
        }
        self.last = Some((Arc::clone(b), Arc::clone(c)));
        for (k, shape) in &b.present {
            if c.knows(k) {
                self.baseline.insert(*shape);
            }
        }
        for (k, shape) in &c.present {
            if b.knows(k) {
                self.candidate.insert(*shape);
            }
        }
    }
}

/// Joins the two row streams by tick and compares the fields.
fn join(s: &StreamSettings<'_>, mut brx: Rows, mut crx: Rows) -> Joined {
    let mut align = TickAlignment::default();
    let mut judged = Judged::default();
    let mut diffs = FieldDiffs::default();
    let mut b_only = Ranges::default();
    let mut c_only = Ranges::default();
    let mut b = brx.next();
    let mut c = crx.next();
    loop {
        match (&b, &c) {
            (None, None) => break,
            (Some(x), Some(y)) if x.tick == y.tick => {
                align.aligned += 1;
                judged.add(&x.keys, &y.keys);
                diffs.tick(s, x, y, &mut align);
                b = brx.next();
                c = crx.next();
            }
            (Some(x), Some(y)) if x.tick < y.tick => {
                b_only.push(x.tick);
                b = brx.next();
            }
            (Some(x), None) => {
                b_only.push(x.tick);
                b = brx.next();
            }
            (_, Some(y)) => {
                c_only.push(y.tick);
                c = crx.next();
            }
        }
    }
    align.baseline_only = b_only.count;
    align.candidate_only = c_only.count;
    align.missing = b_only.count;
    align.missing_ranges = b_only.ranges.clone();
    align.max_missing = s.max_missing_ticks;
    align.baseline_ticks = align.aligned + b_only.count;
    align.candidate_ticks = align.aligned + c_only.count;
    align.baseline_only_ranges = b_only.ranges;
    align.candidate_only_ranges = c_only.ranges;
    Joined {
        fields: diffs.into_check(s, &align),
        align,
        judged,
    }
}

/// The differences of the compared fields, gathered tick by tick.
#[derive(Default)]
struct FieldDiffs {
    changed: u64,
    missing: u64,
    extra: u64,
    changed_ticks: Ranges,
    examples: Vec<(Diff, u64, u64)>,
    by_path: BTreeMap<String, PathStat>,
    path: String,
}

impl FieldDiffs {
    /// Compares the fields of an aligned tick (baseline `x`, candidate `y`).
    fn tick(
        &mut self,
        s: &StreamSettings<'_>,
        x: &TickRow,
        y: &TickRow,
        align: &mut TickAlignment,
    ) {
        let mut tick_differs = false;
        for (fb, fc) in x.fields.iter().zip(&y.fields) {
            let (FieldRow::Values(vb), FieldRow::Values(vc)) = (fb, fc) else {
                align.unknown += 1;
                continue;
            };
            let mut found: Vec<Diff> = Vec::new();
            for (p, bv) in vb {
                match vc.iter().find(|(q, _)| q == p) {
                    Some((_, cv)) => {
                        self.path.clear();
                        self.path.push_str(p);
                        align.values_compared += s
                            .cmp
                            .compare(&mut self.path, bv, cv, &mut |d| found.push(d));
                    }
                    None => found.push(Diff {
                        kind: DiffKind::Missing,
                        path: p.to_string(),
                        baseline: bv.clone(),
                        candidate: Value::Null,
                    }),
                }
            }
            for (p, cv) in vc {
                if !vb.iter().any(|(q, _)| q == p) {
                    found.push(Diff {
                        kind: DiffKind::Added,
                        path: p.to_string(),
                        baseline: Value::Null,
                        candidate: cv.clone(),
                    });
                }
            }
            for d in found {
                tick_differs |= self.record(s, d, x.tick, y.line);
            }
        }
        if tick_differs {
            self.changed_ticks.push(x.tick);
        }
    }

    /// Counts one difference; whether it makes the tick differ (fields only
    /// in the candidate do only under `added_paths: fail`).
    fn record(&mut self, s: &StreamSettings<'_>, d: Diff, tick: u64, line: u64) -> bool {
        match d.kind {
            DiffKind::Value => self.changed += 1,
            DiffKind::Missing => self.missing += 1,
            DiffKind::Added => {
                self.extra += 1;
                if s.added != AddedPaths::Fail {
                    return false;
                }
            }
        }
        let known = self.by_path.contains_key(&d.path);
        if known || self.by_path.len() < MAX_PATHS {
            let e = self
                .by_path
                .entry(d.path.clone())
                .or_insert_with(|| PathStat {
                    ticks: Ranges::default(),
                    first: (d.clone(), tick, line),
                });
            e.ticks.push(tick);
        }
        if self.examples.len() < s.examples {
            self.examples.push((d, tick, line));
        }
        true
    }

    /// The `fields` check.
    fn into_check(self, s: &StreamSettings<'_>, align: &TickAlignment) -> Check {
        let extra_fails = s.added == AddedPaths::Fail;
        let failing = self.changed + self.missing + if extra_fails { self.extra } else { 0 };
        let status = if failing > 0 {
            Status::Fail
        } else if self.extra > 0 && s.added == AddedPaths::Warn {
            Status::Warn
        } else {
            Status::Pass
        };
        let mut summary = if failing == 0 {
            format!(
                "{} values at {} aligned ticks equal within tolerance",
                align.values_compared, align.aligned
            )
        } else {
            self.failing_summary(extra_fails, align.aligned)
        };
        if self.extra > 0 && s.added == AddedPaths::Warn && failing == 0 {
            summary.push_str(&format!("; {} fields only in the candidate", self.extra));
        }
        let mut ch = Check::new(format!("fields ({})", s.fields.join(", ")), status, summary);
        let limit = s.examples.max(1) * 4;
        for (path, st) in self.by_path.iter().take(limit) {
            let (d, tick, line) = &st.first;
            let n = st.ticks.count;
            ch.details.push(format!(
                "{path}: differs at {n} tick{} ({}); first at tick {tick} (candidate line {line}): {}",
                if n == 1 { "" } else { "s" },
                st.ticks.text(),
                describe_values(d)
            ));
        }
        if self.by_path.len() > limit {
            ch.details.push(format!(
                "... and {} more fields",
                self.by_path.len() - limit
            ));
        }
        for (d, tick, line) in self.examples {
            ch.mismatches.push(Mismatch {
                at: format!("tick {tick}"),
                path: Some(d.path),
                tick: Some(tick),
                index: None,
                baseline: d.baseline,
                candidate: d.candidate,
                candidate_line: Some(line),
            });
        }
        if align.unknown > 0 {
            ch.details.push(format!(
                "{} field comparisons skipped: the state was not known (a stream began with diffs or lost payloads, and no payload since set the field)",
                align.unknown
            ));
        }
        ch
    }

    /// `2 values differ at 1 of 500 aligned ticks (tick 3); first ...`.
    fn failing_summary(&self, extra_fails: bool, aligned: u64) -> String {
        let mut parts = Vec::new();
        if self.changed > 0 {
            parts.push(count(self.changed, "value differs", "values differ"));
        }
        if self.missing > 0 {
            parts.push(count(
                self.missing,
                "field missing in the candidate",
                "fields missing in the candidate",
            ));
        }
        if self.extra > 0 && extra_fails {
            parts.push(count(
                self.extra,
                "field only in the candidate",
                "fields only in the candidate",
            ));
        }
        let first = self
            .examples
            .first()
            .map(|(d, tick, line)| {
                format!(
                    "; first {} at tick {tick} (candidate line {line}): {}",
                    d.path,
                    describe_values(d)
                )
            })
            .unwrap_or_default();
        let ticks = &self.changed_ticks;
        format!(
            "{} at {} of {aligned} aligned ticks ({} {}){first}",
            parts.join(", "),
            ticks.count,
            if ticks.count == 1 { "tick" } else { "ticks" },
            ticks.text()
        )
    }
}

/// `1 value differs`, `3 values differ`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
