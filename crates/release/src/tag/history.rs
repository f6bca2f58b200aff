//! The previous release and the facade commits since it (the tag
//! message's rollback section), with the `history` check: a shallow clone
//! that lacks the previous release would list too few.

use anyhow::Result;
use plumbing::git::Git;
use rollout_config::model::ReleaseSection;

use super::checks::{Check, CheckId};
use crate::message::RollbackCommit;

/// The previous release and the facade commits since it, with the
/// `history` check.
pub(super) struct History {
    pub previous: Option<String>,
    pub shallow: bool,
    pub rollback: Vec<RollbackCommit>,
    pub check: Check,
}

/// The history of `commit` back to the previous release tag, leaving out
/// the tags at HEAD (`at_head`, the chosen name included).
pub(super) fn history(
    git: &Git<'_>,
    rel: &ReleaseSection,
    commit: &str,
    at_head: &[String],
) -> Result<History> {
    let previous = git.previous_tag(commit, &rel.release_tags, at_head)?;
    let shallow = git.is_shallow()?;
    let rollback: Vec<RollbackCommit> = git
        .commits_touching(commit, previous.as_deref(), &rel.facade_paths)?
        .into_iter()
        .map(|(c, subject)| RollbackCommit::new(c, subject))
        .collect();
    let check = history_check(previous.as_deref(), shallow, rollback.len(), rel);
    Ok(History {
        previous,
        shallow,
        rollback,
        check,
    })
}

/// The `history` check: only a shallow clone without the previous release
/// fails.
fn history_check(
    previous: Option<&str>,
    shallow: bool,
    count: usize,
    rel: &ReleaseSection,
) -> Check {
    let counted = format!(
        "{count} facade commit{} to list for rollback",
        if count == 1 { "" } else { "s" }
    );
    match (previous, shallow) {
        (None, true) => Check::fail(
            CheckId::History,
            format!(
                "shallow clone without an earlier release tag ({}) in its history, so the rollback section would miss facade commits",
                rel.release_tags
            ),
            "fetch the full history: git fetch --unshallow --tags, or pass --allow-shallow",
        ),
        (Some(p), true) => Check::pass(
            CheckId::History,
            format!("shallow clone, but the previous release {p} is in its history; {counted}"),
        ),
        (Some(p), false) => {
            Check::pass(CheckId::History, format!("previous release {p}; {counted}"))
        }
        (None, false) => Check::pass(
            CheckId::History,
            format!(
                "no earlier release tag ({}); {counted} since the first commit",
                rel.release_tags
            ),
        ),
    }
}
