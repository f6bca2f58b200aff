//! The gate's run: provisioning, scheduling, judging each step, reports.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rollout_config::model::{Policy, StepKind, kind_name};
use rollout_config::{Context, Outcome, Style, Verbosity};
use xshell::Shell;

use crate::debt::{Debt, compare, parse_mypy};
use crate::plan::{Planned, Selection, Vars, describe, plan};
use crate::render;
use crate::terminal::{Expectations, judge};
use plumbing::process::{Exit, run_in_pty, run_logged};
use plumbing::report::{
    GateReport, GitState, SCHEMA, StepReport, StepStatus, Verdict, report_path,
};

/// Run the M4 validation gate on the Townlet checkout.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    after_help = "Example:\n  cargo xtask gate --root ../townlet --suite observation --junit target/gate.xml"
)]
pub struct Args {
    /// How to print the result on stdout
    #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
    pub format: rollout_config::ReportFormat,
    /// Run only these steps (and the steps they need), comma-separated
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub steps: Vec<String>,
    /// Leave out these steps (and the steps that need them), comma-separated
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub skip: Vec<String>,
    /// Run a named pytest suite instead of the full suite (see gate.suites)
    #[arg(long, value_name = "NAME")]
    pub suite: Option<String>,
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
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a Markdown summary to FILE (and append it to $GITHUB_STEP_SUMMARY when set)
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

/// Environment variable GitHub Actions sets.
const ENV_GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
/// File GitHub Actions renders as the job summary.
const ENV_GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";

/// How many log lines of a failed step are shown inline.
const TAIL_LINES: usize = 15;

/// The outcome of one step, before it becomes a report entry.
#[derive(Debug, Clone)]
struct StepResult {
    status: StepStatus,
    exit_code: Option<i32>,
    summary: String,
    details: Vec<String>,
}

impl StepResult {
    fn new(status: StepStatus, summary: impl Into<String>) -> Self {
        Self {
            status,
            exit_code: None,
            summary: summary.into(),
            details: Vec::new(),
        }
    }
}

/// Runs the gate and prints its result; exit 0 when every required step
/// passed, 1 when one failed, 2 when the gate could not run or was
/// interrupted.
pub fn run(sh: &Shell, ctx: &Context, args: Args) -> Result<Outcome> {
    run_to(sh, ctx, args, &mut std::io::stdout().lock())
}

/// As [`run`], printing the result to `out`.
pub fn run_to(sh: &Shell, ctx: &Context, args: Args, out: &mut dyn Write) -> Result<Outcome> {
    let s = &ctx.settings;
    let root = s.checkout()?.to_path_buf();
    let cfg = &s.config;
    let started = Instant::now();
    let started_at = jiff::Timestamp::now().to_string();

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
    let vars = Vars::new(s.placeholders(), suite);
    let capture_dir = s.capture_dir();
    let plan = plan(
        &cfg.gate.steps,
        &Selection {
            steps: args.steps.clone(),
            skip: args.skip.clone(),
        },
        &vars,
    )?;
    if plan.run.is_empty() {
        bail!(
            "no gate steps to run\nhint: add steps under gate.steps in `{}` or change --steps/--skip",
            cfg.path.display()
        );
    }
    let jobs = args
        .jobs
        .or(cfg.gate.jobs)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))
            .context("cannot install the interrupt handler")?;
    }

    let progress = Progress::new(ctx.verbosity);
    let python = vars.path("python");
    let bin = vars.path("bin");
    // A step needs the target's environment when it runs its interpreter or
    // a tool installed next to it (`{bin}/ruff`), or is the capture.
    let needs_env = plan.run.iter().any(|p| {
        p.step.kind == StepKind::Capture
            || p.argv.iter().take(1).any(|a| {
                let program = Path::new(a);
                program == python
                    || (!bin.as_os_str().is_empty() && program.parent() == Some(bin.as_path()))
            })
    });
    if needs_env {
        provision(
            ctx,
            &root,
            &vars.path("python"),
            args.no_provision,
            &interrupted,
            &progress,
        )?;
    }

    let log_dir = s.gate_log_dir();
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create `{}`", log_dir.display()))?;
    let capture_used = plan.run.iter().any(|p| {
        p.argv
            .iter()
            .any(|a| a.contains(&capture_dir.display().to_string()))
    });
    if capture_used && capture_dir.exists() {
        std::fs::remove_dir_all(&capture_dir).with_context(|| {
            format!(
                "cannot clear the capture directory `{}`",
                capture_dir.display()
            )
        })?;
    }
    if capture_used {
        std::fs::create_dir_all(&capture_dir)?;
    }

    let git = git_state(sh, &root);
    let versions = tool_versions(&plan.run, &vars);

    // Schedule.
    let ctx = Arc::new(ctx.clone());
    let args = Arc::new(args);
    let (tx, rx) = mpsc::channel::<(usize, StepResult, u64)>();
    let n = plan.run.len();
    let mut results: Vec<Option<(StepResult, u64)>> = vec![None; n];
    let mut started_at_step: Vec<Option<Instant>> = vec![None; n];
    let index: BTreeMap<&str, usize> = plan
        .run
        .iter()
        .enumerate()
        .map(|(i, p)| (p.step.id.as_str(), i))
        .collect();
    let mut running = 0usize;
    let mut stop_starting = false;
    progress.start(&plan.run);
    loop {
        if interrupted.load(Ordering::Relaxed) {
            stop_starting = true;
        }
        // Start what is ready.
        for i in 0..n {
            if running >= jobs || stop_starting {
                break;
            }
            if results[i].is_some() || started_at_step[i].is_some() {
                continue;
            }
            let needs: Vec<usize> = plan.run[i]
                .needs
                .iter()
                .filter_map(|id| index.get(id.as_str()).copied())
                .collect();
            if needs.iter().any(|&j| results[j].is_none()) {
                continue;
            }
            if let Some(&j) = needs.iter().find(|&&j| {
                results[j]
                    .as_ref()
                    .is_some_and(|(r, _)| !r.status.lets_dependents_run())
            }) {
                let why = format!("needs '{}', which did not pass", plan.run[j].step.id);
                results[i] = Some((StepResult::new(StepStatus::Skipped, why), 0));
                progress.finished(&plan.run[i], results[i].as_ref().map(|r| &r.0));
                continue;
            }
            started_at_step[i] = Some(Instant::now());
            running += 1;
            progress.started(&plan.run[i]);
            let planned = plan.run[i].clone();
            let log = log_dir.join(format!("{}.log", planned.step.id));
            let tx = tx.clone();
            let (ctx, args, cancel) = (
                Arc::clone(&ctx),
                Arc::clone(&args),
                Arc::clone(&interrupted),
            );
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let result = run_step(&ctx, &args, &planned, &log, &cancel).unwrap_or_else(|e| {
                    let mut r = StepResult::new(
                        StepStatus::Fail,
                        format!("could not run: {e:#}").replace('\n', "; "),
                    );
                    r.details = vec![format!("{e:#}")];
                    r
                });
                let _sent = tx.send((i, result, t0.elapsed().as_millis() as u64));
            });
        }
        if running == 0 && (stop_starting || results.iter().all(Option::is_some)) {
            break;
        }
        if running == 0 && !results.iter().all(Option::is_some) {
            // Nothing runs and nothing can start: everything left waits on a
            // step that did not run. Mark it.
            for slot in results.iter_mut().filter(|r| r.is_none()) {
                *slot = Some((
                    StepResult::new(StepStatus::Skipped, "a step it needs did not run"),
                    0,
                ));
            }
            break;
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((i, mut result, ms)) => {
                running -= 1;
                if result.status == StepStatus::Fail && plan.run[i].step.allow_failure {
                    result.status = StepStatus::AllowedFailure;
                }
                if matches!(result.status, StepStatus::Fail | StepStatus::Timeout) && args.fail_fast
                {
                    stop_starting = true;
                    interrupted.store(true, Ordering::Relaxed);
                }
                progress.finished(&plan.run[i], Some(&result));
                results[i] = Some((result, ms));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                progress.tick(&plan.run, &started_at_step, &results)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    progress.tick(&plan.run, &started_at_step, &results);
    progress.done();
    let was_interrupted = interrupted.load(Ordering::Relaxed) && !args.fail_fast;

    // Assemble the report.
    let mut steps = Vec::new();
    let mut details = Vec::new();
    for (i, p) in plan.run.iter().enumerate() {
        let (result, ms) = results[i].clone().unwrap_or_else(|| {
            let reason = if args.fail_fast {
                "not started: --fail-fast stopped the gate"
            } else {
                "not started: the gate was interrupted"
            };
            (
                StepResult::new(
                    if args.fail_fast {
                        StepStatus::Skipped
                    } else {
                        StepStatus::Interrupted
                    },
                    reason,
                ),
                0,
            )
        });
        let log = log_dir.join(format!("{}.log", p.step.id));
        details.push((p.step.id.clone(), result.details.clone()));
        steps.push(StepReport {
            id: p.step.id.clone(),
            kind: kind_name(p.step.kind).to_string(),
            status: result.status,
            duration_ms: ms,
            exit_code: result.exit_code,
            log: log.exists().then_some(log),
            summary: result.summary,
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
        });
    }
    let failed = steps.iter().any(|s| s.status.fails_the_gate());
    let verdict = if was_interrupted {
        Verdict::Interrupted
    } else if failed {
        Verdict::Fail
    } else {
        Verdict::Pass
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
        complete: args.steps.is_empty()
            && args.skip.is_empty()
            && args.suite.is_none()
            && !args.update_debt,
        selection: plumbing::report::Selection {
            steps: args.steps.clone(),
            skip: args.skip.clone(),
            suite: args.suite.clone(),
        },
        config: Some(plumbing::report::ConfigUsed {
            path: cfg.path.clone(),
            sha256: cfg.sha256.clone(),
        }),
    };
    report.write(&report_path(&ctx.settings))?;
    emit(&ctx, &args, &report, &details, out)?;
    match verdict {
        Verdict::Pass => Ok(Outcome::Pass),
        Verdict::Fail => Ok(Outcome::Fail),
        Verdict::Interrupted => bail!(
            "the gate was interrupted; the report marks it so: `{}`",
            report_path(&ctx.settings).display()
        ),
    }
}

fn emit(
    ctx: &Context,
    args: &Args,
    report: &GateReport,
    details: &[(String, Vec<String>)],
    out: &mut dyn Write,
) -> Result<()> {
    let printed = render::Printed { report, details };
    rollout_config::emit(&printed, ctx.format, &Style::stdout(), out)?;
    if let Some(path) = &args.junit {
        rollout_config::fs::write_atomic(path, render::junit(report, details)?.as_bytes())?;
    }
    let md = render::markdown(report);
    if let Some(path) = &args.summary {
        rollout_config::fs::write_atomic(path, md.as_bytes())?;
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
    if std::env::var(ENV_GITHUB_ACTIONS).is_ok_and(|v| v == "true") {
        for line in render::annotations(report) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

fn run_step(
    ctx: &Context,
    args: &Args,
    p: &Planned,
    log: &Path,
    cancel: &AtomicBool,
) -> Result<StepResult> {
    std::fs::write(log, "")
        .with_context(|| format!("cannot create step log `{}`", log.display()))?;
    let timeout = p.step.timeout();
    match p.step.kind {
        StepKind::Command => {
            let exit = run_logged(command(p)?, log, timeout, cancel)?;
            match &p.step.debt {
                Some(debt) => judge_mypy(exit, log, debt, args),
                None => Ok(with_tool_summary(
                    judge_exit(exit, log, timeout),
                    &p.argv,
                    log,
                )),
            }
        }
        StepKind::TerminalSmoke => terminal_smoke(p, log, cancel),
        StepKind::MergePolicy => {
            let sh = Shell::new()?;
            let verdict = crate::merge_policy::check(
                &sh,
                &ctx.settings.root.value,
                &ctx.settings.config.release,
            )?;
            let (result, text) = match verdict {
                crate::merge_policy::Finding::Skip(why) => (
                    StepResult::new(StepStatus::Pass, format!("not applicable: {why}")),
                    why,
                ),
                crate::merge_policy::Finding::Pass(msg) => {
                    (StepResult::new(StepStatus::Pass, msg.clone()), msg)
                }
                crate::merge_policy::Finding::Violation { message, files } => {
                    let status = match p.step.policy.unwrap_or(Policy::Fail) {
                        Policy::Fail => StepStatus::Fail,
                        Policy::Warn => StepStatus::AllowedFailure,
                    };
                    let mut r = StepResult::new(status, message.clone());
                    r.details = files.iter().take(20).cloned().collect();
                    if files.len() > 20 {
                        r.details.push(format!("… and {} more", files.len() - 20));
                    }
                    (r, format!("{message}\n{}", files.join("\n")))
                }
            };
            std::fs::write(log, text + "\n")?;
            Ok(result)
        }
        StepKind::Capture => capture_step(ctx, p, log, cancel),
        StepKind::TlsSmoke | StepKind::BaselineDiff | StepKind::Monitor => {
            let o = crate::builtin::run(ctx, p, log)?;
            Ok(StepResult {
                status: o.status,
                exit_code: None,
                summary: o.summary,
                details: o.details,
            })
        }
    }
}

/// The rollout capture, with its commands' output in the step log; warns
/// when Townlet lost ticks, and says how many.
fn capture_step(ctx: &Context, p: &Planned, log: &Path, cancel: &AtomicBool) -> Result<StepResult> {
    let quiet = |_: &str| {};
    let env: Vec<(String, String)> = p.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let record = capture::run(
        &ctx.settings,
        &capture::Run {
            log,
            timeout: p.step.timeout(),
            env: &env,
            cancel,
            progress: &quiet,
        },
    )?;
    let summary = record.summary();
    let last_exit = record.commands.last().and_then(|c| c.exit_code);
    let mut r = match &record.ended {
        capture::Ended::Done if record.is_lossless() => StepResult::new(StepStatus::Pass, summary),
        capture::Ended::Done => {
            let mut r = StepResult::new(StepStatus::Warn, format!("lossy capture: {summary}"));
            r.details = record
                .streams
                .iter()
                .filter(|s| s.lost > 0 || s.error.is_some())
                .map(capture::StreamCount::summary)
                .collect();
            r.details.push(record.log.summary());
            r.details.push(
                "hint: raise `telemetry.transport.buffer.max_buffer_bytes` in `capture.set` so that Townlet drops nothing".into(),
            );
            r
        }
        capture::Ended::Failed {
            command,
            exit_code,
            signal,
        } => {
            let how = match (exit_code, signal) {
                (Some(c), _) => format!("exit {c}"),
                (_, Some(s)) => format!("killed by signal {s}"),
                _ => "failed".into(),
            };
            let last = last_line(log);
            let mut r = StepResult::new(StepStatus::Fail, format!("`{command}` {how}: {last}"));
            r.details = tail(log, TAIL_LINES);
            r
        }
        capture::Ended::TimedOut { command } => {
            let mut r = StepResult::new(
                StepStatus::Timeout,
                format!(
                    "`{command}` timed out after {}; its process group was stopped",
                    humantime(p.step.timeout())
                ),
            );
            r.details = tail(log, TAIL_LINES);
            r
        }
        capture::Ended::Interrupted { .. } => StepResult::new(
            StepStatus::Interrupted,
            "interrupted; its process group was stopped",
        ),
    };
    r.exit_code = last_exit;
    Ok(r)
}

/// The step's process, for the process module to supervise.
fn command(p: &Planned) -> Result<Command> {
    let env: Vec<(String, String)> = p.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    plumbing::process::command_in(&p.cwd, &p.argv, &env)
}

fn tail(log: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read(log)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

fn last_line(log: &Path) -> String {
    let line = tail(log, 1).pop().unwrap_or_default();
    let line = line.trim();
    if line.chars().count() > 100 {
        format!("{}…", line.chars().take(99).collect::<String>())
    } else {
        line.to_string()
    }
}

fn judge_exit(exit: Exit, log: &Path, timeout: Duration) -> StepResult {
    match exit {
        Exit::Code(0) => {
            let mut r = StepResult::new(StepStatus::Pass, last_line(log));
            r.exit_code = Some(0);
            r
        }
        Exit::Code(code) => {
            let last = last_line(log);
            let summary = if last.is_empty() {
                format!("exit {code}, no output")
            } else {
                format!("exit {code}: {last}")
            };
            let mut r = StepResult::new(StepStatus::Fail, summary);
            r.exit_code = Some(code);
            r.details = tail(log, TAIL_LINES);
            r
        }
        Exit::Signal(sig) => {
            let mut r = StepResult::new(StepStatus::Fail, format!("killed by signal {sig}"));
            r.details = tail(log, TAIL_LINES);
            r
        }
        Exit::TimedOut => {
            let mut r = StepResult::new(
                StepStatus::Timeout,
                format!(
                    "timed out after {}; its process group was stopped",
                    humantime(timeout)
                ),
            );
            r.details = tail(log, TAIL_LINES);
            r
        }
        Exit::Interrupted => StepResult::new(
            StepStatus::Interrupted,
            "interrupted; its process group was stopped",
        ),
    }
}

/// A failed pytest, ruff or mypy step says how many failed and the first
/// cause, not the tool's last line.
fn with_tool_summary(mut r: StepResult, argv: &[String], log: &Path) -> StepResult {
    if r.status != StepStatus::Fail {
        return r;
    }
    let Some(tool) = crate::summary::Tool::of(argv) else {
        return r;
    };
    let output = std::fs::read(log)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let summary = match tool {
        crate::summary::Tool::Pytest => crate::summary::pytest(&output),
        crate::summary::Tool::Ruff => crate::summary::ruff(&output),
        crate::summary::Tool::Mypy => crate::summary::mypy(&output),
    };
    if let (Some(s), Some(code)) = (summary, r.exit_code) {
        r.summary = format!("exit {code}: {s}");
    }
    r
}

fn humantime(d: Duration) -> String {
    rollout_config::model::Span(d).to_string()
}

fn judge_mypy(exit: Exit, log: &Path, debt_file: &Path, args: &Args) -> Result<StepResult> {
    let code = match exit {
        Exit::Code(c @ (0 | 1)) => c,
        other => {
            let mut r = judge_exit(other, log, Duration::ZERO);
            if let Exit::Code(c) = other {
                let output = std::fs::read(log)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let cause = crate::summary::mypy(&output).unwrap_or_else(|| last_line(log));
                r.summary = format!("mypy could not check (exit {c}): {cause}");
            }
            return Ok(r);
        }
    };
    let output = std::fs::read_to_string(log).unwrap_or_default();
    let parsed = parse_mypy(&output);
    if let Some(reported) = parsed.reported {
        if reported != parsed.errors.len() {
            let mut r = StepResult::new(
                StepStatus::Fail,
                format!(
                    "mypy reported {reported} errors but {} error lines could be read",
                    parsed.errors.len()
                ),
            );
            r.exit_code = Some(code);
            r.details = tail(log, TAIL_LINES);
            return Ok(r);
        }
    } else if code == 1 && parsed.errors.is_empty() {
        let mut r = StepResult::new(
            StepStatus::Fail,
            "mypy exited 1 without error lines or a summary",
        );
        r.exit_code = Some(code);
        r.details = tail(log, TAIL_LINES);
        return Ok(r);
    }
    let debt = Debt::load(debt_file)?;
    let ratchet = compare(&parsed.errors, &debt);
    let debt_name = debt_file.display();
    if args.update_debt {
        let current = Debt::from_errors(&parsed.errors);
        let growth = ratchet.new.len();
        if growth > 0 && !args.allow_debt_growth {
            let mut r = StepResult::new(
                StepStatus::Fail,
                format!(
                    "--update-debt would add {growth} new error(s) to `{debt_name}`; fix them or pass --allow-debt-growth"
                ),
            );
            r.exit_code = Some(code);
            r.details = ratchet.new.iter().map(ToString::to_string).collect();
            return Ok(r);
        }
        rollout_config::fs::write_atomic(debt_file, current.render().as_bytes())?;
        let mut r = StepResult::new(
            StepStatus::Pass,
            format!(
                "debt updated: `{debt_name}` now holds {} error(s) (was {})",
                current.total(),
                debt.total()
            ),
        );
        r.exit_code = Some(code);
        return Ok(r);
    }
    let paid: usize = ratchet.paid.iter().map(|(_, n)| n).sum();
    let paid_note = if paid > 0 {
        format!("; {paid} paid off (shrink `{debt_name}` with --update-debt)")
    } else {
        String::new()
    };
    let mut r = if ratchet.new.is_empty() {
        StepResult::new(
            StepStatus::Pass,
            format!("{} error(s), all known debt{paid_note}", ratchet.known),
        )
    } else {
        let mut r = StepResult::new(
            StepStatus::Fail,
            format!(
                "{} new error(s) beyond the recorded debt ({} known){paid_note}",
                ratchet.new.len(),
                ratchet.known
            ),
        );
        r.details = ratchet.new.iter().map(ToString::to_string).collect();
        r
    };
    r.exit_code = Some(code);
    Ok(r)
}

fn terminal_smoke(p: &Planned, log: &Path, cancel: &AtomicBool) -> Result<StepResult> {
    let texts = if p.step.expect.is_empty() {
        vec!["Telemetry".to_string()]
    } else {
        p.step.expect.clone()
    };
    let pattern = p
        .step
        .advancing
        .clone()
        .unwrap_or_else(|| r"Tick: (\d+)".to_string());
    let exp = Expectations {
        texts,
        advancing: Some(regex::Regex::new(&pattern)?),
    };
    let run_for = p
        .step
        .run_for
        .map_or(Duration::from_secs(20), |s| s.0)
        .min(p.step.timeout());
    let enough = |screen: &str| {
        let j = judge(screen, &exp);
        j.passed() || j.traceback.is_some()
    };
    let run = run_in_pty(command(p)?, log, run_for, cancel, &enough)?;
    let j = judge(&run.screen, &exp);
    let label = pattern
        .split('(')
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches(':')
        .trim();
    let label = if label.is_empty() {
        "the number"
    } else {
        label
    };
    let ticks = match (j.values.first(), j.values.last()) {
        (Some(a), Some(b)) if j.values.len() > 1 => format!(", {label} went {a} → {b}"),
        (Some(a), _) => format!(", {label} stayed at {a}"),
        _ => String::new(),
    };
    let mut r = if let Some(tb) = &j.traceback {
        StepResult::new(
            StepStatus::Fail,
            format!("the program raised a Python traceback: {tb}"),
        )
    } else if j.passed() {
        StepResult::new(
            StepStatus::Pass,
            format!("rendered {}{ticks}", exp.texts.join(", ")),
        )
    } else if run.exit == Exit::Interrupted {
        StepResult::new(StepStatus::Interrupted, "interrupted")
    } else {
        let mut why = Vec::new();
        if !j.missing.is_empty() {
            why.push(format!(
                "never showed {}",
                j.missing
                    .iter()
                    .map(|m| format!("'{m}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !j.advanced {
            why.push(if j.values.is_empty() {
                format!("never showed `{pattern}`")
            } else {
                format!("`{pattern}` did not advance{ticks}")
            });
        }
        let when = match run.exit {
            Exit::Code(c) => format!(" (it exited with {c} by itself)"),
            Exit::Signal(s) => format!(" (it died of signal {s})"),
            _ => format!(" within {}", humantime(run_for)),
        };
        StepResult::new(StepStatus::Fail, format!("{}{when}", why.join(" and ")))
    };
    if r.status != StepStatus::Pass {
        r.details = tail(log, TAIL_LINES);
    }
    r.exit_code = run.exit.code();
    Ok(r)
}

/// Longest one provisioning command may take (a `pip install` of torch).
const PROVISION_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Creates the target's Python environment when its interpreter is missing.
fn provision(
    ctx: &Context,
    root: &Path,
    python: &Path,
    no_provision: bool,
    cancel: &AtomicBool,
    progress: &Progress,
) -> Result<()> {
    let exists = if python.components().count() > 1 {
        python.is_file()
    } else {
        true
    };
    if exists {
        return Ok(());
    }
    let cfg = &ctx.settings.config;
    let commands = cfg.target.provision_for(&ctx.settings.target);
    if no_provision || commands.is_empty() {
        let how = if commands.is_empty() {
            "add commands under target.provision".to_string()
        } else {
            format!(
                "run without --no-provision, or by hand: {}",
                commands
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(" then ")
            )
        };
        bail!(
            "the target's Python environment is missing: `{}` does not exist\nhint: {how}",
            python.display()
        );
    }
    for c in commands {
        progress.note(&format!("provisioning `{}`: {c}", root.display()));
        // Progress is visible on stderr; stdout carries only the result.
        let command = plumbing::process::command_in(root, &c.argv, &[])
            .with_context(|| format!("cannot start provisioning command `{c}`"))?;
        let exit = plumbing::process::run_streamed(command, PROVISION_TIMEOUT, cancel)
            .with_context(|| format!("cannot start provisioning command `{c}`"))?;
        match exit {
            Exit::Code(0) => {}
            Exit::Interrupted => bail!("interrupted while provisioning: `{c}` was stopped"),
            Exit::TimedOut => bail!(
                "provisioning command `{c}` ran longer than {} and was stopped",
                humantime(PROVISION_TIMEOUT)
            ),
            Exit::Code(code) => bail!(
                "provisioning command `{c}` failed (exit {code}) in `{}`\nhint: fix the environment by hand, then rerun the gate",
                root.display()
            ),
            Exit::Signal(sig) => bail!(
                "provisioning command `{c}` was killed by signal {sig} in `{}`",
                root.display()
            ),
        }
    }
    if !python.is_file() {
        bail!(
            "provisioning finished but `{}` still does not exist\nhint: check target.python and target.provision in `{}`",
            python.display(),
            cfg.path.display()
        );
    }
    Ok(())
}

fn git_state(sh: &Shell, root: &Path) -> Option<GitState> {
    plumbing::git::Git::discover(sh, root)?.state().ok()
}

/// Versions of the tools the steps use, probed in the background.
struct Versions(mpsc::Receiver<(String, String)>, usize);

impl Versions {
    fn collect(self, wait: Duration) -> BTreeMap<String, String> {
        let until = Instant::now() + wait;
        let mut out = BTreeMap::new();
        while out.len() < self.1 {
            let left = until.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok((k, v)) => {
                    out.insert(k, v);
                }
                Err(_) => break,
            }
        }
        out
    }
}

fn tool_versions(run: &[Planned], vars: &Vars) -> Versions {
    let python = vars.path("python").display().to_string();
    let mut probes: BTreeSet<(String, Vec<String>)> = BTreeSet::new();
    for p in run {
        let Some(program) = p.argv.first() else {
            continue;
        };
        if *program == python {
            probes.insert(("python".into(), vec![python.clone(), "--version".into()]));
            if p.argv.get(1).map(String::as_str) == Some("-m")
                && let Some(module) = p.argv.get(2)
            {
                probes.insert((
                    module.clone(),
                    vec![
                        python.clone(),
                        "-m".into(),
                        module.clone(),
                        "--version".into(),
                    ],
                ));
            }
        } else {
            let name = Path::new(program)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            probes.insert((name, vec![program.clone(), "--version".into()]));
        }
    }
    let (tx, rx) = mpsc::channel();
    let count = probes.len();
    let root = vars.path("root");
    std::thread::spawn(move || {
        for (name, argv) in probes {
            if let Some(line) = plumbing::process::probe(&root, &argv, Duration::from_secs(3)) {
                let _sent = tx.send((name, line));
            }
        }
    });
    Versions(rx, count)
}

/// Progress on stderr: redrawn in place on a terminal, plain lines otherwise.
struct Progress {
    live: bool,
    quiet: bool,
    style: Style,
    drawn: std::sync::atomic::AtomicUsize,
}

impl Progress {
    fn new(verbosity: Verbosity) -> Self {
        let stderr = std::io::stderr();
        let live = stderr.is_terminal()
            && rollout_config::output::use_color(&stderr)
            && verbosity != Verbosity::Quiet;
        Self {
            live,
            quiet: verbosity == Verbosity::Quiet,
            style: Style::stderr(),
            drawn: 0.into(),
        }
    }

    fn note(&self, msg: &str) {
        if !self.quiet {
            eprintln!("gate: {msg}");
        }
    }

    fn start(&self, run: &[Planned]) {
        if self.quiet {
            return;
        }
        for p in run {
            let implied = if p.implied {
                " (needed by a selected step)"
            } else {
                ""
            };
            if !self.live {
                eprintln!("gate: plan {}: {}{implied}", p.step.id, describe(p));
            }
        }
    }

    fn started(&self, p: &Planned) {
        if !self.quiet && !self.live {
            eprintln!("gate: start {}", p.step.id);
        }
    }

    fn finished(&self, p: &Planned, r: Option<&StepResult>) {
        if self.quiet || self.live {
            return;
        }
        if let Some(r) = r {
            let status = serde_json::to_value(r.status)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            eprintln!("gate: {status} {}: {}", p.step.id, r.summary);
        }
    }

    fn tick(
        &self,
        run: &[Planned],
        started: &[Option<Instant>],
        results: &[Option<(StepResult, u64)>],
    ) {
        if !self.live {
            return;
        }
        let mut err = std::io::stderr().lock();
        let drawn = self.drawn.load(Ordering::Relaxed);
        if drawn > 0 {
            let _ = write!(err, "\x1b[{drawn}A");
        }
        for (i, p) in run.iter().enumerate() {
            let (word, time) = match (&results[i], started[i]) {
                (Some((r, ms)), _) => (r.status.status().word(&self.style), render::secs(*ms)),
                (None, Some(t)) => (
                    " run".to_string(),
                    render::secs(t.elapsed().as_millis() as u64),
                ),
                (None, None) => ("wait".to_string(), String::new()),
            };
            let _ = writeln!(err, "\x1b[2K{word} {:<16} {time:>7}", p.step.id);
        }
        self.drawn.store(run.len(), Ordering::Relaxed);
    }

    fn done(&self) {
        if self.live && self.drawn.load(Ordering::Relaxed) > 0 {
            // Leave the final table; the result follows on stdout.
            let _ = std::io::stderr().flush();
        }
    }
}
