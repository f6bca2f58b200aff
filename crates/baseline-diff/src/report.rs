//! The comparison report: what was compared, how, and what differs. Serialised
//! as the `--format json` output (fields documented in docs/baseline-diff.md;
//! new fields may be added, none renamed).

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

/// Version of the report's shape.
pub const SCHEMA: u32 = 1;

/// The statuses and the verdict are the workspace's shared vocabulary.
pub use rollout_core::{Status, Verdict};

/// What kind of file was compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    Telemetry,
    Npz,
    Npy,
    Json,
    /// Any other file: compared byte for byte.
    Bytes,
}

/// One difference, located exactly.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Mismatch {
    /// Where: `tick 42`, `[3, 0, 7]`, a JSON path.
    pub at: String,
    /// The field path inside the state or document, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Tick, for telemetry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tick: Option<u64>,
    /// Element index, for tensors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<Vec<usize>>,
    /// `null` when absent on that side; non-finite numbers as strings
    /// (`"NaN"`, `"inf"`, `"-inf"`).
    pub baseline: Value,
    pub candidate: Value,
    /// Line of the candidate payload (telemetry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_line: Option<u64>,
}

/// Where a maximum difference occurs.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Extreme {
    pub value: f64,
    pub index: Vec<usize>,
    pub baseline: Value,
    pub candidate: Value,
}

/// Per-array statistics.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TensorStats {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub elements: u64,
    pub mismatches: u64,
    pub mismatch_percent: f64,
    /// Largest |c - b| over elements that are finite on both sides.
    pub max_abs_diff: Option<Extreme>,
    /// Largest relative difference in the rule's terms.
    pub max_rel_diff: Option<Extreme>,
    pub nan_mismatches: u64,
    pub inf_mismatches: u64,
    /// The tolerance applied to this array (after overrides).
    pub abs_tol: f64,
    pub rel_tol: f64,
}

/// Tick alignment of two telemetry streams.
#[derive(Debug, Clone, PartialEq, Serialize, Default, schemars::JsonSchema)]
pub struct TickAlignment {
    pub baseline_ticks: u64,
    pub candidate_ticks: u64,
    /// Ticks present in both and compared.
    pub aligned: u64,
    pub baseline_only: u64,
    pub candidate_only: u64,
    /// Ranges (inclusive) of ticks only the baseline has; the first 100.
    pub baseline_only_ranges: Vec<(u64, u64)>,
    pub candidate_only_ranges: Vec<(u64, u64)>,
    /// Aligned ticks where a field could not be compared because one side's
    /// state was not known (a stream began with diffs or lost payloads).
    pub unknown: u64,
    /// Ticks of the baseline the candidate lacks (the same as
    /// `baseline_only`), judged against `max_missing`.
    pub missing: u64,
    /// Ranges (inclusive) of the missing ticks; the first 100.
    pub missing_ranges: Vec<(u64, u64)>,
    /// How many may be missing before the ticks check fails
    /// (`baseline.max_missing_ticks`).
    pub max_missing: u64,
    /// Field values compared.
    pub values_compared: u64,
}

/// One check, such as `runtime_variant`, `schema`, `queue metrics` or one array.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Check {
    pub name: String,
    pub status: Status,
    /// One line for a person.
    pub summary: String,
    /// More lines, for failures and warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// The first mismatches, located exactly.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<Mismatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensor: Option<TensorStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticks: Option<TickAlignment>,
}

impl Check {
    pub fn new(name: impl Into<String>, status: Status, summary: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            summary: summary.into(),
            details: Vec::new(),
            mismatches: Vec::new(),
            tensor: None,
            ticks: None,
        }
    }
}

/// The comparison of one file (or of a file present on one side only).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FileReport {
    /// Relative path inside the compared directories, or the file name.
    pub path: String,
    pub kind: FileKind,
    pub status: Status,
    pub checks: Vec<Check>,
    /// Time spent comparing this file.
    pub duration_ms: u64,
}

impl FileReport {
    pub fn new(path: String, kind: FileKind, checks: Vec<Check>) -> Self {
        let status = checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Pass);
        // A file whose every check was skipped is skipped; otherwise skips
        // do not lower a pass.
        let status = if status == Status::Skip && checks.iter().any(|c| c.status == Status::Pass) {
            Status::Pass
        } else {
            status
        };
        Self {
            path,
            kind,
            status,
            checks,
            duration_ms: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, schemars::JsonSchema)]
pub struct Counts {
    pub pass: u64,
    pub warn: u64,
    pub fail: u64,
    pub skip: u64,
}

/// Everything `baseline-diff` found.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub schema: u32,
    pub baseline: PathBuf,
    /// How the baseline relates to the checkout (`blessed at 69e30cd205
    /// (HEAD)`), when it was chosen among baselines blessed per commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_relation: Option<String>,
    pub candidate: PathBuf,
    /// The tolerance rule in words, as applied by default.
    pub rule: String,
    pub runtime_variant: String,
    pub verdict: Verdict,
    /// Checks by status, over all files.
    pub counts: Counts,
    pub files: Vec<FileReport>,
    /// Time spent comparing, in all.
    pub duration_ms: u64,
}

impl Report {
    pub fn new(
        baseline: PathBuf,
        candidate: PathBuf,
        rule: String,
        runtime_variant: String,
        files: Vec<FileReport>,
    ) -> Self {
        let mut counts = Counts::default();
        for c in files.iter().flat_map(|f| &f.checks) {
            match c.status {
                Status::Pass => counts.pass += 1,
                Status::Warn => counts.warn += 1,
                Status::Fail => counts.fail += 1,
                Status::Skip => counts.skip += 1,
            }
        }
        let verdict = if counts.fail > 0 {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        Self {
            schema: SCHEMA,
            baseline,
            baseline_relation: None,
            candidate,
            rule,
            runtime_variant,
            verdict,
            counts,
            files,
            duration_ms: 0,
        }
    }
}

/// A number as a JSON value: finite numbers as numbers, others as strings.
pub fn num(v: f64) -> Value {
    if v.is_nan() {
        Value::from("NaN")
    } else if v == f64::INFINITY {
        Value::from("inf")
    } else if v == f64::NEG_INFINITY {
        Value::from("-inf")
    } else {
        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

/// Ranges of consecutive ticks, capped.
#[derive(Debug, Default)]
pub struct Ranges {
    pub ranges: Vec<(u64, u64)>,
    pub count: u64,
}

pub const MAX_RANGES: usize = 100;

impl Ranges {
    pub fn push(&mut self, t: u64) {
        self.count += 1;
        if let Some(last) = self.ranges.last_mut()
            && last.1 + 1 == t
        {
            last.1 = t;
            return;
        }
        if self.ranges.len() < MAX_RANGES {
            self.ranges.push((t, t));
        }
    }

    /// Adds the ticks `first..=last`, which follow every tick added so far.
    pub fn push_range(&mut self, first: u64, last: u64) {
        if last < first {
            return;
        }
        self.count += last - first + 1;
        if let Some(prev) = self.ranges.last_mut()
            && prev.1 + 1 == first
        {
            prev.1 = last;
            return;
        }
        if self.ranges.len() < MAX_RANGES {
            self.ranges.push((first, last));
        }
    }

    /// `3-5, 9, 12-40` (with `...` when capped).
    pub fn text(&self) -> String {
        let mut parts: Vec<String> = self
            .ranges
            .iter()
            .take(12)
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        let shown: u64 = self.ranges.iter().take(12).map(|(a, b)| b - a + 1).sum();
        if shown < self.count {
            parts.push("...".into());
        }
        parts.join(", ")
    }
}
