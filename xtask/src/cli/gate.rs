//! `cargo xtask gate`: its arguments and their resolution into
//! [`gate::Settings`].

use std::path::PathBuf;

use anyhow::{Result, bail};
use rollout_config::Context;
use rollout_core::Selection;
use rollout_core::path::on_command_line;

/// Run the M4 validation gate on the Townlet checkout.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    after_help = "Example:\n  cargo xtask gate --root ../townlet --suite observation --junit target/gate.xml"
)]
pub(crate) struct Args {
    /// Run only these steps (and the steps they need), comma-separated
    #[arg(
        help_heading = "Selection",
        long,
        value_delimiter = ',',
        value_name = "IDS"
    )]
    pub(crate) steps: Vec<String>,
    /// Leave out these steps (and the steps that need them), comma-separated
    #[arg(
        help_heading = "Selection",
        long,
        value_delimiter = ',',
        value_name = "IDS"
    )]
    pub(crate) skip: Vec<String>,
    /// Run a named pytest suite instead of the full suite (see gate.suites)
    #[arg(help_heading = "Selection", long, value_name = "NAME")]
    pub(crate) suite: Option<String>,
    #[command(flatten)]
    pub(crate) printed: super::format::ReportOutput,
    /// How many steps run at once [default: gate.jobs, else the number of CPUs]
    #[arg(long, short = 'j', value_name = "N")]
    pub(crate) jobs: Option<usize>,
    /// Stop at the first failing step: start nothing more, stop what runs
    #[arg(long)]
    pub(crate) fail_fast: bool,
    /// Rewrite the mypy debt files from this run (only shrinks them)
    #[arg(long)]
    pub(crate) update_debt: bool,
    /// With --update-debt: also record new mypy errors as debt
    #[arg(long, requires = "update_debt")]
    pub(crate) allow_debt_growth: bool,
    /// Do not create a missing Python environment; stop instead
    #[arg(long)]
    pub(crate) no_provision: bool,
    /// Also write the result as JUnit XML to FILE
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Also write a Markdown summary to FILE (and append it to $GITHUB_STEP_SUMMARY when set)
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub(crate) summary: Option<PathBuf>,
    /// When another gate uses the output directory, wait for it instead of exiting 2
    #[arg(long)]
    pub(crate) wait: bool,
}

impl Args {
    /// The gate's settings: `--jobs` over `gate.jobs` over the number of
    /// CPUs; `--suite` looked up in `gate.suites`; report paths anchored at
    /// the working directory.
    pub(crate) fn settings(self, ctx: &Context) -> Result<gate::Settings> {
        let cfg = &ctx.settings.config;
        let suite_args = gate::suite_args(cfg, self.suite.as_deref())?;
        let jobs = self
            .jobs
            .or(cfg.gate.jobs)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        if jobs == 0 {
            bail!("--jobs must be at least 1");
        }
        let cwd = std::env::current_dir()?;
        Ok(gate::Settings {
            selection: Selection {
                steps: self.steps,
                skip: self.skip,
                suite: self.suite,
            },
            suite_args,
            jobs,
            fail_fast: self.fail_fast,
            update_debt: self.update_debt,
            allow_debt_growth: self.allow_debt_growth,
            no_provision: self.no_provision,
            junit: self.junit.map(|p| on_command_line(&cwd, &p)),
            summary: self.summary.map(|p| on_command_line(&cwd, &p)),
            wait: self.wait,
        })
    }
}
