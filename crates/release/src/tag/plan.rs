//! What `tag` would do and why: the commit, the chosen name, the remote,
//! every check and the tag message. Making the plan changes nothing.

use std::path::PathBuf;

use anyhow::Result;
use plumbing::git::Git;
use plumbing::report::report_path;
use rollout_config::Context;
use serde::Serialize;
use xshell::Shell;

use super::Settings;
use super::checks::{self, Check, CheckId, Gated};
use super::history::history;
use super::name::choose_name;
use crate::message::{self, Override, RollbackCommit};
use crate::signoff;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Create a new tag.
    Create,
    /// Reuse the tag an earlier run created at HEAD.
    Reuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// The configured base name was free.
    Base,
    /// The next free name after the highest taken one.
    Next,
    /// `--name`.
    Explicit,
    /// An earlier run's tag at HEAD.
    Rerun,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TagPlan {
    pub name: String,
    pub action: Action,
    pub reason: Reason,
    /// Taken names of the base's series (locally or on the remote), in order.
    pub taken: Vec<String>,
    pub sign: bool,
    /// The local tag object when reusing.
    pub local_object: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RemotePlan {
    pub name: String,
    /// Whether the tag is pushed there (`--push`) or its tags only count as taken.
    pub push: bool,
    /// The remote's tags could be listed.
    pub listed: bool,
    /// What the remote's tag of the chosen name points at, when it has one.
    pub object: Option<String>,
}

/// What `tag` would do and why.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Plan {
    pub root: PathBuf,
    pub commit: String,
    pub tree: String,
    pub branch: Option<String>,
    pub tag: TagPlan,
    pub remote: Option<RemotePlan>,
    pub checks: Vec<Check>,
    pub overrides: Vec<Override>,
    pub previous_tag: Option<String>,
    pub shallow: bool,
    pub rollback: Vec<RollbackCommit>,
    /// The annotated tag's message.
    pub message: String,
    /// Every check passed or was overridden.
    pub ready: bool,
}

impl Plan {
    /// The checks that failed and were not overridden: what stops `--execute`.
    pub fn blocking(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.blocks())
    }

    /// The ids of [`Plan::blocking`].
    pub fn blocking_ids(&self) -> Vec<CheckId> {
        self.blocking().map(|c| c.id).collect()
    }

    /// [`Plan::blocking_ids`] as the report writes them, comma-separated.
    pub(super) fn blocking_list(&self) -> String {
        let ids: Vec<&str> = self.blocking().map(|c| c.id.as_str()).collect();
        ids.join(", ")
    }
}

/// Makes the plan: resolves the name, runs every check, builds the message.
pub fn plan(sh: &Shell, ctx: &Context, settings: &Settings) -> Result<Plan> {
    let s = &ctx.settings;
    let rel = &s.config.release;
    let root = s.checkout()?;
    let git = Git::open(sh, root)?
        .with_network_timeout(rel.network_timeout.0)
        .with_local_timeout(rel.git_timeout.0);
    let commit = git.commit("HEAD")?;
    let tree = git.tree(&commit)?;
    let branch = git.branch()?;
    let mut checks = vec![
        checks::clean_check(&git, rel)?,
        checks::branch_check(branch.as_deref(), &commit, rel),
    ];
    let (gate, report) = checks::gate_check(
        &report_path(&s.rollout_dir()),
        &commit,
        &tree,
        Gated {
            root: &s.root.value,
            config: &s.config.path,
            config_sha256: &s.config.sha256,
        },
    );
    checks.push(gate);
    let teams = signoff::evaluate(&git, rel, &commit)?;
    checks.push(checks::signoff_check(&git, rel, &teams, &commit)?);
    let named = choose_name(&git, rel, settings, &commit)?;
    checks.push(named.check);
    let history = history(&git, rel, &commit, &named.at_head)?;
    checks.push(history.check);
    let overrides = checks::apply_overrides(&mut checks, settings);
    let ready = !checks.iter().any(Check::blocks);

    let message = message::build(&message::Input {
        name: &named.tag.name,
        commit: &commit,
        branch: branch.as_deref(),
        gate: report.as_ref(),
        signoffs: &teams,
        overrides: &overrides,
        previous: history.previous.as_deref(),
        facade_paths: &rel.facade_paths,
        rollback: &history.rollback,
    });

    Ok(Plan {
        root: root.to_path_buf(),
        commit,
        tree,
        branch,
        tag: named.tag,
        remote: named.remote,
        checks,
        overrides,
        previous_tag: history.previous,
        shallow: history.shallow,
        rollback: history.rollback,
        message,
        ready,
    })
}
