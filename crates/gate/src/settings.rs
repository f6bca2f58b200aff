//! What a gate run was asked for, resolved once by the command line: the
//! selection, the pytest suite's arguments, concurrency, the debt ratchet's
//! mode and the extra report files. Every gate module reads these; none
//! sees the command line's arguments.

use std::path::PathBuf;

use anyhow::{Result, bail};
use rollout_core::Selection;

/// One gate run's settings (flags over `rollout.yaml` over defaults).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--steps`, `--skip` and `--suite` as given.
    pub selection: Selection,
    /// The pytest arguments of the selected suite (`gate.suites`), empty for
    /// the full suite: the `{suite}` placeholder.
    pub suite_args: Vec<String>,
    /// How many steps run at once (at least 1).
    pub jobs: usize,
    /// Stop at the first failing step.
    pub fail_fast: bool,
    /// Rewrite the mypy debt files from this run (only shrinks them).
    pub update_debt: bool,
    /// With `update_debt`: also record new mypy errors as debt.
    pub allow_debt_growth: bool,
    /// Do not create a missing Python environment; stop instead.
    pub no_provision: bool,
    /// Also write the result as JUnit XML here.
    pub junit: Option<PathBuf>,
    /// Also write a Markdown summary here.
    pub summary: Option<PathBuf>,
    /// Wait for another gate holding the output directory instead of
    /// exiting 2.
    pub wait: bool,
}

impl Settings {
    /// Whether the run is complete: every step selected, the full suite, no
    /// debt rewrite (only a complete run lets `tag` proceed).
    pub fn complete(&self) -> bool {
        self.selection.is_everything() && !self.update_debt
    }
}

/// The pytest arguments of the suite `name` (`gate.suites`), empty for the
/// full suite; an unknown name is an error listing the suites.
pub fn suite_args(
    config: &rollout_config::RolloutConfig,
    name: Option<&str>,
) -> Result<Vec<String>> {
    let Some(name) = name else {
        return Ok(Vec::new());
    };
    match config.gate.suites.get(name) {
        Some(args) => Ok(args.clone()),
        None => {
            let known: Vec<&str> = config.gate.suites.keys().map(String::as_str).collect();
            bail!(
                "no pytest suite '{name}' in gate.suites of `{}`\nhint: the suites are: {}",
                config.path.display(),
                known.join(", ")
            );
        }
    }
}
