//! The one configuration model of the rollout tooling.
//!
//! Owns: the shape of `configs/rollout.yaml` (every section, key and default),
//! the reader of Townlet's own simulation configs (`telemetry.transport` only,
//! validated as Townlet validates it), resolution of settings from flags, the
//! environment, the file and defaults, diagnostics that point at file, line,
//! column and key, and each command's [`Context`]. The vocabulary every
//! command shares (check contract, output, colour, atomic writes, the path
//! rule) is `rollout-core`'s.
//!
//! Does not own: what commands do with the settings. No other crate parses
//! YAML; they receive typed values from here.

pub mod error;
mod locate;
pub mod model;
pub mod resolve;
mod screen;
pub mod show;
pub mod townlet;
mod yaml;

pub use error::ConfigError;
pub use model::{RolloutConfig, RolloutFile};
pub use resolve::{Context, Overrides, Resolved, Settings, Source};
pub use townlet::{Transport, load_transport};

/// Parses a small YAML document of the tooling's own (such as a thresholds or
/// manifest file) into `T`, with the same diagnostics as the main config.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &std::path::Path,
) -> Result<T, ConfigError> {
    yaml::from_str(text, file)
}

/// Serialises `value` as YAML (for files the tooling writes, such as learnt
/// thresholds).
pub fn to_yaml<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_yaml_ng::to_string(value)?)
}
