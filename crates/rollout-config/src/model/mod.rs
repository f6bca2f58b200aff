//! The rollout definition, `configs/rollout.yaml`: its shape (one module per
//! section), loading, and the checks serde cannot express.

mod baseline;
mod capture;
mod gate;
mod logql;
mod monitor;
mod release;
mod target;
mod tls;
pub mod types;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use baseline::{AddedPaths, BaselineSection, NanPolicy, Tolerance, ToleranceRule};
pub use capture::{CaptureSection, LOG_LEVELS};
pub use gate::{GateSection, Policy, Step, StepKind};
pub use monitor::{MIN_TEXTFILE_INTERVAL, MonitorSection, Severity, parse_textfile_interval};
pub use release::{ReleaseSection, SignoffTeam};
pub use target::TargetSection;
pub use tls::TlsSmokeSection;
pub use types::{CommandLine, MAX_SPAN, Span, parse_span};

use crate::error::ConfigError;
use crate::locate::Locator;

/// `configs/rollout.yaml` as written, before paths are resolved.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutFile {
    /// The `runtime_variant` every Townlet payload must report.
    #[serde(default = "default_variant")]
    pub runtime_variant: String,
    #[serde(default)]
    pub target: TargetSection,
    #[serde(default)]
    pub release: ReleaseSection,
    #[serde(default)]
    pub gate: GateSection,
    #[serde(default)]
    pub tls_smoke: TlsSmokeSection,
    #[serde(default)]
    pub capture: CaptureSection,
    #[serde(default)]
    pub baseline: BaselineSection,
    #[serde(default)]
    pub monitor: MonitorSection,
}

fn default_variant() -> String {
    "facade".into()
}

/// A loaded and validated rollout definition. Paths written relative to the
/// config file are absolute here.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes (lower-case hex): which definition a
    /// report was made with.
    pub sha256: String,
    #[serde(flatten)]
    pub file: RolloutFile,
}

impl std::ops::Deref for RolloutConfig {
    type Target = RolloutFile;
    fn deref(&self) -> &RolloutFile {
        &self.file
    }
}

impl RolloutConfig {
    /// Reads and validates the rollout definition at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = input::read_to_string(path, input::Kind::CONFIG).map_err(|error| {
            ConfigError::new(path, format!("the rollout config {}", error.reason()))
                .hint("pass `--config PATH`, or run from a checkout of the rollout tooling")
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text` as the contents of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut file: RolloutFile = crate::yaml::from_str(text, path)?;
        validate(&file, &Locator::new(text), path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let absolute = |p: &Path| normalize(&dir.join(p));
        file.target.root = file.target.root.as_deref().map(absolute);
        file.baseline.dir = absolute(&file.baseline.dir);
        file.monitor.thresholds_file = absolute(&file.monitor.thresholds_file);
        for step in &mut file.gate.steps {
            step.debt = step.debt.as_deref().map(absolute);
            if step.timeout.is_none() && step.kind == StepKind::Capture {
                step.timeout = Some(file.capture.timeout);
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            sha256: rollout_core::fs::sha256_hex(text.as_bytes()),
            file,
        })
    }
}

impl RolloutConfig {
    /// Fills the `{target}` placeholder in the paths that hold per-target
    /// data (baselines, thresholds, debt files).
    pub fn fill_target(&mut self, target: &str) {
        let fill = |p: &Path| PathBuf::from(p.to_string_lossy().replace("{target}", target));
        self.file.baseline.dir = fill(&self.file.baseline.dir);
        self.file.monitor.thresholds_file = fill(&self.file.monitor.thresholds_file);
        for step in &mut self.file.gate.steps {
            step.debt = step.debt.as_deref().map(fill);
        }
    }
}

/// Removes `.` and `..` components lexically, so that printed paths are
/// readable (`/w/examples/sample`, not `/w/configs/../examples/sample`).
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Finds the place of a key in the file for an error message.
pub(crate) struct Checker<'a> {
    loc: &'a Locator,
    path: &'a Path,
}

impl Checker<'_> {
    /// An error about `key`, located at its value (or the nearest key).
    pub(crate) fn err(&self, key: String, msg: String) -> ConfigError {
        ConfigError::new(self.path, msg)
            .at(self.loc.value(&key).or_else(|| self.loc.nearest(&key)))
            .key(key)
    }

    /// An error about the name of the key at `path` (not its value), located
    /// at the key and shown as `shown`.
    pub(crate) fn key_err(&self, path: &str, shown: String, msg: String) -> ConfigError {
        ConfigError::new(self.path, msg)
            .at(self.loc.key(path).or_else(|| self.loc.nearest(path)))
            .key(shown)
    }
}

/// The checks serde cannot express, one section at a time.
fn validate(f: &RolloutFile, loc: &Locator, path: &Path) -> Result<(), ConfigError> {
    let check = Checker { loc, path };
    if f.runtime_variant.trim().is_empty() {
        return Err(check.err(
            "runtime_variant".into(),
            "expected a variant name such as 'facade', found an empty string".into(),
        ));
    }
    target::validate(&f.target, &check)?;
    release::validate(&f.release, &check)?;
    gate::validate(&f.gate, &f.capture, &check)?;
    capture::validate(&f.capture, &check)?;
    baseline::validate(&f.baseline, &check)?;
    monitor::validate(&f.monitor, &check)
}

/// A conservative check of git's ref-name rules (`git check-ref-format`).
pub fn valid_ref_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['/', '-', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && name != "@"
        && !name
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
        // Each part is a file name under `.git/refs` (NAME_MAX): git's
        // check-ref-format accepts longer ones that `git tag` cannot create.
        && name.split('/').all(|part| part.len() <= MAX_REF_PART_BYTES)
}

/// The longest part of a ref name between slashes, in bytes.
const MAX_REF_PART_BYTES: usize = 255;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names() {
        assert!(valid_ref_name("release/m4-rollout"));
        assert!(valid_ref_name("v0.9.0-m4"));
        assert!(!valid_ref_name("v0.9 m4"));
        assert!(!valid_ref_name("a..b"));
        assert!(!valid_ref_name("x.lock"));
        assert!(valid_ref_name(&format!("v/{}", "x".repeat(255))));
        assert!(!valid_ref_name(&format!("v/{}", "x".repeat(256))));
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("/w/configs/../examples/./s")),
            PathBuf::from("/w/examples/s")
        );
    }
}
