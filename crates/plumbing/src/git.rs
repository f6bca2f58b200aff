//! The git commands the tooling runs in the Townlet checkout (release, the
//! capture and the baselines read it), each returning data. Every call runs
//! quietly, with git's stderr captured so that a refusal can be quoted in
//! our own message, and under a deadline: a hook that hangs
//! (`reference-transaction`, `pre-push`) is stopped with git and named.
//!
//! Values that came from a user, a config or a file (revisions, remotes,
//! tag and ref names) are [`operand`]s: refused when git could read them as
//! an option, and passed after `--end-of-options`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use xshell::{Cmd, Shell, cmd};

mod history;
mod notes;
mod refs;

pub use history::CommitInfo;
pub use refs::ListingError;

/// A git repository: the Townlet checkout.
pub struct Git<'a> {
    sh: &'a Shell,
    root: PathBuf,
    /// Longest a command that talks to a remote may take.
    network_timeout: std::time::Duration,
    /// Longest any other command (with its hooks) may take.
    local_timeout: std::time::Duration,
}

/// How long a push or `ls-remote` may take unless configured otherwise.
pub const NETWORK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// How long any other git command may take unless configured otherwise
/// (`release.git_timeout`).
pub const LOCAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The hooks git runs for a subcommand, which a hang of it most likely
/// comes from (githooks(5)).
const HOOKS_RUN_BY: &[(&str, &[&str])] = &[
    ("tag", &["reference-transaction"]),
    ("notes", &["reference-transaction"]),
    ("update-ref", &["reference-transaction"]),
    ("push", &["pre-push", "reference-transaction"]),
    ("fetch", &["reference-transaction"]),
    ("worktree", &["post-checkout", "reference-transaction"]),
    ("checkout", &["post-checkout", "reference-transaction"]),
];

/// `value` checked as an operand of a git command: never empty, never
/// starting with `-` (git would take it as an option, as
/// `--upload-pack=CMD` runs CMD), and free of control characters. `what`
/// names it for the message (`` `--push` ``, `` `release.main_branch` ``).
/// Callers also pass it after `--end-of-options`.
pub fn operand<'v>(value: &'v str, what: &str) -> Result<&'v str> {
    let shown = rollout_core::output::printable(value);
    if value.is_empty() {
        bail!("{what} is empty: expected a git revision, ref or remote name");
    }
    if value.starts_with('-') {
        bail!(
            "{what} `{shown}` starts with `-`: git would read it as an option, not as a name\nhint: name a branch, tag, commit or configured remote"
        );
    }
    if value.chars().any(char::is_control) {
        bail!(
            "{what} `{shown}` holds a control character: expected a git revision, ref or remote name"
        );
    }
    Ok(value)
}

/// Variables that point git at another repository or at parts of one
/// (git's own `local_repo_env`, less the `-c` settings): set in a hook,
/// or by a user for another repository, they would make every command
/// read and write there instead of in the checkout (`--root`).
const REPOSITORY_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_GRAFT_FILE",
    "GIT_SHALLOW_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_NAMESPACE",
];

/// A git command that runs in the checkout whatever the environment says:
/// no prompt, git's words in English, and none of [`REPOSITORY_ENV`].
fn isolated(c: Cmd<'_>) -> std::process::Command {
    let mut c = c.env("GIT_TERMINAL_PROMPT", "0").env("LC_ALL", "C");
    for name in REPOSITORY_ENV {
        c = c.env_remove(name);
    }
    c.into()
}

/// What a git command did, when we need to look at a failure ourselves.
#[derive(Debug, Clone)]
pub struct Ran {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// A tag that exists locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTag {
    pub name: String,
    /// The tag object (annotated) or the commit (lightweight).
    pub object: String,
    /// The commit it points at.
    pub commit: String,
    pub annotated: bool,
}

/// One line of `git status --porcelain`.
pub type StatusLine = String;

impl<'a> Git<'a> {
    /// Opens the repository at `root`; fails when it is not one.
    pub fn open(sh: &'a Shell, root: &Path) -> Result<Self> {
        let g = Self {
            sh,
            root: root.to_path_buf(),
            network_timeout: NETWORK_TIMEOUT,
            local_timeout: LOCAL_TIMEOUT,
        };
        let r = g.try_run(cmd!(sh, "git rev-parse --show-toplevel"))?;
        if !r.ok {
            bail!(
                "`{}` is not a git repository: {}\nhint: pass `--root PATH` with a git checkout of Townlet",
                root.display(),
                r.stderr
            );
        }
        // A Townlet root inside another repository (such as the bundled
        // sample inside this workspace) would tag that repository.
        let top = PathBuf::from(r.stdout.trim());
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        if !same(&top, root) {
            bail!(
                "`{}` is not the top of a git repository: it lies inside `{}`, whose tags and notes would be used\nhint: pass `--root PATH` (or set TOWNLET_ROOT) to a git checkout of Townlet",
                root.display(),
                top.display()
            );
        }
        Ok(g)
    }

    /// Opens the repository holding `root`, which may lie below its top (the
    /// bundled sample inside this workspace): for reading the state of what
    /// is gated, never for writing tags or notes. `None` when `root` is not
    /// in a git work tree.
    pub fn discover(sh: &'a Shell, root: &Path) -> Option<Self> {
        let g = Self {
            sh,
            root: root.to_path_buf(),
            network_timeout: NETWORK_TIMEOUT,
            local_timeout: LOCAL_TIMEOUT,
        };
        let r = g
            .try_run(cmd!(sh, "git rev-parse --is-inside-work-tree"))
            .ok()?;
        (r.ok && r.stdout.trim() == "true").then_some(g)
    }

    /// HEAD's commit and tree, whether tracked files changed, and the branch.
    pub fn state(&self) -> Result<crate::report::GitState> {
        let commit = self.commit("HEAD")?;
        let tree = self.tree(&commit)?;
        let dirty = !self.status(false)?.is_empty();
        Ok(crate::report::GitState {
            commit,
            tree,
            dirty,
            branch: self.branch()?,
        })
    }

    /// The merge-base of HEAD and `other`, or `None` when they have none
    /// (unrelated or shallow histories).
    pub fn merge_base(&self, other: &str) -> Result<Option<String>> {
        operand(other, "the branch to compare with")?;
        let r = self.try_run(cmd!(
            self.sh(),
            "git merge-base --end-of-options HEAD {other}"
        ))?;
        Ok(r.ok.then(|| r.stdout.trim().to_string()))
    }

    /// Files changed between `base` and HEAD, relative to the root (which
    /// may sit below the top of the repository).
    pub fn changed_since(&self, base: &str) -> Result<Vec<String>> {
        operand(base, "the base commit")?;
        let out = self.read(cmd!(
            self.sh(),
            "git diff --name-only --relative --end-of-options {base} HEAD --"
        ))?;
        Ok(out
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Sets how long a command that talks to a remote may take.
    pub fn with_network_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.network_timeout = timeout;
        self
    }

    /// Sets how long any other command, with its hooks, may take.
    pub fn with_local_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.local_timeout = timeout;
        self
    }

    /// Runs a git command that talks to a remote (push, ls-remote) under a
    /// deadline: when it passes, git and anything it started (ssh) are
    /// stopped and the command counts as failed, with a message saying so.
    pub fn network(&self, c: Cmd<'_>) -> Result<Ran> {
        let _dir = self.sh.push_dir(&self.root);
        let shown = c.to_string();
        let got = crate::process::run_captured(isolated(c), self.network_timeout)?;
        let mut ran = Ran {
            ok: got.exit == crate::process::Exit::Code(0),
            stdout: String::from_utf8_lossy(&got.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&got.stderr).trim().to_string(),
        };
        if got.exit == crate::process::Exit::TimedOut {
            let note = format!(
                "`{shown}` did not finish within {}; it was stopped (release.network_timeout)",
                humantime::format_duration(self.network_timeout)
            );
            ran.stderr = if ran.stderr.is_empty() {
                note
            } else {
                format!("{}\n{note}", ran.stderr)
            };
        }
        Ok(ran)
    }

    /// Runs a git command in the checkout without failing on its exit code;
    /// past `release.git_timeout` it is stopped and that is an error naming
    /// the hooks that may have hung.
    pub fn try_run(&self, c: Cmd<'_>) -> Result<Ran> {
        self.run_local(c, None)
    }

    fn run_local(&self, c: Cmd<'_>, input: Option<&[u8]>) -> Result<Ran> {
        let got = self.run_local_bytes(c, input)?;
        Ok(Ran {
            ok: got.exit == crate::process::Exit::Code(0),
            stdout: String::from_utf8_lossy(&got.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&got.stderr).trim().to_string(),
        })
    }

    /// [`Git::run_local`] with stdout as git wrote it (file names that are
    /// not UTF-8 survive).
    fn run_local_bytes(
        &self,
        c: Cmd<'_>,
        input: Option<&[u8]>,
    ) -> Result<crate::process::Captured> {
        let _dir = self.sh.push_dir(&self.root);
        let shown = c.to_string();
        let got = crate::process::run_captured_input(isolated(c), input, self.local_timeout)
            .with_context(|| format!("cannot run `{shown}` in `{}`", self.root.display()))?;
        if got.exit == crate::process::Exit::TimedOut {
            bail!("{}", self.timed_out(&shown));
        }
        Ok(got)
    }

    /// The files of the work tree below the root, relative to it: those git
    /// tracks and those it would add (untracked, not ignored), as
    /// `git ls-files -z --cached --others --exclude-standard` lists them,
    /// sorted, each once. Files deleted from the work tree are still listed.
    pub fn work_tree_files(&self) -> Result<Vec<PathBuf>> {
        let shown = "git ls-files -z --cached --others --exclude-standard";
        let got = self.run_local_bytes(
            cmd!(
                self.sh(),
                "git ls-files -z --cached --others --exclude-standard"
            ),
            None,
        )?;
        if got.exit != crate::process::Exit::Code(0) {
            bail!(
                "`{shown}` failed in `{}`: {}",
                self.root.display(),
                rollout_core::output::printable(String::from_utf8_lossy(&got.stderr).trim())
            );
        }
        let mut files: Vec<PathBuf> = got
            .stdout
            .split(|byte| *byte == 0)
            .filter(|name| !name.is_empty())
            .map(|name| {
                use std::os::unix::ffi::OsStrExt as _;
                PathBuf::from(std::ffi::OsStr::from_bytes(name))
            })
            .collect();
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// The top of the work tree holding the root (`git rev-parse
    /// --show-toplevel`), or `None` when the root is in none.
    pub fn top_level(&self) -> Result<Option<PathBuf>> {
        let r = self.try_run(cmd!(self.sh(), "git rev-parse --show-toplevel"))?;
        Ok(r.ok.then(|| PathBuf::from(r.stdout.trim_end_matches('\n'))))
    }

    /// What to say when `shown` ran past its deadline: git itself rarely
    /// hangs, the hooks it runs do, so name the ones this repository has.
    fn timed_out(&self, shown: &str) -> String {
        let mut message = format!(
            "`{}` did not finish within {} in `{}`; it was stopped with everything it started (release.git_timeout)",
            rollout_core::output::printable(shown),
            humantime::format_duration(self.local_timeout),
            self.root.display()
        );
        let hooks = self.hooks_for(shown);
        if hooks.is_empty() {
            message.push_str(
                "\nhint: look for a slow `core.fsmonitor` or a lock held by another git process",
            );
        } else {
            message.push_str(&format!(
                "\nhint: the repository has hooks that git runs for it, which may hang: {}; fix or remove them, or raise `release.git_timeout`",
                hooks.join(", ")
            ));
        }
        message
    }

    /// The executable hooks of this repository that git runs for the
    /// subcommand of `shown` (all executable hooks when it is not known).
    fn hooks_for(&self, shown: &str) -> Vec<String> {
        let subcommand = shown
            .split_whitespace()
            .skip(1)
            .find(|word| !word.starts_with('-'))
            .unwrap_or_default();
        let Ok(dir) = self.read_quick(&["rev-parse", "--git-path", "hooks"]) else {
            return Vec::new();
        };
        let dir = self.root.join(dir.trim());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut present: Vec<String> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = entry.file_name().to_string_lossy().into_owned();
                use std::os::unix::fs::PermissionsExt as _;
                let executable = entry.metadata().ok()?.permissions().mode() & 0o111 != 0;
                (executable && !name.ends_with(".sample")).then_some(name)
            })
            .collect();
        present.sort();
        let relevant = HOOKS_RUN_BY
            .iter()
            .find(|(command, _)| *command == subcommand)
            .map(|(_, hooks)| *hooks);
        if let Some(hooks) = relevant {
            let named: Vec<String> = present
                .iter()
                .filter(|name| hooks.contains(&name.as_str()))
                .cloned()
                .collect();
            if !named.is_empty() {
                present = named;
            }
        }
        present
            .into_iter()
            .map(|name| {
                format!(
                    "`{}`",
                    rollout_core::output::printable(&dir.join(name).display().to_string())
                )
            })
            .collect()
    }

    /// A short probe that must not itself hang on what it investigates.
    fn read_quick(&self, args: &[&str]) -> Result<String> {
        let quick = Self {
            sh: self.sh,
            root: self.root.clone(),
            network_timeout: self.network_timeout,
            local_timeout: std::time::Duration::from_secs(5),
        };
        quick.read(cmd!(self.sh(), "git {args...}"))
    }

    /// Runs a git command and returns its stdout; a failure quotes git.
    pub fn read(&self, c: Cmd<'_>) -> Result<String> {
        let shown = c.to_string();
        let r = self.try_run(c)?;
        self.succeeded(&shown, r)
    }

    /// The stdout of `r`, or an error quoting git when `shown` failed.
    fn succeeded(&self, shown: &str, r: Ran) -> Result<String> {
        if !r.ok {
            bail!(
                "`{}` failed in `{}`: {}",
                rollout_core::output::printable(shown),
                self.root.display(),
                rollout_core::output::printable(&r.stderr)
            );
        }
        Ok(r.stdout.trim_end_matches('\n').to_string())
    }

    fn sh(&self) -> &'a Shell {
        self.sh
    }

    /// How many commits `commit` is ahead of its ancestor `ancestor`.
    pub fn distance(&self, ancestor: &str, commit: &str) -> Result<u64> {
        operand(ancestor, "the ancestor commit")?;
        operand(commit, "the commit")?;
        let range = format!("{ancestor}..{commit}");
        let n = self.read(cmd!(
            self.sh(),
            "git rev-list --count --end-of-options {range}"
        ))?;
        Ok(n.trim().parse().unwrap_or(u64::MAX))
    }

    /// The full id of a commit named by `rev`.
    pub fn commit(&self, rev: &str) -> Result<String> {
        operand(rev, "the revision")?;
        let spec = format!("{rev}^{{commit}}");
        let r = self.try_run(cmd!(
            self.sh(),
            "git rev-parse --verify --quiet --end-of-options {spec}"
        ))?;
        if !r.ok || r.stdout.trim().is_empty() {
            bail!(
                "`{}` does not name a commit in `{}`\nhint: use a commit id, branch or tag that `git rev-parse` knows",
                rollout_core::output::printable(rev),
                self.root.display()
            );
        }
        Ok(r.stdout.trim().to_string())
    }

    pub fn tree(&self, commit: &str) -> Result<String> {
        operand(commit, "the commit")?;
        let spec = format!("{commit}^{{tree}}");
        self.read(cmd!(
            self.sh(),
            "git rev-parse --verify --end-of-options {spec}"
        ))
    }

    /// The branch checked out, or `None` when HEAD is detached.
    pub fn branch(&self) -> Result<Option<String>> {
        let r = self.try_run(cmd!(self.sh(), "git symbolic-ref --quiet --short HEAD"))?;
        Ok(r.ok.then(|| r.stdout.trim().to_string()))
    }

    /// Uncommitted changes, one `git status --porcelain` line each.
    pub fn status(&self, untracked: bool) -> Result<Vec<StatusLine>> {
        let mode = if untracked {
            "--untracked-files=normal"
        } else {
            "--untracked-files=no"
        };
        let out = self.read(cmd!(self.sh(), "git status --porcelain {mode}"))?;
        Ok(out.lines().map(str::to_string).collect())
    }

    pub fn is_shallow(&self) -> Result<bool> {
        Ok(self.read(cmd!(self.sh(), "git rev-parse --is-shallow-repository"))? == "true")
    }

    /// `git <args>` for actions whose failure the caller explains. The
    /// caller puts `--end-of-options` before the operands it passes.
    pub fn act(&self, args: &[String], stdin: Option<&str>) -> Result<Ran> {
        self.run_local(cmd!(self.sh(), "git {args...}"), stdin.map(str::as_bytes))
    }
}

/// Parses `git ls-remote --tags` output into name -> object (the tag object
/// for annotated tags; `^{}` peeled lines are dropped).
pub fn parse_ls_remote(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| {
            let (id, r) = l.split_once('\t')?;
            let name = r.strip_prefix("refs/tags/")?;
            if name.ends_with("^{}") {
                return None;
            }
            Some((name.to_string(), id.to_string()))
        })
        .collect()
}

/// Splits `git cat-file --batch` output into the objects' contents, in
/// order; a missing object yields an empty text.
pub fn parse_cat_file_batch(out: &[u8]) -> Result<Vec<String>> {
    let mut texts = Vec::new();
    let mut rest = out;
    while !rest.is_empty() {
        let nl = rest
            .iter()
            .position(|b| *b == b'\n')
            .context("`git cat-file --batch` output ends inside a header")?;
        let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
        rest = &rest[nl + 1..];
        if header.ends_with(" missing") {
            texts.push(String::new());
            continue;
        }
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("unexpected `git cat-file --batch` header '{header}'"))?;
        let body = rest
            .get(..size)
            .context("`git cat-file --batch` output ends inside an object")?;
        texts.push(String::from_utf8_lossy(body).into_owned());
        rest = rest.get(size + 1..).unwrap_or_default();
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_remote_drops_peeled_lines() {
        let out = "aaa\trefs/tags/v0.9.0-m4\nbbb\trefs/tags/v0.9.0-m4^{}\nccc\trefs/tags/v1\n";
        let m = parse_ls_remote(out);
        assert_eq!(m.len(), 2);
        assert_eq!(m["v0.9.0-m4"], "aaa");
    }

    #[test]
    fn cat_file_batch_splits_objects() {
        let out = b"aaa blob 3\nab\n\nbbb missing\nccc blob 0\n\n";
        let texts = parse_cat_file_batch(out).expect("parses");
        assert_eq!(texts, ["ab\n", "", ""]);
        assert!(parse_cat_file_batch(b"aaa blob 10\nab\n").is_err());
    }
}
