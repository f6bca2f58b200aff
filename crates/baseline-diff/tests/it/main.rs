//! Integration tests of baseline-diff: fixtures written by the tests in
//! Townlet's formats (JSONL telemetry, numpy `.npz`), compared through the
//! public API and the command's `run`.

mod cli;
mod dirs;
mod escaping;
mod fixtures;
mod pickle;
mod telemetry;
mod tensors;
