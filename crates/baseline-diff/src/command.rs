//! The command: find the baseline, capture when asked, compare, print,
//! bless. Everything here is I/O around [`compare_paths`] and [`bless()`].

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use plumbing::lock::OutputLock;
use rollout_config::Context;
use rollout_core::{Check, Format, Outcome, Status, Style, Verbosity, Verdict, printable};

use crate::baselines;
use crate::bless::{BlessInfo, bless};
use crate::compare::{self, compare_paths};
use crate::render::{self, render};
use crate::report::Report;
use crate::settings::{Action, Baseline, Candidate, Settings};

/// Runs the command: find the baseline, capture when needed, compare,
/// print (on the context's output, or into `settings.output`), bless. A
/// capture holds the lock of the rollout output directory
/// (`target/rollout`, as the gate does) until the comparison is done, a
/// bless the lock of the directory it writes the baseline into; another
/// command holding either is an error, unless `settings.wait`. The locks
/// are taken here, not in [`capture_now`] or [`bless()`], which the gate
/// may call while it holds its own.
///
/// The outcome is the report's ([`Report::outcome`]); a bless passes with
/// one check that says what was blessed.
pub fn run(ctx: &Context, settings: Settings) -> Result<Outcome> {
    if let Action::Bisect(b) = &settings.action {
        return crate::bisect::run(ctx, &settings, b);
    }
    if settings.candidate == Candidate::Capture {
        // It will capture there: a root that is not Townlet is refused
        // before a baseline is looked for (or offered to be blessed).
        ctx.settings.townlet_checkout()?;
    }
    let root = &ctx.settings.root.value;
    // The baseline is found before any time is spent on a capture.
    let chosen = match settings.action {
        Action::Bless { .. } => None,
        Action::Compare | Action::Bisect(_) => {
            Some(baselines::choose(settings.baseline.path(), root)?)
        }
    };
    let (candidate, record, _capture_lock) = match &settings.candidate {
        Candidate::Path(p) => (p.clone(), None, None),
        Candidate::Capture => {
            let lock =
                OutputLock::acquire(&ctx.settings.rollout_dir(), "baseline-diff", settings.wait)?;
            let record = capture_now(ctx)?;
            (ctx.settings.capture_dir(), Some(record), Some(lock))
        }
    };
    if let Action::Bless { .. } = settings.action {
        return bless_candidate(ctx, &settings, &candidate, record);
    }
    let chosen = chosen.context("no baseline chosen")?;
    let started = Instant::now();
    let mut report = compare_paths(&settings.compare, &chosen.path, &candidate)?;
    report.baseline_relation = (!chosen.relation.is_empty()).then(|| chosen.relation.clone());
    if ctx.verbosity == Verbosity::Verbose {
        eprintln!("compared in {:.2?}", started.elapsed());
    }
    emit(ctx, &report, settings.output.as_deref())?;
    Ok(report.outcome())
}

/// `--bless`: the candidate becomes the baseline, unless it lost ticks
/// (then only with `--allow-lossy`).
fn bless_candidate(
    ctx: &Context,
    settings: &Settings,
    candidate: &Path,
    record: Option<capture::Record>,
) -> Result<Outcome> {
    let root = &ctx.settings.root.value;
    let s = &settings.compare;
    let allow_lossy = matches!(settings.action, Action::Bless { allow_lossy: true });
    let record = record.or_else(|| last_capture_record(ctx, candidate));
    let (streams, lossless) = loss_of(candidate, record.as_ref(), allow_lossy)?;
    let (commit, dirty) = match &record {
        Some(r) => (r.townlet_commit.clone(), r.townlet_dirty),
        None => capture::commit_of(root),
    };
    let baseline = match &settings.baseline {
        Baseline::Named(p) => p.clone(),
        Baseline::Configured(dir) => baselines::bless_target(dir, commit.as_deref()),
    };
    // The bless writes its temporary and swaps the baseline in the
    // directory that holds it: that is what it locks.
    let parent = baseline
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let _bless_lock = OutputLock::acquire(parent, "baseline-diff --bless", settings.wait)?;
    if baseline.exists() {
        let report = compare_paths(s, &baseline, candidate).with_context(|| {
            format!(
                "not blessed: cannot compare with the old baseline `{}`\nhint: fix the input, or move the old baseline away to bless from scratch",
                baseline.display()
            )
        })?;
        emit(ctx, &report, settings.output.as_deref())?;
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
    let summary = format!(
        "blessed `{}` as the baseline `{}` ({} files, {} written){}",
        candidate.display(),
        baseline.display(),
        m.files.len(),
        compare::MANIFEST,
        if lossless {
            ""
        } else {
            " although it is lossy (--allow-lossy)"
        }
    );
    if ctx.verbosity != Verbosity::Quiet {
        eprintln!("{}", printable(&summary));
    }
    Ok(
        Outcome::new(Verdict::Pass, summary.clone()).with_checks(vec![Check::new(
            "bless",
            Status::Pass,
            summary,
        )]),
    )
}

/// The record of the tooling's last capture, when `candidate` is that
/// capture.
fn last_capture_record(ctx: &Context, candidate: &Path) -> Option<capture::Record> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let file = capture::record_path(&ctx.settings);
    (same(candidate, &ctx.settings.capture_dir()) && file.is_file())
        .then(|| capture::Record::load(&file).ok())
        .flatten()
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

/// Writes the report to the context's output, or to the file `output` with
/// the verdict line on stderr.
fn emit(ctx: &Context, report: &Report, output: Option<&Path>) -> Result<()> {
    write_report(
        ctx,
        output,
        &|style| render(report, ctx.format, style),
        &|| render::verdict_line(report, Style::stderr()),
    )
}

/// The one way a baseline-diff report is written: `text(style)` on the
/// context's output (coloured only for a person), or into the file `output`
/// uncoloured with `headline()` on stderr (unless `-q`).
pub(crate) fn write_report(
    ctx: &Context,
    output: Option<&Path>,
    text: &dyn Fn(Style) -> Result<String>,
    headline: &dyn Fn() -> String,
) -> Result<()> {
    match output {
        Some(path) => {
            rollout_core::fs::write_atomic(path, text(Style::new(false))?.as_bytes())?;
            if ctx.verbosity != Verbosity::Quiet {
                eprintln!(
                    "{} (report written to `{}`)",
                    headline(),
                    printable(&path.display().to_string())
                );
            }
        }
        None => {
            use std::io::Write;
            let style = if ctx.format == Format::Human {
                ctx.out.style()
            } else {
                Style::new(false)
            };
            let text = text(style)?;
            let mut out = ctx.out.lock();
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
