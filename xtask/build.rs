//! Records the commit this binary is built from, for `--version`:
//! `XTASK_COMMIT` (12 hex digits) and `XTASK_COMMIT_DATE` (`YYYY-MM-DD`),
//! each `unknown` when git or the repository is absent (an adopted tree
//! without history, a source archive). Never fails the build. Runs again
//! only when `HEAD` or the branch it names moves.

// A build script cannot use `plumbing::process` (not a build dependency);
// the one child here is git, with its own short deadline below.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one git call may take before it is killed and `unknown` used.
const GIT_DEADLINE: Duration = Duration::from_secs(10);

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    let date = git(&["log", "-1", "--format=%cs"]);
    println!(
        "cargo:rustc-env=XTASK_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    println!(
        "cargo:rustc-env=XTASK_COMMIT_DATE={}",
        date.as_deref().unwrap_or("unknown")
    );
    // Without a watched file cargo would run this script on every build.
    println!("cargo:rerun-if-changed=build.rs");
    for watched in watched_files() {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
}

/// `HEAD`, the ref it points to and `packed-refs`, those that exist.
fn watched_files() -> Vec<PathBuf> {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut paths = Vec::new();
    let mut git_path = |name: &str| {
        if let Some(path) = git(&["rev-parse", "--git-path", name]) {
            paths.push(here.join(path));
        }
    };
    git_path("HEAD");
    git_path("packed-refs");
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        git_path(&branch);
    }
    paths.retain(|path: &PathBuf| Path::exists(path));
    paths
}

/// The trimmed stdout of a git call that succeeded in time, else `None`.
fn git(args: &[&str]) -> Option<String> {
    let mut child = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < GIT_DEADLINE => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _killed = child.kill();
                let _reaped = child.wait();
                return None;
            }
        }
    }
    let output = child.wait_with_output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_owned())
}
