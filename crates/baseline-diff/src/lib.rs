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

pub mod baselines;
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
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use plumbing::lock::OutputLock;
use rollout_config::Context;
use rollout_config::model::ToleranceRule;
use rollout_core::{Format, Style, Verbosity, Verdict, printable};
use xshell::Shell;

pub use bless::{BlessInfo, Manifest, bless};
pub use compare::{CompareSettings, compare_paths};
pub use render::render;
pub use report::{Report, Status};

/// Compare a capture with the blessed baselines.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    after_help = "Example:\n  cargo xtask baseline-diff --candidate ../capture --format markdown --output baseline-diff.md"
)]
pub struct Args {
    /// How to print the result on stdout
    #[arg(
        help_heading = "Output",
        long,
        value_enum,
        default_value_t,
        value_name = "FORMAT"
    )]
    pub format: rollout_config::ReportFormat,
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

/// Runs the command: find the baseline, capture when needed, compare,
/// print, bless. A capture holds the lock of the rollout output directory
/// (`target/rollout`, as the gate does) until the comparison is done, a
/// bless the lock of the directory it writes the baseline into; another
/// command holding either is exit 2, unless `--wait`. The locks are taken
/// here, not in [`capture_now`] or [`bless()`], which the gate may call
/// while it holds its own.
pub fn run(sh: &Shell, ctx: &Context, args: Args) -> Result<Verdict> {
    let cwd = sh.current_dir();
    let from_flag = |p: &Path| rollout_config::model::normalize(&cwd.join(p));
    // A path named on the command line that is not there is said before
    // anything runs; `--bless --baseline` names what is to be written.
    require_exists("--candidate", args.candidate.as_deref(), &from_flag)?;
    if !args.bless {
        require_exists("--baseline", args.baseline.as_deref(), &from_flag)?;
    }
    let s = settings(ctx, &args)?;
    if args.candidate.is_none() {
        // It will capture there: a root that is not Townlet is refused
        // before a baseline is looked for (or offered to be blessed).
        ctx.settings.townlet_checkout()?;
    }
    let root = ctx.settings.root.value.clone();
    let dir = ctx.settings.config.baseline.dir.clone();
    // The baseline is found before any time is spent on a capture.
    let chosen = if args.bless {
        None
    } else {
        let from = args
            .baseline
            .as_deref()
            .map(&from_flag)
            .unwrap_or(dir.clone());
        Some(baselines::choose(&from, &root)?)
    };
    let (candidate, record, _capture_lock) = match &args.candidate {
        Some(p) => (from_flag(p), None, None),
        None => {
            let lock =
                OutputLock::acquire(&ctx.settings.rollout_dir(), "baseline-diff", args.wait)?;
            let record = capture_now(ctx)?;
            (ctx.settings.capture_dir(), Some(record), Some(lock))
        }
    };
    if args.bless {
        return bless_candidate(ctx, &args, &s, &candidate, record, &from_flag);
    }
    let chosen = chosen.context("no baseline chosen")?;
    let started = Instant::now();
    let mut report = compare_paths(&s, &chosen.path, &candidate)?;
    report.baseline_relation = (!chosen.relation.is_empty()).then(|| chosen.relation.clone());
    if ctx.verbosity == Verbosity::Verbose {
        eprintln!("compared in {:.2?}", started.elapsed());
    }
    emit(
        ctx,
        &report,
        args.output.as_deref().map(from_flag).as_deref(),
    )?;
    Ok(Verdict::from_ok(report.verdict == Verdict::Pass))
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

/// `--bless`: the candidate becomes the baseline, unless it lost ticks
/// (then only with `--allow-lossy`).
fn bless_candidate(
    ctx: &Context,
    args: &Args,
    s: &CompareSettings,
    candidate: &Path,
    record: Option<capture::Record>,
    from_flag: &dyn Fn(&Path) -> PathBuf,
) -> Result<Verdict> {
    let root = &ctx.settings.root.value;
    // A candidate that is the tooling's last capture carries its record.
    let record = record.or_else(|| {
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        let file = capture::record_path(&ctx.settings);
        (same(candidate, &ctx.settings.capture_dir()) && file.is_file())
            .then(|| capture::Record::load(&file).ok())
            .flatten()
    });
    let (streams, lossless) = loss_of(candidate, record.as_ref(), args.allow_lossy)?;
    let (commit, dirty) = match &record {
        Some(r) => (r.townlet_commit.clone(), r.townlet_dirty),
        None => capture::commit_of(root),
    };
    let baseline = match &args.baseline {
        Some(p) => from_flag(p),
        None => baselines::bless_target(&ctx.settings.config.baseline.dir, commit.as_deref()),
    };
    // The bless writes its temporary and swaps the baseline in the
    // directory that holds it: that is what it locks.
    let parent = baseline
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let _bless_lock = OutputLock::acquire(parent, "baseline-diff --bless", args.wait)?;
    if baseline.exists() {
        let report = compare_paths(s, &baseline, candidate).with_context(|| {
            format!(
                "not blessed: cannot compare with the old baseline `{}`\nhint: fix the input, or move the old baseline away to bless from scratch",
                baseline.display()
            )
        })?;
        emit(
            ctx,
            &report,
            args.output.as_deref().map(from_flag).as_deref(),
        )?;
    } else {
        // Nothing to compare with: still check that the candidate reads.
        compare_paths(s, candidate, candidate)
            .context("not blessed: the candidate is not valid")?;
    }
    let info = BlessInfo {
        capture_commands: record
            .as_ref()
            .map(|r| r.commands.iter().map(|c| c.written.clone()).collect())
            .unwrap_or_default(),
        townlet_commit: commit,
        townlet_dirty: dirty,
        capture: record,
        streams,
        lossless: Some(lossless),
        allowed_lossy: !lossless,
        anchors: vec![
            (root.clone(), "{root}"),
            (ctx.settings.target_dir.clone(), "{target_dir}"),
            (ctx.settings.workspace.clone(), "{workspace}"),
        ],
    };
    let m = bless(candidate, &baseline, &info)?;
    if ctx.verbosity != Verbosity::Quiet {
        eprintln!(
            "blessed `{}` as the baseline `{}` ({} files, {} written){}",
            printable(&candidate.display().to_string()),
            printable(&baseline.display().to_string()),
            m.files.len(),
            compare::MANIFEST,
            if lossless {
                ""
            } else {
                " although it is lossy (--allow-lossy)"
            }
        );
    }
    Ok(Verdict::Pass)
}

/// The candidate's streams and whether none lost a tick; an error when it
/// did and `allow_lossy` is not set.
fn loss_of(
    candidate: &Path,
    record: Option<&capture::Record>,
    allow_lossy: bool,
) -> Result<(Vec<capture::StreamCount>, bool)> {
    let streams = match record {
        Some(r) => r.streams.clone(),
        None => capture::streams_in(candidate)?,
    };
    let lossless = match record {
        Some(r) => r.is_lossless(),
        None => streams.iter().all(|s| s.lost == 0 && s.error.is_none()),
    };
    if !lossless && !allow_lossy {
        let lost: Vec<String> = match record {
            Some(r) => vec![r.summary()],
            None => streams
                .iter()
                .filter(|s| s.lost > 0 || s.error.is_some())
                .map(capture::StreamCount::summary)
                .collect(),
        };
        bail!(
            "not blessed: the candidate `{}` is lossy: {}\nhint: capture again without loss (raise `telemetry.transport.buffer.max_buffer_bytes` in `capture.set`), or pass --allow-lossy to bless it as it is",
            candidate.display(),
            lost.join("; ")
        );
    }
    Ok((streams, lossless))
}

/// Prints the report on stdout, or writes it to `output` and prints the
/// verdict line on stderr.
fn emit(ctx: &Context, report: &Report, output: Option<&Path>) -> Result<()> {
    match output {
        Some(path) => {
            let text = render(report, ctx.format, Style::new(false))?;
            rollout_core::fs::write_atomic(path, text.as_bytes())?;
            if ctx.verbosity != Verbosity::Quiet {
                eprintln!(
                    "{} (report written to `{}`)",
                    render::verdict_line(report, Style::stderr()),
                    printable(&path.display().to_string())
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

/// Runs the rollout capture (`capture.commands`) into
/// `target/rollout/capture/`, with its progress and summary on stderr;
/// Ctrl-C stops it. A capture whose command failed could not make a
/// candidate: an error.
pub fn capture_now(ctx: &Context) -> Result<capture::Record> {
    let quiet = ctx.verbosity == Verbosity::Quiet;
    let cancel = plumbing::process::interrupt_flag()?;
    let log = ctx.settings.rollout_dir().join("capture.log");
    let progress = |line: &str| {
        if !quiet {
            eprintln!("{}", printable(line));
        }
    };
    let record = capture::run(
        &ctx.settings,
        &capture::Run {
            log: &log,
            timeout: ctx.settings.config.capture.timeout.0,
            env: &[],
            cancel: &cancel,
            progress: &progress,
        },
    )?;
    match &record.ended {
        capture::Ended::Done => {
            if !quiet {
                eprintln!("capture: {}", printable(&record.summary()));
            }
            Ok(record)
        }
        capture::Ended::Failed { command, .. } => bail!(
            "capture command `{command}` failed; its output is in `{}`\nhint: run it by hand in `{}` to see why",
            log.display(),
            record.root.display()
        ),
        capture::Ended::TimedOut { command } => bail!(
            "capture command `{command}` ran past capture.timeout ({}) and was stopped; its output is in `{}`",
            ctx.settings.config.capture.timeout,
            log.display()
        ),
        capture::Ended::Interrupted { command } => {
            bail!("interrupted while running capture command `{command}`")
        }
    }
}
