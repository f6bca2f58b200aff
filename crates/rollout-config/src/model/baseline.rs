//! `baseline`: where the Phase 3 baselines live and how captures are compared.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Checker;
use crate::error::ConfigError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineSection {
    /// Directory of blessed baselines, relative to the config file.
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
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
    /// How a number is judged close to its baseline value.
    #[serde(default)]
    pub rule: ToleranceRule,
    /// Whether NaN equals NaN.
    #[serde(default)]
    pub nan: NanPolicy,
    /// What key paths present only in the candidate's telemetry (or JSON
    /// documents) do to the verdict.
    #[serde(default)]
    pub added_paths: AddedPaths,
    /// How many mismatches each check lists in full.
    #[serde(default = "default_examples")]
    pub examples: usize,
    /// How many ticks of the baseline a candidate may lack (payloads lost
    /// under telemetry backpressure) before the ticks check fails.
    #[serde(default)]
    pub max_missing_ticks: u64,
    /// Fields of JSON documents and telemetry payloads that are not
    /// compared (values that change from run to run, such as timestamps);
    /// `*` matches one path segment and a path covers what is below it.
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// `baseline.rule`: the closeness test for numbers, with `b` the baseline
/// value and `c` the candidate value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToleranceRule {
    /// `|c - b| <= abs + rel * |b|`: numpy's `isclose`/`assert_allclose`,
    /// asymmetric (relative to the baseline).
    #[default]
    Numpy,
    /// `|c - b| <= max(abs, rel * max(|b|, |c|))`: approx's `relative_eq`,
    /// symmetric.
    Symmetric,
}

/// `baseline.nan`: how NaN compares. Infinities always compare exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NanPolicy {
    /// NaN equals NaN; NaN against a number is a mismatch.
    #[default]
    Equal,
    /// Every NaN is a mismatch, even against NaN (numpy's default).
    Unequal,
}

/// `baseline.added_paths`: the status of paths only the candidate has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddedPaths {
    /// Pass, list them.
    Ignore,
    /// A warning (the verdict still passes).
    #[default]
    Warn,
    /// A failure.
    Fail,
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

fn default_examples() -> usize {
    5
}

fn default_dir() -> PathBuf {
    PathBuf::from("../baselines/{target}/phase3")
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
            tolerance: Tolerance::default(),
            overrides: BTreeMap::new(),
            fields: default_fields(),
            rule: ToleranceRule::default(),
            nan: NanPolicy::default(),
            added_paths: AddedPaths::default(),
            examples: default_examples(),
            max_missing_ticks: 0,
            ignore: Vec::new(),
        }
    }
}

/// The checks of `baseline` serde cannot express: tolerances and field
/// patterns.
pub(crate) fn validate(section: &BaselineSection, check: &Checker<'_>) -> Result<(), ConfigError> {
    let check_tol = |key: String, t: &Tolerance| -> Result<(), ConfigError> {
        for (name, v) in [("abs", t.abs), ("rel", t.rel)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(check.err(
                    format!("{key}.{name}"),
                    format!("expected a finite number >= 0, found {v}"),
                ));
            }
        }
        Ok(())
    };
    check_tol("baseline.tolerance".into(), &section.tolerance)?;
    for (name, t) in &section.overrides {
        if name.trim().is_empty() || name.split('.').any(str::is_empty) {
            return Err(check.err(
                format!("baseline.overrides.{name}"),
                format!(
                    "expected a field path such as 'queue_metrics.*' or an array name, found '{name}'"
                ),
            ));
        }
        check_tol(format!("baseline.overrides.{name}"), t)?;
    }
    for (i, field) in section.ignore.iter().enumerate() {
        if field.trim().is_empty() || field.split('.').any(str::is_empty) {
            return Err(check.err(
                format!("baseline.ignore[{i}]"),
                format!(
                    "expected a dotted field path such as '*.capture_timestamp', found '{field}'"
                ),
            ));
        }
    }
    for (i, field) in section.fields.iter().enumerate() {
        if field.trim().is_empty() || field.split('.').any(str::is_empty) {
            return Err(check.err(
                format!("baseline.fields[{i}]"),
                format!("expected a dotted field path such as 'queue_metrics.*', found '{field}'"),
            ));
        }
    }

    Ok(())
}
