//! The fast way through a line: a validating JSON scanner for the values
//! nothing keeps, with serde_json building the few that are kept.
//!
//! Why by hand: of a 4 KiB payload a comparison keeps a few hundred bytes.
//! The rest is read only to check that it is JSON and to fingerprint its
//! shape. serde_json can check a value without building it (`IgnoredAny`),
//! but then says nothing of its shape; to say the shape, its deserializer
//! hands every scalar to a visitor and converts every number to `f64` on the
//! way, which is a third of the time of reading a capture (payloads are
//! mostly numbers). simd-json converts numbers too, and rewrites the line in
//! place. This scanner checks RFC 8259's grammar, converts no number that
//! cannot be out of `f64`'s range, and hashes shapes with the functions the
//! serde visitors use ([`object_hasher`], [`ArrayShape`]), so both ways give
//! the same fingerprints.
//!
//! It never has the last word on a line it does not like: a syntax error, an
//! escaped key, a number near the edge of `f64`, nesting deeper than
//! [`MAX_DEPTH`], a line that is not an object or a `changes` that is not an
//! object all make it give up ([`Unsure`]), and the line is decoded by
//! serde_json, which reads it or reports the error at its byte. It is at
//! least as strict as serde_json: what it reads, serde_json reads to the same
//! payload (tested against serde_json on mutated lines, and in the
//! `telemetry_keep` fuzz target).

use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};

use super::{
    ArrayShape, IndexText, RawPayload, SCALAR, dedup_last_wins, object_hasher, want_below,
};
use crate::pattern::Want;

/// The scanner gave up; serde_json decides.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Unsure;

/// Deeper than this the scanner gives up (serde_json's own limit is 128).
const MAX_DEPTH: u32 = 100;

/// Numbers this long, or with an exponent, are converted to check that
/// `f64` holds them: serde_json refuses one that is out of range.
const LONG_NUMBER: usize = 300;

/// Bytes that end the plain run of a string: the quote, a backslash and
/// the control characters JSON forbids unescaped.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Decodes a line as [`super::decode_line`] does for `patterns`, or gives up.
pub(super) fn decode_line(
    text: &str,
    patterns: &[&[String]],
    as_diff: bool,
) -> Result<RawPayload, Unsure> {
    let mut s = Scanner { text, pos: 0 };
    s.ws();
    if s.peek() != Some(b'{') {
        return Err(Unsure);
    }
    let mut raw = RawPayload::default();
    s.members(|s, key| {
        match key {
            "tick" => raw.tick = Some(s.value()?),
            "schema_version" => raw.schema_version = Some(s.value()?),
            "payload_type" => raw.payload_type = Some(s.value()?),
            "changes" if as_diff => {
                if s.peek() != Some(b'{') {
                    return Err(Unsure);
                }
                let mut set = Vec::new();
                s.members(|s, key| s.entry(key, patterns, &mut set))?;
                dedup_last_wins(&mut set);
                raw.changes_other = None;
                raw.set = set;
            }
            "removed" if as_diff => raw.removed = Some(s.value()?),
            // A diff's other top-level keys are checked, nothing is built.
            _ if as_diff => {
                s.shape(1)?;
            }
            _ => s.entry(key, patterns, &mut raw.set)?,
        }
        Ok(())
    })?;
    s.ws();
    if s.pos != text.len() {
        return Err(Unsure);
    }
    dedup_last_wins(&mut raw.set);
    Ok(raw)
}

/// `0x01` in every byte.
const ONES: u64 = u64::from_le_bytes([1; 8]);
/// The high bit of every byte.
const HIGHS: u64 = ONES * 0x80;

/// The eight bytes at `i`, the first in the lowest byte.
#[inline]
fn word(bytes: &[u8], i: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(i..i.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// The high bit of each byte of `w` that is a quote, a backslash or a
/// control character. Bits above the first flagged byte may be wrong (a
/// borrow carries into them), so only the lowest one is read.
#[inline]
fn string_stops(w: u64) -> u64 {
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x;
    (zero_in(w ^ (ONES * u64::from(b'"')))
        | zero_in(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w))
        & HIGHS
}

/// The high bit of each byte of `w` that is not an ASCII digit; as in
/// [`string_stops`], only the lowest one is exact.
#[inline]
fn non_digits(w: u64) -> u64 {
    // Digits become 0..=9; adding 118 sets the high bit of the rest.
    let x = w ^ (ONES * u64::from(b'0'));
    (x.wrapping_add(ONES * (127 - 9)) | x) & HIGHS
}

/// The index of the first byte at or after `i` that ends a run (or the
/// length), eight bytes at a time: `flags` gives the high bit of each byte
/// of a word that ends it (only the lowest need be exact), `ends` says it
/// of one byte.
#[inline]
fn run_end(
    bytes: &[u8],
    mut i: usize,
    flags: impl Fn(u64) -> u64,
    ends: impl Fn(u8) -> bool,
) -> usize {
    while let Some(w) = word(bytes, i) {
        let found = flags(w);
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while bytes.get(i).is_some_and(|&b| !ends(b)) {
        i += 1;
    }
    i
}

/// The index of the first byte of [`STRING_STOP`] at or after `i`.
#[inline]
fn plain_end(bytes: &[u8], i: usize) -> usize {
    run_end(bytes, i, string_stops, |b| STRING_STOP[usize::from(b)])
}

/// The index of the first byte that is not an ASCII digit at or after `i`.
#[inline]
fn digits_end(bytes: &[u8], i: usize) -> usize {
    run_end(bytes, i, non_digits, |b| !b.is_ascii_digit())
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Result<(), Unsure> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Unsure)
        }
    }

    /// The members of the object at `pos` (a `{`), each key handed to `f`
    /// with `pos` at its value, which `f` must consume.
    fn members(
        &mut self,
        mut f: impl FnMut(&mut Self, &'a str) -> Result<(), Unsure>,
    ) -> Result<(), Unsure> {
        if self.open(b'}') {
            return Ok(());
        }
        loop {
            let key = self.key()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            f(self, key)?;
            if !self.more(b'}')? {
                return Ok(());
            }
        }
    }

    /// Steps past the opening bracket at `pos`; `true` when `close` follows
    /// (an empty container, consumed).
    #[inline]
    fn open(&mut self, close: u8) -> bool {
        self.pos += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return true;
        }
        false
    }

    /// After a member or an item: `true` at a comma (stepped past, with the
    /// whitespace after it), `false` at `close` (consumed).
    #[inline]
    fn more(&mut self, close: u8) -> Result<bool, Unsure> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.ws();
                Ok(true)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(Unsure),
        }
    }

    /// A state entry: its shape, and the parts of it `patterns` want.
    fn entry(
        &mut self,
        key: &str,
        patterns: &[&[String]],
        set: &mut Vec<(String, u64, Value)>,
    ) -> Result<(), Unsure> {
        let mut next = Vec::new();
        let want = want_below(patterns, key, &mut next);
        let (shape, value) = self.wanted(want, 1)?;
        set.push((key.to_owned(), shape, value));
        Ok(())
    }

    /// The shape of the value at `pos` and what `want` says to build of it
    /// (as the serde visitors build it: `Null` for nothing).
    fn wanted(&mut self, want: Want<'_>, depth: u32) -> Result<(u64, Value), Unsure> {
        match want {
            Want::Nothing => Ok((self.shape(depth)?, Value::Null)),
            Want::All => {
                let start = self.pos;
                let shape = self.shape(depth)?;
                Ok((shape, self.built(start)?))
            }
            Want::Parts(active) => self.parts(active, depth),
        }
    }

    /// The value from `start` to `pos`, built by serde_json.
    fn built(&self, start: usize) -> Result<Value, Unsure> {
        let text = self.text.get(start..self.pos).ok_or(Unsure)?;
        serde_json::from_str(text).map_err(|_| Unsure)
    }

    /// The parts of the value at `pos` that `active` reach, by the rules of
    /// the `Parts` visitor: objects keep the children on a pattern's way,
    /// arrays keep their length with `null` for the items no pattern
    /// reaches, scalars on the way are kept.
    fn parts(&mut self, active: &[&[String]], depth: u32) -> Result<(u64, Value), Unsure> {
        let mut next = Vec::new();
        match self.peek() {
            Some(b'{') => {
                if depth + 1 > MAX_DEPTH {
                    return Err(Unsure);
                }
                let mut h = object_hasher();
                let mut out = Map::new();
                self.members(|s, key| {
                    key.hash(&mut h);
                    let want = want_below(active, key, &mut next);
                    let (shape, value) = s.wanted(want, depth + 1)?;
                    shape.hash(&mut h);
                    if !matches!(want, Want::Nothing) {
                        out.insert(key.to_owned(), value);
                    }
                    Ok(())
                })?;
                Ok((h.finish(), Value::Object(out)))
            }
            Some(b'[') => {
                if depth + 1 > MAX_DEPTH {
                    return Err(Unsure);
                }
                let mut shape = ArrayShape::new();
                let mut items = Vec::new();
                let mut index = IndexText::default();
                self.items(|s| {
                    let want = want_below(active, index.next(items.len()), &mut next);
                    let (item, value) = s.wanted(want, depth + 1)?;
                    shape.item(item);
                    items.push(value);
                    Ok(())
                })?;
                Ok((shape.finish(), Value::Array(items)))
            }
            _ => {
                let start = self.pos;
                let shape = self.shape(depth)?;
                Ok((shape, self.built(start)?))
            }
        }
    }

    /// The value at `pos`, built by serde_json.
    fn value(&mut self) -> Result<Value, Unsure> {
        let start = self.pos;
        self.shape(1)?;
        self.built(start)
    }

    /// Checks the value at `pos` and returns its shape; `depth` is the
    /// nesting of the container it is in.
    fn shape(&mut self, depth: u32) -> Result<u64, Unsure> {
        match self.peek().ok_or(Unsure)? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                self.pos += 1;
                self.string()?;
                Ok(SCALAR)
            }
            b'-' | b'0'..=b'9' => {
                self.number()?;
                Ok(SCALAR)
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => Err(Unsure),
        }
    }

    fn object(&mut self, depth: u32) -> Result<u64, Unsure> {
        if depth > MAX_DEPTH {
            return Err(Unsure);
        }
        let mut h = object_hasher();
        self.members(|s, key| {
            key.hash(&mut h);
            s.shape(depth)?.hash(&mut h);
            Ok(())
        })?;
        Ok(h.finish())
    }

    fn array(&mut self, depth: u32) -> Result<u64, Unsure> {
        if depth > MAX_DEPTH {
            return Err(Unsure);
        }
        let mut shape = ArrayShape::new();
        self.items(|s| {
            shape.item(s.shape(depth)?);
            Ok(())
        })?;
        Ok(shape.finish())
    }

    /// The items of the array at `pos` (a `[`), each handed to `f` with
    /// `pos` at it, which `f` must consume.
    fn items(&mut self, mut f: impl FnMut(&mut Self) -> Result<(), Unsure>) -> Result<(), Unsure> {
        if self.open(b']') {
            return Ok(());
        }
        loop {
            f(self)?;
            if !self.more(b']')? {
                return Ok(());
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<u64, Unsure> {
        if self.text.as_bytes()[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(SCALAR)
        } else {
            Err(Unsure)
        }
    }

    /// An object key without escapes (an escaped key goes to serde_json,
    /// which unescapes it), `pos` at its opening quote.
    fn key(&mut self) -> Result<&'a str, Unsure> {
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos) != Some(&b'"') {
            return Err(Unsure);
        }
        let start = self.pos + 1;
        let end = plain_end(bytes, start);
        if bytes.get(end) != Some(&b'"') {
            return Err(Unsure);
        }
        self.pos = end + 1;
        self.text.get(start..end).ok_or(Unsure)
    }

    /// The rest of a string after its opening quote.
    fn string(&mut self) -> Result<(), Unsure> {
        let bytes = self.text.as_bytes();
        loop {
            let end = plain_end(bytes, self.pos);
            self.pos = end + 1;
            match bytes.get(end) {
                Some(b'"') => return Ok(()),
                Some(b'\\') => self.escape()?,
                // A control character, or the end of the line.
                _ => return Err(Unsure),
            }
        }
    }

    /// An escape after its backslash. Surrogates must pair, as serde_json
    /// requires of strings.
    fn escape(&mut self) -> Result<(), Unsure> {
        let c = self.peek().ok_or(Unsure)?;
        self.pos += 1;
        match c {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(()),
            b'u' => match self.hex4()? {
                0xD800..=0xDBFF => {
                    self.eat(b'\\')?;
                    self.eat(b'u')?;
                    match self.hex4()? {
                        0xDC00..=0xDFFF => Ok(()),
                        _ => Err(Unsure),
                    }
                }
                0xDC00..=0xDFFF => Err(Unsure),
                _ => Ok(()),
            },
            _ => Err(Unsure),
        }
    }

    fn hex4(&mut self) -> Result<u16, Unsure> {
        let digits = self.text.get(self.pos..self.pos + 4).ok_or(Unsure)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Unsure);
        }
        self.pos += 4;
        u16::from_str_radix(digits, 16).map_err(|_| Unsure)
    }

    /// Moves `pos` past the digits there; returns how many.
    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.pos;
        self.pos = digits_end(self.text.as_bytes(), start);
        self.pos - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`. Its end is checked
    /// by the container (`01` stops after `0`, where `1` is not allowed).
    fn number(&mut self) -> Result<(), Unsure> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Unsure),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Unsure);
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            exponent = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Unsure);
            }
        }
        if exponent || self.pos - start > LONG_NUMBER {
            // Well inside f64's range, or serde_json decides.
            let text = self.text.get(start..self.pos).ok_or(Unsure)?;
            let v: f64 = text.parse().map_err(|_| Unsure)?;
            // NaN cannot come from a JSON number; `is_finite` says so too.
            if !v.is_finite() || v.abs() >= 1e300 {
                return Err(Unsure);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::{FieldPattern, Keep};

    const PATTERNS: [&str; 4] = [
        "queue_metrics.*",
        "conflict.queues.*",
        "employment.pending_count",
        "h.1.t",
    ];

    fn patterns() -> Keep {
        Keep::fields(
            PATTERNS
                .iter()
                .map(|p| FieldPattern::new(p).expect("pattern")),
        )
    }

    /// Both ways of decoding `line`: the scanner's (or `Unsure`) and
    /// serde_json's.
    fn both(
        line: &str,
        keep: &Keep,
        as_diff: bool,
    ) -> (
        Result<RawPayload, Unsure>,
        Result<RawPayload, serde_json::Error>,
    ) {
        let Keep::Fields(ps) = keep else {
            unreachable!("fields")
        };
        let pats: Vec<&[String]> = ps.iter().map(|p| p.segments()).collect();
        (
            decode_line(line, &pats, as_diff),
            super::super::decode_with_serde(line, keep, as_diff),
        )
    }

    /// Whatever the scanner reads, serde_json reads to the same payload.
    fn agree(line: &str) -> bool {
        let keep = patterns();
        let mut scanned = false;
        for as_diff in [false, true] {
            let (fast, slow) = both(line, &keep, as_diff);
            if let Ok(fast) = fast {
                let slow =
                    slow.unwrap_or_else(|e| panic!("scanner read {line:?}, serde_json: {e}"));
                assert_eq!(fast, slow, "{line:?} (as_diff {as_diff})");
                scanned = true;
            }
        }
        scanned
    }

    const GOOD: &str = r#"{"tick": 12, "schema_version": "0.9.7", "payload_type": "diff", "changes": {"queue_metrics": {"cooldown_events": 3, "rotation_events": 1.5e3}, "conflict": {"queues": {"a": -0.25}, "history": [{"t": 1}, {"t": 2, "u": [true, false, null]}]}, "h": [{"t": 1, "u": 2}, {"t": "x\u00e9\ud83d\ude00\n\"", "u": []}], "s": "caf\u00e9 \\ /", "e": {}, "a": [[], [[1]]]}, "removed": ["old"]}"#;

    #[test]
    fn reads_what_serde_json_reads_to_the_same_payload() {
        assert!(agree(GOOD));
        for line in [
            r#"{"tick": 1, "a": 1, "a": {"b": 2}, "queue_metrics": {"x": 0, "x": 1}}"#,
            r#"  {"tick":1,"changes":{"q":1},"changes":{"r":2}}  "#,
            r#"{}"#,
            r#"{"tick": 1, "n": [0, -0, 0.5, 1e5, 1E-5, -1.25e+10, 123456789012345678901234567890]}"#,
            "{\"tick\":1,\"s\":\"\u{7f}\u{e9}\u{1F600}\"}",
            // Whitespace JSON allows anywhere between tokens, as Python's
            // `json.dumps` and hand edits leave it.
            "{\t\"tick\" :\r 3 ,\"a\" : [ 1 , { } , [ ] ] , \"queue_metrics\" : { \"x\" : 1 } }\r",
            // Keys that are empty or not ASCII; a `changes` outside a diff.
            r#"{"": 1, "tick": 2, "é": {"ü": "\u00fc"}, "changes": {"a": 1}}"#,
        ] {
            assert!(agree(line), "{line}");
        }
    }

    #[test]
    fn gives_up_where_serde_json_must_decide() {
        let long = format!(r#"{{"tick":1,"n":1{}}}"#, "0".repeat(400));
        let deep = format!(r#"{{"tick":1,"d":{}{}}}"#, "[".repeat(120), "]".repeat(120));
        for line in [
            r#"{"tick":1,"a":01}"#,
            r#"{"tick":1,"a":1.}"#,
            r#"{"tick":1,"a":.5}"#,
            r#"{"tick":1,"a":1e}"#,
            r#"{"tick":1,"a":-}"#,
            r#"{"tick":1,"a":1e999}"#,
            r#"{"tick":1,"a":NaN}"#,
            r#"{"tick":1,"a":-Infinity}"#,
            r#"{"tick":1,"a":[1,]}"#,
            r#"{"tick":1,"a":{"b":1,}}"#,
            r#"{"tick":1,"a":"\x"}"#,
            r#"{"tick":1,"a":"\ud800"}"#,
            r#"{"tick":1,"a":"\udc00"}"#,
            r#"{"tick":1,"a":"\ud800\u0041"}"#,
            r#"{"tick":1,"a":"\u12g4"}"#,
            "{\"tick\":1,\"a\":\"tab\there\"}",
            r#"{"tick":1,"k\u0065y":1}"#,
            r#"{"tick":1,"a":tru}"#,
            r#"{"tick":1,"a":1} x"#,
            r#"{"tick":1,"a":1"#,
            r#"[1]"#,
            r#"{"tick":1,"payload_type":"diff","changes":[1]}"#,
            &long,
            &deep,
        ] {
            let (fast, _) = both(line, &patterns(), true);
            assert_eq!(fast.err(), Some(Unsure), "{line}");
            agree(line);
        }
    }

    /// Lines cut and altered byte by byte (a fixed xorshift, so a failure
    /// repeats): the scanner never reads one that serde_json refuses or
    /// reads differently.
    #[test]
    fn mutated_lines_never_disagree() {
        let alphabet = b"{}[]\":,.-+eE0123456789 \\/ubfnrtaxyz\x01\x7f";
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut read = 0;
        for _ in 0..20_000 {
            let mut bytes = GOOD.as_bytes().to_vec();
            for _ in 0..=(next() % 3) {
                let at = (next() as usize) % bytes.len();
                let c = alphabet[(next() as usize) % alphabet.len()];
                match next() % 3 {
                    0 => bytes[at] = c,
                    1 => bytes.insert(at, c),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            if let Ok(line) = std::str::from_utf8(&bytes)
                && agree(line)
            {
                read += 1;
            }
        }
        // Some mutations keep the line valid (a digit for a digit): both
        // ways were compared on those.
        assert!(read > 1_000, "only {read} mutated lines were read");
    }
}
