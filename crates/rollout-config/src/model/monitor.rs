//! `monitor`: alert thresholds for tick-health logs and telemetry.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSection {
    /// Thresholds learnt from known-good runs, relative to the config file.
    #[serde(default = "default_thresholds_file")]
    pub thresholds_file: PathBuf,
    /// Dropped payloads per 100 ticks above which a warning is raised;
    /// absent: learnt, or any drop.
    #[serde(default)]
    pub drop_warning_per_100_ticks: Option<f64>,
    /// Dropped payloads per 100 ticks above which the alert is critical.
    #[serde(default)]
    pub drop_critical_per_100_ticks: Option<f64>,
    /// An exit queue longer than this is a spike.
    #[serde(default)]
    pub exit_queue_limit: Option<u64>,
    /// An exit queue above this many times its moving median is a spike.
    #[serde(default = "default_spike_factor")]
    pub exit_queue_spike_factor: f64,
}

fn default_thresholds_file() -> PathBuf {
    PathBuf::from("../baselines/{target}/monitor-thresholds.yaml")
}

fn default_spike_factor() -> f64 {
    3.0
}

impl Default for MonitorSection {
    fn default() -> Self {
        Self {
            thresholds_file: default_thresholds_file(),
            drop_warning_per_100_ticks: None,
            drop_critical_per_100_ticks: None,
            exit_queue_limit: None,
            exit_queue_spike_factor: default_spike_factor(),
        }
    }
}
