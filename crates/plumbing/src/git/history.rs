//! History and work trees for `baseline-diff --bisect`: the first-parent
//! path between two commits, what a commit says about itself, and detached
//! work trees that check a commit out without touching the user's checkout.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use xshell::cmd;

use super::{Git, operand};

/// A commit as a report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub commit: String,
    /// The first line of its message.
    pub subject: String,
    /// Author date, strict ISO 8601 (`%aI`).
    pub author_date: String,
}

impl Git<'_> {
    /// Whether `ancestor` is an ancestor of `commit` (or the same commit).
    pub fn is_ancestor(&self, ancestor: &str, commit: &str) -> Result<bool> {
        operand(ancestor, "the ancestor commit")?;
        operand(commit, "the commit")?;
        let r = self.try_run(cmd!(
            self.sh(),
            "git merge-base --is-ancestor --end-of-options {ancestor} {commit}"
        ))?;
        Ok(r.ok)
    }

    /// The commits from `good` (excluded) to `bad` (included), oldest first,
    /// following first parents only: the path a merge took into `bad`.
    pub fn first_parent_path(&self, good: &str, bad: &str) -> Result<Vec<String>> {
        operand(good, "the good commit")?;
        operand(bad, "the bad commit")?;
        let range = format!("{good}..{bad}");
        let out = self.read(cmd!(
            self.sh(),
            "git rev-list --first-parent --reverse --end-of-options {range}"
        ))?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// The subject and author date of `commit`.
    pub fn commit_info(&self, commit: &str) -> Result<CommitInfo> {
        operand(commit, "the commit")?;
        let out = self.read(cmd!(
            self.sh(),
            "git show --no-patch --format=%H%x00%aI%x00%s --end-of-options {commit}"
        ))?;
        let mut parts = out.splitn(3, '\0');
        let (Some(id), Some(date), Some(subject)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("unexpected `git show` output for `{commit}`");
        };
        Ok(CommitInfo {
            commit: id.to_string(),
            subject: subject.to_string(),
            author_date: date.to_string(),
        })
    }

    /// Checks `commit` out, detached, as a new work tree at `path` (which
    /// must not exist); the user's checkout and its index stay as they are.
    pub fn worktree_add(&self, path: &Path, commit: &str) -> Result<()> {
        operand(commit, "the commit")?;
        let p = path.as_os_str();
        self.read(cmd!(
            self.sh(),
            "git worktree add --detach --end-of-options {p} {commit}"
        ))?;
        Ok(())
    }

    /// Removes the work tree at `path`, changes and all, then forgets work
    /// trees whose directory is gone (`git worktree prune`).
    pub fn worktree_remove(&self, path: &Path) -> Result<()> {
        let p = path.as_os_str();
        let removed = self.try_run(cmd!(
            self.sh(),
            "git worktree remove --force --force --end-of-options {p}"
        ))?;
        if path.exists() {
            std::fs::remove_dir_all(path).ok();
        }
        self.read(cmd!(self.sh(), "git worktree prune"))?;
        if !removed.ok && self.worktrees()?.iter().any(|w| w == path) {
            bail!(
                "cannot remove the work tree `{}`: {}",
                path.display(),
                rollout_core::output::printable(&removed.stderr)
            );
        }
        Ok(())
    }

    /// The work trees of the repository (`git worktree list --porcelain`),
    /// the main one first.
    pub fn worktrees(&self) -> Result<Vec<PathBuf>> {
        let out = self.read(cmd!(self.sh(), "git worktree list --porcelain"))?;
        Ok(out
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .map(PathBuf::from)
            .collect())
    }
}
