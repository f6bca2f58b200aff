//! The M4 validation gate (`cargo xtask gate`).
//!
//! Owns: running the gate's steps from `configs/rollout.yaml` (commands,
//! built-in checks, terminal smokes) concurrently with their dependencies,
//! provisioning the target's Python environment, the mypy debt ratchet, the
//! merge policy, and writing `target/rollout/gate-report.json` (whose type,
//! the contract with `cargo xtask tag`, is `plumbing::report`), plus its
//! JUnit and Markdown forms, under the lock of `target/rollout` held for the
//! whole run (`plumbing::lock`), so that two gates never share one output
//! directory.
//!
//! Does not own: the built-in steps' own logic (`capture`, `tls-smoke`,
//! `baseline-diff` and `monitor` live in their crates and are called here as
//! libraries) or running processes (`plumbing`).

mod builtin;
mod debt;
mod merge_policy;
mod plan;
mod progress;
mod provenance;
mod provision;
mod pytest_junit;
mod render;

mod ruff;
mod run;
mod schedule;
mod settings;
mod step;
mod summary;
mod terminal;

pub use run::run;
pub use settings::{Settings, suite_args};
