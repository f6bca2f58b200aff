//! The guardian: a small process, one per run of a command that supervises
//! children, that kills every child's process group still running when that
//! command dies without stopping them itself (`kill -9`, the out-of-memory
//! killer, a crash).
//!
//! Why a separate process. `PR_SET_PDEATHSIG` (see `prepare_child`) reaches
//! only a group's leader: `sh -c 'sleep 100 & ...; wait'` loses its `sh` and
//! leaves `sleep` running. A subreaper would not help either: the command
//! itself is the subreaper, and it is what died. Something outside the
//! command has to hold the list of groups and outlive it by a moment; the
//! guardian is that, and nothing more:
//!
//! - It is started lazily, when the first supervised child is spawned, by
//!   re-executing the program [`set_guardian`] named (the xtask binary with
//!   [`GUARDIAN_ARG`]; no second binary, no shell). It runs in its own
//!   process group, outside every step's group, so a stop of a step's group
//!   or the terminal's Ctrl-C (sent to the foreground group) never reaches
//!   it; it also ignores SIGINT, SIGTERM and SIGHUP, which a closed session
//!   or a service manager may send to every process at once: it must
//!   outlive the command, and end of file ends it anyway. Its stdin is the
//!   read end of a pipe whose only write end the command keeps,
//!   close-on-exec, so no step inherits it; its stdout and stderr are `/dev/null` and its working
//!   directory `/`, so it holds no terminal, output pipe or directory.
//! - Each supervised child registers its own group before it execs: a line
//!   `+KEY PID` written by the forked child (whose pid is its group id),
//!   where the pipe's write end is still open, so there is no moment when a
//!   step's program runs unregistered. `KEY` is a number the command chose
//!   before the fork: when the spawn fails (no such program), the command
//!   forgets `KEY` without ever knowing the pid. Writes of a line are
//!   atomic (far below `PIPE_BUF`), so lines of concurrent writers never mix.
//! - The command writes `-KEY` when a group has ended: after it killed what
//!   was left of the group and before it reaps the leader. While the leader
//!   is unreaped its pid, the group id, cannot be reused, so every id the
//!   guardian holds belongs to a group the command started.
//! - When the command's process ends, for any reason, the pipe reaches end
//!   of file; the guardian sends SIGKILL to every group still registered and
//!   exits. After a normal exit the command has stopped and forgotten all
//!   its groups, so the guardian finds nothing to do. End of file is also
//!   why it cannot outlive the command by more than that moment.
//!
//! What remains: once the command died, its leaders' pids are freed when
//! `init` reaps them; a group whose members are all gone by then could in
//! principle have its id reused before the guardian's SIGKILL, which follows
//! the end of file within microseconds (the kernel would have to cycle
//! through every pid first). A step that calls `setsid` (a daemon it starts)
//! leaves its group and escapes the guardian as it escapes group stops. A
//! program that is not the xtask binary and never calls [`set_guardian`]
//! (the gate crate's own tests call the library) runs without a guardian:
//! its leaders still stop with it, their children may not.

use std::ffi::OsString;
use std::io::{BufRead, PipeWriter};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Result, anyhow};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The first argument that makes the xtask binary run [`guardian_main`]
/// instead of a command; hidden from `--help`.
pub const GUARDIAN_ARG: &str = "__rollout-guardian";

/// The most bytes one registration line takes: `+`, a `u64`, a space, an
/// `i32` and a newline.
pub(crate) const LINE_MAX: usize = 1 + 20 + 1 + 11 + 1;

/// What runs the guardian: a program and its first arguments.
struct Program {
    program: PathBuf,
    args: Vec<OsString>,
}

static PROGRAM: OnceLock<Program> = OnceLock::new();
static GUARDIAN: OnceLock<Result<PipeWriter, String>> = OnceLock::new();
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// Names the program that runs [`guardian_main`] (`program args... GATE-PID`),
/// once per process, before the first child is spawned: the xtask binary
/// passes itself and [`GUARDIAN_ARG`]. Without it, children still stop with
/// their leader's parent thread (Linux), but what a leader started may not.
pub fn set_guardian(program: PathBuf, args: Vec<OsString>) -> Result<()> {
    PROGRAM
        .set(Program { program, args })
        .map_err(|_| anyhow!("the guardian program was already set"))
}

/// The guardian's whole life: reads registrations from stdin until end of
/// file, then kills every group still registered. See the module comment.
pub fn guardian_main() -> ExitCode {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        // Started by hand: it would ignore Ctrl-C and wait for end of file.
        eprintln!("error: `{GUARDIAN_ARG}` is started by a command, not by hand");
        return ExitCode::from(2);
    }
    // A handler that only sets a flag nobody reads: these signals no longer
    // end the process, and a read they interrupt is retried.
    let ignored = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        let _installed = signal_hook::flag::register(signal, Arc::clone(&ignored));
    }
    let mut registry = Registry::default();
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => registry.apply(&line),
        }
    }
    let own_group = nix::unistd::getpgrp();
    for pgid in registry.groups() {
        if pgid != own_group {
            let _gone = killpg(pgid, Signal::SIGKILL);
        }
    }
    ExitCode::SUCCESS
}

/// Where a child about to exec writes its registration.
#[derive(Clone, Copy)]
pub(crate) struct Registration {
    pub(crate) writer: &'static PipeWriter,
    pub(crate) key: u64,
}

/// One child's group as the guardian knows it, from before the spawn until
/// [`Watch::forget`] (or drop).
pub(crate) struct Watch {
    registration: Registration,
    forgotten: bool,
}

impl Watch {
    /// A new key for the next child, starting the guardian if this is the
    /// first; `None` when no guardian program was set. A guardian that could
    /// not start fails this and every later spawn: a `kill -9` would leave
    /// the steps' children running.
    pub(crate) fn new() -> Result<Option<Watch>> {
        let Some(program) = PROGRAM.get() else {
            return Ok(None);
        };
        let writer = GUARDIAN
            .get_or_init(|| start(program))
            .as_ref()
            .map_err(|why| anyhow!("{why}"))?;
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Watch {
            registration: Registration { writer, key },
            forgotten: false,
        }))
    }

    /// What the child writes before it execs.
    pub(crate) fn registration(&self) -> Registration {
        self.registration
    }

    /// Tells the guardian that this group has ended (or never started).
    pub(crate) fn forget(&mut self) {
        if std::mem::replace(&mut self.forgotten, true) {
            return;
        }
        let line = format!("-{}\n", self.registration.key);
        // One write of a short line is atomic. A guardian that is gone
        // (killed by hand) cannot be helped: the command goes on without.
        let _written = nix::unistd::write(self.registration.writer, line.as_bytes());
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.forget();
    }
}

/// Starts the guardian with the read end of a new pipe as its stdin and
/// returns the write end, or why it could not start.
fn start(program: &Program) -> Result<PipeWriter, String> {
    let cannot = |why: std::io::Error| {
        format!(
            "cannot start the guardian `{}` that stops the steps if this command is killed: {why}",
            program.program.display()
        )
    };
    // Both ends are close-on-exec: only the guardian gets the read end (as
    // its stdin), and no child ever gets the write end.
    let (reader, writer) = std::io::pipe().map_err(cannot)?;
    let mut cmd = super::command(&program.program);
    cmd.args(&program.args)
        .arg(std::process::id().to_string())
        .stdin(reader)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/");
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    // Never waited for: it ends after this process, and `init` reaps it.
    let _guardian = cmd.spawn().map_err(cannot)?;
    // Dropping `cmd` closes our copy of the read end.
    drop(cmd);
    Ok(writer)
}

/// Writes `+KEY PID\n` into `buf` and returns it, without allocating: this
/// runs in a forked child before exec, where only async-signal-safe code may
/// run.
pub(crate) fn registration_line(buf: &mut [u8; LINE_MAX], key: u64, pid: i32) -> &[u8] {
    let mut len = 0;
    let mut push = |byte: u8| {
        if let Some(slot) = buf.get_mut(len) {
            *slot = byte;
            len += 1;
        }
    };
    push(b'+');
    push_decimal(&mut push, key);
    push(b' ');
    push_decimal(&mut push, u64::from(pid.unsigned_abs()));
    push(b'\n');
    &buf[..len.min(LINE_MAX)]
}

/// Pushes the decimal digits of `value`, most significant first.
fn push_decimal(push: &mut impl FnMut(u8), value: u64) {
    let mut digits = [0u8; 20];
    let mut count = 0;
    let mut rest = value;
    loop {
        if let Some(slot) = digits.get_mut(count) {
            *slot = b'0' + (rest % 10) as u8;
        }
        count += 1;
        rest /= 10;
        if rest == 0 || count == digits.len() {
            break;
        }
    }
    for digit in digits.iter().take(count).rev() {
        push(*digit);
    }
}

/// The groups registered and not yet forgotten, by key.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    groups: std::collections::BTreeMap<u64, i32>,
}

impl Registry {
    /// Applies one line: `+KEY PID` registers, `-KEY` forgets. Anything else
    /// is ignored, and so is a group id that could never be a child's group
    /// (0, 1, or negative: `kill` would read those as "every process").
    pub(crate) fn apply(&mut self, line: &[u8]) {
        let Ok(text) = std::str::from_utf8(line) else {
            return;
        };
        let text = text.trim_end_matches('\n');
        if let Some(rest) = text.strip_prefix('+') {
            let Some((key, pid)) = rest.split_once(' ') else {
                return;
            };
            if let (Ok(key), Ok(pid)) = (key.parse::<u64>(), pid.parse::<i32>())
                && pid > 1
            {
                self.groups.insert(key, pid);
            }
        } else if let Some(key) = text.strip_prefix('-')
            && let Ok(key) = key.parse::<u64>()
        {
            self.groups.remove(&key);
        }
    }

    /// The group ids still registered.
    pub(crate) fn groups(&self) -> impl Iterator<Item = Pid> + '_ {
        self.groups.values().map(|pid| Pid::from_raw(*pid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_line_is_what_format_would_write() {
        let mut buf = [0u8; LINE_MAX];
        for (key, pid) in [(0, 2), (1, 12345), (u64::MAX, i32::MAX), (42, 4_194_304)] {
            assert_eq!(
                registration_line(&mut buf, key, pid),
                format!("+{key} {pid}\n").as_bytes()
            );
        }
    }

    #[test]
    fn the_registry_keeps_what_was_registered_and_not_forgotten() {
        let mut registry = Registry::default();
        for line in [
            "+1 100\n", "+2 200\n", "-1\n", // a spawn that failed: never registered
            "-7\n", // not group ids a child can have
            "+3 0\n", "+4 1\n", "+5 -9\n", // malformed
            "+6\n", "+x 5\n", "junk\n", "+8 300\n",
        ] {
            registry.apply(line.as_bytes());
        }
        let groups: Vec<i32> = registry.groups().map(Pid::as_raw).collect();
        assert_eq!(groups, [200, 300]);
    }
}
