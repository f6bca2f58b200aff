//! Townlet's telemetry: reading JSONL payloads and reconstructing the state
//! at each tick, and the telemetry lines of its Python log.
//!
//! Owns: splitting a stream into lines (line numbers, byte offsets, a leading
//! byte order mark, blank lines), field patterns (`queue_metrics.*`) and
//! their matches in a state, key paths, decoding payloads of every schema Townlet
//! writes (schema 0.9.0 full states without `payload_type`; schema 0.9.7
//! `snapshot` and `diff` with `changes` and `removed`), reconstruction of the
//! state at each tick including streams whose first snapshot was dropped
//! (what no payload has said is reported as unknown), and precise errors
//! (file, line, byte offset, expected vs found); and the log lines Townlet
//! writes about its telemetry ([`log`]: `tick_health`, buffer drops,
//! plaintext transport).
//!
//! Does not own: what the states are compared with or alerted on (that is
//! `baseline-diff` and monitoring), transports (TCP/TLS), or output.
//!
//! ```no_run
//! let stream = telemetry::Stream::open("capture.jsonl".as_ref())?;
//! for state in stream {
//!     let state = state?;
//!     println!("tick {} from line {}", state.tick, state.line);
//! }
//! # Ok::<(), telemetry::ReadError>(())
//! ```
//!
//! Memory does not grow with the stream: a background thread parses batches
//! of about 256 KiB (a batch's lines in parallel when the readers running
//! leave a core idle) and at most a few batches are in flight. States share
//! unchanged values with the previous tick.
//!
//! A reader that needs only some fields says so ([`Options::keep`] with
//! [`Keep::Fields`]): lines are still checked in full, but values are built
//! only for those fields; other fields answer [`Known::NotDecoded`]. The rest
//! of each line is checked and fingerprinted by a scanner of our own that
//! converts no number, and serde_json builds the kept fields and decides
//! (and words the error of) every line the scanner does not accept. [`Options::schema`] lists the key
//! paths of each new shape as it first appears ([`TickState::new_shapes`]).

mod decode;
mod error;
pub mod log;
mod pattern;
mod payload;
mod schema;
mod state;
mod stream;

pub use error::{ErrorKind, ReadError, describe, python_float_literal};
pub use pattern::{FieldPattern, Keep, PatternError, pattern_reaches};
pub use payload::{
    ENVELOPE_KEYS, Payload, PayloadType, ShapePaths, SourceLine, parse_line, parse_line_keeping,
};
pub use state::{KeyWatch, Known, Presence, Reconstructor, Selection, TickState};
pub use stream::{Options, Stream, for_each_state};
