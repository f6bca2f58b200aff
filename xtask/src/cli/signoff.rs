//! `cargo xtask signoff`: its arguments and their resolution into
//! [`release::signoff::Settings`].

use anyhow::bail;
use release::signoff::{Settings, Signing};
use rollout_config::Context;

/// Arguments of `cargo xtask signoff`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    after_help = "Example:\n  cargo xtask signoff telemetry --note \"TLS smoke and baselines checked\""
)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) printed: super::format::TextOutput,
    /// The team signing off (an `id` from `release.signoff_teams`: ui, telemetry, training)
    #[arg(required_unless_present = "status", value_name = "TEAM")]
    pub(crate) team: Option<String>,
    /// Who signs [default: git's `user.name <user.email>`]
    #[arg(long, value_name = "NAME", conflicts_with = "status")]
    pub(crate) by: Option<String>,
    /// A remark stored with the sign-off
    #[arg(long, value_name = "TEXT", conflicts_with = "status")]
    pub(crate) note: Option<String>,
    /// The commit signed off [default: HEAD]
    #[arg(long, value_name = "REV", conflicts_with = "status")]
    pub(crate) commit: Option<String>,
    /// List, for each team, the sign-off that holds for REV [default: HEAD]
    #[arg(long, value_name = "REV", num_args = 0..=1, default_missing_value = "HEAD", conflicts_with = "team")]
    pub(crate) status: Option<String>,
}

impl Args {
    /// The settings `signoff` runs with: `--status`, else the sign-off of
    /// TEAM. Nothing here is a path.
    pub(crate) fn settings(self, _ctx: &Context) -> anyhow::Result<Settings> {
        if let Some(rev) = self.status {
            return Ok(Settings::Status { rev });
        }
        let Some(team) = self.team else {
            bail!("name a team to sign off, or pass `--status`\nhint: cargo xtask signoff ui");
        };
        Ok(Settings::Record(Signing {
            team,
            by: self.by,
            note: self.note,
            commit: self.commit,
        }))
    }
}
