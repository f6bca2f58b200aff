//! `monitor learn`: drop thresholds from known-good runs, written to the
//! thresholds file that checks read.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use rollout_config::Context;
use rollout_core::{Outcome, Verdict};
use serde::{Deserialize, Serialize};

use crate::input::Input;
use crate::rules::{DropThresholds, Kind, RuleSettings, fmt_num};
use crate::settings::LearnSettings;

/// The thresholds file (`baselines/monitor-thresholds.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Learnt {
    pub schema: u32,
    pub drop_warning_per_100_ticks: f64,
    pub drop_critical_per_100_ticks: f64,
    pub margin: f64,
    pub critical_factor: f64,
    /// The runs learnt from.
    pub runs: Vec<LearntRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearntRun {
    pub path: String,
    pub ticks: u64,
    pub dropped: u64,
    pub peak_drop_per_100_ticks: f64,
}

/// Reads a thresholds file.
pub fn load(path: &Path) -> Result<Learnt> {
    let text = input::read_to_string(path, input::Kind::CONFIG)
        .map_err(|error| anyhow::anyhow!("thresholds {error}"))?;
    let learnt: Learnt = rollout_config::parse_yaml(&text, path)?;
    if !(learnt.drop_warning_per_100_ticks >= 0.0
        && learnt.drop_critical_per_100_ticks >= learnt.drop_warning_per_100_ticks)
    {
        bail!(
            "`{}`: expected 0 <= drop_warning_per_100_ticks <= drop_critical_per_100_ticks, found {} and {}\nhint: run `cargo xtask monitor learn --from PATHS` again",
            path.display(),
            learnt.drop_warning_per_100_ticks,
            learnt.drop_critical_per_100_ticks
        );
    }
    Ok(learnt)
}

/// The thresholds from the peaks of known-good runs: warning = peak x
/// (1 + margin); critical = the larger of warning x factor and warning + 1.
pub fn thresholds(runs: Vec<LearntRun>, margin: f64, critical_factor: f64) -> Learnt {
    let peak = runs
        .iter()
        .map(|r| r.peak_drop_per_100_ticks)
        .fold(0.0_f64, f64::max);
    let warning = peak * (1.0 + margin);
    let critical = (warning * critical_factor).max(warning + 1.0);
    Learnt {
        schema: 1,
        drop_warning_per_100_ticks: round2(warning),
        drop_critical_per_100_ticks: round2(critical),
        margin,
        critical_factor,
        runs,
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Learns the thresholds and writes them, holding the lock of the output's
/// directory for the whole run (exit 2 when another command holds it,
/// unless `wait`); says so on the context's output.
pub fn run(ctx: &Context, settings: LearnSettings) -> Result<Outcome> {
    let path = &settings.output;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let _lock = plumbing::lock::OutputLock::acquire(dir, "monitor learn", settings.wait)?;
    // Learning measures raw drop rates: no thresholds apply.
    let rules = RuleSettings {
        drops: DropThresholds::none(),
        ..settings.rules.clone()
    };
    let inputs: Vec<Input> = expand(&settings.from)?
        .into_iter()
        .map(|path| Input {
            env: crate::input::DEFAULT_ENV.into(),
            path,
            kind: None,
        })
        .collect();
    let (evals, summaries) = crate::read_inputs(&rules, &inputs, false)?;
    if let Some(problem) = summaries.iter().find_map(|s| s.problem.as_deref()) {
        anyhow::bail!("{problem}");
    }
    let mut runs = Vec::new();
    for (e, s) in evals.iter().zip(&summaries) {
        if e.kind() != Kind::Log {
            bail!(
                "`{}` is a telemetry stream: learn reads the cumulative `dropped` of tick_health logs\nhint: pass the run's log (Python logging at INFO)",
                s.path
            );
        }
        let metrics = e.metrics();
        runs.push(LearntRun {
            path: s.path.clone(),
            ticks: s.ticks,
            dropped: metrics.dropped_total.unwrap_or(0),
            peak_drop_per_100_ticks: e.peak_rate(),
        });
    }
    let learnt = thresholds(runs, settings.margin, settings.critical_factor);
    let mut text = String::from(
        "# Telemetry drop thresholds learnt from known-good runs by\n# `cargo xtask monitor learn`; read by `cargo xtask monitor`.\n",
    );
    text.push_str(&rollout_config::to_yaml(&learnt)?);
    rollout_core::fs::write_atomic(path, text.as_bytes())?;
    let summary = format!(
        "learnt from {} runs: warning above {}, critical above {} dropped payloads per 100 ticks -> `{}`",
        learnt.runs.len(),
        fmt_num(learnt.drop_warning_per_100_ticks),
        fmt_num(learnt.drop_critical_per_100_ticks),
        rollout_core::printable(&path.display().to_string())
    );
    writeln!(ctx.out.lock(), "{summary}").context("cannot write the result")?;
    Ok(Outcome::new(Verdict::Pass, summary))
}

/// Files as given; a directory stands for its `*.log` files, sorted.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let mut logs: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("cannot list `{}`", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "log"))
            .collect();
        if logs.is_empty() {
            bail!(
                "`{}` holds no `*.log` files\nhint: pass the logs of known-good runs, or a directory of them",
                p.display()
            );
        }
        logs.sort();
        out.extend(logs);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_and_factor() {
        let run = |peak| LearntRun {
            path: "a".into(),
            ticks: 1,
            dropped: 0,
            peak_drop_per_100_ticks: peak,
        };
        let l = thresholds(vec![run(4.0), run(10.0)], 0.5, 4.0);
        assert_eq!(l.drop_warning_per_100_ticks, 15.0);
        assert_eq!(l.drop_critical_per_100_ticks, 60.0);
        let l = thresholds(vec![run(0.0)], 0.5, 4.0);
        assert_eq!(l.drop_warning_per_100_ticks, 0.0);
        assert_eq!(l.drop_critical_per_100_ticks, 1.0);
    }
}
