//! `cargo xtask baseline-diff`: its flags, and their resolution into
//! [`baseline_diff::Settings`]: flags over the config file (`baseline.*`);
//! a path on the command line is anchored at the working directory.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use baseline_diff::{
    Action, Baseline, Bisect, Candidate, CompareSettings, Settings, ToleranceFlags,
};
use rollout_config::Context;
use rollout_config::model::ToleranceRule;

/// Compare a capture with the blessed baselines.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    after_help = "Example:\n  cargo xtask baseline-diff --candidate ../capture --format markdown --output baseline-diff.md"
)]
pub(crate) struct Args {
    #[command(flatten)]
    pub printed: super::format::ReportOutput,
    /// Baseline file (.jsonl, .npz, .npy, .json) or directory [default: baseline.dir]
    #[arg(long, value_name = "PATH")]
    pub baseline: Option<PathBuf>,
    /// Candidate file or directory [default: run the capture (capture.commands) into target/rollout/capture]
    #[arg(long, value_name = "PATH")]
    pub candidate: Option<PathBuf>,
    /// Absolute tolerance for numbers [default: baseline.tolerance.abs]
    #[arg(long, value_name = "X")]
    pub abs_tol: Option<f64>,
    /// Relative tolerance for numbers [default: baseline.tolerance.rel]
    #[arg(long, value_name = "X")]
    pub rel_tol: Option<f64>,
    /// Tolerance rule: numpy (|c-b| <= abs + rel*|b|) or symmetric (approx's relative_eq) [default: baseline.rule]
    #[arg(long, value_enum, value_name = "RULE")]
    pub rule: Option<RuleArg>,
    /// Write the report to FILE (atomically) instead of stdout
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Make the candidate the new baseline (atomic; writes manifest.json)
    #[arg(long)]
    pub bless: bool,
    /// With --bless: bless a candidate that lost ticks
    #[arg(long, requires = "bless")]
    pub allow_lossy: bool,
    /// When another command uses the output or baselines directory, wait for it instead of exiting 2
    #[arg(long)]
    pub wait: bool,
    /// Find the first commit (first parents, good..bad) whose capture shows each difference
    #[arg(help_heading = "Bisect", long, conflicts_with_all = ["candidate", "bless"])]
    pub bisect: bool,
    /// With --bisect: the last commit without the differences [default: the commit the baseline was blessed from]
    #[arg(help_heading = "Bisect", long, value_name = "REV", requires = "bisect")]
    pub good: Option<String>,
    /// With --bisect: the commit whose capture differs [default: HEAD of the Townlet root]
    #[arg(help_heading = "Bisect", long, value_name = "REV", requires = "bisect")]
    pub bad: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RuleArg {
    Numpy,
    Symmetric,
}

impl Args {
    /// The settings the command runs with, paths anchored at the working
    /// directory.
    pub(crate) fn settings(self, ctx: &Context) -> Result<Settings> {
        self.settings_in(ctx, &std::env::current_dir()?)
    }

    /// The settings, paths anchored at `cwd`. A path named that is not
    /// there is an error before anything else is looked at (`--bless
    /// --baseline` names what is to be written); so is a tolerance that is
    /// not a finite number >= 0.
    fn settings_in(self, ctx: &Context, cwd: &Path) -> Result<Settings> {
        // Lexically normalised, as the command always did: the report shows
        // the path without `.` and `..`.
        let anchor = |p: &Path| {
            rollout_config::model::normalize(&rollout_core::path::on_command_line(cwd, p))
        };
        require_exists("--candidate", self.candidate.as_deref(), &anchor)?;
        if !self.bless {
            require_exists("--baseline", self.baseline.as_deref(), &anchor)?;
        }
        let cfg = &ctx.settings.config;
        let compare = CompareSettings::from_config(&cfg.baseline, &cfg.runtime_variant)
            .with_flags(ToleranceFlags {
                abs: self.abs_tol,
                rel: self.rel_tol,
                rule: self.rule.map(|r| match r {
                    RuleArg::Numpy => ToleranceRule::Numpy,
                    RuleArg::Symmetric => ToleranceRule::Symmetric,
                }),
            })?;
        Ok(Settings {
            compare,
            baseline: match &self.baseline {
                Some(p) => Baseline::Named(anchor(p)),
                None => Baseline::Configured(cfg.baseline.dir.clone()),
            },
            candidate: match &self.candidate {
                Some(p) => Candidate::Path(anchor(p)),
                None => Candidate::Capture,
            },
            action: if self.bisect {
                for (flag, rev) in [("`--good`", &self.good), ("`--bad`", &self.bad)] {
                    if let Some(rev) = rev {
                        plumbing::git::operand(rev, flag)?;
                    }
                }
                Action::Bisect(Bisect {
                    good: self.good.clone(),
                    bad: self.bad.clone(),
                })
            } else if self.bless {
                Action::Bless {
                    allow_lossy: self.allow_lossy,
                }
            } else {
                Action::Compare
            },
            output: self.output.as_deref().map(anchor),
            wait: self.wait,
        })
    }
}

/// An error when `flag` named a path that does not exist.
fn require_exists(
    flag: &str,
    given: Option<&Path>,
    anchor: &dyn Fn(&Path) -> PathBuf,
) -> Result<()> {
    let Some(given) = given else {
        return Ok(());
    };
    let path = anchor(given);
    if path.try_exists().unwrap_or(true) {
        return Ok(());
    }
    bail!(
        "`{}` (from {flag}) does not exist\nhint: pass `{flag} PATH` with an existing file or directory; a relative path is taken from the current directory",
        given.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_config::Overrides;
    use rollout_core::{Format, Verbosity};

    fn ctx(ws: &Path) -> Context {
        std::fs::create_dir_all(ws.join("configs")).expect("mkdir");
        std::fs::create_dir_all(ws.join("townlet")).expect("mkdir");
        std::fs::write(ws.join("Cargo.toml"), "[workspace]\n").expect("write");
        std::fs::write(
            ws.join("configs/rollout.yaml"),
            "target:\n  root: ../townlet\nbaseline:\n  dir: ../baselines\n  tolerance: {abs: 0.5, rel: 0.0}\n",
        )
        .expect("write");
        Context {
            settings: rollout_config::Settings::resolve(ws, ws, &Overrides::default(), &|_| None)
                .expect("settings"),
            format: Format::Human,
            verbosity: Verbosity::Quiet,
            out: rollout_core::Out::memory().0,
        }
    }

    #[test]
    fn flags_resolve_into_settings_with_paths_anchored_at_the_working_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = dir.path();
        let ctx = ctx(ws);
        std::fs::write(ws.join("c.jsonl"), "").expect("write");
        let args = Args {
            candidate: Some("./sub/../c.jsonl".into()),
            output: Some("r.md".into()),
            rel_tol: Some(0.25),
            rule: Some(RuleArg::Symmetric),
            ..Args::default()
        };
        let s = args.settings_in(&ctx, ws).expect("settings");
        assert_eq!(s.candidate, Candidate::Path(ws.join("c.jsonl")));
        assert_eq!(s.output, Some(ws.join("r.md")));
        assert_eq!(s.baseline, Baseline::Configured(ws.join("baselines")));
        assert_eq!(s.action, Action::Compare);
        assert_eq!(
            (
                s.compare.tolerance.abs,
                s.compare.tolerance.rel,
                s.compare.rule
            ),
            (0.5, 0.25, ToleranceRule::Symmetric)
        );

        let bless = Args {
            bless: true,
            allow_lossy: true,
            baseline: Some("new-baseline".into()),
            ..Args::default()
        };
        let s = bless
            .settings_in(&ctx, ws)
            .expect("a bless may name a new baseline");
        assert_eq!(s.candidate, Candidate::Capture);
        assert_eq!(s.baseline, Baseline::Named(ws.join("new-baseline")));
        assert_eq!(s.action, Action::Bless { allow_lossy: true });

        let missing = Args {
            baseline: Some("nowhere".into()),
            ..Args::default()
        };
        let e = missing.settings_in(&ctx, ws).expect_err("missing baseline");
        assert!(
            e.to_string()
                .starts_with("`nowhere` (from --baseline) does not exist\nhint: "),
            "{e}"
        );
    }
}
