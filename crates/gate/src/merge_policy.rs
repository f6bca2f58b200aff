//! The plan's merge policy: a branch whose changes since its merge-base with
//! the main branch touch a high-risk path (`src/townlet/world`) must be staged
//! on the staging branch (`release/m4-rollout`) first.

use std::path::Path;

use anyhow::Result;
use plumbing::git::Git;
use rollout_config::model::ReleaseSection;
use xshell::Shell;

/// What the policy found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// Not applicable (not a git repository, no main branch): why.
    Skip(String),
    Pass(String),
    /// High-risk files changed outside the staging branch.
    Violation {
        message: String,
        files: Vec<String>,
    },
}

/// Whether `file` lies under `dir` (both relative to the repository root).
pub(crate) fn under(file: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    file == dir
        || file
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

pub(crate) fn check(sh: &Shell, root: &Path, release: &ReleaseSection) -> Result<Finding> {
    let Some(git) = Git::discover(sh, root) else {
        return Ok(Finding::Skip(format!(
            "`{}` is not a git repository",
            root.display()
        )));
    };
    let branch = git.branch()?;
    let main = &release.main_branch;
    let candidates = [main.clone(), format!("origin/{main}")];
    let Some(main_ref) = candidates.iter().find(|r| git.commit(r).is_ok()) else {
        return Ok(Finding::Skip(format!(
            "no `{main}` branch (local or origin) to compare with"
        )));
    };
    let Some(base) = git.merge_base(main_ref)? else {
        return Ok(Finding::Skip(format!(
            "HEAD has no merge-base with `{main_ref}` (shallow clone?)"
        )));
    };
    let changed = git.changed_since(&base)?;
    let risky: Vec<String> = changed
        .iter()
        .filter(|f| release.high_risk_paths.iter().any(|d| under(f, d)))
        .map(|f| f.to_string())
        .collect();
    let short = &base[..base.len().min(10)];
    if risky.is_empty() {
        return Ok(Finding::Pass(format!(
            "{} file(s) changed since merge-base {short} with `{main_ref}`, none under {}",
            changed.len(),
            release.high_risk_paths.join(", ")
        )));
    }
    let on = branch.as_deref().unwrap_or("a detached HEAD");
    if branch.as_deref() == Some(release.staging_branch.as_str()) {
        return Ok(Finding::Pass(format!(
            "{} high-risk file(s) changed, staged on `{}` as required",
            risky.len(),
            release.staging_branch
        )));
    }
    Ok(Finding::Violation {
        message: format!(
            "{} file(s) under {} changed since merge-base {short} with `{main_ref}` on {on}; stage this change on `{}` before merging into `{main}`",
            risky.len(),
            release.high_risk_paths.join(", "),
            release.staging_branch
        ),
        files: risky,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_by_component() {
        assert!(under("src/townlet/world/grid.py", "src/townlet/world"));
        assert!(under("src/townlet/world/grid.py", "src/townlet/world/"));
        assert!(!under("src/townlet/worldly.py", "src/townlet/world"));
        assert!(!under("src/townlet/telemetry/x.py", "src/townlet/world"));
    }
}
