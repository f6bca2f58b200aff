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
    /// The stream holds no bytes at all.
    Empty,
    /// The stream holds only blank lines (and perhaps a byte order mark).
    OnlyBlank,
    /// The line is not valid UTF-8 at `offset`.
    InvalidUtf8,
    /// The line is not valid JSON; `column` is 1-based, in bytes.
    InvalidJson { column: u64, message: String },
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
}

impl ErrorKind {
    /// A short stable name for machines (`invalid-json`, `truncated-last-line`).
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::Io(_) => "io",
            ErrorKind::Empty => "empty",
            ErrorKind::OnlyBlank => "only-blank",
            ErrorKind::InvalidUtf8 => "invalid-utf8",
            ErrorKind::InvalidJson { .. } => "invalid-json",
            ErrorKind::TruncatedLastLine => "truncated-last-line",
            ErrorKind::NotAnObject { .. } => "not-an-object",
            ErrorKind::BadField { .. } => "bad-field",
            ErrorKind::UnknownPayloadType(_) => "unknown-payload-type",
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let src = &self.source_name;
        let (line, off) = (self.line, self.offset);
        match &self.kind {
            ErrorKind::Io(e) => write!(f, "cannot read `{src}` at byte offset {off}: {e}"),
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
            ErrorKind::UnknownPayloadType(t) => write!(
                f,
                "`{src}`:{line}: payload at byte offset {off}: unknown `payload_type` '{t}', expected 'snapshot' or 'diff' (or none for a schema 0.9.0 full state)"
            ),
        }
    }
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
