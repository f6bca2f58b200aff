//! `baseline`: where the Phase 3 baselines live and how captures are compared.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::types::CommandLine;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineSection {
    /// Directory of blessed baselines, relative to the config file.
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// Commands that capture a candidate, run from the Townlet root;
    /// `{capture_dir}` is where they must write.
    #[serde(default)]
    pub capture: Vec<CommandLine>,
    /// Default tolerance for numbers.
    #[serde(default)]
    pub tolerance: Tolerance,
    /// Tolerances for telemetry field paths (`queue_metrics.*`) and for tensor
    /// array names (`map`), overriding the default.
    #[serde(default)]
    pub overrides: BTreeMap<String, Tolerance>,
    /// Telemetry fields compared tick by tick; `*` matches one path segment.
    #[serde(default = "default_fields")]
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Absolute tolerance.
    #[serde(default = "default_abs")]
    pub abs: f64,
    /// Relative tolerance.
    #[serde(default = "default_rel")]
    pub rel: f64,
}

fn default_abs() -> f64 {
    1e-6
}
fn default_rel() -> f64 {
    1e-7
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            abs: default_abs(),
            rel: default_rel(),
        }
    }
}

fn default_dir() -> PathBuf {
    PathBuf::from("../baselines/{target}")
}

fn default_fields() -> Vec<String> {
    [
        "queue_metrics.*",
        "conflict.queues.*",
        "employment.pending_count",
        "employment.exits_today",
        "embedding_metrics.*",
    ]
    .map(String::from)
    .to_vec()
}

impl Default for BaselineSection {
    fn default() -> Self {
        Self {
            dir: default_dir(),
            capture: Vec::new(),
            tolerance: Tolerance::default(),
            overrides: BTreeMap::new(),
            fields: default_fields(),
        }
    }
}
