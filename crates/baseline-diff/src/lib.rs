//! `cargo xtask baseline-diff`: compares a telemetry capture and observation
//! tensors with the Phase 3 baselines, within tolerances.
//!
//! Owns: the comparisons (`runtime_variant`, schema key paths, tick-by-tick
//! fields with tick alignment, tensors from `.npz`/`.npy` element by element
//! and their pickled object arrays decoded safely,
//! JSON documents, other files byte for byte, directories matched by
//! relative path), the tolerance rule ([`tolerance`]), the report and its
//! formats (human, JSON, JUnit, Markdown), capturing a candidate with the
//! configured commands, and blessing a candidate as the new baseline.
//!
//! Does not own: reading telemetry streams (the `telemetry` crate), the shape
//! of the config (`rollout-config`), or the gate (which calls
//! [`compare_paths`] as a library and keeps the [`Report`]).

pub mod bless;
pub mod compare;
pub mod jsondoc;
pub mod npz;
pub mod pickle;
pub mod render;
pub mod report;
pub mod stream_cmp;
pub mod tensor;
pub mod tolerance;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use rollout_config::model::ToleranceRule;
use rollout_config::{Context, Format, Outcome, Style, Verbosity};
use xshell::{Shell, cmd};

pub use bless::{BlessInfo, Manifest, bless};
pub use compare::{CompareSettings, compare_paths};
pub use render::render;
pub use report::{Report, Status, Verdict};

/// Compare a capture with the blessed baselines.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    after_help = "Example:\n  cargo xtask baseline-diff --baseline ../baselines/phase3 --candidate target/rollout/capture --format markdown --output target/rollout/baseline-diff.md"
)]
pub struct Args {
    /// Baseline file (.jsonl, .npz, .npy, .json) or directory [default: baseline.dir]
    #[arg(long, value_name = "PATH")]
    pub baseline: Option<PathBuf>,
    /// Candidate file or directory [default: run baseline.capture into target/rollout/capture]
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
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Make the candidate the new baseline (atomic; writes manifest.json)
    #[arg(long)]
    pub bless: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuleArg {
    Numpy,
    Symmetric,
}

/// The comparison settings: config, then flags.
pub fn settings(ctx: &Context, args: &Args) -> Result<CompareSettings> {
    let cfg = &ctx.settings.config;
    let mut s = CompareSettings::from_config(&cfg.baseline, &cfg.runtime_variant);
    for (flag, v, slot) in [
        ("--abs-tol", args.abs_tol, &mut s.tolerance.abs),
        ("--rel-tol", args.rel_tol, &mut s.tolerance.rel),
    ] {
        if let Some(v) = v {
            if !(v.is_finite() && v >= 0.0) {
                bail!("{flag} expects a finite number >= 0, found {v}");
            }
            *slot = v;
        }
    }
    if let Some(r) = args.rule {
        s.rule = match r {
            RuleArg::Numpy => ToleranceRule::Numpy,
            RuleArg::Symmetric => ToleranceRule::Symmetric,
        };
    }
    Ok(s)
}

/// Runs the command: capture when needed, compare, print, bless.
pub fn run(sh: &Shell, ctx: &Context, args: Args) -> Result<Outcome> {
    let s = settings(ctx, &args)?;
    let cwd = sh.current_dir();
    let from_flag = |p: &Path| rollout_config::model::normalize(&cwd.join(p));
    let baseline = match &args.baseline {
        Some(p) => from_flag(p),
        None => ctx.settings.config.baseline.dir.clone(),
    };
    let (candidate, commands) = match &args.candidate {
        Some(p) => (from_flag(p), Vec::new()),
        None => capture(sh, ctx)?,
    };
    let started = Instant::now();
    if args.bless {
        let report = if baseline.exists() {
            compare_paths(&s, &baseline, &candidate).with_context(|| {
                format!(
                    "not blessed: cannot compare with the old baseline `{}`\nhint: fix the input, or move the old baseline away to bless from scratch",
                    baseline.display()
                )
            })?
        } else {
            // Nothing to compare with: still check that the candidate reads.
            compare_paths(&s, &candidate, &candidate)
                .context("not blessed: the candidate is not valid")?
        };
        if baseline.exists() {
            emit(
                ctx,
                &report,
                args.output.as_deref().map(from_flag).as_deref(),
            )?;
        }
        let info = BlessInfo {
            capture_commands: commands,
            townlet_commit: townlet_commit(sh, &ctx.settings.root.value),
        };
        let m = bless(&candidate, &baseline, &info)?;
        if ctx.verbosity != Verbosity::Quiet {
            eprintln!(
                "blessed `{}` as the baseline `{}` ({} files, {} written)",
                candidate.display(),
                baseline.display(),
                m.files.len(),
                compare::MANIFEST
            );
        }
        return Ok(Outcome::Pass);
    }
    if !baseline.exists() {
        bail!(
            "baseline `{}` does not exist\nhint: pass `--baseline PATH`, or capture and bless one with `cargo xtask baseline-diff --bless`",
            baseline.display()
        );
    }
    let report = compare_paths(&s, &baseline, &candidate)?;
    if ctx.verbosity == Verbosity::Verbose {
        eprintln!("compared in {:.2?}", started.elapsed());
    }
    emit(
        ctx,
        &report,
        args.output.as_deref().map(from_flag).as_deref(),
    )?;
    Ok(Outcome::from_ok(report.verdict == Verdict::Pass))
}

/// Prints the report on stdout, or writes it to `output` and prints the
/// verdict line on stderr.
fn emit(ctx: &Context, report: &Report, output: Option<&Path>) -> Result<()> {
    match output {
        Some(path) => {
            let text = render(report, ctx.format, Style::new(false))?;
            rollout_config::fs::write_atomic(path, text.as_bytes())?;
            if ctx.verbosity != Verbosity::Quiet {
                eprintln!(
                    "{} (report written to `{}`)",
                    render::verdict_line(report, Style::stderr()),
                    path.display()
                );
            }
        }
        None => {
            use std::io::Write;
            let style = if ctx.format == Format::Human {
                Style::stdout()
            } else {
                Style::new(false)
            };
            let text = render(report, ctx.format, style)?;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Runs the configured capture commands from the Townlet root into
/// `target/rollout/capture/`; returns that directory and the commands run.
pub fn capture(sh: &Shell, ctx: &Context) -> Result<(PathBuf, Vec<String>)> {
    let cfg = &ctx.settings.config.baseline;
    if cfg.capture.is_empty() {
        bail!(
            "no `--candidate` given and no capture command configured\nhint: pass `--candidate PATH`, or set `baseline.capture` in `{}`",
            ctx.settings.config.path.display()
        );
    }
    let root = ctx.settings.checkout()?.to_path_buf();
    let dir = ctx.settings.capture_dir();
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot clear the capture directory `{}`", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let vars = |name: &str| ctx.settings.placeholder(name);
    let quiet = ctx.verbosity == Verbosity::Quiet;
    let mut ran = Vec::new();
    let n = cfg.capture.len();
    for (i, line) in cfg.capture.iter().enumerate() {
        let argv = line
            .expand(&vars)
            .map_err(|e| anyhow::anyhow!("baseline.capture[{i}]: {e}"))?;
        let Some((program, rest)) = argv.split_first() else {
            bail!("baseline.capture[{i}] is empty");
        };
        let shown = argv.join(" ");
        if !quiet {
            eprintln!(
                "capture [{}/{n}]: running `{shown}` in `{}`",
                i + 1,
                root.display()
            );
        }
        let started = Instant::now();
        let _dir = sh.push_dir(&root);
        let mut command: std::process::Command = cmd!(sh, "{program} {rest...}").into();
        // The child's stdout would mix with our report: send it to stderr,
        // where the capture's own progress output belongs.
        command.stdout(Stdio::from(std::io::stderr()));
        if quiet {
            command.stderr(Stdio::null());
            command.stdout(Stdio::null());
        }
        let status = command.status().with_context(|| {
            format!("cannot run capture command `{shown}`\nhint: check `target.python` and `baseline.capture` in the rollout config")
        })?;
        if !status.success() {
            bail!(
                "capture command `{shown}` failed ({status}) after {:.1}s\nhint: run it by hand in `{}` to see why",
                started.elapsed().as_secs_f64(),
                root.display()
            );
        }
        if !quiet {
            eprintln!(
                "capture [{}/{n}]: done in {:.1}s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
        ran.push(shown);
    }
    Ok((dir, ran))
}

fn townlet_commit(sh: &Shell, root: &Path) -> Option<String> {
    if !root.join(".git").exists() {
        return None;
    }
    cmd!(sh, "git -C {root} rev-parse HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
