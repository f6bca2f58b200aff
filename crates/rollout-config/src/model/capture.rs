//! `capture`: how the rollout capture runs Townlet (the gate's `capture`
//! step, and `baseline-diff` without `--candidate`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::{CommandLine, Span};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSection {
    /// The Townlet simulation config the capture runs, relative to the
    /// Townlet root. With `set` applied it is written under
    /// `target/rollout/` and fills `{sim_config}` in `commands`.
    #[serde(default)]
    pub sim_config: Option<String>,
    /// Dotted keys of `sim_config` and the values they get for the capture
    /// (`telemetry.transport.buffer.max_buffer_bytes: 16777216`), applied by
    /// the target's own Python and PyYAML; the target's file is not changed.
    #[serde(default)]
    pub set: BTreeMap<String, serde_json::Value>,
    /// The level of Townlet's Python logging during the capture (`DEBUG`,
    /// `INFO`, `WARNING`, `ERROR`); `INFO` writes the `tick_health` lines.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Longest the commands may run together (`baseline-diff`; a gate step
    /// of kind `capture` has this as its default timeout).
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// Commands run in order from the Townlet root, without a shell; they
    /// must write the candidate into `{capture_dir}` (emptied first).
    /// Placeholders: those of every command line and `{sim_config}`.
    #[serde(default)]
    pub commands: Vec<CommandLine>,
}

/// The log levels of Python's `logging`, by name.
pub const LOG_LEVELS: [&str; 5] = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

fn default_log_level() -> String {
    "INFO".into()
}

fn default_timeout() -> Span {
    Span(std::time::Duration::from_secs(20 * 60))
}

impl Default for CaptureSection {
    fn default() -> Self {
        Self {
            sim_config: None,
            set: BTreeMap::new(),
            log_level: default_log_level(),
            timeout: default_timeout(),
            commands: Vec::new(),
        }
    }
}
