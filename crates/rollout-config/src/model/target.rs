//! `target`: the Townlet checkout the rollout runs against.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Checker;
use crate::error::ConfigError;
use serde::{Deserialize, Serialize};

use super::types::CommandLine;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// The Townlet checkout. Relative to the config file. Overridden by
    /// `--root` and `TOWNLET_ROOT`.
    #[serde(default)]
    pub root: Option<PathBuf>,
    /// The interpreter of the target's environment; relative to the Townlet
    /// root when it contains a `/`, otherwise looked up on `PATH`.
    #[serde(default = "default_python")]
    pub python: String,
    /// Commands that create the target's Python environment when `python` is
    /// missing, run in order from the Townlet root.
    #[serde(default)]
    pub provision: Vec<CommandLine>,
    /// Provisioning commands of a named target (the `[project] name` of its
    /// pyproject, as `{target}`), used instead of `provision`: Townlet
    /// needs extras and packages the sample does not.
    #[serde(default)]
    pub provision_by_target: BTreeMap<String, Vec<CommandLine>>,
    /// What a Townlet checkout holds besides a `pyproject.toml` naming the
    /// project (relative to the root): a root without them is refused
    /// before anything is created or installed there.
    #[serde(default = "default_requires")]
    pub requires: Vec<String>,
}

impl TargetSection {
    /// The provisioning commands for the target named `target`.
    pub fn provision_for(&self, target: &str) -> &[CommandLine] {
        self.provision_by_target
            .get(target)
            .map_or(&self.provision, Vec::as_slice)
    }
}

fn default_requires() -> Vec<String> {
    vec!["scripts/run_simulation.py".to_string()]
}

fn default_python() -> String {
    ".venv/bin/python".to_string()
}

impl Default for TargetSection {
    fn default() -> Self {
        Self {
            root: None,
            python: default_python(),
            provision: Vec::new(),
            provision_by_target: BTreeMap::new(),
            requires: default_requires(),
        }
    }
}

/// The checks of `target` serde cannot express.
pub(crate) fn validate(section: &TargetSection, check: &Checker<'_>) -> Result<(), ConfigError> {
    if section.python.trim().is_empty() {
        return Err(check.err(
            "target.python".into(),
            "expected an interpreter path, found an empty string".into(),
        ));
    }

    Ok(())
}
