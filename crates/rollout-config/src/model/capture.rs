//! `capture`: how the rollout capture runs Townlet (the gate's `capture`
//! step, and `baseline-diff` without `--candidate`).

use std::collections::BTreeMap;

use super::Checker;
use crate::error::ConfigError;
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

/// The checks of `capture` serde cannot express.
pub(crate) fn validate(section: &CaptureSection, check: &Checker<'_>) -> Result<(), ConfigError> {
    let c = section;
    if !LOG_LEVELS.contains(&c.log_level.as_str()) {
        return Err(check.err(
            "capture.log_level".into(),
            format!(
                "expected one of {}, found '{}'",
                LOG_LEVELS.join(", "),
                c.log_level
            ),
        ));
    }
    if c.timeout.0.is_zero() {
        return Err(check.err(
            "capture.timeout".into(),
            "expected a positive duration, found 0".into(),
        ));
    }
    if let Some(sim) = &c.sim_config
        && sim.trim().is_empty()
    {
        return Err(check.err(
            "capture.sim_config".into(),
            "expected a Townlet config path relative to the Townlet root, found an empty string"
                .into(),
        ));
    }
    for key in c.set.keys() {
        if key.trim().is_empty() || key.split('.').any(str::is_empty) {
            return Err(check.err(
                format!("capture.set.{key}"),
                format!(
                    "expected a dotted key of the Townlet config such as 'telemetry.transport.buffer.max_buffer_bytes', found '{key}'"
                ),
            ));
        }
    }
    if !c.set.is_empty() && c.sim_config.is_none() {
        return Err(check
            .err(
                "capture.set".into(),
                "`set` changes `capture.sim_config`, which is not given".into(),
            )
            .hint(
                "add `sim_config: configs/examples/poc_hybrid.yaml` (relative to the Townlet root)",
            ));
    }
    for (i, line) in c.commands.iter().enumerate() {
        if c.sim_config.is_none() && line.argv.iter().any(|a| a.contains("{sim_config}")) {
            return Err(check.err(
                format!("capture.commands[{i}]"),
                "the command uses `{sim_config}`, but `capture.sim_config` is not given".into(),
            ));
        }
    }

    Ok(())
}
