//! `cargo xtask monitor`: the rollout plan's monitoring hooks as executable
//! alert rules over Townlet's tick-health logs and telemetry streams.
//!
//! Owns: the alert rules
//! (runtime variant, drop rate against learnt or configured thresholds,
//! exit-queue spikes, plaintext transport, telemetry gaps), following a live
//! log through rotation and truncation, `learn` (thresholds from known-good
//! runs), node_exporter textfile metrics, the equivalent Prometheus alerting
//! rules, the Grafana dashboard, and the chart.
//!
//! Does not own: reading telemetry JSONL or parsing Townlet's log lines
//! (both in the `telemetry` crate), the shape
//! of `rollout.yaml` (`rollout-config`), the command line (`xtask`), or
//! running Townlet (the gate makes the capture and calls [`run`] on it).
//!
//! Entry points: [`run`] (check, `--follow`), [`run_learn`], [`run_rules`],
//! [`run_dashboard`] and [`run_chart`], each with its plain settings ([`settings`]) and
//! returning an [`Outcome`]; the report goes to the context's output.

pub mod chart;
pub mod dashboard;
pub mod follow;
pub mod input;
pub mod learn;
pub mod loki;
pub mod prom;
pub mod render;
mod report;
pub mod rules;
mod settings;

use std::io::Write as _;

use anyhow::{Context as _, Result, bail};
use rollout_config::Context;
use rollout_core::{Format, Outcome, Verbosity, Verdict, printable};

pub use input::{Input, InputSummary};
pub use report::{EnvMetrics, Report, SCHEMA, env_metrics, report};
pub use rules::{Alert, DropThresholds, Kind, Metrics, Rule, RuleSettings, SourceEval};
pub use settings::{
    ChartSettings, DashboardEmit, DashboardSettings, Emit, FollowSettings, LearnSettings,
    LokiSettings, RulesSettings, Settings, Unreadable, learnt_thresholds, rule_settings,
    rule_settings_without_thresholds,
};

/// `cargo xtask monitor`: judges the inputs once, or follows them as they
/// grow; writes the report to the context's output (with `--follow`, each
/// alert too as it is raised) and the textfile metrics when asked. The
/// outcome has a check per alert and per unusable input.
pub fn run(ctx: &Context, settings: Settings) -> Result<Outcome> {
    if let Some(root) = &settings.last_capture_of
        && ctx.verbosity > Verbosity::Quiet
    {
        for input in &settings.inputs {
            eprintln!(
                "monitor: no input named: checking `{}` of the last capture of `{}`",
                printable(&input.path.display().to_string()),
                printable(&root.display().to_string())
            );
        }
    }
    let report = match &settings.follow {
        Some(_) => follow::run(ctx, &settings)?,
        None => {
            let report = evaluate_with(&settings, &mut textfile_progress(&settings))?;
            if let Some(path) = &settings.prom_textfile {
                prom::write_textfile(path, &report.environments)?;
            }
            report
        }
    };
    write_report(ctx, &report, settings.follow.is_some()).context("cannot write the report")?;
    Ok(report.outcome())
}

/// The report on the context's output in its format: with `--follow` and
/// JSON, one line that ends the JSON Lines of the alerts; with `-q`, only
/// what fails.
fn write_report(ctx: &Context, report: &Report, followed: bool) -> Result<()> {
    let style = ctx.out.style();
    let mut out = ctx.out.lock();
    if followed && ctx.format == Format::Json {
        // The alerts came one object per line: the report ends the stream
        // on one line too, so that stdout is JSON Lines throughout.
        serde_json::to_writer(&mut *out, report)?;
        writeln!(out)?;
    } else if ctx.format == Format::Human && ctx.verbosity == Verbosity::Quiet {
        render::failures(report, &style, &mut *out)?;
    } else {
        rollout_core::emit(report, ctx.format, &style, &mut *out)?;
    }
    Ok(())
}

/// What to do while a whole read goes on: with `--prom-textfile`, write
/// the figures so far once `textfile_interval` has passed since the start
/// or the last write, so that a long pipe on stdin (`--log -`) keeps the
/// textfile fresh as its lines arrive; else nothing.
fn textfile_progress(
    settings: &Settings,
) -> impl FnMut(&[SourceEval], &SourceEval) -> Result<()> + '_ {
    let mut last = std::time::Instant::now();
    move |done, current| {
        if let Some(path) = &settings.prom_textfile
            && last.elapsed() >= settings.textfile_interval
        {
            let mut evals = done.to_vec();
            evals.push(current.clone());
            prom::write_textfile(path, &env_metrics(&evals))?;
            last = std::time::Instant::now();
        }
        Ok(())
    }
}

/// What a whole read reports as it goes, after each tick: the evaluators
/// of the inputs read, and the one being read.
type Progress<'a> = dyn FnMut(&[SourceEval], &SourceEval) -> Result<()> + 'a;

/// Judges whole inputs once: the report of [`run`] without `--follow`,
/// written nowhere.
pub fn evaluate(settings: &Settings) -> Result<Report> {
    evaluate_with(settings, &mut |_, _| Ok(()))
}

fn evaluate_with(settings: &Settings, progress: &mut Progress<'_>) -> Result<Report> {
    let rules = &settings.rules;
    if settings.unreadable == Unreadable::Refuse {
        let (evals, summaries) = read_inputs_with(rules, &settings.inputs, false, progress)?;
        if let Some(first) = summaries.iter().find_map(|s| s.problem.as_deref())
            && summaries.iter().all(|s| s.problem.is_some())
        {
            // Nothing could be checked at all: the input is bad.
            bail!("{first}");
        }
        return Ok(report(rules, settings.fail_on, &evals, summaries));
    }
    // An input that was never written (a capture that logged nothing) is
    // its own failed check; the others are still judged.
    let (present, missing): (Vec<&Input>, Vec<&Input>) = settings
        .inputs
        .iter()
        .partition(|i| i.is_stdin() || ::input::is_present(&i.path));
    let present: Vec<Input> = present.into_iter().cloned().collect();
    let (evals, mut summaries) = if present.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        read_inputs_with(rules, &present, false, progress)?
    };
    for i in missing {
        summaries.push(InputSummary {
            problem: Some(format!("`{}` does not exist", i.name())),
            ..InputSummary::empty(i, i.kind.unwrap_or(Kind::Log))
        });
    }
    Ok(report(rules, settings.fail_on, &evals, summaries))
}

/// Reads every input into its own evaluator.
pub fn read_inputs(
    rules: &RuleSettings,
    inputs: &[Input],
    points: bool,
) -> Result<(Vec<SourceEval>, Vec<InputSummary>)> {
    read_inputs_with(rules, inputs, points, &mut |_, _| Ok(()))
}

fn read_inputs_with(
    rules: &RuleSettings,
    inputs: &[Input],
    points: bool,
    progress: &mut Progress<'_>,
) -> Result<(Vec<SourceEval>, Vec<InputSummary>)> {
    input::check_inputs(inputs)?;
    let mut evals = Vec::new();
    let mut summaries = Vec::new();
    for i in inputs {
        let mut reader = input::open(i)?;
        let kind = input::kind_of(i, &mut *reader)?;
        let mut eval = SourceEval::new(&i.env, &i.name(), kind, rules.clone());
        if points {
            eval = eval.collect_points();
        }
        let summary = input::read_all_with(i, (reader, kind), &mut eval, &mut |current| {
            progress(&evals, current)
        })?;
        summaries.push(summary);
        evals.push(eval);
    }
    Ok((evals, summaries))
}

/// `monitor learn`: see [`learn::run`].
pub fn run_learn(ctx: &Context, settings: LearnSettings) -> Result<Outcome> {
    learn::run(ctx, settings)
}

/// `monitor rules`: alerting rules equivalent to the built-in rules, to
/// the output file or the context's output.
pub fn run_rules(ctx: &Context, settings: RulesSettings) -> Result<Outcome> {
    let text = match settings.emit {
        Emit::Prometheus => prom::alert_rules(&settings.rules)?,
        Emit::Loki => loki::alert_rules(&settings.rules, &settings.loki)?,
    };
    let summary = match &settings.output {
        Some(path) => {
            rollout_core::fs::write_atomic(path, text.as_bytes())?;
            format!("wrote the alert rules to `{}`", path.display())
        }
        None => {
            ctx.out
                .lock()
                .write_all(text.as_bytes())
                .context("cannot write the alert rules")?;
            "printed the alert rules".to_string()
        }
    };
    Ok(Outcome::new(Verdict::Pass, summary))
}

/// `monitor dashboard`: a dashboard over the textfile metrics and the
/// recording rules, to the output file or the context's output.
pub fn run_dashboard(ctx: &Context, settings: DashboardSettings) -> Result<Outcome> {
    let text = match settings.emit {
        DashboardEmit::Grafana => dashboard::grafana(&settings.rules),
    };
    let summary = match &settings.output {
        Some(path) => {
            rollout_core::fs::write_atomic(path, text.as_bytes())?;
            format!("wrote the dashboard to `{}`", path.display())
        }
        None => {
            ctx.out
                .lock()
                .write_all(text.as_bytes())
                .context("cannot write the dashboard")?;
            "printed the dashboard".to_string()
        }
    };
    Ok(Outcome::new(Verdict::Pass, summary))
}

/// `monitor chart`: draws the inputs as SVG into the settings' `out`.
pub fn run_chart(ctx: &Context, settings: ChartSettings) -> Result<Outcome> {
    require_svg_name(&settings.out)?;
    let (evals, _) = read_inputs(&settings.rules, &settings.inputs, true)?;
    chart::draw(&evals, &settings.rules, &settings.out)?;
    let shown = printable(&settings.out.display().to_string()).into_owned();
    if ctx.verbosity > Verbosity::Quiet {
        eprintln!("wrote `{shown}`");
    }
    Ok(Outcome::new(Verdict::Pass, format!("wrote `{shown}`")))
}

/// An error when `out` names a file of another format (`chart.png`): the
/// chart is drawn as SVG only, and a `.png` holding SVG would mislead
/// whoever opens it. A name without an extension (`/dev/stdout`, a FIFO)
/// is taken as it is.
fn require_svg_name(out: &std::path::Path) -> Result<()> {
    let fits = out
        .extension()
        .is_none_or(|ext| ext.eq_ignore_ascii_case("svg"));
    if fits {
        return Ok(());
    }
    anyhow::bail!(
        "`--out` must name an `.svg` file: the chart is SVG\nhint: pass `--out {}`, then convert it if a PNG is needed (`rsvg-convert -o chart.png chart.svg`)",
        out.with_extension("svg").display()
    )
}

/// The telemetry and Townlet log of the root's last capture (what the
/// gate's monitor step reads), those of them that exist: what `monitor`
/// checks when no input is named.
pub fn last_capture(settings: &rollout_config::Settings) -> Vec<Input> {
    [
        (
            settings.capture_dir().join("telemetry.jsonl"),
            Kind::Telemetry,
        ),
        (settings.townlet_log(), Kind::Log),
    ]
    .into_iter()
    .filter(|(path, _)| path.exists())
    .map(|(path, kind)| Input {
        env: input::DEFAULT_ENV.into(),
        path,
        kind: Some(kind),
    })
    .collect()
}
