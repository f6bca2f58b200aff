//! Release tagging and stakeholder sign-off (`cargo xtask tag`,
//! `cargo xtask signoff`).
//!
//! Owns: sign-off records (git notes under `release.signoff_ref`), the choice
//! of the next free tag name, the release checks (clean tree, tag branch, gate
//! report for exactly HEAD, sign-offs, free name, full history), the annotated
//! tag's message with its rollback section, and creating and pushing the tag.
//!
//! Does not own: running the gate (it reads `target/rollout/gate-report.json`
//! through `plumbing::report`, the type the gate writes) or the release
//! settings' shape (`rollout-config`).

pub mod message;
pub mod naming;
pub mod signoff;
pub mod tag;
