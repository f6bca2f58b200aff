//! Townlet's telemetry stream: reading JSONL payloads and reconstructing the
//! state at each tick.
//!
//! Owns: splitting a stream into lines (line numbers, byte offsets, a leading
//! byte order mark, blank lines), decoding payloads of every schema Townlet
//! writes (schema 0.9.0 full states without `payload_type`; schema 0.9.7
//! `snapshot` and `diff` with `changes` and `removed`), reconstruction of the
//! state at each tick including streams whose first snapshot was dropped
//! (what no payload has said is reported as unknown), and precise errors
//! (file, line, byte offset, expected vs found).
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
//! of about 1 MiB (lines of a batch in parallel) and at most a few batches
//! are in flight. States share unchanged values with the previous tick.

mod error;
mod payload;
mod state;
mod stream;

pub use error::{ErrorKind, ReadError, describe};
pub use payload::{ENVELOPE_KEYS, Payload, PayloadType, parse_line};
pub use state::{Known, Reconstructor, TickState};
pub use stream::{Stream, for_each_state};
