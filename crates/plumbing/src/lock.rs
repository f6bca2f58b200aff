//! Locks on output directories, so that two commands never write one
//! directory at once (two gates interleaving their step logs and reports,
//! two blesses swapping one baseline).
//!
//! A lock is an advisory `flock(LOCK_EX | LOCK_NB)` on `<dir>/.lock`, held
//! for as long as the [`OutputLock`] guard lives. The kernel releases it when
//! the file is closed: on drop, on any exit, and when the process is killed
//! (`kill -9` included), so a lock file left behind never blocks anyone. That
//! is what makes the lock stale-lock safe: the file's contents only say who
//! holds it, for the message of the one that is refused, and are never used
//! to decide whether it is held. The file is opened close-on-exec (as Rust
//! opens every file), so a child such as a gate step never inherits it and
//! cannot keep it held after its parent died. The file is never removed:
//! removing it would let a waiter lock the removed file while a newcomer
//! locks a new one.
//!
//! Locks are taken by the commands' entry points only (`gate`,
//! `baseline-diff` when it captures or blesses, `monitor learn`), never by
//! the libraries they call (the capture, the comparison, the bless), so a
//! gate that captures and compares as a library never meets its own lock.
//! Two runs on different output directories never block each other.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The lock file's name in the directory it locks.
pub const LOCK_FILE: &str = ".lock";

/// How often a waiting command tries the lock again.
const RETRY: Duration = Duration::from_millis(100);

/// How long a lock held by no one who says so is given to be let go.
const SETTLE: Duration = Duration::from_secs(2);

/// The most of a lock file that is read: it holds one short line.
const MAX_HOLDER_BYTES: u64 = 4096;

/// An exclusive lock on an output directory; released when dropped.
#[derive(Debug)]
pub struct OutputLock {
    /// The locked file: closing it releases the lock.
    file: File,
    path: PathBuf,
}

/// Who holds a lock: what its file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// The command that holds it (`gate`, `baseline-diff --bless`).
    pub command: String,
}

impl OutputLock {
    /// Locks `dir` (created when missing) for the command `what` (`gate`).
    /// When another process holds it: an error naming the holder, or with
    /// `wait`, waits until it is released.
    pub fn acquire(dir: &Path, what: &str, wait: bool) -> Result<Self> {
        Self::acquire_or_cancel(dir, what, wait, &AtomicBool::new(false))
    }

    /// As [`OutputLock::acquire`]; a wait ends with an error when `cancel`
    /// is set (the command's interrupt flag,
    /// [`crate::process::interrupt_flag`]).
    pub fn acquire_or_cancel(
        dir: &Path,
        what: &str,
        wait: bool,
        cancel: &AtomicBool,
    ) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let file = open(dir, &path)?;
        let mut told = false;
        let settle_until = std::time::Instant::now() + SETTLE;
        loop {
            if try_lock(&file, &path)? {
                let lock = Self { file, path };
                lock.write_holder(what)?;
                return Ok(lock);
            }
            // Held, but by no one who says so: a holder that is releasing
            // it (it empties the file first), or a process forked by one
            // of our threads that has not yet reached exec (which closes
            // its copy). Both let go within moments.
            if !wait && read_holder(&file).is_none() && std::time::Instant::now() < settle_until {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let holder = describe_holder(&file);
            if !wait {
                bail!(
                    "`{}` is in use by {holder}\nhint: wait for it, or pass `--wait`",
                    dir.display()
                );
            }
            if !told {
                eprintln!("waiting for {holder} to release `{}`", dir.display());
                told = true;
            }
            if cancel.load(Ordering::Relaxed) {
                bail!(
                    "interrupted while waiting for {holder} to release `{}`",
                    dir.display()
                );
            }
            std::thread::sleep(RETRY);
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Says who holds the lock, through the locked file.
    fn write_holder(&self, what: &str) -> Result<()> {
        let holder = Holder {
            pid: std::process::id(),
            started_at: jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
            command: what.to_string(),
        };
        let mut line = serde_json::to_vec(&holder)?;
        line.push(b'\n');
        let mut file = &self.file;
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&line))
            .with_context(|| format!("cannot write the lock file `{}`", self.path.display()))
    }
}

impl Drop for OutputLock {
    /// Empties the file before closing it (which releases the lock), so
    /// that the next holder's reader never sees this holder's line.
    fn drop(&mut self) {
        let _emptied = self.file.set_len(0);
    }
}

/// Opens (or creates) the lock file, refusing anything but a regular file:
/// a symlink would let the lock truncate another file, a FIFO would hang
/// the reader.
fn open(dir: &Path, path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory `{}`", dir.display()))?;
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot open the lock file `{}`", path.display()))?;
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    if !regular {
        bail!(
            "the lock file `{}` is not a regular file\nhint: remove it; it is made again",
            path.display()
        );
    }
    Ok(file)
}

/// Tries to take the lock: `false` when another open file holds it.
fn try_lock(file: &File, path: &Path) -> Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(err) => Err(std::io::Error::from(err))
            .with_context(|| format!("cannot lock `{}`", path.display())),
    }
}

/// `` `gate` (pid 1234, started 2026-12-06T03:10:00Z) ``, from the lock
/// file, made printable; `another process` when it says nothing readable.
/// A holder that has just taken the lock may not have written it yet: the
/// file is read again for a moment.
fn describe_holder(file: &File) -> String {
    for _ in 0..5 {
        if let Some(holder) = read_holder(file) {
            return format!(
                "`{}` (pid {}, started {})",
                rollout_core::output::printable(&holder.command),
                holder.pid,
                rollout_core::output::printable(&holder.started_at)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    "another process".to_string()
}

/// What the lock file says, when it is one line of ours.
fn read_holder(mut file: &File) -> Option<Holder> {
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_HOLDER_BYTES).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_acquisition_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("rollout");
        // flock is per open file description: two opens in one process
        // contend as two processes would.
        let first = OutputLock::acquire(&out, "gate", false).expect("first");
        let err = OutputLock::acquire(&out, "baseline-diff", false).expect_err("held");
        let message = format!("{err:#}");
        assert!(
            message.starts_with(&format!(
                "`{}` is in use by `gate` (pid {}, started 2",
                out.display(),
                std::process::id()
            )),
            "{message}"
        );
        assert!(
            message.ends_with("Z)\nhint: wait for it, or pass `--wait`"),
            "{message}"
        );
        drop(first);
        let again = OutputLock::acquire(&out, "baseline-diff", false).expect("released");
        let holder = read_holder(&again.file).expect("holder");
        assert_eq!(holder.command, "baseline-diff");
        assert_eq!(holder.pid, std::process::id());
    }

    #[test]
    fn a_waiter_takes_the_lock_once_it_is_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = OutputLock::acquire(dir.path(), "gate", false).expect("first");
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            OutputLock::acquire(&path, "gate", true).map(|lock| (lock, started.elapsed()))
        });
        std::thread::sleep(Duration::from_millis(400));
        drop(first);
        let (_lock, waited) = waiter.join().expect("thread").expect("acquired");
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
    }

    #[test]
    fn an_interrupt_ends_the_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = OutputLock::acquire(dir.path(), "gate", false).expect("first");
        let err = OutputLock::acquire_or_cancel(dir.path(), "gate", true, &AtomicBool::new(true))
            .expect_err("interrupted");
        assert!(
            format!("{err:#}").starts_with("interrupted while waiting for `gate` (pid"),
            "{err:#}"
        );
    }

    #[test]
    fn what_a_hostile_lock_file_says_is_made_printable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = OutputLock::acquire(dir.path(), "gate", false).expect("first");
        // What a hostile holder could write through its own descriptor.
        std::fs::write(
            dir.path().join(LOCK_FILE),
            "{\"pid\":1,\"started_at\":\"now\\u001b[2J\",\"command\":\"x\\u001b]0;owned\\u0007\"}",
        )
        .expect("write");
        let err = OutputLock::acquire(dir.path(), "gate", false).expect_err("held");
        let message = format!("{err:#}");
        assert!(!message.contains('\u{1b}'), "{message:?}");
        assert!(!message.contains('\u{7}'), "{message:?}");
        // Garbage is not a holder.
        std::fs::write(dir.path().join(LOCK_FILE), "\u{1b}[2J not json").expect("write");
        let err = OutputLock::acquire(dir.path(), "gate", false).expect_err("held");
        assert!(
            format!("{err:#}").contains("is in use by another process\n"),
            "{err:#}"
        );
    }

    #[test]
    fn a_lock_file_that_is_a_symlink_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").expect("write");
        let out = dir.path().join("out");
        std::fs::create_dir(&out).expect("mkdir");
        std::os::unix::fs::symlink(&victim, out.join(LOCK_FILE)).expect("symlink");
        let err = OutputLock::acquire(&out, "gate", false).expect_err("symlink");
        assert!(
            format!("{err:#}").contains("cannot open the lock file"),
            "{err:#}"
        );
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep");
    }
}
