//! Capturing one commit for a bisect: checked out as a detached git work
//! tree under `target/rollout/bisect/<run>/`, captured with the target's
//! existing interpreter and the work tree's sources first on the import
//! path, kept in the capture cache (`target/rollout/bisect-cache/<config
//! hash>/<commit>/`), and the work tree removed. [`Worktrees`] removes what
//! is left when the bisect ends in any way (an error, Ctrl-C).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use rollout_core::printable;
use sha2::{Digest, Sha256};

/// The package whose import is checked to come from the work tree.
pub(super) const PACKAGE: &str = "townlet";

/// The environment variable that puts the work tree's sources first.
const PYTHONPATH: &str = "PYTHONPATH";

/// How long the import check may take.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a commit's capture gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Captured {
    /// The capture directory (in the cache).
    Done(PathBuf),
    /// It could not run; why.
    Failed(String),
}

/// The work trees a bisect made, removed when it is dropped.
pub(super) struct Worktrees {
    root: PathBuf,
    dir: PathBuf,
    live: Mutex<Vec<PathBuf>>,
    /// `git worktree add` and `remove` one at a time.
    git: Mutex<()>,
}

impl Worktrees {
    /// Work trees of the repository at `root`, made under `dir`.
    pub(super) fn new(root: &Path, dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        let dir = dir.canonicalize()?;
        Ok(Self {
            root: root.to_path_buf(),
            dir,
            live: Mutex::new(Vec::new()),
            git: Mutex::new(()),
        })
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checks `commit` out as the work tree `name` under the run's directory.
    fn add(&self, name: &str, commit: &str) -> Result<PathBuf> {
        let path = self.dir.join(name);
        let _one = self.git.lock().unwrap_or_else(|e| e.into_inner());
        let sh = xshell::Shell::new()?;
        let git = plumbing::git::Git::open(&sh, &self.root)?;
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.clone());
        git.worktree_add(&path, commit)?;
        Ok(path)
    }

    /// Removes the work tree at `path`.
    fn remove(&self, path: &Path) -> Result<()> {
        let _one = self.git.lock().unwrap_or_else(|e| e.into_inner());
        let sh = xshell::Shell::new()?;
        plumbing::git::Git::open(&sh, &self.root)?.worktree_remove(path)?;
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != path);
        Ok(())
    }
}

impl Drop for Worktrees {
    fn drop(&mut self) {
        let live = std::mem::take(&mut *self.live.lock().unwrap_or_else(|e| e.into_inner()));
        for path in live {
            if let Err(e) = self.remove(&path) {
                eprintln!("warning: {}", printable(&format!("{e:#}")));
            }
        }
        let _gone = std::fs::remove_dir_all(&self.dir);
        if let Ok(sh) = xshell::Shell::new()
            && let Ok(git) = plumbing::git::Git::open(&sh, &self.root)
        {
            let _pruned = git.act(&["worktree".into(), "prune".into()], None);
        }
    }
}

/// Captures commits for a bisect.
pub(super) struct Prober<'a> {
    pub(super) settings: &'a rollout_config::Settings,
    pub(super) worktrees: &'a Worktrees,
    /// `target/rollout/bisect-cache/<config hash>`.
    pub(super) cache: PathBuf,
    /// The target's interpreter (the root's `.venv`), absolute.
    pub(super) python: PathBuf,
    pub(super) cancel: &'a AtomicBool,
    pub(super) quiet: bool,
    pub(super) verbose: bool,
}

/// The cache directory for `settings`' capture config under `target_dir`:
/// captures are kept by commit and by what ran them (the `capture`
/// section and the interpreter).
pub(super) fn cache_dir(settings: &rollout_config::Settings, python: &Path) -> Result<PathBuf> {
    let config = serde_json::json!({
        "capture": settings.config.capture,
        "python": python,
        "requires": settings.config.target.requires,
    });
    let digest = Sha256::digest(serde_json::to_vec(&config)?);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(settings
        .target_dir
        .join("rollout")
        .join("bisect-cache")
        .join(hex))
}

impl Prober<'_> {
    /// The capture of `commit`, from the cache or made now, and whether it
    /// was made now. An error only when the bisect cannot go on
    /// (interrupted, the cache cannot be written).
    pub(super) fn capture(&self, commit: &str) -> Result<(Captured, bool)> {
        let entry = self.cache.join(commit);
        if let Some(found) = read_entry(&entry)? {
            return Ok((found, false));
        }
        if self.cancel.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        let short = &commit[..commit.len().min(12)];
        let tree = self.worktrees.add(short, commit)?;
        let out = self.worktrees.dir().join(format!("{short}-out"));
        let made = self.capture_in(&tree, &out, commit);
        let stored = made.and_then(|c| store(&self.cache, commit, c));
        let removed = self.worktrees.remove(&tree);
        let _gone = std::fs::remove_dir_all(&out);
        let stored = stored?;
        removed?;
        Ok((stored, true))
    }

    /// Runs the capture in the work tree `tree`, its outputs under `out`.
    fn capture_in(&self, tree: &Path, out: &Path, commit: &str) -> Result<Captured> {
        std::fs::create_dir_all(out)
            .with_context(|| format!("cannot create `{}`", out.display()))?;
        let path = import_path(tree);
        if let Err(why) = self.check_import(tree, &path) {
            return Ok(Captured::Failed(why));
        }
        let mut settings = self.settings.clone();
        settings.root.value = tree.to_path_buf();
        settings.target_dir = out.to_path_buf();
        settings.config.file.target.python = self.python.display().to_string();
        let log = out.join("capture.log");
        let shown = &commit[..commit.len().min(10)];
        let progress = |line: &str| {
            if self.verbose {
                eprintln!("bisect {shown}: {}", printable(line));
            }
        };
        let env = [(PYTHONPATH.to_string(), path)];
        let run = capture::Run {
            log: &log,
            timeout: settings.config.capture.timeout.0,
            env: &env,
            cancel: self.cancel,
            progress: &progress,
        };
        let record = match capture::run(&settings, &run) {
            Ok(r) => r,
            Err(e) if !self.cancel.load(Ordering::Relaxed) => {
                return Ok(Captured::Failed(format!("{e:#}")));
            }
            Err(e) => return Err(e),
        };
        let last = last_line(&log);
        Ok(match record.ended {
            capture::Ended::Done => Captured::Done(settings.capture_dir()),
            capture::Ended::Failed {
                command,
                exit_code,
                signal,
            } => Captured::Failed(format!(
                "`{command}` {}{last}",
                match (exit_code, signal) {
                    (Some(c), _) => format!("exited {c}"),
                    (_, Some(s)) => format!("died of signal {s}"),
                    _ => "failed".into(),
                }
            )),
            capture::Ended::TimedOut { command } => Captured::Failed(format!(
                "`{command}` ran past capture.timeout ({}){last}",
                settings.config.capture.timeout
            )),
            capture::Ended::Interrupted { command } => {
                bail!("interrupted while capturing {shown} (`{command}`)")
            }
        })
    }

    /// Checks that the target's interpreter imports [`PACKAGE`] from the
    /// work tree with `path` first on the import path; `Err` says why not.
    fn check_import(&self, tree: &Path, path: &str) -> std::result::Result<(), String> {
        let code = format!("import {PACKAGE}; print({PACKAGE}.__file__)");
        let argv = [self.python.display().to_string(), "-c".into(), code];
        let env = [(PYTHONPATH.to_string(), path.to_string())];
        let ran = plumbing::process::command_in(tree, &argv, &env)
            .and_then(|c| plumbing::process::run_captured(c, IMPORT_TIMEOUT))
            .map_err(|e| format!("cannot run `{}`: {e:#}", argv.join(" ")))?;
        let stdout = String::from_utf8_lossy(&ran.stdout).trim().to_string();
        if ran.exit != plumbing::process::Exit::Code(0) {
            let stderr = String::from_utf8_lossy(&ran.stderr);
            let why = stderr.lines().last().unwrap_or("no output");
            return Err(format!("`import {PACKAGE}` fails in the work tree: {why}"));
        }
        let file = Path::new(&stdout)
            .canonicalize()
            .unwrap_or_else(|_| stdout.clone().into());
        if !file.starts_with(tree) {
            return Err(format!(
                "`import {PACKAGE}` loads `{stdout}`, not the work tree's `{}`",
                tree.display()
            ));
        }
        if self.verbose {
            eprintln!(
                "bisect: `{PACKAGE}` is imported from `{}` (the work tree), by `{}`",
                printable(&stdout),
                self.python.display()
            );
        }
        Ok(())
    }
}

/// `PYTHONPATH` for a capture in `tree`: its `src/` (or the tree itself,
/// for a flat layout) before whatever the environment had.
fn import_path(tree: &Path) -> String {
    let src = tree.join("src");
    let first = if src.is_dir() {
        src
    } else {
        tree.to_path_buf()
    };
    match std::env::var(PYTHONPATH) {
        Ok(rest) if !rest.is_empty() => format!("{}:{rest}", first.display()),
        _ => first.display().to_string(),
    }
}

/// `: <the last line of the log>`, or nothing.
fn last_line(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("== capture:"))
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default()
}

/// The name of the file of a cache entry whose capture failed.
const FAILED: &str = "failed.txt";

/// A cache entry, when there is one.
fn read_entry(entry: &Path) -> Result<Option<Captured>> {
    let failed = entry.join(FAILED);
    if failed.is_file() {
        let why = std::fs::read_to_string(&failed)
            .with_context(|| format!("cannot read `{}`", failed.display()))?;
        return Ok(Some(Captured::Failed(why)));
    }
    let capture = entry.join("capture");
    Ok(capture.is_dir().then_some(Captured::Done(capture)))
}

/// Moves a capture into the cache (atomically: a directory renamed into
/// place), or records why it failed; returns the cached capture.
fn store(cache: &Path, commit: &str, captured: Captured) -> Result<Captured> {
    std::fs::create_dir_all(cache)
        .with_context(|| format!("cannot create `{}`", cache.display()))?;
    let tmp = cache.join(format!(".{commit}.{}", std::process::id()));
    let _stale = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
    match &captured {
        Captured::Done(dir) => std::fs::rename(dir, tmp.join("capture"))
            .with_context(|| format!("cannot move `{}` into the capture cache", dir.display()))?,
        Captured::Failed(why) => std::fs::write(tmp.join(FAILED), why)
            .with_context(|| format!("cannot write into `{}`", tmp.display()))?,
    }
    let entry = cache.join(commit);
    if std::fs::rename(&tmp, &entry).is_err() {
        // Another bisect cached it first.
        let _gone = std::fs::remove_dir_all(&tmp);
    }
    read_entry(&entry)?.with_context(|| format!("the cache entry `{}` is empty", entry.display()))
}
