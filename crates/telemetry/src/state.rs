//! Reconstruction of the state at each tick from snapshots and diffs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use crate::payload::{Payload, PayloadType};

/// What is known about a key or field at a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Known<'a> {
    Present(&'a Value),
    /// Known not to exist (deleted, or absent from a full state).
    Absent,
    /// Not known: the stream began with diffs whose snapshot was dropped, and
    /// no payload since has set or removed this key.
    Unknown,
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
    /// Top-level keys and their values. Without the envelope keys (`tick`,
    /// `schema_version`, `payload_type`, `changes`, `removed`).
    pub state: BTreeMap<Arc<str>, Arc<Value>>,
    /// A full state (snapshot or schema 0.9.0 line) has been seen, so every
    /// key is known.
    pub complete: bool,
    /// Keys known to be absent although the state is incomplete.
    absent: Arc<BTreeSet<Arc<str>>>,
    /// Top-level keys this tick's payload set (all keys for a full state).
    pub set_keys: Vec<Arc<str>>,
    /// Top-level keys this tick's payload removed.
    pub removed_keys: Vec<String>,
}

impl TickState {
    /// A top-level key.
    pub fn key(&self, key: &str) -> Known<'_> {
        match self.state.get(key) {
            Some(v) => Known::Present(v),
            None if self.complete || self.absent.contains(key) => Known::Absent,
            None => Known::Unknown,
        }
    }

    /// Whether the top-level key's value is known (present or absent).
    pub fn is_known(&self, key: &str) -> bool {
        !matches!(self.key(key), Known::Unknown)
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
        let mut cur = match self.key(first) {
            Known::Present(v) => v,
            other => return other,
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
}

/// Applies payloads in stream order and produces the state after each.
#[derive(Debug, Default)]
pub struct Reconstructor {
    state: BTreeMap<Arc<str>, Arc<Value>>,
    complete: bool,
    absent: Arc<BTreeSet<Arc<str>>>,
}

impl Reconstructor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one payload and returns the state at its tick.
    pub fn apply(&mut self, p: Payload) -> TickState {
        let mut set_keys = Vec::with_capacity(p.set.len());
        if p.payload_type.is_full() {
            self.state.clear();
            self.complete = true;
            if !self.absent.is_empty() {
                self.absent = Arc::default();
            }
        }
        for (k, v) in p.set {
            let k: Arc<str> = Arc::from(k);
            if !self.complete && self.absent.contains(&k) {
                Arc::make_mut(&mut self.absent).remove(&k);
            }
            set_keys.push(k.clone());
            self.state.insert(k, Arc::new(v));
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
            absent: self.absent.clone(),
            set_keys,
            removed_keys: p.removed,
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
