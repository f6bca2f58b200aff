//! `release`: branches, tags, high-risk paths and the sign-off teams.

use super::Checker;
use super::valid_ref_name;
use crate::error::ConfigError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSection {
    /// The integration branch.
    #[serde(default = "default_main")]
    pub main_branch: String,
    /// Where changes touching high-risk paths must be staged first.
    #[serde(default = "default_staging")]
    pub staging_branch: String,
    /// Branches a release tag may be cut from.
    #[serde(default = "default_tag_branches")]
    pub tag_branches: Vec<String>,
    /// Paths (relative to the Townlet root) whose changes need staging and
    /// invalidate earlier sign-offs.
    #[serde(default = "default_high_risk")]
    pub high_risk_paths: Vec<String>,
    /// Paths whose commits form the rollback section of a tag message.
    #[serde(default = "default_facade")]
    pub facade_paths: Vec<String>,
    /// The first tag name to try; later candidates are `BASE.1`, `BASE.2`, ….
    #[serde(default = "default_base_tag")]
    pub base_tag: String,
    /// Teams that must sign off before a tag is cut.
    #[serde(default = "default_teams")]
    pub signoff_teams: Vec<SignoffTeam>,
    /// The remote whose tags count when choosing a free tag name, unless
    /// `--push REMOTE` names another. Skipped when the checkout lacks it.
    #[serde(default = "default_remote")]
    pub remote: String,
    /// Glob of tag names that mark earlier releases; the rollback section of
    /// a tag message lists facade commits since the nearest one.
    #[serde(default = "default_release_tags")]
    pub release_tags: String,
    /// Whether untracked (not ignored) files make the working tree dirty.
    #[serde(default)]
    pub untracked_dirty: bool,
    /// The git notes ref that holds sign-offs.
    #[serde(default = "default_signoff_ref")]
    pub signoff_ref: String,
    /// Longest a `git push` or `git ls-remote` may take before it is stopped.
    #[serde(default = "default_network_timeout")]
    pub network_timeout: super::types::Span,
    /// Longest any other git command (and the hooks it runs, such as
    /// `reference-transaction`) may take before it is stopped.
    #[serde(default = "default_git_timeout")]
    pub git_timeout: super::types::Span,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignoffTeam {
    /// Short id used on the command line (`cargo xtask signoff ui`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the team confirms by signing.
    pub checklist: Vec<String>,
}

fn default_main() -> String {
    "main".into()
}
fn default_staging() -> String {
    "release/m4-rollout".into()
}
fn default_tag_branches() -> Vec<String> {
    vec![default_main(), default_staging()]
}
fn default_high_risk() -> Vec<String> {
    vec!["src/townlet/world".into()]
}
fn default_facade() -> Vec<String> {
    vec!["src/townlet/world".into(), "src/townlet/telemetry".into()]
}
fn default_base_tag() -> String {
    "v0.9.0-m4".into()
}
fn default_remote() -> String {
    "origin".into()
}
fn default_release_tags() -> String {
    "v*".into()
}
fn default_network_timeout() -> super::types::Span {
    super::types::Span(std::time::Duration::from_secs(120))
}
fn default_git_timeout() -> super::types::Span {
    super::types::Span(std::time::Duration::from_secs(60))
}

fn default_signoff_ref() -> String {
    "refs/notes/townlet-signoff".into()
}
fn default_teams() -> Vec<SignoffTeam> {
    let team = |id: &str, name: &str, items: &[&str]| SignoffTeam {
        id: id.into(),
        name: name.into(),
        checklist: items.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        team(
            "ui",
            "UI",
            &["observer UI smoke renders the dashboard with an advancing tick"],
        ),
        team(
            "telemetry",
            "Telemetry",
            &[
                "TLS handshake smoke passed",
                "telemetry capture matches the Phase 3 baselines",
            ],
        ),
        team(
            "training",
            "Training/Automation",
            &["validation gate (pytest, ruff, mypy within debt) passed"],
        ),
    ]
}

impl Default for ReleaseSection {
    fn default() -> Self {
        Self {
            main_branch: default_main(),
            staging_branch: default_staging(),
            tag_branches: default_tag_branches(),
            high_risk_paths: default_high_risk(),
            facade_paths: default_facade(),
            base_tag: default_base_tag(),
            signoff_teams: default_teams(),
            remote: default_remote(),
            release_tags: default_release_tags(),
            untracked_dirty: false,
            signoff_ref: default_signoff_ref(),
            network_timeout: default_network_timeout(),
            git_timeout: default_git_timeout(),
        }
    }
}

/// The checks of `release` serde cannot express: ref names, the notes
/// ref, the remote, unique team ids.
pub(crate) fn validate(section: &ReleaseSection, check: &Checker<'_>) -> Result<(), ConfigError> {
    for (key, value) in [
        ("release.main_branch", &section.main_branch),
        ("release.staging_branch", &section.staging_branch),
        ("release.base_tag", &section.base_tag),
        ("release.signoff_ref", &section.signoff_ref),
    ] {
        if !valid_ref_name(value) {
            return Err(check.err(key.into(), format!("'{value}' is not a valid git ref name")));
        }
    }
    if !section.signoff_ref.starts_with("refs/notes/") {
        return Err(check.err(
            "release.signoff_ref".into(),
            format!(
                "expected a ref under refs/notes/, found '{}'",
                section.signoff_ref
            ),
        ));
    }
    if section.remote.trim().is_empty() || section.remote.starts_with('-') {
        return Err(check.err(
            "release.remote".into(),
            format!(
                "expected a remote name such as 'origin', found '{}'",
                section.remote
            ),
        ));
    }
    if section.release_tags.trim().is_empty() {
        return Err(check.err(
            "release.release_tags".into(),
            "expected a tag glob such as 'v*', found an empty string".into(),
        ));
    }
    let mut team_ids = BTreeSet::new();
    for (i, team) in section.signoff_teams.iter().enumerate() {
        if team.id.is_empty()
            || !team
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(check.err(
                format!("release.signoff_teams[{i}].id"),
                format!("expected letters, digits, '-' or '_', found '{}'", team.id),
            ));
        }
        if !team_ids.insert(team.id.as_str()) {
            return Err(check.err(
                format!("release.signoff_teams[{i}].id"),
                format!("team '{}' is listed twice", team.id),
            ));
        }
    }

    Ok(())
}
