//! The tag's checks: their ids (each owning the flag that overrides it),
//! the check record of the tag's report, and the checks of the working
//! tree, the branch, the gate report and the sign-offs. The `tag-name` and
//! `history` checks are made where the name and the history are worked out
//! (`name.rs`, `history.rs`).

use std::path::Path;

use anyhow::Result;
use plumbing::git::Git;
use plumbing::report::{GateReport, GateVerdict};
use rollout_config::model::ReleaseSection;
use rollout_core::Status;
use serde::Serialize;

use super::Settings;
use crate::message::Override;
use crate::signoff::{self, TeamState, short};

/// A check of `tag`. Its id is what the JSON report and the tag message
/// write ([`CheckId::as_str`]); a check a person may decide to go past has
/// the one flag that does so ([`CheckId::override_flag`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    /// No uncommitted changes.
    Clean,
    /// HEAD is on a tag branch.
    Branch,
    /// A gate report that passed for exactly HEAD.
    Gate,
    /// A valid sign-off of every team.
    Signoff,
    /// The tag name is free (locally and on the remote).
    TagName,
    /// The history reaches the previous release tag.
    History,
}

impl CheckId {
    /// Every check, in the order the plan runs them.
    pub const ALL: [CheckId; 6] = [
        CheckId::Clean,
        CheckId::Branch,
        CheckId::Gate,
        CheckId::Signoff,
        CheckId::TagName,
        CheckId::History,
    ];

    /// The id in reports and in the tag message.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Clean => "clean",
            CheckId::Branch => "branch",
            CheckId::Gate => "gate",
            CheckId::Signoff => "signoff",
            CheckId::TagName => "tag-name",
            CheckId::History => "history",
        }
    }

    /// The command-line flag that lets a failure of this check pass
    /// (recorded in the tag message); none for `tag-name`, which an
    /// existing tag decides.
    pub fn override_flag(self) -> Option<&'static str> {
        match self {
            CheckId::Clean => Some("--allow-dirty"),
            CheckId::Branch => Some("--allow-branch"),
            CheckId::Gate => Some("--allow-gate"),
            CheckId::Signoff => Some("--allow-signoff"),
            CheckId::History => Some("--allow-shallow"),
            CheckId::TagName => None,
        }
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check and its result, as the tag's report writes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Check {
    /// `clean`, `branch`, `gate`, `signoff`, `tag-name`, `history`.
    pub id: CheckId,
    pub status: Status,
    pub summary: String,
    /// Lines explaining a failure.
    pub details: Vec<String>,
    pub hint: Option<String>,
    /// The flag that can override a failure of this check (none for `tag-name`).
    pub override_flag: Option<&'static str>,
    /// The flag that let `--execute` go past this failure.
    pub overridden_by: Option<String>,
}

impl Check {
    pub(super) fn new(id: CheckId, status: Status, summary: impl Into<String>) -> Self {
        Self {
            id,
            status,
            summary: summary.into(),
            details: Vec::new(),
            hint: None,
            override_flag: id.override_flag(),
            overridden_by: None,
        }
    }

    pub(super) fn pass(id: CheckId, summary: impl Into<String>) -> Self {
        Self::new(id, Status::Pass, summary)
    }

    pub(super) fn fail(id: CheckId, summary: impl Into<String>, hint: impl Into<String>) -> Self {
        let mut c = Self::new(id, Status::Fail, summary);
        c.hint = Some(hint.into());
        c
    }

    pub(super) fn details(mut self, d: Vec<String>) -> Self {
        self.details = d;
        self
    }

    /// Failed and not overridden.
    pub fn blocks(&self) -> bool {
        self.status == Status::Fail && self.overridden_by.is_none()
    }

    /// The check in the shared contract: a failure an override let pass
    /// warns and says by which flag; a failure's details end with its hint.
    pub fn to_check(&self) -> rollout_core::Check {
        let (status, summary) = match &self.overridden_by {
            Some(flag) if self.status == Status::Fail => (
                Status::Warn,
                format!("{} (overridden by {flag})", self.summary),
            ),
            _ => (self.status, self.summary.clone()),
        };
        let mut details = Vec::new();
        if self.status == Status::Fail {
            details.extend(self.details.iter().cloned());
            if let (Some(hint), None) = (&self.hint, &self.overridden_by) {
                details.push(format!("hint: {hint}"));
            }
        }
        rollout_core::Check::new(self.id.as_str(), status, summary).with_details(details)
    }
}

/// Marks the failed checks an `--allow-*` flag overrides, and lists them
/// for the tag message.
pub(super) fn apply_overrides(checks: &mut [Check], settings: &Settings) -> Vec<Override> {
    let mut overrides = Vec::new();
    for check in checks {
        if check.status == Status::Fail
            && let Some(flag) = settings.allows(check.id)
        {
            check.overridden_by = Some(flag.to_string());
            overrides.push(Override {
                flag: flag.to_string(),
                check: check.id.as_str().to_string(),
                summary: check.summary.clone(),
            });
        }
    }
    overrides
}

/// Whether the working tree is clean.
pub(super) fn clean_check(git: &Git<'_>, rel: &ReleaseSection) -> Result<Check> {
    let dirty = git.status(rel.untracked_dirty)?;
    if dirty.is_empty() {
        return Ok(Check::pass(
            CheckId::Clean,
            if rel.untracked_dirty {
                "no uncommitted changes or untracked files"
            } else {
                "no uncommitted changes to tracked files"
            },
        ));
    }
    let count = dirty.len();
    Ok(Check::fail(
        CheckId::Clean,
        format!(
            "{count} uncommitted change{} in the working tree",
            if count == 1 { "" } else { "s" }
        ),
        "commit or stash them (git stash), or pass --allow-dirty",
    )
    .details(limit(dirty, 10)))
}

/// At most `n` lines, then one that counts the rest.
fn limit(mut lines: Vec<String>, n: usize) -> Vec<String> {
    if lines.len() > n {
        let more = lines.len() - n;
        lines.truncate(n);
        lines.push(format!("… and {more} more"));
    }
    lines
}

/// Whether HEAD is on a branch releases are tagged from.
pub(super) fn branch_check(branch: Option<&str>, commit: &str, rel: &ReleaseSection) -> Check {
    match branch {
        Some(name) if rel.tag_branches.iter().any(|t| t == name) => {
            Check::pass(CheckId::Branch, format!("HEAD is on {name}"))
        }
        Some(name) => Check::fail(
            CheckId::Branch,
            format!(
                "HEAD is on {name}, not on a tag branch ({})",
                rel.tag_branches.join(", ")
            ),
            format!(
                "git switch {} and merge the release there, or pass --allow-branch",
                rel.main_branch
            ),
        ),
        None => Check::fail(
            CheckId::Branch,
            format!("HEAD is detached at {}", short(commit)),
            format!(
                "check out a tag branch ({}): git switch {}, or pass --allow-branch",
                rel.tag_branches.join(", "),
                rel.main_branch
            ),
        ),
    }
}

/// Whether every team signed off this commit.
pub(super) fn signoff_check(
    git: &Git<'_>,
    rel: &ReleaseSection,
    teams: &[signoff::TeamStatus],
    commit: &str,
) -> Result<Check> {
    let missing: Vec<&signoff::TeamStatus> = teams
        .iter()
        .filter(|t| t.state != TeamState::Valid)
        .collect();
    if missing.is_empty() {
        return Ok(Check::pass(
            CheckId::Signoff,
            format!(
                "all {} teams signed off ({})",
                teams.len(),
                teams
                    .iter()
                    .map(|t| t.team.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let ids: Vec<&str> = missing.iter().map(|t| t.team.as_str()).collect();
    let fetch = if git.ref_exists(&rel.signoff_ref)? {
        String::new()
    } else {
        format!(
            "this checkout has no sign-offs at all (`{r}` is absent): fetch them with `git fetch {remote} {r}:{r}`, or ",
            r = rel.signoff_ref,
            remote = rel.remote
        )
    };
    Ok(Check::fail(
        CheckId::Signoff,
        format!(
            "{} of {} teams have no valid sign-off: {}",
            missing.len(),
            teams.len(),
            ids.join(", ")
        ),
        format!(
            "{fetch}each team confirms its checklist and runs: cargo xtask signoff TEAM --commit {} (for example cargo xtask signoff {}), or pass --allow-signoff",
            short(commit),
            ids[0]
        ),
    )
    .details(missing.iter().map(|t| signoff::describe(t, commit)).collect()))
}

/// What a usable gate report must have gated: this root, with this
/// rollout definition.
#[derive(Debug, Clone, Copy)]
pub struct Gated<'a> {
    pub root: &'a Path,
    pub config: &'a Path,
    pub config_sha256: &'a str,
}

/// Whether two paths name the same file or directory.
fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

const RERUN_GATE: &str = "run the gate on this commit: cargo xtask gate (or pass --allow-gate)";

/// Reads the gate report and checks that it passed for exactly `commit` and
/// `tree`, on the same root and with the same rollout definition.
pub fn gate_check(
    path: &Path,
    commit: &str,
    tree: &str,
    expected: Gated<'_>,
) -> (Check, Option<GateReport>) {
    let shown = path.display();
    if !path.exists() {
        return (
            Check::fail(
                CheckId::Gate,
                format!("no gate report at `{shown}`"),
                RERUN_GATE,
            ),
            None,
        );
    }
    let report = match GateReport::load(path) {
        Ok(r) => r,
        Err(e) => {
            return (
                Check::fail(CheckId::Gate, format!("{e:#}"), RERUN_GATE),
                None,
            );
        }
    };
    let Some(g) = report.git.clone() else {
        return (
            Check::fail(
                CheckId::Gate,
                format!(
                    "gate report `{shown}` has no git state (the gated root was not a git repository)"
                ),
                RERUN_GATE,
            ),
            Some(report),
        );
    };
    let check = provenance_mismatch(&report, &g, commit, tree, expected)
        .unwrap_or_else(|| verdict_check(&report, commit, tree));
    (check, Some(report))
}

/// Why the report did not gate exactly this commit as it is, on this root
/// with this rollout config, if it did not.
fn provenance_mismatch(
    report: &GateReport,
    g: &plumbing::report::GitState,
    commit: &str,
    tree: &str,
    expected: Gated<'_>,
) -> Option<Check> {
    let fail = |summary: String, hint: &str| Some(Check::fail(CheckId::Gate, summary, hint));
    if !same_path(&report.root, expected.root) {
        fail(
            format!(
                "gate report is for the checkout `{}`, not `{}`",
                report.root.display(),
                expected.root.display()
            ),
            "run the gate on this checkout: cargo xtask gate --root <this checkout> (or pass --allow-gate)",
        )
    } else if let Some(msg) = config_mismatch(report, expected) {
        fail(
            msg,
            "run the gate again with this rollout config: cargo xtask gate (or pass --allow-gate)",
        )
    } else if g.commit != commit {
        fail(
            format!(
                "gate report is for commit {}, HEAD is {}",
                short(&g.commit),
                short(commit)
            ),
            RERUN_GATE,
        )
    } else if g.tree != tree {
        fail(
            format!(
                "gate report is for tree {}, HEAD's tree is {}",
                short(&g.tree),
                short(tree)
            ),
            RERUN_GATE,
        )
    } else if g.dirty {
        fail(
            format!(
                "gate ran on {} with uncommitted changes, so it did not test this commit as is",
                short(commit)
            ),
            "commit or stash the changes, then run cargo xtask gate again (or pass --allow-gate)",
        )
    } else {
        None
    }
}

/// The `gate` check of a report made for this very commit: its verdict,
/// and whether the whole gate ran.
fn verdict_check(report: &GateReport, commit: &str, tree: &str) -> Check {
    if let Some(what) = report
        .partial_selection()
        .filter(|_| report.verdict == GateVerdict::Pass)
    {
        Check::fail(
            CheckId::Gate,
            format!(
                "gate for {} passed, but only a selection ran ({what})",
                short(commit)
            ),
            "run the whole gate on this commit: cargo xtask gate (or pass --allow-gate)",
        )
    } else if report.verdict != GateVerdict::Pass {
        let failed: Vec<String> = report
            .steps
            .iter()
            .filter(|s| s.status.fails_the_gate())
            .map(|s| format!("{}: {}", s.id, s.summary))
            .collect();
        Check::fail(
            CheckId::Gate,
            format!(
                "gate verdict for {} is {}",
                short(commit),
                format!("{:?}", report.verdict).to_lowercase()
            ),
            "fix the failing steps and run cargo xtask gate again (or pass --allow-gate)",
        )
        .details(failed)
    } else {
        Check::pass(
            CheckId::Gate,
            format!(
                "gate passed for {} (tree {}): {} steps, started {}",
                short(commit),
                short(tree),
                report.ran(),
                report.started_at
            ),
        )
    }
}

/// Why the report's rollout definition is not the one in use, if it is not.
fn config_mismatch(report: &GateReport, expected: Gated<'_>) -> Option<String> {
    let Some(used) = &report.config else {
        return Some(
            "gate report does not record which rollout config it ran with (made by an older version)"
                .into(),
        );
    };
    if !same_path(&used.path, expected.config) {
        return Some(format!(
            "gate ran with the rollout config `{}`, this uses `{}`",
            used.path.display(),
            expected.config.display()
        ));
    }
    if used.sha256 != expected.config_sha256 {
        return Some(format!(
            "gate ran with another version of `{}` (sha256 {}, now {})",
            expected.config.display(),
            short(&used.sha256),
            short(expected.config_sha256)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_is_written_as_before_and_owns_its_override_flag() {
        let ids: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            ids,
            ["clean", "branch", "gate", "signoff", "tag-name", "history"]
        );
        for id in CheckId::ALL {
            let json = serde_json::to_value(id).expect("json");
            assert_eq!(json, id.as_str(), "the JSON spells {id} as its as_str");
        }
        let flags: Vec<Option<&str>> = CheckId::ALL.iter().map(|c| c.override_flag()).collect();
        assert_eq!(
            flags,
            [
                Some("--allow-dirty"),
                Some("--allow-branch"),
                Some("--allow-gate"),
                Some("--allow-signoff"),
                None,
                Some("--allow-shallow")
            ]
        );
    }

    #[test]
    fn an_allowed_failure_warns_and_an_allowed_pass_stays_a_pass() {
        let settings = Settings {
            allowed: vec![CheckId::Clean, CheckId::Gate],
            ..Default::default()
        };
        let mut checks = vec![
            Check::fail(CheckId::Clean, "1 uncommitted change", "commit it"),
            Check::pass(CheckId::Gate, "gate passed"),
            Check::fail(CheckId::Branch, "HEAD is detached", "switch"),
        ];
        let overrides = apply_overrides(&mut checks, &settings);
        assert_eq!(overrides.len(), 1);
        assert_eq!(
            (overrides[0].flag.as_str(), overrides[0].check.as_str()),
            ("--allow-dirty", "clean")
        );
        let shared: Vec<rollout_core::Check> = checks.iter().map(Check::to_check).collect();
        assert_eq!(shared[0].status, Status::Warn);
        assert_eq!(
            shared[0].summary,
            "1 uncommitted change (overridden by --allow-dirty)"
        );
        assert!(shared[0].details.is_empty());
        assert_eq!(shared[1].status, Status::Pass);
        assert_eq!(shared[2].status, Status::Fail);
        assert_eq!(shared[2].details, ["hint: switch"]);
    }
}
