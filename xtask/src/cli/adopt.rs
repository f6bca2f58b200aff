//! `cargo xtask adopt`: its arguments.

use std::path::PathBuf;

use clap::Args as ClapArgs;
use rollout_core::path::on_command_line;

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The Townlet checkout to write into: the top of its git repository
    #[arg(value_name = "PATH")]
    pub(crate) path: PathBuf,
    /// Replace files that exist and differ from the tooling's
    #[arg(long)]
    pub(crate) force: bool,
    /// Also copy the tooling's tests, benches and fuzz targets
    #[arg(long)]
    pub(crate) with_tests: bool,
    /// Also copy the bundled sample target and its baselines
    #[arg(long)]
    pub(crate) with_sample: bool,
    /// Print what would be written; write nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) printed: super::format::TextOutput,
}

impl Args {
    /// What `adopt` writes; the checkout's path is anchored at the working
    /// directory.
    pub(crate) fn settings(self) -> anyhow::Result<adopt::AdoptSettings> {
        let cwd = std::env::current_dir()?;
        Ok(adopt::AdoptSettings {
            path: on_command_line(&cwd, &self.path),
            force: self.force,
            with_tests: self.with_tests,
            with_sample: self.with_sample,
            dry_run: self.dry_run,
        })
    }
}
