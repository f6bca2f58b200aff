//! `cargo xtask monitor`: the rollout plan's monitoring hooks as executable
//! alert rules over Townlet's tick-health logs and telemetry streams.
//!
//! Owns: the alert rules
//! (runtime variant, drop rate against learnt or configured thresholds,
//! exit-queue spikes, plaintext transport, telemetry gaps), following a live
//! log through rotation and truncation, `learn` (thresholds from known-good
//! runs), node_exporter textfile metrics, the equivalent Prometheus alerting
//! rules, and the chart.
//!
//! Does not own: reading telemetry JSONL or parsing Townlet's log lines
//! (both in the `telemetry` crate), the shape
//! of `rollout.yaml` (`rollout-config`), or running Townlet (the gate makes
//! the capture and calls [`evaluate`] on it).

pub mod chart;
pub mod follow;
pub mod input;
pub mod learn;
pub mod prom;
pub mod render;
pub mod rules;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use rollout_config::{Context, Settings};
use rollout_core::Severity;
use rollout_core::{Format, Verdict};
use serde::Serialize;

pub use input::{Input, InputSummary};
pub use rules::{Alert, DropThresholds, Kind, Metrics, Rule, RuleSettings, SourceEval};

/// Version of the JSON report's shape.
pub const SCHEMA: u32 = 1;

/// `cargo xtask monitor`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(
    after_help = "Example:\n  cargo xtask monitor --env staging=staging.log --env prod=prod.jsonl --fail-on warning"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Learn drop thresholds from known-good runs into the thresholds file
    #[command(after_help = "Example:\n  cargo xtask monitor learn --from good1.log good2.log")]
    Learn(LearnArgs),
    /// Print alerting rules equivalent to the built-in rules
    #[command(
        after_help = "Example:\n  cargo xtask monitor rules --emit prometheus > townlet.rules.yml"
    )]
    Rules(RulesArgs),
    /// Draw runtime_variant, drops, queue and exit queue per environment as SVG
    #[command(
        after_help = "Example:\n  cargo xtask monitor chart --env staging=a.log --env prod=b.jsonl --out envs.svg"
    )]
    Chart(ChartArgs),
}

/// The inputs, shared by checking and charting.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InputArgs {
    /// A Townlet log with `tick_health` lines (`-` reads stdin)
    #[arg(long, value_name = "PATH")]
    pub log: Vec<PathBuf>,
    /// A Townlet telemetry stream, JSONL (`-` reads stdin)
    #[arg(long, value_name = "PATH")]
    pub telemetry: Vec<PathBuf>,
    /// A log or telemetry file of a named environment, told apart by content
    #[arg(long, value_name = "NAME=PATH", value_parser = input::parse_env)]
    pub env: Vec<(String, PathBuf)>,
}

impl InputArgs {
    pub fn inputs(&self) -> Vec<Input> {
        let mut out = Vec::new();
        for p in &self.log {
            out.push(Input {
                env: input::DEFAULT_ENV.into(),
                path: p.clone(),
                kind: Some(Kind::Log),
            });
        }
        for p in &self.telemetry {
            out.push(Input {
                env: input::DEFAULT_ENV.into(),
                path: p.clone(),
                kind: Some(Kind::Telemetry),
            });
        }
        for (env, p) in &self.env {
            out.push(Input {
                env: env.clone(),
                path: p.clone(),
                kind: None,
            });
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Warning,
    Critical,
}

impl From<FailOn> for Severity {
    fn from(f: FailOn) -> Self {
        match f {
            FailOn::Warning => Severity::Warning,
            FailOn::Critical => Severity::Critical,
        }
    }
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct CheckArgs {
    /// How to print the result on stdout
    #[arg(
        help_heading = "Output",
        long,
        value_enum,
        default_value_t,
        value_name = "FORMAT"
    )]
    pub format: rollout_config::TextFormat,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Keep reading the files as they grow (survives rotation and truncation)
    #[arg(long)]
    pub follow: bool,
    /// With --follow: stop when no input has grown for this long (`30s`, `5m`; at most 7 days)
    #[arg(long, value_name = "DURATION", requires = "follow", value_parser = rollout_config::model::parse_span)]
    pub stop_after_idle: Option<Duration>,
    /// Exit 1 when an alert of this severity or worse is raised [default: monitor.fail_on]
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,
    /// Write node_exporter textfile metrics here (atomically)
    #[arg(long, value_name = "FILE")]
    pub prom_textfile: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct LearnArgs {
    /// Logs of known-good runs (a directory stands for its `*.log` files)
    #[arg(long, value_name = "PATHS", num_args = 1.., required = true)]
    pub from: Vec<PathBuf>,
    /// Where to write [default: monitor.thresholds_file]
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// When another command uses the output's directory, wait for it instead of exiting 2
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    Prometheus,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// The rule format
    #[arg(long, value_enum, default_value_t = Emit::Prometheus)]
    pub emit: Emit,
    /// Write to this file (atomically) instead of stdout
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ChartArgs {
    #[command(flatten)]
    pub inputs: InputArgs,
    /// The SVG file to write
    #[arg(long, value_name = "FILE.svg")]
    pub out: PathBuf,
}

/// The result of a check: stable JSON fields (see README).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub schema: u32,
    /// `pass` or `fail`.
    pub verdict: Verdict,
    /// The lowest severity that fails.
    pub fail_on: Severity,
    pub expected_variant: String,
    pub thresholds: DropThresholds,
    pub inputs: Vec<InputSummary>,
    pub alerts: Vec<Alert>,
    /// Last figures per environment.
    pub environments: Vec<EnvMetrics>,
}

/// The merged figures of one environment's inputs.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EnvMetrics {
    pub env: String,
    #[serde(flatten)]
    pub metrics: Metrics,
}

impl rollout_core::Report for Report {
    fn human(&self, style: &rollout_core::Style, out: &mut dyn std::io::Write) -> Result<()> {
        render::human(self, style, out)
    }
}

impl Report {
    /// The inputs nothing could be read from, with why.
    pub fn problems(&self) -> impl Iterator<Item = (&InputSummary, &str)> {
        self.inputs
            .iter()
            .filter_map(|i| i.problem.as_deref().map(|p| (i, p)))
    }

    pub fn counts(&self) -> (usize, usize) {
        let crit = self
            .alerts
            .iter()
            .filter(|a| a.severity == Severity::Critical)
            .count();
        (crit, self.alerts.len() - crit)
    }
}

/// The rule settings from the rollout config and the learnt thresholds.
pub fn rule_settings(settings: &Settings) -> Result<RuleSettings> {
    let m = &settings.config.monitor;
    let drops = if m.drop_warning_per_100_ticks.is_some() || m.drop_critical_per_100_ticks.is_some()
    {
        DropThresholds {
            warning: m.drop_warning_per_100_ticks,
            critical: m.drop_critical_per_100_ticks,
            source: format!("configured in `{}`", settings.config.path.display()),
        }
    } else if ::input::is_present(&m.thresholds_file) {
        let learnt = learn::load(&m.thresholds_file)?;
        DropThresholds {
            warning: Some(learnt.drop_warning_per_100_ticks),
            critical: Some(learnt.drop_critical_per_100_ticks),
            source: format!("learnt in `{}`", m.thresholds_file.display()),
        }
    } else {
        DropThresholds::none()
    };
    Ok(RuleSettings {
        drops,
        ..rule_settings_without_thresholds(settings)
    })
}

/// The rule settings of the config, without drop thresholds.
pub fn rule_settings_without_thresholds(settings: &Settings) -> RuleSettings {
    let m = &settings.config.monitor;
    RuleSettings {
        variant: settings.config.runtime_variant.clone(),
        drops: DropThresholds::none(),
        exit_queue_limit: m.exit_queue_limit,
        spike_factor: m.exit_queue_spike_factor,
        window: m.exit_queue_window,
        runbook_url: m.runbook_url.clone(),
    }
}

/// Evaluates whole inputs: the library entry point (the gate calls it on its
/// capture). `fail_on` defaults to `monitor.fail_on`.
pub fn evaluate(
    settings: &Settings,
    inputs: &[Input],
    fail_on: Option<Severity>,
) -> Result<Report> {
    let rules = rule_settings(settings)?;
    // An input that was never written (a capture that logged nothing) is
    // its own failed check; the others are still judged.
    let (present, missing): (Vec<Input>, Vec<Input>) = inputs
        .iter()
        .cloned()
        .partition(|i| i.is_stdin() || ::input::is_present(&i.path));
    let (evals, mut summaries) = if present.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        read_inputs(&rules, &present, false)?
    };
    for i in missing {
        summaries.push(InputSummary {
            env: i.env.clone(),
            path: i.name(),
            kind: i.kind.unwrap_or(Kind::Log),
            records: 0,
            ticks: 0,
            first_tick: None,
            last_tick: None,
            problem: Some(format!("`{}` does not exist", i.name())),
            warnings: Vec::new(),
        });
    }
    let fail_on = fail_on.unwrap_or(settings.config.monitor.fail_on);
    Ok(report(&rules, fail_on, &evals, summaries))
}

/// Reads every input into its own evaluator.
pub fn read_inputs(
    rules: &RuleSettings,
    inputs: &[Input],
    points: bool,
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
        summaries.push(input::read_all(i, reader, kind, &mut eval)?);
        evals.push(eval);
    }
    Ok((evals, summaries))
}

/// Builds the report from evaluators.
pub fn report(
    rules: &RuleSettings,
    fail_on: Severity,
    evals: &[SourceEval],
    inputs: Vec<InputSummary>,
) -> Report {
    let mut alerts: Vec<Alert> = evals.iter().flat_map(SourceEval::alerts).collect();
    alerts.sort_by(|a, b| (b.severity, &a.env, a.rule).cmp(&(a.severity, &b.env, b.rule)));
    let unusable = inputs.iter().any(|i| i.problem.is_some());
    let verdict = Verdict::from_ok(!unusable && !alerts.iter().any(|a| a.severity >= fail_on));
    Report {
        schema: SCHEMA,
        verdict,
        fail_on,
        expected_variant: rules.variant.clone(),
        thresholds: rules.drops.clone(),
        inputs,
        alerts,
        environments: env_metrics(evals),
    }
}

/// Merges the figures of each environment's inputs: the log's counters, the
/// latest tick, and the exit queue of the input with the latest tick.
pub fn env_metrics(evals: &[SourceEval]) -> Vec<EnvMetrics> {
    let mut envs: Vec<EnvMetrics> = Vec::new();
    for e in evals {
        let m = e.metrics();
        let Some(slot) = envs.iter_mut().find(|x| x.env == e.env()) else {
            envs.push(EnvMetrics {
                env: e.env().to_string(),
                metrics: m,
            });
            continue;
        };
        let t = &mut slot.metrics;
        let newer = m.tick >= t.tick;
        t.tick = t.tick.max(m.tick);
        t.dropped_total = max_opt(t.dropped_total, m.dropped_total);
        t.drop_rate_per_100_ticks = match (t.drop_rate_per_100_ticks, m.drop_rate_per_100_ticks) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        t.queue = t.queue.or(m.queue);
        if m.exit_queue.is_some() && (newer || t.exit_queue.is_none()) {
            t.exit_queue = m.exit_queue;
            t.exit_queue_median = m.exit_queue_median;
            t.exit_queue_limit = m.exit_queue_limit;
        }
        if m.runtime_variant.is_some() && (newer || t.runtime_variant.is_none()) {
            t.runtime_variant = m.runtime_variant;
        }
        for p in m.plaintext_endpoints {
            if !t.plaintext_endpoints.contains(&p) {
                t.plaintext_endpoints.push(p);
            }
        }
        t.missing_ticks = match (t.missing_ticks, m.missing_ticks) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
    envs
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Runs `cargo xtask monitor` and its subcommands.
pub fn run(
    _sh: &xshell::Shell,
    ctx: &Context,
    args: Args,
    out: &mut dyn std::io::Write,
) -> Result<Verdict> {
    match args.command {
        Some(Sub::Learn(a)) => learn::run(ctx, a, out),
        Some(Sub::Rules(a)) => {
            let rules = rule_settings(&ctx.settings)?;
            let text = prom::alert_rules(&rules)?;
            match a.output {
                Some(path) => rollout_core::fs::write_atomic(&path, text.as_bytes())?,
                None => out.write_all(text.as_bytes())?,
            }
            Ok(Verdict::Pass)
        }
        Some(Sub::Chart(a)) => {
            require_svg_name(&a.out)?;
            let rules = rule_settings(&ctx.settings)?;
            let (evals, _) = read_inputs(&rules, &a.inputs.inputs(), true)?;
            chart::draw(&evals, &rules, &a.out)?;
            if ctx.verbosity > rollout_core::Verbosity::Quiet {
                eprintln!(
                    "wrote `{}`",
                    rollout_core::printable(&a.out.display().to_string())
                );
            }
            Ok(Verdict::Pass)
        }
        None => check(ctx, args.check, out),
    }
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
fn last_capture(settings: &rollout_config::Settings) -> Vec<input::Input> {
    [
        (
            settings.capture_dir().join("telemetry.jsonl"),
            Kind::Telemetry,
        ),
        (settings.townlet_log(), Kind::Log),
    ]
    .into_iter()
    .filter(|(path, _)| path.exists())
    .map(|(path, kind)| input::Input {
        env: input::DEFAULT_ENV.into(),
        path,
        kind: Some(kind),
    })
    .collect()
}

fn check(ctx: &Context, a: CheckArgs, out: &mut dyn std::io::Write) -> Result<Verdict> {
    let rules = rule_settings(&ctx.settings)?;
    let fail_on = a
        .fail_on
        .map(Severity::from)
        .unwrap_or(ctx.settings.config.monitor.fail_on);
    let mut inputs = a.inputs.inputs();
    if inputs.is_empty() {
        inputs = last_capture(&ctx.settings);
        if ctx.verbosity > rollout_core::Verbosity::Quiet {
            for input in &inputs {
                eprintln!(
                    "monitor: no input named: checking `{}` of the last capture of `{}`",
                    rollout_core::printable(&input.path.display().to_string()),
                    rollout_core::printable(&ctx.settings.root.value.display().to_string())
                );
            }
        }
    }
    let report = if a.follow {
        follow::run(ctx, &rules, fail_on, &inputs, &a, out)?
    } else {
        let (evals, summaries) = read_inputs(&rules, &inputs, false)?;
        if let Some(first) = summaries.iter().find_map(|s| s.problem.as_deref())
            && summaries.iter().all(|s| s.problem.is_some())
        {
            // Nothing could be checked at all: the input is bad.
            anyhow::bail!("{first}");
        }
        let report = report(&rules, fail_on, &evals, summaries);
        if let Some(path) = &a.prom_textfile {
            prom::write_textfile(path, &report.environments)?;
        }
        report
    };
    if a.follow && ctx.format == Format::Json {
        // The alerts came one object per line: the report ends the stream
        // on one line too, so that stdout is JSON Lines throughout.
        serde_json::to_writer(&mut *out, &report).context("cannot write the report")?;
        writeln!(out).context("cannot write the report")?;
    } else if ctx.format == Format::Human && ctx.verbosity == rollout_core::Verbosity::Quiet {
        render::failures(&report, &rollout_core::Style::stdout(), out)
            .context("cannot write the report")?;
    } else {
        rollout_core::emit(&report, ctx.format, &rollout_core::Style::stdout(), out)
            .context("cannot write the report")?;
    }
    Ok(report.verdict)
}
