//! Errors of reading a telemetry stream: each names the source, the line and
//! the byte offset where the problem is, and says what was expected.

use std::fmt;

/// A telemetry stream could not be read at a given place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ReadError {
    /// The file (or other source) the stream came from, as given.
    pub source_name: String,
    /// 1-based line number; 0 when the problem concerns the whole stream.
    pub line: u64,
    /// Byte offset from the start of the stream where the problem is.
    pub offset: u64,
    pub kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Reading the underlying file failed.
    Io(String),
    /// The file cannot be an input (missing, a FIFO, a device): the reason.
    Open(String),
    /// The stream holds no bytes at all.
    Empty,
    /// The stream holds only blank lines (and perhaps a byte order mark).
    OnlyBlank,
    /// The line is not valid UTF-8 at `offset`.
    InvalidUtf8,
    /// The line is not valid JSON; `column` is 1-based, in bytes.
    InvalidJson { column: u64, message: String },
    /// `NaN`, `Infinity` or `-Infinity`, which Python's `json.dumps` writes
    /// by default but JSON does not allow; `column` is 1-based, in bytes.
    NonJsonNumber { column: u64, literal: &'static str },
    /// A line longer than the cap (no newline within `limit` bytes).
    LineTooLong { limit: usize },
    /// The last line ends without a newline in the middle of a JSON value.
    TruncatedLastLine,
    /// The line is valid JSON but not an object.
    NotAnObject { found: &'static str },
    /// A payload field is missing or has the wrong type.
    BadField {
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    /// `payload_type` is neither `snapshot` nor `diff`.
    UnknownPayloadType(String),
    /// A tick that does not follow the previous payload's (repeated, or
    /// going back).
    TickOrder {
        tick: u64,
        previous: u64,
        previous_line: u64,
    },
}

impl ErrorKind {
    /// A short stable name for machines (`invalid-json`, `truncated-last-line`).
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::Io(_) => "io",
            ErrorKind::Open(_) => "open",
            ErrorKind::Empty => "empty",
            ErrorKind::OnlyBlank => "only-blank",
            ErrorKind::InvalidUtf8 => "invalid-utf8",
            ErrorKind::InvalidJson { .. } => "invalid-json",
            ErrorKind::NonJsonNumber { .. } => "non-json-number",
            ErrorKind::LineTooLong { .. } => "line-too-long",
            ErrorKind::TruncatedLastLine => "truncated-last-line",
            ErrorKind::NotAnObject { .. } => "not-an-object",
            ErrorKind::BadField { .. } => "bad-field",
            ErrorKind::UnknownPayloadType(_) => "unknown-payload-type",
            ErrorKind::TickOrder { .. } => "tick-order",
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let src = &self.source_name;
        let (line, off) = (self.line, self.offset);
        match &self.kind {
            ErrorKind::Io(e) => write!(f, "cannot read `{src}` at byte offset {off}: {e}"),
            ErrorKind::Open(reason) => write!(f, "`{src}` {reason}"),
            ErrorKind::Empty => write!(
                f,
                "`{src}` is empty: expected telemetry payloads, one JSON object per line\nhint: the capture may have failed before writing anything"
            ),
            ErrorKind::OnlyBlank => write!(
                f,
                "`{src}` holds only blank lines: expected telemetry payloads, one JSON object per line"
            ),
            ErrorKind::InvalidUtf8 => write!(
                f,
                "`{src}`:{line}: invalid UTF-8 at byte offset {off}: telemetry lines must be UTF-8 JSON"
            ),
            ErrorKind::InvalidJson { column, message } => write!(
                f,
                "`{src}`:{line}:{column}: invalid JSON at byte offset {off}: {message}"
            ),
            ErrorKind::NonJsonNumber { column, literal } => write!(
                f,
                "`{src}`:{line}:{column}: invalid JSON at byte offset {off}: `{literal}` is not a JSON number (Python's `json.dumps` writes it for {} float unless `allow_nan=False`)\nhint: the comparison cannot tell which value Townlet meant; write finite numbers (or null) in the capture",
                if *literal == "NaN" {
                    "a NaN"
                } else {
                    "an infinite"
                }
            ),
            ErrorKind::LineTooLong { limit } => write!(
                f,
                "`{src}`:{line}: line at byte offset {off} is longer than {} MiB: expected one JSON payload per line\nhint: is this a telemetry capture? (`/dev/zero` and binary files have no newlines)",
                limit >> 20
            ),
            ErrorKind::TruncatedLastLine => write!(
                f,
                "`{src}`:{line}: truncated last line: it ends at byte offset {off} without a newline, in the middle of a JSON value\nhint: the writer was probably killed mid-write; drop the last line or capture again"
            ),
            ErrorKind::NotAnObject { found } => write!(
                f,
                "`{src}`:{line}: expected a JSON object (one payload per line) at byte offset {off}, found {found}"
            ),
            ErrorKind::BadField {
                field,
                expected,
                found,
            } => write!(
                f,
                "`{src}`:{line}: payload at byte offset {off}: `{field}` must be {expected}, found {found}"
            ),
            ErrorKind::TickOrder {
                tick,
                previous,
                previous_line,
            } => write!(
                f,
                "`{src}`:{line}: tick {tick} does not follow tick {previous} of line {previous_line}: ticks must increase\nhint: {}",
                if tick == previous {
                    "a tick written twice cannot be compared tick by tick; capture again"
                } else {
                    "the ticks went back: did another run append to the same file? Capture into an empty file"
                }
            ),
            ErrorKind::UnknownPayloadType(t) => write!(
                f,
                "`{src}`:{line}: payload at byte offset {off}: unknown `payload_type` '{t}', expected 'snapshot' or 'diff' (or none for a schema 0.9.0 full state)"
            ),
        }
    }
}

/// The Python float literal (`NaN`, `Infinity`, `-Infinity`) at or just
/// before byte `at` of `text`, where serde_json stopped, with the byte where
/// it starts; these are what Python's `json.dumps` writes for non-finite
/// floats by default.
pub fn python_float_literal(text: &[u8], at: usize) -> Option<(&'static str, usize)> {
    const LITERALS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    let from = at.saturating_sub(2);
    let to = (at + 1).min(text.len());
    (from..to).find_map(|start| {
        LITERALS
            .iter()
            .find(|literal| text[start..].starts_with(literal.as_bytes()))
            .map(|literal| (*literal, start))
    })
}

/// A short description of a JSON value's type, for "found ..." messages.
pub fn describe(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.len() <= 40 => format!("the string '{s}'"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}
