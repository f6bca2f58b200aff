//! The gate's run: the driver that plans, provisions,
//! schedules and reports, and the report's outputs.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use plumbing::lock::OutputLock;
use plumbing::report::{GateReport, GateVerdict, SCHEMA, StepReport, StepStatus, report_path};
use rollout_config::Context;
use rollout_core::{Check, Outcome, Verdict};
use xshell::Shell;

use crate::plan::{Planned, Vars, plan};
use crate::progress::Progress;
use crate::provenance::{git_state, tool_versions};
use crate::provision::{Provisioning, needs_env, provision};
use crate::render;
use crate::schedule::{Results, Scheduler};
use crate::settings::Settings;
use crate::step::StepResult;

/// File GitHub Actions renders as the job summary.
const ENV_GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";

/// Runs the gate and prints its result on `ctx.out`: pass when every
/// required step passed, fail when one failed; an error (exit 2) when the
/// gate could not run or was interrupted, or another gate holds the output
/// directory's lock (`target/rollout/.lock`; `wait` waits for it instead).
/// The outcome has one check per configured step.
pub fn run(ctx: &Context, settings: Settings) -> Result<Outcome> {
    let started = Instant::now();
    let started_at = jiff::Timestamp::now().to_string();
    let vars = Vars::new(ctx.settings.placeholders(), settings.suite_args.clone());
    let root = ctx.settings.checkout()?.to_path_buf();
    let plan = plan(&ctx.settings.config.gate.steps, &settings.selection, &vars)?;
    if plan.run.is_empty() {
        bail!(
            "no gate steps to run\nhint: add steps under gate.steps in `{}` or change --steps/--skip",
            ctx.settings.config.path.display()
        );
    }
    let interrupted = plumbing::process::interrupt_flag()?;
    // The whole run owns the output directory (step logs, the capture, the
    // report); the libraries it calls take no lock of their own.
    let _lock = OutputLock::acquire_or_cancel(
        &ctx.settings.rollout_dir(),
        "gate",
        settings.wait,
        &interrupted,
    )?;
    let progress = Progress::new(ctx.verbosity);
    if needs_env(&plan.run, &vars) {
        let env = Provisioning {
            root: &root,
            python: &vars.path("python"),
            no_provision: settings.no_provision,
            cancel: &interrupted,
            progress: &progress,
        };
        provision(ctx, &env)?;
    }
    let log_dir = ctx.settings.gate_log_dir();
    prepare_dirs(&plan.run, &log_dir, &ctx.settings.capture_dir())?;
    let sh = Shell::new()?;
    let git = git_state(&sh, &root);
    let versions = tool_versions(&plan.run, &vars);

    let settings = Arc::new(settings);
    let results = Scheduler {
        ctx: Arc::new(ctx.clone()),
        settings: Arc::clone(&settings),
        run: &plan.run,
        log_dir: &log_dir,
        interrupted: Arc::clone(&interrupted),
        progress: &progress,
    }
    .run();
    let was_interrupted = interrupted.load(Ordering::Relaxed) && !settings.fail_fast;

    let could_not_run = could_not_run(&plan, &results);
    let (steps, details) = step_reports(&plan, results, &settings, &log_dir, &ctx.settings.config);
    let verdict = if was_interrupted {
        GateVerdict::Interrupted
    } else if steps.iter().any(|s| s.status.fails_the_gate()) {
        GateVerdict::Fail
    } else {
        GateVerdict::Pass
    };
    let report = GateReport {
        schema: SCHEMA,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        root: root.clone(),
        git,
        verdict: verdict.clone(),
        steps,
        tools: versions.collect(Duration::from_secs(3)),
        complete: settings.complete(),
        selection: settings.selection.clone(),
        config: Some(plumbing::report::ConfigUsed {
            path: ctx.settings.config.path.clone(),
            sha256: ctx.settings.config.sha256.clone(),
        }),
    };
    report.write(&report_path(&ctx.settings.rollout_dir()))?;
    emit(ctx, &settings, &report, &details)?;
    outcome(ctx, &report, &details, &could_not_run)
}

/// Whether this runs as a GitHub Actions step (`GITHUB_ACTIONS=true`):
/// workflow commands (annotations, groups) are then written to stderr.
pub(crate) fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// The required steps that could not be started or judged, each as
/// `id (why)`.
fn could_not_run(plan: &crate::plan::Plan, results: &Results) -> Vec<String> {
    plan.run
        .iter()
        .zip(results)
        .filter_map(|(p, r)| match r {
            Some((r, _)) if r.could_not_run && !p.step.allow_failure => {
                let why = r
                    .summary
                    .strip_prefix("could not run: ")
                    .unwrap_or(&r.summary);
                Some(format!("{} ({why})", p.step.id))
            }
            _ => None,
        })
        .collect()
}

/// The gate's outcome: an error (exit 2) when it was interrupted or a
/// required step could not run, else its verdict with one check per step.
fn outcome(
    ctx: &Context,
    report: &GateReport,
    details: &[(String, Vec<String>)],
    could_not_run: &[String],
) -> Result<Outcome> {
    if !could_not_run.is_empty() && report.verdict != GateVerdict::Interrupted {
        bail!(
            "the gate could not run {}: {}\nhint: install the missing program or fix its path in `gate.steps` of `{}`, or make the log directory `{}` writable; the report `{}` has every step's status",
            if could_not_run.len() == 1 {
                "a step"
            } else {
                "some steps"
            },
            could_not_run.join("; "),
            ctx.settings.config.path.display(),
            ctx.settings.gate_log_dir().display(),
            report_path(&ctx.settings.rollout_dir()).display()
        );
    }
    let verdict = match report.verdict {
        GateVerdict::Pass => Verdict::Pass,
        GateVerdict::Fail => Verdict::Fail,
        GateVerdict::Interrupted => bail!(
            "the gate was interrupted; the report marks it so: `{}`",
            report_path(&ctx.settings.rollout_dir()).display()
        ),
    };
    let checks = report
        .steps
        .iter()
        .map(|step| {
            let lines = details
                .iter()
                .find(|(id, _)| *id == step.id)
                .map(|(_, lines)| lines.clone())
                .unwrap_or_default();
            Check::new(step.id.clone(), step.status.status(), step.summary.clone())
                .with_details(lines)
                .with_places(step.diagnostics.clone())
        })
        .collect();
    Ok(Outcome {
        verdict,
        summary: render::verdict_line(report),
        checks,
    })
}

/// Creates the log directory, and empties the capture directory when a
/// step writes into it.
fn prepare_dirs(run: &[Planned], log_dir: &Path, capture_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(log_dir)
        .with_context(|| format!("cannot create `{}`", log_dir.display()))?;
    let capture_used = run.iter().any(|p| {
        p.argv
            .iter()
            .any(|a| a.contains(&capture_dir.display().to_string()))
    });
    if !capture_used {
        return Ok(());
    }
    if capture_dir.exists() {
        std::fs::remove_dir_all(capture_dir).with_context(|| {
            format!(
                "cannot clear the capture directory `{}`",
                capture_dir.display()
            )
        })?;
    }
    std::fs::create_dir_all(capture_dir)
        .with_context(|| format!("cannot create `{}`", capture_dir.display()))
}

/// One report entry per configured step (those that ran, did not start,
/// or were left out), and the log lines shown under failures.
fn step_reports(
    plan: &crate::plan::Plan,
    results: Results,
    settings: &Settings,
    log_dir: &Path,
    cfg: &rollout_config::RolloutConfig,
) -> (Vec<StepReport>, Vec<(String, Vec<String>)>) {
    let mut steps = Vec::new();
    let mut details = Vec::new();
    for (p, result) in plan.run.iter().zip(results) {
        let started = result
            .as_ref()
            .is_some_and(|(r, _)| r.status != StepStatus::Skipped);
        let (result, ms) = result.unwrap_or_else(|| {
            let (status, reason) = if settings.fail_fast {
                (
                    StepStatus::Skipped,
                    "not started: --fail-fast stopped the gate",
                )
            } else {
                (
                    StepStatus::Interrupted,
                    "not started: the gate was interrupted",
                )
            };
            (StepResult::new(status, reason), 0)
        });
        let log = log_dir.join(format!("{}.log", p.step.id));
        details.push((p.step.id.clone(), result.details.clone()));
        steps.push(StepReport {
            id: p.step.id.clone(),
            kind: p.step.kind,
            status: result.status,
            duration_ms: ms,
            exit_code: result.exit_code,
            // A step that did not start has no log of this run (one left
            // from an earlier run is not its).
            log: (started && log.exists()).then_some(log),
            summary: result.summary,
            diagnostics: result
                .diagnostics
                .into_iter()
                .take(MAX_DIAGNOSTICS)
                .collect(),
        });
    }
    for left in &plan.left_out {
        let kind = cfg
            .gate
            .steps
            .iter()
            .find(|s| s.id == left.id)
            .map_or(rollout_core::StepKind::Command, |s| s.kind);
        steps.push(StepReport {
            id: left.id.clone(),
            kind,
            status: StepStatus::Skipped,
            duration_ms: 0,
            exit_code: None,
            log: None,
            summary: left.reason.clone(),
            diagnostics: Vec::new(),
        });
    }
    (steps, details)
}

/// The most diagnostics a step's report entry keeps (its summary counts
/// them all).
const MAX_DIAGNOSTICS: usize = 200;

fn emit(
    ctx: &Context,
    settings: &Settings,
    report: &GateReport,
    details: &[(String, Vec<String>)],
) -> Result<()> {
    let printed = render::Printed {
        report,
        details,
        quiet: ctx.verbosity == rollout_core::Verbosity::Quiet,
    };
    rollout_core::emit(&printed, ctx.format, &ctx.out.style(), &mut *ctx.out.lock())?;
    if let Some(path) = &settings.junit {
        rollout_core::fs::write_atomic(path, render::junit(report, details)?.as_bytes())?;
    }
    let md = render::markdown(report);
    if let Some(path) = &settings.summary {
        rollout_core::fs::write_atomic(path, md.as_bytes())?;
    }
    if let Some(path) = std::env::var_os(ENV_GITHUB_STEP_SUMMARY).filter(|p| !p.is_empty()) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| {
                format!(
                    "cannot append to ${ENV_GITHUB_STEP_SUMMARY} `{}`",
                    Path::new(&path).display()
                )
            })?;
        writeln!(f, "{md}")?;
    }
    // Workflow commands go to stderr: GitHub reads both streams, and stdout
    // carries the report in the format asked for (JSON, JUnit) untouched.
    if in_github_actions() {
        for line in render::annotations(report) {
            eprintln!("{line}");
        }
    }
    Ok(())
}
