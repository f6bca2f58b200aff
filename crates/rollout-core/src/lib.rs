//! The vocabulary every command of the rollout tooling shares, and nothing
//! of Townlet's or of the config's: the check contract ([`Check`],
//! [`Outcome`], [`Status`], [`Verdict`], [`Severity`], [`Selection`]),
//! output (formats, colour, status words, the one way to make data
//! printable), atomic writes and the rule for where a path on the command
//! line is anchored.
//!
//! Depends on no crate of this workspace; every other crate may depend on
//! it.

pub mod check;
pub mod fs;
pub mod kind;
pub mod out;
pub mod output;
pub mod path;

pub use check::{Check, Outcome, Place, Selection, Severity, Status, Verdict};
pub use kind::StepKind;
pub use out::Out;
pub use output::{
    Format, Report, Style, Verbosity, emit, printable, printable_capped, printable_lines,
    printable_message,
};
