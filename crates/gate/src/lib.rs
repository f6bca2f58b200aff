//! The M4 validation gate (`cargo xtask gate`).
//!
//! Owns: running the gate's steps and `target/rollout/gate-report.json`, the
//! record of what was gated that `cargo xtask tag` checks.
//!
//! Does not own: the steps' own logic (tls-smoke, baseline-diff, the merge
//! policy live in their crates and are called as libraries).

pub mod report;
