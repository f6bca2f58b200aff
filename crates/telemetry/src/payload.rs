//! One line of a telemetry stream: splitting a byte stream into lines and
//! decoding a line into a [`Payload`].

use std::io::BufRead;
use std::ops::Range;

use serde::Serialize;
use serde_json::Value;

use crate::decode::{RawPayload, decode_line};
use crate::error::{ErrorKind, ReadError, describe};
use crate::pattern::Keep;

/// What a line says about the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadType {
    /// A full state without `payload_type` (schema 0.9.0 and earlier).
    FullState,
    /// `payload_type: snapshot`: a full state.
    Snapshot,
    /// `payload_type: diff`: `changes` replace top-level keys, `removed`
    /// deletes them.
    Diff,
}

impl PayloadType {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadType::FullState => "full-state",
            PayloadType::Snapshot => "snapshot",
            PayloadType::Diff => "diff",
        }
    }

    /// Whether the payload carries the whole state.
    pub fn is_full(self) -> bool {
        !matches!(self, PayloadType::Diff)
    }
}

/// Keys of the envelope, kept out of the reconstructed state.
pub const ENVELOPE_KEYS: [&str; 5] = [
    "tick",
    "schema_version",
    "payload_type",
    "changes",
    "removed",
];

/// A decoded line.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's first byte.
    pub offset: u64,
    pub tick: u64,
    pub schema_version: Option<String>,
    pub payload_type: PayloadType,
    /// Top-level keys set by this payload, sorted, with their values: the
    /// whole state for a full state or snapshot (without `tick`,
    /// `schema_version` and `payload_type`), `changes` for a diff. Values a
    /// reader does not [`Keep`] are pruned to the kept parts, or `null`.
    pub set: Vec<(String, Value)>,
    /// Top-level keys deleted by a diff.
    pub removed: Vec<String>,
    /// The shape fingerprint of each value of `set`, in the same order.
    pub(crate) shapes: Vec<u64>,
    /// Key paths (array items as `[]`) of the values this payload set whose
    /// shape the stream had not shown before, when the reader was asked for
    /// them (see [`Options::schema`](crate::Options::schema)). Over a stream
    /// every shape is listed once, so their union is every key path of the
    /// stream.
    pub new_shapes: Vec<ShapePaths>,
}

/// The key paths of a top-level value of a shape first seen in this payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapePaths {
    /// The shape's fingerprint, as [`TickState::shapes`](crate::TickState::shapes) reports it.
    pub shape: u64,
    /// The top-level key and every key path below it, sorted.
    pub paths: Vec<String>,
}

/// One raw line of a batch.
#[derive(Debug, Clone)]
pub(crate) struct RawLine {
    pub number: u64,
    pub offset: u64,
    pub range: Range<usize>,
    /// Ended with `\n` (false only for the last line of a stream).
    pub terminated: bool,
}

/// Lines read in one go, sharing one buffer.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The bytes read; only what `lines` name is meaningful. The buffer
    /// keeps its length from batch to batch, so that it is zeroed once,
    /// not on every read.
    pub buf: Vec<u8>,
    pub lines: Vec<RawLine>,
}

/// Splits a byte stream into lines, counting line numbers and byte offsets,
/// dropping a leading UTF-8 byte order mark. Bytes are read straight into
/// the batch's buffer, in large reads, and lines are found there: nothing
/// is copied but the partial line at the end of a batch.
pub(crate) struct Splitter<R> {
    reader: R,
    source: String,
    line: u64,
    offset: u64,
    started: bool,
    done: bool,
    /// Bytes read after the last complete line of the previous batch.
    carry: Vec<u8>,
    /// Non-blank lines seen.
    pub non_blank: u64,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The least a read asks for.
const READ_CHUNK: usize = 1 << 16;

impl<R: BufRead> Splitter<R> {
    pub(crate) fn new(reader: R, source: String) -> Self {
        Self {
            reader,
            source,
            line: 0,
            offset: 0,
            started: false,
            done: false,
            carry: Vec::new(),
            non_blank: 0,
        }
    }

    /// Reads lines into `batch` (emptied first, its buffers reused) until
    /// at least `max_bytes` and one whole line are buffered, or the stream
    /// ends. `Ok(false)` at the end.
    pub(crate) fn next_batch(
        &mut self,
        batch: &mut Batch,
        max_bytes: usize,
    ) -> Result<bool, ReadError> {
        batch.lines.clear();
        if self.done {
            return Ok(false);
        }
        let (filled, eof) = self.fill(&mut batch.buf, max_bytes)?;
        if filled == 0 && !self.started {
            self.done = true;
            return Err(self.whole(ErrorKind::Empty));
        }
        let mut pos = 0;
        while let Some(nl) = memchr::memchr(b'\n', &batch.buf[pos..filled]) {
            let end = pos + nl + 1;
            self.push_line(batch, pos..end, true)?;
            pos = end;
        }
        if eof {
            self.done = true;
            if pos < filled {
                self.push_line(batch, pos..filled, false)?;
            }
            if self.non_blank == 0 {
                return Err(self.whole(ErrorKind::OnlyBlank));
            }
        } else {
            self.carry.clear();
            self.carry.extend_from_slice(&batch.buf[pos..filled]);
        }
        Ok(!(batch.lines.is_empty() && self.done))
    }

    /// Fills `buf` with the carried partial line and new bytes until it
    /// holds `max_bytes` and a newline, or the stream ends: (bytes held,
    /// whether the stream ended). A line longer than the limit is an error
    /// before more of it is read.
    fn fill(&mut self, buf: &mut Vec<u8>, max_bytes: usize) -> Result<(usize, bool), ReadError> {
        let mut filled = self.carry.len();
        if buf.len() < filled {
            buf.resize(filled, 0);
        }
        buf[..filled].copy_from_slice(&self.carry);
        self.carry.clear();
        // Bytes at the start of `buf` known to hold no newline.
        let mut searched = 0;
        loop {
            let newline = memchr::memrchr(b'\n', &buf[searched..filled]).is_some();
            if filled >= max_bytes && newline {
                return Ok((filled, false));
            }
            if !newline {
                searched = filled;
                if filled > input::MAX_TELEMETRY_LINE {
                    self.done = true;
                    return Err(self.at_next_line(ErrorKind::LineTooLong {
                        limit: input::MAX_TELEMETRY_LINE,
                    }));
                }
            }
            let want = READ_CHUNK.max(max_bytes.saturating_sub(filled));
            if buf.len() < filled + want {
                buf.resize(filled + want, 0);
            }
            let n = loop {
                match self.reader.read(&mut buf[filled..filled + want]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.done = true;
                        return Err(self.at_next_line(ErrorKind::Io(e.to_string())));
                    }
                }
            };
            if n == 0 {
                return Ok((filled, true));
            }
            filled += n;
        }
    }

    /// Adds the line at `range` of the buffer (with its newline when
    /// `terminated`) to the batch, unless it is blank; counts it.
    fn push_line(
        &mut self,
        batch: &mut Batch,
        range: Range<usize>,
        terminated: bool,
    ) -> Result<(), ReadError> {
        let n = range.len();
        if n > input::MAX_TELEMETRY_LINE {
            self.done = true;
            return Err(self.at_next_line(ErrorKind::LineTooLong {
                limit: input::MAX_TELEMETRY_LINE,
            }));
        }
        let mut first = range.start;
        let mut line_offset = self.offset;
        if !self.started {
            self.started = true;
            if batch.buf[range.clone()].starts_with(BOM) {
                first += BOM.len();
                line_offset += BOM.len() as u64;
            }
        }
        self.line += 1;
        self.offset += n as u64;
        let mut end = range.end;
        if terminated {
            end -= 1;
            if end > first && batch.buf[end - 1] == b'\r' {
                end -= 1;
            }
        }
        if batch.buf[first..end].iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        self.non_blank += 1;
        batch.lines.push(RawLine {
            number: self.line,
            offset: line_offset,
            range: first..end,
            terminated,
        });
        Ok(())
    }

    /// An error at the start of the line after the last one counted.
    fn at_next_line(&self, kind: ErrorKind) -> ReadError {
        ReadError {
            source_name: self.source.clone(),
            line: self.line + 1,
            offset: self.offset,
            kind,
        }
    }

    fn whole(&self, kind: ErrorKind) -> ReadError {
        ReadError {
            source_name: self.source.clone(),
            line: 0,
            offset: 0,
            kind,
        }
    }
}

/// One line of a stream as read: the stream's name, where the line is and
/// its bytes (without its newline).
#[derive(Debug, Clone, Copy)]
pub struct SourceLine<'a> {
    /// The stream's name, for errors.
    pub source: &'a str,
    /// 1-based line number.
    pub number: u64,
    /// Byte offset of the line in the stream.
    pub offset: u64,
    pub bytes: &'a [u8],
    /// Whether a newline ended it: an unterminated last line that does not
    /// parse was cut short.
    pub terminated: bool,
}

impl SourceLine<'_> {
    /// An error at byte offset `at` of the stream, on this line.
    fn error(&self, at: u64, kind: ErrorKind) -> ReadError {
        ReadError {
            source_name: self.source.to_string(),
            line: self.number,
            offset: at,
            kind,
        }
    }

    /// An error about an envelope field of this line.
    fn bad_field(&self, field: &'static str, expected: &'static str, found: String) -> ReadError {
        self.error(
            self.offset,
            ErrorKind::BadField {
                field,
                expected,
                found,
            },
        )
    }
}

/// Decodes one line (without its newline) into a payload, keeping every
/// value.
pub fn parse_line(
    source: &str,
    number: u64,
    offset: u64,
    bytes: &[u8],
    terminated: bool,
) -> Result<Payload, ReadError> {
    let line = SourceLine {
        source,
        number,
        offset,
        bytes,
        terminated,
    };
    parse_line_keeping(&Keep::All, line)
}

/// Whether the line says `"payload_type": "diff"` at its top level, as far as
/// a glance can tell; [`decode_line`] needs to know before it reads
/// `changes`, and the guess is checked afterwards.
fn looks_like_diff(bytes: &[u8]) -> bool {
    const KEY: &[u8] = b"\"payload_type\"";
    /// Built once: building a searcher costs as much as a search.
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let Some(at) = FINDER.find(bytes) else {
        return false;
    };
    let rest = &bytes[at + KEY.len()..];
    let rest = rest.trim_ascii_start();
    rest.strip_prefix(b":")
        .is_some_and(|r| r.trim_ascii_start().starts_with(b"\"diff\""))
}

/// [`parse_line`], building only the values `keep` asks for.
pub fn parse_line_keeping(keep: &Keep, line: SourceLine<'_>) -> Result<Payload, ReadError> {
    let (bytes, offset) = (line.bytes, line.offset);
    let text = std::str::from_utf8(bytes)
        .map_err(|e| line.error(offset + e.valid_up_to() as u64, ErrorKind::InvalidUtf8))?;
    let decode = |as_diff| decode_line(text, keep, as_diff);
    let guess = looks_like_diff(bytes);
    let decoded = decode(guess).and_then(|raw| {
        let is_diff = matches!(&raw.payload_type, Some(Value::String(s)) if s == "diff");
        if is_diff == guess {
            Ok(raw)
        } else {
            decode(is_diff)
        }
    });
    let mut raw: RawPayload = decoded.map_err(|e| json_error(&line, &e))?;
    if let Some(found) = raw.not_an_object {
        return Err(line.error(offset, ErrorKind::NotAnObject { found }));
    }
    let tick = tick_of(raw.tick.take())
        .map_err(|found| line.bad_field("tick", "a non-negative integer", found))?;
    let schema_version = match raw.schema_version.take() {
        Some(Value::String(s)) => Some(s),
        None | Some(Value::Null) => None,
        Some(v) => return Err(line.bad_field("schema_version", "a string", describe(&v))),
    };
    let payload_type = payload_type_of(&line, raw.payload_type.take())?;
    let (set, shapes) = raw.set.into_iter().map(|(k, s, v)| ((k, v), s)).unzip();
    let payload = |removed| Payload {
        line: line.number,
        offset,
        tick,
        schema_version,
        payload_type,
        set,
        removed,
        shapes,
        new_shapes: Vec::new(),
    };
    if payload_type.is_full() {
        return Ok(payload(Vec::new()));
    }
    match raw.changes_other {
        None | Some(Value::Null) => {}
        Some(v) => return Err(line.bad_field("changes", "an object", describe(&v))),
    }
    let removed = removed_of(raw.removed)
        .map_err(|found| line.bad_field("removed", "a list of key names", found))?;
    Ok(payload(removed))
}

/// The error of a line that is not valid JSON: cut short, a Python float
/// literal (`NaN`), or another syntax error, at its byte.
fn json_error(line: &SourceLine<'_>, e: &serde_json::Error) -> ReadError {
    let (bytes, offset) = (line.bytes, line.offset);
    // The line has no newline inside, so serde_json's column is the
    // 1-based byte position in the line.
    let column = e.column().max(1) as u64;
    if e.is_eof() && !line.terminated {
        return line.error(offset + bytes.len() as u64, ErrorKind::TruncatedLastLine);
    }
    if let Some((literal, start)) =
        crate::error::python_float_literal(bytes, (column as usize).saturating_sub(1))
    {
        return line.error(
            offset + start as u64,
            ErrorKind::NonJsonNumber {
                column: start as u64 + 1,
                literal,
            },
        );
    }
    let message = strip_position(&e.to_string());
    line.error(
        offset + column - 1,
        ErrorKind::InvalidJson { column, message },
    )
}

/// The `payload_type` of a line: none is a full state (schema 0.9.0 and
/// earlier).
fn payload_type_of(line: &SourceLine<'_>, v: Option<Value>) -> Result<PayloadType, ReadError> {
    match v {
        None | Some(Value::Null) => Ok(PayloadType::FullState),
        Some(Value::String(s)) => match s.as_str() {
            "snapshot" => Ok(PayloadType::Snapshot),
            "diff" => Ok(PayloadType::Diff),
            _ => Err(line.error(line.offset, ErrorKind::UnknownPayloadType(s))),
        },
        Some(v) => Err(line.bad_field("payload_type", "a string", describe(&v))),
    }
}

/// The `tick` of a payload, or what was found instead.
fn tick_of(value: Option<Value>) -> Result<u64, String> {
    match value {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(t) => Ok(t),
            None => match n.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 9.007_199_254_740_992e15 => {
                    Ok(f as u64)
                }
                _ => Err(format!("the number {n}")),
            },
        },
        Some(v) => Err(describe(&v)),
        None => Err("no `tick` key".into()),
    }
}

/// The keys a diff's `removed` deletes, or what was found instead.
fn removed_of(value: Option<Value>) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(format!("an item that is {}", describe(&other))),
            })
            .collect(),
        Some(v) => Err(describe(&v)),
    }
}

/// serde_json appends " at line L column C"; we report the place ourselves.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

pub(crate) fn parse_raw(
    keep: &Keep,
    source: &str,
    batch: &Batch,
    raw: &RawLine,
) -> Result<Payload, ReadError> {
    parse_line_keeping(
        keep,
        SourceLine {
            source,
            number: raw.number,
            offset: raw.offset,
            bytes: &batch.buf[raw.range.clone()],
            terminated: raw.terminated,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Payload, ReadError> {
        parse_line("t.jsonl", 3, 100, s.as_bytes(), true)
    }

    #[test]
    fn legacy_lines_are_full_states() {
        let p = parse(r#"{"schema_version":"0.9.0","tick":7,"a":1}"#).expect("parse");
        assert_eq!(p.payload_type, PayloadType::FullState);
        assert_eq!(p.tick, 7);
        assert_eq!(p.set.len(), 1);
    }

    #[test]
    fn python_nan_and_infinity_are_named_as_the_cause() {
        for (line, literal, column) in [
            (r#"{"tick":7,"queue":NaN}"#, "NaN", 19),
            (r#"{"tick":7,"queue":-Infinity}"#, "-Infinity", 19),
            (r#"{"tick":7,"x":[1, Infinity]}"#, "Infinity", 19),
        ] {
            let error = parse(line).expect_err(line);
            assert!(
                matches!(error.kind, ErrorKind::NonJsonNumber { literal: found, .. } if found == literal),
                "{line}: {error}"
            );
            let text = error.to_string();
            assert!(
                text.starts_with(&format!("`t.jsonl`:3:{column}: invalid JSON")),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "`{literal}` is not a JSON number (Python's `json.dumps`"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn diffs_carry_changes_and_removed() {
        let p = parse(r#"{"tick":2,"payload_type":"diff","changes":{"a":1},"removed":["b"]}"#)
            .expect("parse");
        assert_eq!(p.payload_type, PayloadType::Diff);
        assert_eq!(p.removed, ["b"]);
        assert_eq!(p.set, [("a".to_string(), Value::from(1))]);
    }

    #[test]
    fn invalid_json_reports_column_and_offset() {
        let e = parse(r#"{"tick":1,"a":}"#).expect_err("bad");
        assert_eq!(e.offset, 100 + 14);
        assert!(
            matches!(e.kind, ErrorKind::InvalidJson { column: 15, .. }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "`t.jsonl`:3:15: invalid JSON at byte offset 114: expected value"
        );
    }

    #[test]
    fn truncated_only_without_newline() {
        let e = parse_line("t", 9, 10, br#"{"tick":1,"a":[1,2"#, false).expect_err("bad");
        assert_eq!(e.kind, ErrorKind::TruncatedLastLine);
        let e = parse_line("t", 9, 10, br#"{"tick":1,"a":[1,2"#, true).expect_err("bad");
        assert!(matches!(e.kind, ErrorKind::InvalidJson { .. }));
    }

    #[test]
    fn fields_are_checked() {
        assert!(matches!(
            parse("[1]").expect_err("x").kind,
            ErrorKind::NotAnObject { found: "an array" }
        ));
        assert!(matches!(
            parse(r#"{"a":1}"#).expect_err("x").kind,
            ErrorKind::BadField { field: "tick", .. }
        ));
        assert!(matches!(
            parse(r#"{"tick":-1}"#).expect_err("x").kind,
            ErrorKind::BadField { field: "tick", .. }
        ));
        assert!(matches!(
            parse(r#"{"tick":1,"payload_type":"delta"}"#)
                .expect_err("x")
                .kind,
            ErrorKind::UnknownPayloadType(_)
        ));
        assert!(matches!(
            parse(r#"{"tick":1,"payload_type":"diff","removed":[1]}"#)
                .expect_err("x")
                .kind,
            ErrorKind::BadField {
                field: "removed",
                ..
            }
        ));
    }

    #[test]
    fn invalid_utf8_offset() {
        let e = parse_line("t", 1, 50, b"{\"tick\":1,\"a\":\"\xff\"}", true).expect_err("bad");
        assert_eq!(e.kind, ErrorKind::InvalidUtf8);
        assert_eq!(e.offset, 50 + 15);
    }
}
