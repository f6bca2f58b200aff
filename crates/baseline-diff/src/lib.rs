//! `cargo xtask baseline-diff`: compares a telemetry capture and observation
//! tensors with the Phase 3 baselines, within tolerances.
//!
//! Owns: the comparisons (`runtime_variant`, schema key paths, tick-by-tick
//! fields with tick alignment, tensors from `.npz`/`.npy` element by element
//! and their pickled object arrays decoded safely,
//! JSON documents, other files byte for byte, directories matched by
//! relative path), the tolerance rule ([`tolerance`]), the report, its
//! formats (human, JSON, JUnit, Markdown) and its [`Outcome`]
//! ([`Report::outcome`]: what a gate step shows), capturing a candidate
//! with the configured commands, and blessing a candidate as the new
//! baseline.
//!
//! The entry point is [`run`] with [`Settings`]; the gate's baseline step
//! runs it with [`Settings::compare_with_configured`].
//!
//! Does not own: the command line (`xtask` resolves its flags into
//! [`Settings`]), reading telemetry streams (the `telemetry` crate), the
//! shape of the config (`rollout-config`), or the gate.
//!
//! [`Outcome`]: rollout_core::Outcome

pub mod baselines;
mod bisect;
mod bless;
mod command;
mod compare;
mod jsondoc;
pub mod npz;
mod outcome;
pub mod pickle;
mod render;
pub mod report;
mod settings;
pub mod stream_cmp;
pub mod tensor;
pub mod tolerance;

pub use bisect::{Attribution, BisectReport, Commit, Resolution, Skipped};
pub use bless::{BlessInfo, Manifest, bless};
pub use command::{capture_now, run};
pub use compare::{CompareSettings, compare_paths};
pub use render::render;
pub use report::{Report, Status};
pub use settings::{Action, Baseline, Bisect, Candidate, Settings, ToleranceFlags};
