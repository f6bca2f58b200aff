//! The gate's run: its arguments, the driver that plans, provisions,
//! schedules and reports, and the report's outputs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use plumbing::lock::OutputLock;
use plumbing::report::{GateReport, GateVerdict, SCHEMA, StepReport, StepStatus, report_path};
use rollout_config::Context;
use rollout_config::model::kind_name;
use rollout_core::{Style, Verdict};
use xshell::Shell;

use crate::plan::{Planned, Vars, plan};
use crate::progress::Progress;
use crate::provenance::{git_state, tool_versions};
use crate::provision::{needs_env, provision};
use crate::render;
use crate::schedule::{Results, Scheduler};
use crate::step::StepResult;
use rollout_core::Selection;

/// Run the M4 validation gate on the Townlet checkout.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    after_help = "Example:\n  cargo xtask gate --root ../townlet --suite observation --junit target/gate.xml"
)]
pub struct Args {
    /// Run only these steps (and the steps they need), comma-separated
    #[arg(
        help_heading = "Selection",
        long,
        value_delimiter = ',',
        value_name = "IDS"
    )]
    pub steps: Vec<String>,
    /// Leave out these steps (and the steps that need them), comma-separated
    #[arg(
        help_heading = "Selection",
        long,
        value_delimiter = ',',
        value_name = "IDS"
    )]
    pub skip: Vec<String>,
    /// Run a named pytest suite instead of the full suite (see gate.suites)
    #[arg(help_heading = "Selection", long, value_name = "NAME")]
    pub suite: Option<String>,
    /// How to print the result on stdout
    #[arg(
        help_heading = "Output",
        long,
        value_enum,
        default_value_t,
        value_name = "FORMAT"
    )]
    pub format: rollout_config::ReportFormat,
    /// How many steps run at once [default: gate.jobs, else the number of CPUs]
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Stop at the first failing step: start nothing more, stop what runs
    #[arg(long)]
    pub fail_fast: bool,
    /// Rewrite the mypy debt files from this run (only shrinks them)
    #[arg(long)]
    pub update_debt: bool,
    /// With --update-debt: also record new mypy errors as debt
    #[arg(long, requires = "update_debt")]
    pub allow_debt_growth: bool,
    /// Do not create a missing Python environment; stop instead
    #[arg(long)]
    pub no_provision: bool,
    /// Also write the result as JUnit XML to FILE
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a Markdown summary to FILE (and append it to $GITHUB_STEP_SUMMARY when set)
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// When another gate uses the output directory, wait for it instead of exiting 2
    #[arg(long)]
    pub wait: bool,
}

/// File GitHub Actions renders as the job summary.
const ENV_GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";

/// Runs the gate and prints its result; exit 0 when every required step
/// passed, 1 when one failed, 2 when the gate could not run or was
/// interrupted, or another gate holds the output directory's lock
/// (`target/rollout/.lock`; `--wait` waits for it instead).
pub fn run(sh: &Shell, ctx: &Context, args: Args) -> Result<Verdict> {
    run_to(sh, ctx, args, &mut std::io::stdout().lock())
}

/// As [`run`], printing the result to `out`.
pub fn run_to(sh: &Shell, ctx: &Context, args: Args, out: &mut dyn Write) -> Result<Verdict> {
    let started = Instant::now();
    let started_at = jiff::Timestamp::now().to_string();
    let resolved = GateSettings::resolve(&args, &ctx.settings)?;
    let root = ctx.settings.checkout()?.to_path_buf();
    let plan = plan(
        &ctx.settings.config.gate.steps,
        &Selection {
            steps: args.steps.clone(),
            skip: args.skip.clone(),
            suite: args.suite.clone(),
        },
        &resolved.vars,
    )?;
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
        args.wait,
        &interrupted,
    )?;
    let progress = Progress::new(ctx.verbosity);
    if needs_env(&plan.run, &resolved.vars) {
        provision(
            ctx,
            &root,
            &resolved.vars.path("python"),
            args.no_provision,
            &interrupted,
            &progress,
        )?;
    }
    let log_dir = ctx.settings.gate_log_dir();
    prepare_dirs(&plan.run, &log_dir, &ctx.settings.capture_dir())?;
    let git = git_state(sh, &root);
    let versions = tool_versions(&plan.run, &resolved.vars);

    let args = Arc::new(args);
    let results = Scheduler {
        ctx: Arc::new(ctx.clone()),
        args: Arc::clone(&args),
        run: &plan.run,
        jobs: resolved.jobs,
        log_dir: &log_dir,
        interrupted: Arc::clone(&interrupted),
        progress: &progress,
    }
    .run();
    let was_interrupted = interrupted.load(Ordering::Relaxed) && !args.fail_fast;

    let could_not_run = could_not_run(&plan, &results);
    let (steps, details) = step_reports(&plan, results, &args, &log_dir, &ctx.settings.config);
    let failed = steps.iter().any(|s| s.status.fails_the_gate());
    let verdict = if was_interrupted {
        GateVerdict::Interrupted
    } else if failed {
        GateVerdict::Fail
    } else {
        GateVerdict::Pass
    };
    let cfg = &ctx.settings.config;
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
        complete: args.steps.is_empty()
            && args.skip.is_empty()
            && args.suite.is_none()
            && !args.update_debt,
        selection: rollout_core::Selection {
            steps: args.steps.clone(),
            skip: args.skip.clone(),
            suite: args.suite.clone(),
        },
        config: Some(plumbing::report::ConfigUsed {
            path: cfg.path.clone(),
            sha256: cfg.sha256.clone(),
        }),
    };
    report.write(&report_path(&ctx.settings.rollout_dir()))?;
    emit(ctx, &args, &report, &details, out)?;
    outcome(ctx, &verdict, &could_not_run)
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

/// The gate's outcome: 2 when it was interrupted or a required step could
/// not run, else its verdict.
fn outcome(ctx: &Context, verdict: &GateVerdict, could_not_run: &[String]) -> Result<Verdict> {
    if !could_not_run.is_empty() && *verdict != GateVerdict::Interrupted {
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
    match verdict {
        GateVerdict::Pass => Ok(Verdict::Pass),
        GateVerdict::Fail => Ok(Verdict::Fail),
        GateVerdict::Interrupted => bail!(
            "the gate was interrupted; the report marks it so: `{}`",
            report_path(&ctx.settings.rollout_dir()).display()
        ),
    }
}

/// The gate's settings, resolved once: flags over `rollout.yaml` over
/// defaults.
struct GateSettings {
    /// Placeholder values, with `{suite...}` from `--suite`.
    vars: Vars,
    /// `--jobs`, else `gate.jobs`, else the number of CPUs.
    jobs: usize,
}

impl GateSettings {
    fn resolve(args: &Args, settings: &rollout_config::Settings) -> Result<Self> {
        let cfg = &settings.config;
        let suite = match &args.suite {
            None => Vec::new(),
            Some(name) => match cfg.gate.suites.get(name) {
                Some(v) => v.clone(),
                None => {
                    let known: Vec<&str> = cfg.gate.suites.keys().map(String::as_str).collect();
                    bail!(
                        "no pytest suite '{name}' in gate.suites of `{}`\nhint: the suites are: {}",
                        cfg.path.display(),
                        known.join(", ")
                    );
                }
            },
        };
        let jobs = args
            .jobs
            .or(cfg.gate.jobs)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        if jobs == 0 {
            bail!("--jobs must be at least 1");
        }
        Ok(Self {
            vars: Vars::new(settings.placeholders(), suite),
            jobs,
        })
    }
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
    args: &Args,
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
            let (status, reason) = if args.fail_fast {
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
            kind: kind_name(p.step.kind).to_string(),
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
            .map_or("command", |s| kind_name(s.kind));
        steps.push(StepReport {
            id: left.id.clone(),
            kind: kind.to_string(),
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
    args: &Args,
    report: &GateReport,
    details: &[(String, Vec<String>)],
    out: &mut dyn Write,
) -> Result<()> {
    let printed = render::Printed {
        report,
        details,
        quiet: ctx.verbosity == rollout_core::Verbosity::Quiet,
    };
    rollout_core::emit(&printed, ctx.format, &Style::stdout(), out)?;
    if let Some(path) = &args.junit {
        rollout_core::fs::write_atomic(path, render::junit(report, details)?.as_bytes())?;
    }
    let md = render::markdown(report);
    if let Some(path) = &args.summary {
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
