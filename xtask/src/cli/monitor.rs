//! `cargo xtask monitor` and its subcommands: the arguments, and their
//! resolution into `monitor`'s settings (flags over the config over
//! defaults; relative paths anchored at the working directory, `-` kept as
//! stdin).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use rollout_config::Context;
use rollout_core::path::on_command_line;
use rollout_core::{Outcome, Severity};

/// `cargo xtask monitor`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(
    after_help = "Example:\n  cargo xtask monitor --env staging=staging.log --env prod=prod.jsonl --fail-on warning"
)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Sub {
    /// Learn drop thresholds from known-good runs into the thresholds file
    #[command(after_help = "Example:\n  cargo xtask monitor learn --from good1.log good2.log")]
    Learn(LearnArgs),
    /// Print alerting rules equivalent to the built-in rules
    #[command(
        after_help = "Example:\n  cargo xtask monitor rules --emit prometheus > townlet.rules.yml"
    )]
    Rules(RulesArgs),
    /// Print a Grafana dashboard over the textfile metrics and the recording rules
    #[command(
        after_help = "Example:\n  cargo xtask monitor dashboard --emit grafana --output configs/grafana/townlet.dashboard.json"
    )]
    Dashboard(DashboardArgs),
    /// Draw runtime_variant, drops, queue and exit queue per environment as SVG
    #[command(
        after_help = "Example:\n  cargo xtask monitor chart --env staging=a.log --env prod=b.jsonl --out envs.svg"
    )]
    Chart(ChartArgs),
}

/// The inputs, shared by checking and charting.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct InputArgs {
    /// A Townlet log with `tick_health` lines (`-` reads stdin)
    #[arg(long, value_name = "PATH")]
    pub log: Vec<PathBuf>,
    /// A Townlet telemetry stream, JSONL (`-` reads stdin)
    #[arg(long, value_name = "PATH")]
    pub telemetry: Vec<PathBuf>,
    /// A log or telemetry file of a named environment, told apart by content
    #[arg(long, value_name = "NAME=PATH", value_parser = parse_env)]
    pub env: Vec<(String, PathBuf)>,
}

/// `--env NAME=PATH`, as clap wants a value parser's error.
fn parse_env(s: &str) -> Result<(String, PathBuf), String> {
    monitor::input::parse_env(s).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FailOn {
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
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub printed: super::format::TextOutput,
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
    /// While reading a stream, rewrite the textfile this often (at least 1s) [default: monitor.textfile_interval]
    #[arg(long, value_name = "DURATION", requires = "prom_textfile", value_parser = rollout_config::model::parse_textfile_interval)]
    pub textfile_interval: Option<Duration>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LearnArgs {
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
pub(crate) enum Emit {
    Prometheus,
    /// Loki ruler rules: LogQL over Townlet's log lines
    Loki,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RulesArgs {
    /// The rule format
    #[arg(long, value_enum, default_value_t = Emit::Prometheus)]
    pub emit: Emit,
    /// Write to this file (atomically) instead of stdout
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DashboardEmit {
    Grafana,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DashboardArgs {
    /// The dashboard format
    #[arg(long, value_enum, default_value_t = DashboardEmit::Grafana)]
    pub emit: DashboardEmit,
    /// Write to this file (atomically) instead of stdout
    #[arg(
        help_heading = "Output",
        long,
        visible_alias = "out",
        value_name = "FILE"
    )]
    pub output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ChartArgs {
    #[command(flatten)]
    pub inputs: InputArgs,
    /// The SVG file to write
    #[arg(long, value_name = "FILE.svg")]
    pub out: PathBuf,
}

/// What `monitor` was asked to do, resolved.
#[derive(Debug)]
pub(crate) enum Settings {
    Check(monitor::Settings),
    Learn(monitor::LearnSettings),
    Rules(monitor::RulesSettings),
    Dashboard(monitor::DashboardSettings),
    Chart(monitor::ChartSettings),
}

/// Runs what was asked.
pub(crate) fn run(ctx: &Context, settings: Settings) -> Result<Outcome> {
    match settings {
        Settings::Check(s) => monitor::run(ctx, s),
        Settings::Learn(s) => monitor::run_learn(ctx, s),
        Settings::Rules(s) => monitor::run_rules(ctx, s),
        Settings::Dashboard(s) => monitor::run_dashboard(ctx, s),
        Settings::Chart(s) => monitor::run_chart(ctx, s),
    }
}

impl Args {
    /// Resolves the arguments over the rollout config.
    pub(crate) fn settings(self, ctx: &Context) -> Result<Settings> {
        let cwd = std::env::current_dir()?;
        let config = &ctx.settings.config;
        let settings = match self.command {
            None => Settings::Check(self.check.settings(ctx, &cwd)?),
            Some(Sub::Learn(a)) => Settings::Learn(monitor::LearnSettings {
                from: a.from.iter().map(|p| on_command_line(&cwd, p)).collect(),
                output: a.output.map_or_else(
                    || config.monitor.thresholds_file.clone(),
                    |p| on_command_line(&cwd, &p),
                ),
                wait: a.wait,
                rules: monitor::rule_settings_without_thresholds(config),
                margin: config.monitor.learn_margin,
                critical_factor: config.monitor.learn_critical_factor,
            }),
            Some(Sub::Rules(a)) => Settings::Rules(monitor::RulesSettings {
                emit: match a.emit {
                    Emit::Prometheus => monitor::Emit::Prometheus,
                    Emit::Loki => monitor::Emit::Loki,
                },
                rules: config_rules(ctx)?,
                loki: monitor::LokiSettings::from_config(config),
                output: a.output.map(|p| on_command_line(&cwd, &p)),
            }),
            Some(Sub::Dashboard(a)) => Settings::Dashboard(monitor::DashboardSettings {
                emit: match a.emit {
                    DashboardEmit::Grafana => monitor::DashboardEmit::Grafana,
                },
                rules: config_rules(ctx)?,
                output: a.output.map(|p| on_command_line(&cwd, &p)),
            }),
            Some(Sub::Chart(a)) => Settings::Chart(monitor::ChartSettings {
                inputs: a.inputs.inputs(&cwd),
                rules: config_rules(ctx)?,
                out: on_command_line(&cwd, &a.out),
            }),
        };
        Ok(settings)
    }
}

impl CheckArgs {
    /// The inputs named, else the root's last capture; `--fail-on` over
    /// `monitor.fail_on`.
    fn settings(self, ctx: &Context, cwd: &Path) -> Result<monitor::Settings> {
        let rules = config_rules(ctx)?;
        let mut inputs = self.inputs.inputs(cwd);
        let mut last_capture_of = None;
        if inputs.is_empty() {
            inputs = monitor::last_capture(&ctx.settings);
            last_capture_of = Some(ctx.settings.root.value.clone());
        }
        Ok(monitor::Settings {
            inputs,
            last_capture_of,
            rules,
            fail_on: self
                .fail_on
                .map_or(ctx.settings.config.monitor.fail_on, Severity::from),
            unreadable: monitor::Unreadable::Refuse,
            follow: self.follow.then_some(monitor::FollowSettings {
                stop_after_idle: self.stop_after_idle,
            }),
            prom_textfile: self.prom_textfile.map(|p| on_command_line(cwd, &p)),
            textfile_interval: self
                .textfile_interval
                .unwrap_or(ctx.settings.config.monitor.textfile_interval.0),
        })
    }
}

impl InputArgs {
    /// Every input in the order of the flags: logs, telemetry, named
    /// environments; `-` stays stdin.
    fn inputs(&self, cwd: &Path) -> Vec<monitor::Input> {
        let anchor = |p: &PathBuf| {
            if p.as_os_str() == "-" {
                p.clone()
            } else {
                on_command_line(cwd, p)
            }
        };
        let declared = |paths: &[PathBuf], kind| {
            paths
                .iter()
                .map(|p| monitor::Input {
                    env: monitor::input::DEFAULT_ENV.into(),
                    path: anchor(p),
                    kind: Some(kind),
                })
                .collect::<Vec<_>>()
        };
        let mut out = declared(&self.log, monitor::Kind::Log);
        out.extend(declared(&self.telemetry, monitor::Kind::Telemetry));
        out.extend(self.env.iter().map(|(env, p)| monitor::Input {
            env: env.clone(),
            path: anchor(p),
            kind: None,
        }));
        out
    }
}

/// The rules of the rollout config, with the learnt thresholds when it
/// sets none.
fn config_rules(ctx: &Context) -> Result<monitor::RuleSettings> {
    let config = &ctx.settings.config;
    let learnt = monitor::learnt_thresholds(config)?;
    Ok(monitor::rule_settings(config, learnt.as_ref()))
}
