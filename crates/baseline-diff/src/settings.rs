//! What a run of `baseline-diff` is told, every value resolved: which
//! baseline, which candidate, compare or bless, where the report goes, and
//! the comparison's tolerances. The command line (`xtask`) and the gate
//! make one; nothing here knows a flag parser.

use std::path::PathBuf;

use anyhow::{Result, bail};
use rollout_config::RolloutConfig;
use rollout_config::model::ToleranceRule;

use crate::compare::CompareSettings;

/// Everything [`crate::run`] needs besides the context. Paths are absolute.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How numbers, fields and ticks are compared.
    pub compare: CompareSettings,
    /// Where the baseline is (or, for a bless, goes).
    pub baseline: Baseline,
    /// What is compared with it.
    pub candidate: Candidate,
    /// Compare, or make the candidate the new baseline.
    pub action: Action,
    /// Write the report to this file (atomically) and the verdict line on
    /// stderr, instead of the report to the context's output.
    pub output: Option<PathBuf>,
    /// When another command uses the output or baselines directory, wait
    /// for it instead of failing.
    pub wait: bool,
}

/// Where the baseline is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baseline {
    /// The configured directory (`baseline.dir`): the baseline chosen in it
    /// for the root; a bless writes the entry of the capture's commit.
    Configured(PathBuf),
    /// A file or directory named by the user (`--baseline`): compared with
    /// as it is (or chosen in, when it holds baselines per commit); a bless
    /// writes it.
    Named(PathBuf),
}

impl Baseline {
    pub fn path(&self) -> &std::path::Path {
        match self {
            Baseline::Configured(p) | Baseline::Named(p) => p,
        }
    }
}

/// What is compared with the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    /// Run the capture (`capture.commands`) into the rollout capture
    /// directory first, and compare that.
    Capture,
    /// A file or directory there already: nothing is captured.
    Path(PathBuf),
}

/// Compare, bless, or bisect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Action {
    #[default]
    Compare,
    /// Make the candidate the new baseline (atomically, with its
    /// `manifest.json`); a candidate that lost ticks only with
    /// `allow_lossy`.
    Bless { allow_lossy: bool },
    /// Find the commit that introduced each difference of the bad
    /// commit's capture (`--bisect`).
    Bisect(Bisect),
}

/// `--bisect`: the commits searched between. Revisions as the user gave
/// them; each is refused when git could read it as an option.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bisect {
    /// The last commit known to match the baseline (`--good`); default:
    /// the commit the baseline was blessed from (its manifest's
    /// `townlet_commit`).
    pub good: Option<String>,
    /// The commit whose capture differs (`--bad`); default: HEAD of the
    /// Townlet root.
    pub bad: Option<String>,
}

impl Settings {
    /// What the gate's baseline step runs: `candidate` compared with the
    /// baseline chosen for the root in `baseline.dir`, with the configured
    /// tolerances; nothing captured or blessed, the report on the context's
    /// output.
    pub fn compare_with_configured(config: &RolloutConfig, candidate: PathBuf) -> Self {
        Self {
            compare: CompareSettings::from_config(&config.baseline, &config.runtime_variant),
            baseline: Baseline::Configured(config.baseline.dir.clone()),
            candidate: Candidate::Path(candidate),
            action: Action::Compare,
            output: None,
            wait: false,
        }
    }
}

/// Tolerances given on the command line, each over the config's.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ToleranceFlags {
    /// `--abs-tol`.
    pub abs: Option<f64>,
    /// `--rel-tol`.
    pub rel: Option<f64>,
    /// `--rule`.
    pub rule: Option<ToleranceRule>,
}

impl CompareSettings {
    /// These settings with the command line's tolerances over them; an
    /// error names the flag of a tolerance that is negative or not finite.
    pub fn with_flags(mut self, flags: ToleranceFlags) -> Result<Self> {
        for (flag, v, slot) in [
            ("--abs-tol", flags.abs, &mut self.tolerance.abs),
            ("--rel-tol", flags.rel, &mut self.tolerance.rel),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v >= 0.0) {
                    bail!("{flag} expects a finite number >= 0, found {v}");
                }
                *slot = v;
            }
        }
        if let Some(rule) = flags.rule {
            self.rule = rule;
        }
        Ok(self)
    }
}
