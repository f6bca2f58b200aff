//! Release tagging and stakeholder sign-off (`cargo xtask tag`,
//! `cargo xtask signoff`).
//!
//! Owns: sign-off records (git notes under `release.signoff_ref`), the choice
//! of the next free tag name, the release checks (clean tree, tag branch, gate
//! report for exactly HEAD, sign-offs, free name, full history), the annotated
//! tag's message with its rollback section, and creating and pushing the tag.
//!
//! Each command is `run(ctx, Settings) -> Outcome` ([`tag::run`],
//! [`signoff::run`]): it prints its report on `ctx.out` and returns the
//! checks behind its verdict in the shared contract (`rollout_core`). The
//! tag's checks are named by [`tag::CheckId`], which also owns the flag
//! that overrides each.
//!
//! Does not own: the command line (clap lives in `xtask`), running the
//! gate (it reads `target/rollout/gate-report.json` through
//! `plumbing::report`, the type the gate writes) or the release settings'
//! shape (`rollout-config`).

mod message;
pub mod naming;
pub mod signoff;
pub mod tag;
