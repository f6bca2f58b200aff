//! Reconstruction of the state at each tick from snapshots and diffs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use crate::pattern::{FieldPattern, Keep};
use crate::payload::{Payload, PayloadType, ShapePaths};

/// What is known about a key or field at a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Known<'a> {
    Present(&'a Value),
    /// Known not to exist (deleted, or absent from a full state).
    Absent,
    /// Not known: the stream began with diffs whose snapshot was dropped, and
    /// no payload since has set or removed this key.
    Unknown,
    /// The stream has it, but the reader was told not to keep it (see
    /// [`Keep`]).
    NotDecoded,
}

/// The values a field pattern matches in a state.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection<'a> {
    /// Each matched value with its concrete path (`queue_metrics.cooldown`).
    Values(Vec<(String, &'a Value)>),
    /// Not known: the stream began with diffs and has not said.
    Unknown,
    /// The reader was told not to keep these values.
    NotDecoded,
}

impl<'a> Known<'a> {
    pub fn present(self) -> Option<&'a Value> {
        match self {
            Known::Present(v) => Some(v),
            _ => None,
        }
    }
}

/// The state at one tick, as far as it can be known. Cheap to clone: values
/// are shared with the states of earlier ticks.
#[derive(Debug, Clone)]
pub struct TickState {
    pub tick: u64,
    /// Line of the payload that produced this state (1-based).
    pub line: u64,
    /// Byte offset of that line.
    pub offset: u64,
    pub payload_type: PayloadType,
    pub schema_version: Option<String>,
    /// Top-level keys with their values (pruned to what the reader keeps)
    /// and shape fingerprints. Without the envelope keys (`tick`,
    /// `schema_version`, `payload_type`, `changes`, `removed`).
    state: BTreeMap<Arc<str>, Entry>,
    keep: Keep,
    /// A full state (snapshot or schema 0.9.0 line) has been seen, and no
    /// payload was lost since, so every key is known.
    pub complete: bool,
    /// Ticks with no payload right before this one (`(first, last)`): lost
    /// payloads, since Townlet writes one per tick. A stream that begins
    /// with a diff at tick `t > 1` misses `(1, t - 1)`. After a gap, the
    /// keys that this and later payloads have not set are unknown: a lost
    /// diff may have changed them.
    pub missing_before: Option<(u64, u64)>,
    /// Keys known to be absent although the state is incomplete.
    absent: Arc<BTreeSet<Arc<str>>>,
    /// Top-level keys this tick's payload set (all keys for a full state).
    pub set_keys: Vec<Arc<str>>,
    /// Top-level keys this tick's payload removed.
    pub removed_keys: Vec<String>,
    /// The key paths of the values this payload set whose shape was new to
    /// the stream (see [`Payload::new_shapes`]).
    pub new_shapes: Vec<ShapePaths>,
}

/// A top-level value in a state: the value and its shape fingerprint (which
/// also covers the key's name).
#[derive(Debug, Clone)]
struct Entry {
    value: Arc<Value>,
    shape: u64,
}

impl TickState {
    /// A top-level key.
    pub fn key(&self, key: &str) -> Known<'_> {
        match self.state.get(key) {
            Some(e) if self.keep.covers([key]) => Known::Present(&e.value),
            Some(_) => Known::NotDecoded,
            None if self.complete || self.absent.contains(key) => Known::Absent,
            None => Known::Unknown,
        }
    }

    /// Whether the top-level key is known to be present or absent.
    pub fn is_known(&self, key: &str) -> bool {
        !matches!(self.key(key), Known::Unknown)
    }

    /// The top-level keys present at this tick.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.state.keys().map(|k| &**k)
    }

    /// The shape fingerprint of each top-level key present at this tick.
    /// Two values with the same fingerprint have the same key paths (see
    /// [`ShapePaths`]).
    pub fn shapes(&self) -> impl Iterator<Item = (&str, u64)> {
        self.state.iter().map(|(k, e)| (&**k, e.shape))
    }

    /// Top-level keys known to be absent although the state is incomplete
    /// (removed since the last gap); empty for a complete state, where every
    /// key not present is absent.
    pub fn absent_keys(&self) -> impl Iterator<Item = &str> {
        self.absent.iter().map(|k| &**k)
    }

    /// Keys that are not known at this tick, as far as can be said: `None`
    /// when the state is complete (nothing unknown), else `Some(known keys)`.
    pub fn known_keys(&self) -> Option<Vec<&str>> {
        if self.complete {
            return None;
        }
        let mut keys: Vec<&str> = self.state.keys().map(|k| &**k).collect();
        keys.extend(self.absent.iter().map(|k| &**k));
        keys.sort_unstable();
        Some(keys)
    }

    /// A dotted field path (`queue_metrics.cooldown_events`; array items by
    /// index, `history.0.tick`).
    pub fn field(&self, path: &str) -> Known<'_> {
        let mut parts = path.split('.');
        let first = parts.next().unwrap_or("");
        let mut cur = match self.state.get(first) {
            Some(e) if self.keep.covers(path.split('.')) => &*e.value,
            Some(_) => return Known::NotDecoded,
            None => return self.key(first),
        };
        for p in parts {
            let next = match cur {
                Value::Object(m) => m.get(p),
                Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            };
            match next {
                Some(v) => cur = v,
                None => return Known::Absent,
            }
        }
        Known::Present(cur)
    }

    /// The values `pattern` matches, each with its concrete path.
    pub fn select(&self, pattern: &FieldPattern) -> Selection<'_> {
        let mut out = Vec::new();
        match self.select_each(pattern, |path, v| out.push((path.to_string(), v))) {
            Selection::Values(_) => Selection::Values(out),
            other => other,
        }
    }

    /// [`TickState::select`] without building the list: calls `f` with each
    /// matched value and its concrete path (in a buffer reused from one
    /// match to the next), and answers `Values` with an empty list when the
    /// values are known.
    pub fn select_each<'s>(
        &'s self,
        pattern: &FieldPattern,
        mut f: impl FnMut(&str, &'s Value),
    ) -> Selection<'s> {
        let Some((first, rest)) = pattern.segments().split_first() else {
            return Selection::Values(Vec::new());
        };
        if !self
            .keep
            .covers(pattern.segments().iter().map(String::as_str))
        {
            return Selection::NotDecoded;
        }
        let mut path = String::new();
        let mut at = |key: &str, v| {
            path.clear();
            path.push_str(key);
            descend(&mut path, v, rest, &mut f);
        };
        if first == "*" {
            if !self.complete {
                return Selection::Unknown;
            }
            for (k, e) in &self.state {
                at(k, &e.value);
            }
        } else {
            match self.state.get(first.as_str()) {
                Some(e) => at(first, &e.value),
                None if self.complete || self.absent.contains(first.as_str()) => {}
                None => return Selection::Unknown,
            }
        }
        Selection::Values(Vec::new())
    }
}

/// Calls `f` with the values below `v` (at `path`) that the pattern's
/// `rest` reaches; `path` is extended and restored on the way.
fn descend<'a>(
    path: &mut String,
    v: &'a Value,
    rest: &[String],
    f: &mut impl FnMut(&str, &'a Value),
) {
    let Some((seg, rest)) = rest.split_first() else {
        f(path, v);
        return;
    };
    let len = path.len();
    let mut child_at = |path: &mut String, key: &str, child| {
        path.push('.');
        path.push_str(key);
        descend(path, child, rest, f);
        path.truncate(len);
    };
    match v {
        Value::Object(m) if seg == "*" => {
            for (k, child) in m {
                child_at(path, k, child);
            }
        }
        Value::Object(m) => {
            if let Some(child) = m.get(seg.as_str()) {
                child_at(path, seg, child);
            }
        }
        Value::Array(items) if seg == "*" => {
            let mut index = String::new();
            for (i, child) in items.iter().enumerate() {
                use std::fmt::Write;
                index.clear();
                let _infallible = write!(index, "{i}");
                child_at(path, &index, child);
            }
        }
        Value::Array(items) => {
            if let Some(child) = seg.parse::<usize>().ok().and_then(|i| items.get(i)) {
                child_at(path, seg, child);
            }
        }
        _ => {}
    }
}

/// Applies payloads in stream order and produces the state after each.
#[derive(Debug, Default)]
pub struct Reconstructor {
    state: BTreeMap<Arc<str>, Entry>,
    complete: bool,
    absent: Arc<BTreeSet<Arc<str>>>,
    keep: Keep,
    last_tick: Option<u64>,
}

impl Reconstructor {
    pub fn new() -> Self {
        Self::default()
    }

    /// For payloads decoded keeping only `keep` (the states it makes answer
    /// [`Known::NotDecoded`] for the rest).
    pub fn keeping(keep: Keep) -> Self {
        Self {
            keep,
            ..Self::default()
        }
    }

    /// Applies one payload and returns the state at its tick.
    pub fn apply(&mut self, p: Payload) -> TickState {
        let mut set_keys = Vec::with_capacity(p.set.len());
        let missing_before = match self.last_tick {
            Some(last) if p.tick > last.saturating_add(1) => Some((last + 1, p.tick - 1)),
            None if p.tick > 1 && !p.payload_type.is_full() => Some((1, p.tick - 1)),
            _ => None,
        };
        self.last_tick = Some(p.tick);
        if missing_before.is_some() && !p.payload_type.is_full() {
            // A lost diff may have changed any key: only what is set from
            // here on is known.
            self.state.clear();
            self.complete = false;
            if !self.absent.is_empty() {
                self.absent = Arc::default();
            }
        }
        if p.payload_type.is_full() {
            self.state.clear();
            self.complete = true;
            if !self.absent.is_empty() {
                self.absent = Arc::default();
            }
        }
        for ((k, v), shape) in p.set.into_iter().zip(p.shapes) {
            let shape = crate::decode::keyed(&k, shape);
            let k: Arc<str> = Arc::from(k);
            if !self.complete && self.absent.contains(&k) {
                Arc::make_mut(&mut self.absent).remove(&k);
            }
            set_keys.push(k.clone());
            self.state.insert(
                k,
                Entry {
                    value: Arc::new(v),
                    shape,
                },
            );
        }
        for k in &p.removed {
            self.state.remove(k.as_str());
            if !self.complete {
                Arc::make_mut(&mut self.absent).insert(Arc::from(k.as_str()));
            }
        }
        TickState {
            tick: p.tick,
            line: p.line,
            offset: p.offset,
            payload_type: p.payload_type,
            schema_version: p.schema_version,
            state: self.state.clone(),
            complete: self.complete,
            missing_before,
            absent: self.absent.clone(),
            set_keys,
            removed_keys: p.removed,
            new_shapes: p.new_shapes,
            keep: self.keep.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::parse_line;

    fn apply(r: &mut Reconstructor, line: &str) -> TickState {
        r.apply(parse_line("t", 1, 0, line.as_bytes(), true).expect("parse"))
    }

    #[test]
    fn diffs_replace_and_remove_top_level_keys() {
        let mut r = Reconstructor::new();
        let s = apply(
            &mut r,
            r#"{"tick":1,"payload_type":"snapshot","a":{"x":1},"b":2}"#,
        );
        assert!(s.complete);
        let s = apply(
            &mut r,
            r#"{"tick":3,"payload_type":"diff","changes":{"a":{"y":2}},"removed":["b"]}"#,
        );
        assert_eq!(s.field("a.y"), Known::Present(&Value::from(2)));
        assert_eq!(s.field("a.x"), Known::Absent);
        assert_eq!(s.key("b"), Known::Absent);
        assert_eq!(s.tick, 3);
    }

    #[test]
    fn a_stream_starting_with_diffs_knows_only_what_they_set() {
        let mut r = Reconstructor::new();
        let s = apply(
            &mut r,
            r#"{"tick":5,"payload_type":"diff","changes":{"a":1},"removed":["c"]}"#,
        );
        assert!(!s.complete);
        assert_eq!(s.key("a"), Known::Present(&Value::from(1)));
        assert_eq!(s.key("b"), Known::Unknown);
        assert_eq!(s.key("c"), Known::Absent);
        assert_eq!(s.known_keys(), Some(vec!["a", "c"]));
        let s = apply(
            &mut r,
            r#"{"tick":6,"payload_type":"diff","changes":{"c":3}}"#,
        );
        assert_eq!(s.key("c"), Known::Present(&Value::from(3)));
        let s = apply(&mut r, r#"{"tick":7,"payload_type":"snapshot","b":1}"#);
        assert!(s.complete);
        assert_eq!(s.key("a"), Known::Absent);
        assert_eq!(s.known_keys(), None);
    }

    #[test]
    fn earlier_states_are_not_changed_by_later_diffs() {
        let mut r = Reconstructor::new();
        let first = apply(&mut r, r#"{"tick":1,"a":1}"#);
        let _second = apply(
            &mut r,
            r#"{"tick":2,"payload_type":"diff","changes":{"a":2}}"#,
        );
        assert_eq!(first.key("a"), Known::Present(&Value::from(1)));
    }
}

/// Where a watched top-level key stands at a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Presence<'a> {
    Present(&'a Value),
    /// Removed at this very tick, after it was present.
    RemovedNow,
    /// Still absent since a removal.
    Removed,
    /// Not (yet) seen: absent from the start, unknown, or not decoded.
    NotSeen,
}

/// Follows one top-level key through a stream's states, to tell when it
/// disappears after being present (a diff's `removed`, or a later full
/// state without it). Both the baseline comparison and monitoring judge
/// `runtime_variant` this way.
#[derive(Debug, Clone)]
pub struct KeyWatch {
    key: &'static str,
    present: bool,
    removed: bool,
}

impl KeyWatch {
    pub fn new(key: &'static str) -> Self {
        Self {
            key,
            present: false,
            removed: false,
        }
    }

    pub fn observe<'a>(&mut self, state: &'a TickState) -> Presence<'a> {
        match state.key(self.key) {
            Known::Present(value) => {
                (self.present, self.removed) = (true, false);
                Presence::Present(value)
            }
            Known::Absent if self.present => {
                (self.present, self.removed) = (false, true);
                Presence::RemovedNow
            }
            Known::Absent if self.removed => Presence::Removed,
            Known::Absent | Known::Unknown | Known::NotDecoded => Presence::NotSeen,
        }
    }
}
