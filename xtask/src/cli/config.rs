//! `cargo xtask config`: its arguments.

use std::path::PathBuf;

use clap::Args as ClapArgs;

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// Townlet simulation config to validate [default: tls_smoke.sim_config]
    #[arg(long, value_name = "PATH")]
    pub(crate) sim_config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) printed: super::format::TextOutput,
}

impl Args {
    /// What `config` checks; `--sim-config` is anchored at the working
    /// directory.
    pub(crate) fn settings(
        self,
        ctx: &rollout_config::Context,
    ) -> anyhow::Result<rollout_config::show::Settings> {
        Ok(rollout_config::show::Settings {
            sim_config: super::sim_config_arg(ctx, self.sim_config.as_deref())?,
        })
    }
}
