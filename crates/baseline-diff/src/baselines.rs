//! Which blessed baseline a candidate is compared with.
//!
//! `baseline.dir` holds either one baseline (a directory with its
//! `manifest.json`, or plain files) or one baseline per blessed Townlet
//! commit: subdirectories named by the commit, each with a `manifest.json`
//! recording `townlet_commit`. For a checkout, the baseline blessed at HEAD
//! or at its nearest ancestor is used: the last known-good state of this
//! history. When none is an ancestor (an older or unrelated checkout), the
//! most recently blessed one is used, and the summary says so.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::bless::Manifest;
use crate::compare::MANIFEST;

/// The baseline chosen, and how it relates to the checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub path: PathBuf,
    /// `blessed at 69e30cd205 (HEAD)`, `... 35 commits before HEAD`, or
    /// empty for a baseline given directly.
    pub relation: String,
    /// The Townlet commit it was blessed at, when recorded.
    pub commit: Option<String>,
}

/// One blessed baseline of a per-commit directory.
#[derive(Debug, Clone)]
struct Entry {
    path: PathBuf,
    commit: String,
    blessed_at: String,
}

/// Whether `dir` holds one baseline per commit (no manifest of its own, and
/// subdirectories that have one).
pub fn is_per_commit(dir: &Path) -> bool {
    dir.is_dir()
        && !input::is_present(&dir.join(MANIFEST))
        && std::fs::read_dir(dir).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| input::is_present(&e.path().join(MANIFEST))))
        })
}

fn entries(dir: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list `{}`", dir.display()))? {
        let e = e.with_context(|| format!("cannot list `{}`", dir.display()))?;
        let manifest = e.path().join(MANIFEST);
        if !e.path().is_dir() || !input::is_present(&manifest) {
            continue;
        }
        let m = Manifest::load(&manifest)?;
        let Some(commit) = m.townlet_commit else {
            continue;
        };
        out.push(Entry {
            path: e.path(),
            commit,
            blessed_at: m.blessed_at,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The baseline to compare `root`'s candidates with, from `dir`.
pub fn choose(dir: &Path, root: &Path) -> Result<Chosen> {
    if !dir.exists() {
        bail!(
            "no baseline at `{}`\nhint: bless a loss-free capture of a commit you trust: cargo xtask baseline-diff --root {} --bless",
            dir.display(),
            root.display()
        );
    }
    if !is_per_commit(dir) {
        // A baseline made by hand may have no manifest; one that is there
        // must be readable, or what it says (the commit) would be ignored.
        let manifest = dir.join(MANIFEST);
        let commit = if input::is_present(&manifest) {
            Manifest::load(&manifest)?.townlet_commit
        } else {
            None
        };
        return Ok(Chosen {
            path: dir.to_path_buf(),
            relation: String::new(),
            commit,
        });
    }
    let entries = entries(dir)?;
    let sh = xshell::Shell::new()?;
    let git = plumbing::git::Git::open(&sh, root).ok();
    let head = git.as_ref().and_then(|g| g.commit("HEAD").ok());
    let ancestry = match (&git, &head) {
        (Some(g), Some(h)) => g.ancestry(h).unwrap_or_default(),
        _ => Default::default(),
    };
    let nearest = entries
        .iter()
        .filter_map(|e| ancestry.get(&e.commit).map(|i| (*i, e)))
        .min_by_key(|(i, _)| *i);
    let short = |c: &str| c.chars().take(10).collect::<String>();
    if let Some((_, e)) = nearest {
        let relation = match (&git, &head) {
            (Some(_), Some(h)) if *h == e.commit => {
                format!("blessed at {} (HEAD)", short(&e.commit))
            }
            (Some(g), Some(h)) => {
                let n = g.distance(&e.commit, h).unwrap_or(0);
                format!(
                    "blessed at {}, {n} commit{} before HEAD",
                    short(&e.commit),
                    if n == 1 { "" } else { "s" }
                )
            }
            _ => format!("blessed at {}", short(&e.commit)),
        };
        return Ok(Chosen {
            path: e.path.clone(),
            relation,
            commit: Some(e.commit.clone()),
        });
    }
    let Some(newest) = entries
        .iter()
        .max_by(|a, b| a.blessed_at.cmp(&b.blessed_at))
    else {
        bail!("no blessed baseline in `{}`", dir.display());
    };
    let why = match &head {
        Some(h) => format!(
            "none of the {} blessed commits is an ancestor of HEAD {}",
            entries.len(),
            short(h)
        ),
        None => format!("`{}` is not a git checkout of its own", root.display()),
    };
    Ok(Chosen {
        path: newest.path.clone(),
        relation: format!(
            "blessed at {}, the most recent ({why})",
            short(&newest.commit)
        ),
        commit: Some(newest.commit.clone()),
    })
}

/// Where `--bless` writes when no `--baseline` is given: into the
/// per-commit directory under the commit's name, unless `dir` already holds
/// a single baseline or the commit is unknown.
pub fn bless_target(dir: &Path, commit: Option<&str>) -> PathBuf {
    match commit {
        Some(c) if !input::is_present(&dir.join(MANIFEST)) => {
            dir.join(c.chars().take(12).collect::<String>())
        }
        _ => dir.to_path_buf(),
    }
}
