//! Running and judging one step: commands (with the mypy debt ratchet and
//! tool summaries), the capture, terminal smokes, the merge policy and the
//! built-ins.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context as _, Result};
use plumbing::process::{Exit, run_in_pty, run_logged};
use plumbing::report::StepStatus;
use rollout_config::Context;
use rollout_config::model::{Policy, StepKind};
use rollout_core::Place;
use xshell::Shell;

use crate::debt::{Debt, MypyError, compare, parse_mypy};
use crate::plan::Planned;
use crate::settings::Settings;
use crate::terminal::{Expectations, judge};

/// How many log lines of a failed step are shown inline.
pub(crate) const TAIL_LINES: usize = 15;

/// The outcome of one step, before it becomes a report entry.
#[derive(Debug, Clone)]
pub(crate) struct StepResult {
    pub(crate) status: StepStatus,
    pub(crate) exit_code: Option<i32>,
    pub(crate) summary: String,
    pub(crate) details: Vec<String>,
    /// What the step's tool found, with places (for annotations).
    pub(crate) diagnostics: Vec<Place>,
    /// The step could not be started or judged (missing program, log not
    /// writable): the gate exits 2, not 1.
    pub(crate) could_not_run: bool,
}

impl StepResult {
    pub(crate) fn new(status: StepStatus, summary: impl Into<String>) -> Self {
        Self {
            status,
            exit_code: None,
            summary: summary.into(),
            details: Vec::new(),
            diagnostics: Vec::new(),
            could_not_run: false,
        }
    }
}

pub(crate) fn run_step(
    ctx: &Context,
    settings: &Settings,
    p: &Planned,
    log: &Path,
    cancel: &AtomicBool,
) -> Result<StepResult> {
    std::fs::write(log, "")
        .with_context(|| format!("cannot create step log `{}`", log.display()))?;
    let timeout = p.step.timeout();
    match p.step.kind {
        StepKind::Command => {
            let exit = run_command(p, log, cancel)?;
            let root = &ctx.settings.root.value;
            match &p.step.debt {
                Some(debt) => judge_mypy(exit, log, debt, settings),
                None => Ok(with_tool_findings(
                    judge_exit(exit, log, timeout),
                    &p.argv,
                    log,
                    root,
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
                status: StepStatus::of(o.status()),
                exit_code: None,
                details: crate::builtin::details(&o),
                diagnostics: o.checks.into_iter().flat_map(|c| c.places).collect(),
                summary: o.summary,
                could_not_run: false,
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

/// Runs a command step with the machine-readable output the gate reads
/// (see [`with_tool_output`]); a tool too old for the flag the gate added
/// is run again as configured, and judged by its text.
fn run_command(p: &Planned, log: &Path, cancel: &AtomicBool) -> Result<Exit> {
    let timeout = p.step.timeout();
    let (planned, added) = with_tool_output(p, log);
    let exit = run_logged(command(&planned)?, log, timeout, cancel)?;
    let Some(flag) = added.filter(|flag| exit == Exit::Code(2) && rejected(log, flag)) else {
        return Ok(exit);
    };
    let note = format!(
        "gate: the tool does not accept `{flag}`; running it again as configured, read from its text output\n"
    );
    std::fs::write(log, note)
        .with_context(|| format!("cannot write step log `{}`", log.display()))?;
    run_logged(command(p)?, log, timeout, cancel)
}

/// Whether the tool refused `flag` as an argument it does not know
/// (argparse: `unrecognized arguments`, clap: `unexpected argument`).
fn rejected(log: &Path, flag: &str) -> bool {
    let output = read_log(log);
    let name = flag.split([' ', '=']).next().unwrap_or(flag);
    output.lines().any(|line| {
        (line.contains("unrecognized arguments") || line.contains("unexpected argument"))
            && line.contains(name)
    })
}

/// The step with the flags that make its tool's output machine-readable,
/// unless its command already chose: pytest writes its JUnit next to the
/// log (for the gate's JUnit to list every test), `ruff check` prints JSON
/// (`--output-format json`), mypy prints JSON lines (`-O json`). Returns the
/// flag added to ruff or mypy, so that a tool that refuses it can be run
/// again without it.
fn with_tool_output(p: &Planned, log: &Path) -> (Planned, Option<String>) {
    use crate::summary::Tool;
    let mut planned = p.clone();
    let args = tool_args(&p.argv);
    let has = |prefixes: &[&str]| {
        args.iter()
            .any(|a| prefixes.iter().any(|prefix| a.starts_with(prefix)))
    };
    let added = match Tool::of(&p.argv) {
        Some(Tool::Pytest) => {
            if !has(&["--junitxml", "--junit-xml"]) {
                let junit = crate::pytest_junit::path_for(log);
                let _stale = std::fs::remove_file(&junit);
                planned.argv.push(format!("--junitxml={}", junit.display()));
            }
            None
        }
        // Only `ruff check` (or plain `ruff PATH`, its old form) reports
        // diagnostics; `ruff format` and the others do not.
        Some(Tool::Ruff)
            if !has(&["--output-format", "--format"])
                && args
                    .iter()
                    .find(|a| !a.starts_with('-'))
                    .is_none_or(|a| a == "check" || a.contains(['/', '.'])) =>
        {
            planned.argv.push("--output-format=json".into());
            Some("--output-format".to_string())
        }
        Some(Tool::Mypy) if !has(&["-O", "--output"]) => {
            planned.argv.extend(["-O".to_string(), "json".to_string()]);
            Some("-O".to_string())
        }
        _ => None,
    };
    (planned, added)
}

/// The arguments after the program, or after `python -m tool`.
fn tool_args(argv: &[String]) -> &[String] {
    match argv.get(1).map(String::as_str) {
        Some("-m") => argv.get(3..).unwrap_or_default(),
        _ => argv.get(1..).unwrap_or_default(),
    }
}

/// The last `n` lines of a step log, read from its end.
fn tail(log: &Path, n: usize) -> Vec<String> {
    plumbing::steplog::tail(log, n)
}

/// A step log for the tool summaries: bounded, as the log is.
fn read_log(log: &Path) -> String {
    const CAP: u64 = plumbing::steplog::HEAD + plumbing::steplog::TAIL as u64 + 4096;
    plumbing::steplog::read_for_summary(log, CAP)
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

/// A pytest, ruff or mypy step says what its tool found: a failure gives
/// the count and the first cause, not the tool's last line, with every place
/// the tool named (ruff's diagnostics, pytest's failed tests).
fn with_tool_findings(mut r: StepResult, argv: &[String], log: &Path, root: &Path) -> StepResult {
    use crate::summary::Tool;
    let Some(tool) = Tool::of(argv) else {
        return r;
    };
    let failed = r.status == StepStatus::Fail;
    match tool {
        Tool::Ruff => {
            let read = crate::ruff::parse(&read_log(log), root);
            if read.json && r.status == StepStatus::Pass && read.total() == 0 {
                r.summary = "no errors".into();
            }
            if failed && let Some(s) = crate::summary::ruff(&read) {
                r.summary = exit_and(r.exit_code, s, &r.summary);
                r.details = shown(&read.diagnostics, read.total());
                r.diagnostics = read.diagnostics;
            }
        }
        Tool::Mypy => {
            let output = read_log(log);
            let parsed = parse_mypy(&output);
            if r.status == StepStatus::Pass && parsed.errors.is_empty() {
                r.summary = "no errors".into();
            }
            if failed {
                r.diagnostics = parsed.errors.iter().map(|e| e.diagnostic()).collect();
                if !r.diagnostics.is_empty() {
                    r.details = shown(&r.diagnostics, r.diagnostics.len());
                }
                if let Some(s) = crate::summary::mypy(&output) {
                    r.summary = exit_and(r.exit_code, s, &r.summary);
                }
            }
        }
        Tool::Pytest => {
            if failed {
                r.diagnostics = crate::pytest_junit::failures(log);
                // The failed tests at their places, not the log's tail
                // (which is a coverage table under pytest-cov).
                if !r.diagnostics.is_empty() {
                    r.details = shown(&r.diagnostics, r.diagnostics.len());
                }
                if let Some(s) = crate::summary::pytest(&read_log(log)) {
                    r.summary = exit_and(r.exit_code, s, &r.summary);
                }
            }
        }
    }
    r
}

/// `exit 1: <summary>`, or the old summary when the step had no exit code.
fn exit_and(exit_code: Option<i32>, summary: String, old: &str) -> String {
    match exit_code {
        Some(code) => format!("exit {code}: {summary}"),
        None => old.to_string(),
    }
}

/// The first diagnostics, as the tools print them, for the human report.
fn shown(diagnostics: &[Place], total: usize) -> Vec<String> {
    let mut lines: Vec<String> = diagnostics
        .iter()
        .take(TAIL_LINES)
        .map(ToString::to_string)
        .collect();
    if total > lines.len() {
        lines.push(format!("… and {} more", total - lines.len()));
    }
    lines
}

pub(crate) fn humantime(d: Duration) -> String {
    rollout_config::model::Span(d).to_string()
}

fn judge_mypy(exit: Exit, log: &Path, debt_file: &Path, settings: &Settings) -> Result<StepResult> {
    let code = match exit {
        Exit::Code(c @ (0 | 1)) => c,
        other => {
            let mut r = judge_exit(other, log, Duration::ZERO);
            if let Exit::Code(c) = other {
                let output = read_log(log);
                let cause = crate::summary::mypy(&output).unwrap_or_else(|| last_line(log));
                r.summary = format!("mypy could not check (exit {c}): {cause}");
            }
            return Ok(r);
        }
    };
    let output = read_log(log);
    let parsed = parse_mypy(&output);
    if let Some(why) = unreadable_mypy(code, &parsed) {
        let mut r = StepResult::new(StepStatus::Fail, why);
        r.exit_code = Some(code);
        r.details = tail(log, TAIL_LINES);
        return Ok(r);
    }
    let debt = Debt::load(debt_file)?;
    let ratchet = compare(&parsed.errors, &debt);
    let debt_name = debt_file.display();
    if settings.update_debt {
        let mut r = update_debt(&parsed.errors, &debt, &ratchet, debt_file, settings)?;
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
        r.diagnostics = ratchet.new.iter().map(MypyError::diagnostic).collect();
        r
    };
    r.exit_code = Some(code);
    Ok(r)
}

/// Why mypy's output cannot be judged: its summary counts other than the
/// error lines read, or it failed without saying anything.
fn unreadable_mypy(code: i32, parsed: &crate::debt::MypyOutput) -> Option<String> {
    match parsed.reported {
        Some(reported) if reported != parsed.errors.len() => Some(format!(
            "mypy reported {reported} errors but {} error lines could be read",
            parsed.errors.len()
        )),
        None if code == 1 && parsed.errors.is_empty() => {
            Some("mypy exited 1 without error lines or a summary".to_string())
        }
        _ => None,
    }
}

/// `--update-debt`: rewrites the debt file from this run's errors; refused
/// when it would record new errors without `--allow-debt-growth`.
fn update_debt(
    errors: &[MypyError],
    debt: &Debt,
    ratchet: &crate::debt::Ratchet,
    debt_file: &Path,
    settings: &Settings,
) -> Result<StepResult> {
    let debt_name = debt_file.display();
    let current = Debt::from_errors(errors);
    let growth = ratchet.new.len();
    if growth > 0 && !settings.allow_debt_growth {
        let mut r = StepResult::new(
            StepStatus::Fail,
            format!(
                "--update-debt would add {growth} new error(s) to `{debt_name}`; fix them or pass --allow-debt-growth"
            ),
        );
        r.details = ratchet.new.iter().map(ToString::to_string).collect();
        return Ok(r);
    }
    rollout_core::fs::write_atomic(debt_file, current.render().as_bytes())?;
    Ok(StepResult::new(
        StepStatus::Pass,
        format!(
            "debt updated: `{debt_name}` now holds {} error(s) (was {})",
            current.total(),
            debt.total()
        ),
    ))
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
    let mut r = judge_screen(&run, &exp, &pattern, run_for);
    if r.status != StepStatus::Pass {
        r.details = tail(log, TAIL_LINES);
    }
    r.exit_code = run.exit.code();
    Ok(r)
}

/// What a terminal smoke's screen says: a traceback, the expected texts
/// with an advancing value, or what was missing.
fn judge_screen(
    run: &plumbing::process::PtyRun,
    exp: &Expectations,
    pattern: &str,
    run_for: Duration,
) -> StepResult {
    let j = judge(&run.screen, exp);
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
    if let Some(tb) = &j.traceback {
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
    }
}
