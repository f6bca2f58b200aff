//! One pass over a line's JSON text that checks all of it, fingerprints the
//! shape of every value and builds `serde_json::Value`s only for what the
//! reader keeps (see [`Keep`]). Building values (allocating, then freeing
//! every node) is most of the cost of reading a stream; a comparison that
//! needs a few fields of a 4 KiB payload skips it for the rest.
//!
//! A shape fingerprint hashes object keys and the shapes below them, and the
//! shapes of array items with consecutive repeats collapsed; scalars are all
//! alike. Values with equal fingerprints have (up to hash collisions) the
//! same key paths.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::pattern::{Keep, Want, step};

mod scan;

/// The fingerprint of every scalar.
const SCALAR: u64 = 0;

fn object_hasher() -> FxHasher {
    let mut h = FxHasher::default();
    1u8.hash(&mut h);
    h
}

/// Array shapes: the shapes of container items, consecutive repeats once.
struct ArrayShape {
    h: FxHasher,
    last: u64,
}

impl ArrayShape {
    fn new() -> Self {
        let mut h = FxHasher::default();
        2u8.hash(&mut h);
        Self { h, last: SCALAR }
    }

    fn item(&mut self, shape: u64) {
        if shape != SCALAR && shape != self.last {
            shape.hash(&mut self.h);
            self.last = shape;
        }
    }

    fn finish(&self) -> u64 {
        self.h.finish()
    }
}

/// The fingerprint of a top-level key and its value's shape.
pub(crate) fn keyed(key: &str, shape: u64) -> u64 {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    shape.hash(&mut h);
    h.finish()
}

/// A value as decoded: its shape and, when wanted, the value (pruned to the
/// wanted parts; `Null` when nothing was wanted).
type Decoded = (u64, Value);

/// Decodes a value as `want` says.
#[derive(Clone, Copy)]
struct Seed<'a>(Want<'a>);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Decoded;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Decoded, D::Error> {
        match self.0 {
            Want::Nothing => Ok((d.deserialize_any(ShapeOnly)?, Value::Null)),
            Want::All => d.deserialize_any(Build),
            Want::Parts(active) => d.deserialize_any(Parts(active)),
        }
    }
}

/// Scalars of every kind, as a visitor's methods see them.
macro_rules! scalars {
    ($ret:ty, |$v:ident| $make:expr) => {
        fn visit_bool<E: de::Error>(self, $v: bool) -> Result<$ret, E> {
            Ok($make(Value::Bool($v)))
        }
        fn visit_i64<E: de::Error>(self, $v: i64) -> Result<$ret, E> {
            Ok($make(Value::Number($v.into())))
        }
        fn visit_u64<E: de::Error>(self, $v: u64) -> Result<$ret, E> {
            Ok($make(Value::Number($v.into())))
        }
        fn visit_f64<E: de::Error>(self, $v: f64) -> Result<$ret, E> {
            Ok($make(
                Number::from_f64($v).map_or(Value::Null, Value::Number),
            ))
        }
        fn visit_str<E: de::Error>(self, $v: &str) -> Result<$ret, E> {
            Ok($make(Value::String($v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, $v: String) -> Result<$ret, E> {
            Ok($make(Value::String($v)))
        }
        fn visit_unit<E: de::Error>(self) -> Result<$ret, E> {
            Ok($make(Value::Null))
        }
        fn visit_none<E: de::Error>(self) -> Result<$ret, E> {
            Ok($make(Value::Null))
        }
    };
}

/// Only the shape: nothing is allocated.
struct ShapeOnly;

impl<'de> DeserializeSeed<'de> for ShapeOnly {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ShapeOnly {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<u64, E> {
        Ok(SCALAR)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<u64, E> {
        Ok(SCALAR)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<u64, E> {
        Ok(SCALAR)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<u64, E> {
        Ok(SCALAR)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<u64, E> {
        Ok(SCALAR)
    }
    fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
        Ok(SCALAR)
    }
    fn visit_none<E: de::Error>(self) -> Result<u64, E> {
        Ok(SCALAR)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut shape = ArrayShape::new();
        while let Some(s) = seq.next_element_seed(ShapeOnly)? {
            shape.item(s);
        }
        Ok(shape.finish())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let mut h = object_hasher();
        while map.next_key_seed(HashKey(&mut h))?.is_some() {
            map.next_value_seed(ShapeOnly)?.hash(&mut h);
        }
        Ok(h.finish())
    }
}

/// Hashes an object key without keeping it.
struct HashKey<'a>(&'a mut FxHasher);

impl<'de> DeserializeSeed<'de> for HashKey<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for HashKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, k: &str) -> Result<(), E> {
        k.hash(self.0);
        Ok(())
    }
}

/// An object key, borrowed from the line when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, k: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(k))
    }

    fn visit_str<E: de::Error>(self, k: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(k.to_owned()))
    }

    fn visit_string<E: de::Error>(self, k: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(k))
    }
}

/// The whole value and its shape.
struct Build;

impl<'de> Visitor<'de> for Build {
    type Value = Decoded;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    scalars!(Decoded, |v| |x| (SCALAR, x));

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Decoded, A::Error> {
        let mut shape = ArrayShape::new();
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some((s, v)) = seq.next_element_seed(Seed(Want::All))? {
            shape.item(s);
            items.push(v);
        }
        Ok((shape.finish(), Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Decoded, A::Error> {
        let mut h = object_hasher();
        let mut out = Map::new();
        while let Some(k) = map.next_key_seed(Key)? {
            k.hash(&mut h);
            let (s, v) = map.next_value_seed(Seed(Want::All))?;
            s.hash(&mut h);
            out.insert(k.into_owned(), v);
        }
        Ok((h.finish(), Value::Object(out)))
    }
}

/// The parts of a value that patterns reach. Objects keep the children on a
/// pattern's way; arrays keep their length, with `null` for items no pattern
/// reaches; scalars on the way are kept (so that a path through them is
/// known to be absent).
struct Parts<'a>(&'a [&'a [String]]);

impl<'de> Visitor<'de> for Parts<'_> {
    type Value = Decoded;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    scalars!(Decoded, |v| |x| (SCALAR, x));

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Decoded, A::Error> {
        let mut shape = ArrayShape::new();
        let mut items = Vec::new();
        let mut next = Vec::new();
        let mut index = IndexText::default();
        loop {
            let key = index.next(items.len());
            let want = want_below(self.0, key, &mut next);
            let Some((s, v)) = seq.next_element_seed(Seed(want))? else {
                break;
            };
            shape.item(s);
            items.push(v);
        }
        Ok((shape.finish(), Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Decoded, A::Error> {
        let mut h = object_hasher();
        let mut out = Map::new();
        let mut next = Vec::new();
        while let Some(k) = map.next_key_seed(Key)? {
            k.hash(&mut h);
            let want = want_below(self.0, &k, &mut next);
            let (s, v) = map.next_value_seed(Seed(want))?;
            s.hash(&mut h);
            if !matches!(want, Want::Nothing) {
                out.insert(k.into_owned(), v);
            }
        }
        Ok((h.finish(), Value::Object(out)))
    }
}

/// What is wanted of the child `key` of a value that `active` reach into.
fn want_below<'p, 'n>(
    active: &[&'p [String]],
    key: &str,
    next: &'n mut Vec<&'p [String]>,
) -> Want<'n> {
    if step(active, key, next) {
        Want::All
    } else if next.is_empty() {
        Want::Nothing
    } else {
        Want::Parts(next)
    }
}

/// Decimal array indices without allocating each time.
#[derive(Default)]
struct IndexText(String);

impl IndexText {
    fn next(&mut self, i: usize) -> &str {
        use std::fmt::Write;
        self.0.clear();
        let _infallible = write!(self.0, "{i}");
        &self.0
    }
}

/// The top level of a line before its envelope is checked.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct RawPayload {
    pub tick: Option<Value>,
    pub schema_version: Option<Value>,
    pub payload_type: Option<Value>,
    /// Set entries: the top-level keys, or with `as_diff` the entries of
    /// `changes`, as (key, shape of the value, value), sorted by key.
    pub set: Vec<(String, u64, Value)>,
    /// With `as_diff`: `changes` when it is not an object.
    pub changes_other: Option<Value>,
    /// With `as_diff`: `removed`.
    pub removed: Option<Value>,
    /// The line is valid JSON but not an object: what it is instead.
    pub not_an_object: Option<&'static str>,
}

/// Decodes a line. `as_diff` says how to read `changes` and `removed`: as a
/// diff's (entries to set, keys to delete) or as ordinary state keys. The
/// caller checks the guess against `payload_type` and decodes again when it
/// was wrong.
///
/// A reader that keeps some fields goes the fast way ([`scan`]) first;
/// serde_json decodes what the scanner does not accept, and reports the
/// errors.
pub(crate) fn decode_line(
    text: &str,
    keep: &Keep,
    as_diff: bool,
) -> Result<RawPayload, serde_json::Error> {
    if let Keep::Fields(ps) = keep {
        let patterns: Vec<&[String]> = ps.iter().map(|p| p.segments()).collect();
        if let Ok(raw) = scan::decode_line(text, &patterns, as_diff) {
            return Ok(raw);
        }
    }
    decode_with_serde(text, keep, as_diff)
}

/// [`decode_line`] by serde_json alone.
fn decode_with_serde(
    text: &str,
    keep: &Keep,
    as_diff: bool,
) -> Result<RawPayload, serde_json::Error> {
    let patterns: Vec<&[String]> = match keep {
        Keep::All => Vec::new(),
        Keep::Fields(ps) => ps.iter().map(|p| p.segments()).collect(),
    };
    let top = Top {
        keep_all: matches!(keep, Keep::All),
        patterns: &patterns,
        as_diff,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let mut raw = de::Deserializer::deserialize_any(&mut de, top)?;
    de.end()?;
    dedup_last_wins(&mut raw.set);
    Ok(raw)
}

/// Sorts entries by key; of repeated keys the last one in the text stays, as
/// `serde_json::Value` does.
fn dedup_last_wins(set: &mut Vec<(String, u64, Value)>) {
    set.reverse();
    set.sort_by(|a, b| a.0.cmp(&b.0));
    set.dedup_by(|later, kept| later.0 == kept.0);
}

#[derive(Clone, Copy)]
struct Top<'a> {
    keep_all: bool,
    patterns: &'a [&'a [String]],
    as_diff: bool,
}

impl Top<'_> {
    fn entry<'de, A: MapAccess<'de>>(
        &self,
        map: &mut A,
        key: Cow<'de, str>,
        set: &mut Vec<(String, u64, Value)>,
    ) -> Result<(), A::Error> {
        let mut next = Vec::new();
        let want = if self.keep_all {
            Want::All
        } else {
            want_below(self.patterns, &key, &mut next)
        };
        let (shape, value) = map.next_value_seed(Seed(want))?;
        set.push((key.into_owned(), shape, value));
        Ok(())
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = RawPayload;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    scalars!(RawPayload, |v| |x: Value| not_object(&x));

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawPayload, A::Error> {
        while seq.next_element_seed(ShapeOnly)?.is_some() {}
        Ok(RawPayload {
            not_an_object: Some("an array"),
            ..RawPayload::default()
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPayload, A::Error> {
        let mut raw = RawPayload::default();
        while let Some(k) = map.next_key_seed(Key)? {
            match &*k {
                "tick" => raw.tick = Some(map.next_value_seed(Seed(Want::All))?.1),
                "schema_version" => {
                    raw.schema_version = Some(map.next_value_seed(Seed(Want::All))?.1)
                }
                "payload_type" => raw.payload_type = Some(map.next_value_seed(Seed(Want::All))?.1),
                "changes" if self.as_diff => match map.next_value_seed(Changes(self))? {
                    ChangesOut::Entries(entries) => {
                        raw.changes_other = None;
                        raw.set = entries;
                    }
                    ChangesOut::Other(v) => {
                        raw.changes_other = Some(v);
                        raw.set.clear();
                    }
                },
                "removed" if self.as_diff => {
                    raw.removed = Some(map.next_value_seed(Seed(Want::All))?.1)
                }
                // A diff's other top-level keys are not part of the state:
                // they are read (and checked) but nothing is built.
                _ if self.as_diff => {
                    map.next_value_seed(ShapeOnly)?;
                }
                _ => self.entry(&mut map, k, &mut raw.set)?,
            }
        }
        Ok(raw)
    }
}

fn not_object(v: &Value) -> RawPayload {
    RawPayload {
        not_an_object: Some(match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }),
        ..RawPayload::default()
    }
}

enum ChangesOut {
    Entries(Vec<(String, u64, Value)>),
    Other(Value),
}

/// A diff's `changes`: its entries are set like a full state's keys.
struct Changes<'a>(Top<'a>);

impl<'de> DeserializeSeed<'de> for Changes<'_> {
    type Value = ChangesOut;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ChangesOut, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Changes<'_> {
    type Value = ChangesOut;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    scalars!(ChangesOut, |v| ChangesOut::Other);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ChangesOut, A::Error> {
        Build.visit_seq(seq).map(|(_, v)| ChangesOut::Other(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChangesOut, A::Error> {
        let mut set = Vec::new();
        while let Some(k) = map.next_key_seed(Key)? {
            self.0.entry(&mut map, k, &mut set)?;
        }
        dedup_last_wins(&mut set);
        Ok(ChangesOut::Entries(set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::FieldPattern;

    fn shape_of(v: &Value) -> u64 {
        let text = v.to_string();
        let mut de = serde_json::Deserializer::from_str(&text);
        let a = ShapeOnly.deserialize(&mut de).expect("shape");
        let mut de = serde_json::Deserializer::from_str(&text);
        let (b, built) = de::Deserializer::deserialize_any(&mut de, Build).expect("build");
        assert_eq!(a, b, "both visitors agree");
        assert_eq!(&built, v);
        a
    }

    #[test]
    fn shapes_ignore_values_and_repetition() {
        let a = serde_json::json!({"x": 1, "h": [{"t": 1}, {"t": 2}], "s": [1, 2]});
        let b = serde_json::json!({"x": "nine", "h": [{"t": 5}], "s": []});
        let c = serde_json::json!({"x": 9, "h": [{"u": 5}], "s": []});
        assert_eq!(shape_of(&a), shape_of(&b));
        assert_ne!(shape_of(&a), shape_of(&c));
        assert_ne!(keyed("k", shape_of(&a)), keyed("j", shape_of(&a)));
    }

    #[test]
    fn parts_keep_what_patterns_reach() {
        let keep = Keep::fields(
            ["conflict.queues.*", "history.1.t", "n.x"]
                .iter()
                .map(|p| FieldPattern::new(p).expect("pattern")),
        );
        let line = r#"{"tick":1,"conflict":{"queues":{"a":1,"b":[2]},"big":[1,2,3]},
            "history":[{"t":1,"u":2},{"t":3,"u":4}],"n":5,"other":{"x":1}}"#;
        let raw = decode_line(line, &keep, false).expect("decode");
        let got: Vec<(&str, &Value)> = raw.set.iter().map(|(k, _, v)| (k.as_str(), v)).collect();
        assert_eq!(
            got,
            [
                (
                    "conflict",
                    &serde_json::json!({"queues": {"a": 1, "b": [2]}})
                ),
                ("history", &serde_json::json!([null, {"t": 3}])),
                ("n", &serde_json::json!(5)),
                ("other", &Value::Null),
            ]
        );
        let full = decode_line(line, &Keep::All, false).expect("decode");
        let shapes = |r: &RawPayload| r.set.iter().map(|e| e.1).collect::<Vec<_>>();
        assert_eq!(shapes(&raw), shapes(&full));
    }

    #[test]
    fn repeated_keys_keep_the_last() {
        let raw = decode_line(r#"{"tick":1,"a":1,"b":2,"a":3}"#, &Keep::All, false).expect("x");
        let got: Vec<(&str, &Value)> = raw.set.iter().map(|(k, _, v)| (k.as_str(), v)).collect();
        assert_eq!(got, [("a", &Value::from(3)), ("b", &Value::from(2))]);
    }
}
