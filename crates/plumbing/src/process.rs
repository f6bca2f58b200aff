//! Supervised child processes: each runs in its own process group with its
//! output in a log file (or captured), a deadline, and cancellation. On
//! timeout or interruption the whole group is stopped (SIGTERM, then SIGKILL
//! after a grace period), so no grandchild outlives the command that started
//! it. Terminal smokes run in a pseudo-terminal. This is the only module that
//! manages processes by hand; short probes elsewhere go through xshell.
//!
//! If the command itself dies without stopping its children (`kill -9`),
//! each leader gets SIGKILL from the kernel (`PR_SET_PDEATHSIG`, Linux) and
//! the guardian process, when one was set up with [`set_guardian`],
//! kills the rest of every group.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::steplog;

mod guardian;

pub use guardian::{GUARDIAN_ARG, guardian_main, set_guardian};

/// How often a running child is polled.
const POLL: Duration = Duration::from_millis(5);

/// How long a group gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal (not by us).
    Signal(i32),
    /// Ran past its deadline; its group was stopped.
    TimedOut,
    /// The gate was interrupted; its group was stopped.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> Option<i32> {
        match self {
            Exit::Code(c) => Some(c),
            _ => None,
        }
    }
}

/// A command for `program`: the one place of the workspace that makes a
/// `std::process::Command` (clippy's `disallowed-methods` forbids it
/// elsewhere), so that every child is started, supervised and stopped here.
#[allow(clippy::disallowed_methods)]
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    Command::new(program)
}

/// The command of `argv` run in `cwd` with `env` added: a program written
/// with a `/` is relative to `cwd`, any other is looked up on `PATH`.
pub fn command_in(cwd: &Path, argv: &[String], env: &[(String, String)]) -> Result<Command> {
    let (program, args) = argv.split_first().context("empty command")?;
    if !cwd.is_dir() {
        anyhow::bail!("working directory `{}` does not exist", cwd.display());
    }
    let mut cmd = if program.contains('/') {
        command(cwd.join(program))
    } else {
        command(program)
    };
    cmd.args(args).current_dir(cwd).envs(env.iter().cloned());
    Ok(cmd)
}

/// Whether the process `pid` is gone (or a zombie) within `within`: how
/// tests and callers check that nothing outlived its supervision (Linux
/// `/proc`; elsewhere `kill -0`).
pub fn gone_within(pid: &str, within: Duration) -> bool {
    let until = Instant::now() + within;
    loop {
        let gone = match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z')),
            Err(_) if Path::new("/proc/self/stat").exists() => true,
            Err(_) => match pid.trim().parse::<i32>() {
                Ok(n) => nix::sys::signal::kill(Pid::from_raw(n), None).is_err(),
                Err(_) => true,
            },
        };
        if gone || Instant::now() >= until {
            return gone;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` in a new process group with its stdout and stderr on our
/// stderr (progress a person watches, such as provisioning), until it
/// exits, `timeout` passes, or `cancel` is set; then its group is stopped.
pub fn run_streamed(mut cmd: Command, timeout: Duration, cancel: &AtomicBool) -> Result<Exit> {
    let err = std::io::stderr().as_fd().try_clone_to_owned()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(err.try_clone()?))
        .stderr(Stdio::from(err))
        .process_group(0);
    let child = spawn(&mut cmd)?;
    supervise(child, Instant::now() + timeout, cancel, &|| false)
}

/// The first line a short probe prints on stdout (`ruff --version`), or
/// `None` when it fails, prints nothing or takes longer than `timeout`.
pub fn probe(cwd: &Path, argv: &[String], timeout: Duration) -> Option<String> {
    let cmd = command_in(cwd, argv, &[]).ok()?;
    let got = run_captured(cmd, timeout).ok()?;
    if got.exit != Exit::Code(0) {
        return None;
    }
    let text = String::from_utf8_lossy(&got.stdout);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// How long the log pump may go on after the group was stopped: only a
/// process that left the group (`setsid`) can still hold the output open.
const PUMP_GRACE: Duration = Duration::from_secs(2);

/// Runs `cmd` in a new process group with stdout and stderr appended to
/// `log`, until it exits, `timeout` passes, or `cancel` is set. The output
/// goes through a pipe so that the log keeps at most its first
/// [`steplog::HEAD`] and last [`steplog::TAIL`] bytes, with a note of what
/// was dropped between them, in bounded memory whatever the child prints.
pub fn run_logged(
    mut cmd: Command,
    log: &Path,
    timeout: Duration,
    cancel: &AtomicBool,
) -> Result<Exit> {
    let mut file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open step log `{}`", log.display()))?;
    let (mut reader, writer) =
        std::io::pipe().context("cannot create a pipe for the step's output")?;
    let err = writer.try_clone()?;
    cmd.stdin(Stdio::null())
        .stdout(writer)
        .stderr(err)
        .process_group(0);
    let child = spawn(&mut cmd);
    // The pipe's write ends now live only in the child: drop ours with `cmd`.
    drop(cmd);
    let child = child?;
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let pump = std::thread::Builder::new()
        .name("step-log".into())
        .spawn(move || {
            let pumped = steplog::pump(&mut reader, &mut file, steplog::HEAD, steplog::TAIL);
            let _gone = done_tx.send(pumped);
        })
        .context("cannot start the step log's writer")?;
    let exit = supervise(child, Instant::now() + timeout, cancel, &|| false)?;
    // On a timeout a process that escaped the group still holds the output
    // open; the log keeps what came so far and the writer ends with it.
    if let Ok(pumped) = done_rx.recv_timeout(PUMP_GRACE) {
        let _joined = pump.join();
        pumped.with_context(|| format!("cannot write step log `{}`", log.display()))?;
    }
    Ok(exit)
}

/// A supervised child: the leader of its own process group, registered
/// with the guardian (when there is one) until its group has ended.
struct Leader {
    child: Child,
    pgid: Pid,
    watch: Option<guardian::Watch>,
}

impl Leader {
    /// Tells the guardian the group has ended; called after the group was
    /// killed and before the leader is reaped, while its id is still ours.
    fn forget(&mut self) {
        if let Some(watch) = &mut self.watch {
            watch.forget();
        }
    }
}

/// Spawns `cmd` as the leader of a new process group that stops with us.
fn spawn(cmd: &mut Command) -> Result<Leader> {
    // Every supervised child leads its own group: its pid is its group id,
    // which is what it registers with the guardian.
    cmd.process_group(0);
    // A failed spawn drops `watch`, which forgets the registration.
    let watch = guardian::Watch::new()?;
    prepare_child(cmd, watch.as_ref().map(guardian::Watch::registration));
    let child = cmd.spawn().with_context(|| {
        let program = cmd.get_program().to_string_lossy().into_owned();
        format!("cannot start `{program}`")
    })?;
    Ok(Leader {
        pgid: Pid::from_raw(child.id() as i32),
        child,
        watch,
    })
}

/// Makes the child, between fork and exec, ask Linux to SIGKILL it when the
/// thread that started it dies (`PR_SET_PDEATHSIG`), so that even a `kill -9`
/// of the gate stops its steps' leaders (children are always spawned and
/// waited for on the same thread), then register its group with the
/// guardian, so that what the leader starts is stopped too: registered
/// before the step's program runs, the group cannot start anything the
/// guardian does not know of. A step that calls `setsid` leaves our process
/// group and escapes group stops and the guardian.
#[allow(unsafe_code)]
fn prepare_child(cmd: &mut Command, registration: Option<guardian::Registration>) {
    #[cfg(target_os = "linux")]
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: `prctl`, `getppid`, `getpid`,
    // `sigaction` and `write` are system calls that neither allocate nor
    // take locks, and the registration line is written into a buffer on the
    // stack. The guardian's write end is a `&'static` that outlives the
    // child's copy of our memory.
    unsafe {
        cmd.pre_exec(move || {
            #[cfg(target_os = "linux")]
            {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
                // The parent may have died before the prctl took effect.
                if nix::unistd::getppid().as_raw() as u32 != parent {
                    return Err(std::io::Error::other(
                        "the parent exited before the child started",
                    ));
                }
            }
            if let Some(registration) = registration {
                let mut buf = [0u8; guardian::LINE_MAX];
                let pid = nix::unistd::getpid().as_raw();
                let line = guardian::registration_line(&mut buf, registration.key, pid);
                // std has reset SIGPIPE to its default for the program we
                // exec: a guardian killed by hand must give EPIPE here, not
                // kill the step.
                let sigpipe =
                    nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn);
                while let Err(nix::errno::Errno::EINTR) =
                    nix::unistd::write(registration.writer, line)
                {}
                if let Ok(previous) = sigpipe {
                    let _restored = nix::sys::signal::signal(Signal::SIGPIPE, previous);
                }
            }
            Ok(())
        });
    }
}

/// A flag that Ctrl-C (SIGINT), SIGTERM and SIGHUP (a closed terminal or ssh
/// session) set: the command stops its children's groups and reports itself
/// interrupted instead of dying with them still running.
pub fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("cannot install the interrupt handler")?;
    }
    Ok(interrupted)
}

/// Waits for `child`, stopping its group at the deadline, on cancel, or when
/// `done` says the caller has seen enough.
fn supervise(
    mut leader: Leader,
    deadline: Instant,
    cancel: &AtomicBool,
    done: &dyn Fn() -> bool,
) -> Result<Exit> {
    // Short children (git, probes) end within milliseconds: poll often at
    // first, then settle at POLL.
    let mut poll = Duration::from_micros(250);
    loop {
        if let Some(status) = reap_with_group(&mut leader)? {
            return Ok(exit_of(status));
        }
        let reason = if cancel.load(Ordering::Relaxed) {
            Some(Exit::Interrupted)
        } else if Instant::now() >= deadline {
            Some(Exit::TimedOut)
        } else if done() {
            Some(Exit::Code(0))
        } else {
            None
        };
        if let Some(reason) = reason {
            let first = if reason == Exit::Code(0) {
                Signal::SIGINT
            } else {
                Signal::SIGTERM
            };
            let ended = stop_group(&mut leader, first)?;
            return Ok(match reason {
                // Stopped because the caller had seen enough: report how it
                // ended after being asked to stop.
                Exit::Code(_) => ended,
                other => other,
            });
        }
        std::thread::sleep(poll);
        poll = (poll * 2).min(POLL);
    }
}

/// If the group's leader has exited, kills what is left of its group, tells
/// the guardian, and reaps the leader. On Linux the group is killed while
/// the unreaped leader still holds its process id, so neither our signal
/// nor the guardian's can reach a new group that reused the id.
fn reap_with_group(leader: &mut Leader) -> Result<Option<std::process::ExitStatus>> {
    let pgid = leader.pgid;
    #[cfg(target_os = "linux")]
    {
        use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(pgid), flags) {
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => {
                let _gone = killpg(pgid, Signal::SIGKILL);
                leader.forget();
                return Ok(leader.child.try_wait()?);
            }
            // Already reaped, or waitid unusable here: the portable path.
            Err(_) => {}
        }
    }
    let status = leader.child.try_wait()?;
    if status.is_some() {
        // The leader is gone; make sure nothing it started lingers.
        let _gone = killpg(pgid, Signal::SIGKILL);
        leader.forget();
    }
    Ok(status)
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Code(-1),
    }
}

/// Sends `first` to the group, then SIGTERM and SIGKILL after grace periods.
fn stop_group(leader: &mut Leader, first: Signal) -> Result<Exit> {
    let pgid = leader.pgid;
    let mut signals = vec![first];
    if first != Signal::SIGTERM {
        signals.push(Signal::SIGTERM);
    }
    signals.push(Signal::SIGKILL);
    for sig in signals {
        let _gone = killpg(pgid, sig);
        let until = Instant::now() + GRACE;
        while Instant::now() < until {
            if let Some(status) = reap_with_group(leader)? {
                return Ok(exit_of(status));
            }
            std::thread::sleep(POLL);
        }
    }
    leader.forget();
    let status = leader.child.wait()?;
    Ok(Exit::Signal(status.signal().unwrap_or(9)))
}

/// A finished child's exit and output.
#[derive(Debug)]
pub struct Captured {
    pub exit: Exit,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `cmd` in a new process group with stdout and stderr captured, until
/// it exits or `timeout` passes (then its group is stopped). For network
/// commands of other crates (`git push`, `git ls-remote`) that must not hang.
pub fn run_captured(cmd: Command, timeout: Duration) -> Result<Captured> {
    run_captured_input(cmd, None, timeout)
}

/// [`run_captured`] with `input` on the child's stdin (nothing when `None`).
/// Output and input go through anonymous temporary files, unlinked from the
/// start, so that two runs never share one and a killed run leaves nothing
/// behind; a child that never reads its input cannot block on a full pipe.
pub fn run_captured_input(
    mut cmd: Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Captured> {
    let scratch =
        || tempfile::tempfile().context("cannot create a temporary file for a child's output");
    let mut out = scratch()?;
    let mut err = scratch()?;
    let stdin = match input {
        None => Stdio::null(),
        Some(bytes) => {
            let mut file = scratch()?;
            file.write_all(bytes)?;
            file.seek(std::io::SeekFrom::Start(0))?;
            Stdio::from(file)
        }
    };
    cmd.stdin(stdin)
        .stdout(out.try_clone()?)
        .stderr(err.try_clone()?)
        .process_group(0);
    let child = spawn(&mut cmd)?;
    drop(cmd);
    let exit = supervise(
        child,
        Instant::now() + timeout,
        &AtomicBool::new(false),
        &|| false,
    )?;
    let read_back = |file: &mut File| -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        file.seek(std::io::SeekFrom::Start(0))?;
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    Ok(Captured {
        exit,
        stdout: read_back(&mut out)?,
        stderr: read_back(&mut err)?,
    })
}

/// What a terminal run showed.
#[derive(Debug)]
pub struct PtyRun {
    pub exit: Exit,
    /// Everything written to the terminal, escape sequences removed.
    pub screen: String,
}

/// Runs `cmd` with a pseudo-terminal as stdin, stdout and stderr, for at
/// most `run_for`, stopping it (SIGINT first) as soon as `enough` says the
/// screen shows what was expected. The screen text goes to `log` as well.
pub fn run_in_pty(
    mut cmd: Command,
    log: &Path,
    run_for: Duration,
    cancel: &AtomicBool,
    enough: &(dyn Fn(&str) -> bool + Sync),
) -> Result<PtyRun> {
    let size = nix::pty::Winsize {
        ws_row: 50,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(&size, None).context("cannot open a pseudo-terminal")?;
    // openpty(3) leaves both ends inheritable: steps started meanwhile by
    // other threads would hold this terminal open.
    for fd in [pty.master.as_fd(), pty.slave.as_fd()] {
        nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .context("cannot mark the pseudo-terminal close-on-exec")?;
    }
    let slave = File::from(pty.slave);
    // The parent keeps one copy of the child end open until the child is
    // gone and its output drained: some kernels (macOS) discard unread
    // output once every copy is closed.
    let keep_open = slave.try_clone()?;
    cmd.stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave))
        .env("TERM", "xterm-256color")
        .env("COLUMNS", size.ws_col.to_string())
        .env("LINES", size.ws_row.to_string())
        .process_group(0);
    let child = spawn(&mut cmd)?;
    drop(cmd);

    let screen = Arc::new(Mutex::new(String::new()));
    let bytes_read = Arc::new(AtomicUsize::new(0));
    let reader = {
        let screen = Arc::clone(&screen);
        let bytes_read = Arc::clone(&bytes_read);
        let mut master = File::from(pty.master);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut strip = AnsiStripper::default();
            loop {
                match master.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        bytes_read.fetch_add(n, Ordering::Relaxed);
                        let text = strip.feed(&buf[..n]);
                        if let Ok(mut s) = screen.lock() {
                            s.push_str(&text);
                            // Bound memory: keep the last 4 MiB.
                            if s.len() > 8 << 20 {
                                let cut = s.len() - (4 << 20);
                                let cut = (cut..s.len())
                                    .find(|i| s.is_char_boundary(*i))
                                    .unwrap_or(cut);
                                s.drain(..cut);
                            }
                        }
                    }
                }
            }
        })
    };
    let seen = || screen.lock().map(|s| enough(&s)).unwrap_or(false);
    let exit = supervise(child, Instant::now() + run_for, cancel, &seen)?;
    // The child is gone: wait until its output stops arriving (at most 2 s),
    // then close the last copy of the child end so the reader sees the end.
    let quiet_by = Instant::now() + Duration::from_secs(2);
    let mut before = bytes_read.load(Ordering::Relaxed);
    while Instant::now() < quiet_by {
        std::thread::sleep(Duration::from_millis(100));
        let now = bytes_read.load(Ordering::Relaxed);
        if now == before {
            break;
        }
        before = now;
    }
    drop(keep_open);
    let _joined = reader.join();
    let screen = screen.lock().map(|s| s.clone()).unwrap_or_default();
    std::fs::write(log, &screen)
        .with_context(|| format!("cannot write step log `{}`", log.display()))?;
    Ok(PtyRun { exit, screen })
}

/// Removes terminal escape sequences and carriage returns from a byte stream
/// that may split sequences and UTF-8 characters across reads, with
/// `strip-ansi-escapes` (a `vte` parser) keeping the text and newlines.
pub struct AnsiStripper {
    writer: strip_ansi_escapes::Writer<rollout_core::out::Captured>,
    text: rollout_core::out::Captured,
}

impl Default for AnsiStripper {
    fn default() -> Self {
        let text = rollout_core::out::Captured::default();
        Self {
            writer: strip_ansi_escapes::Writer::new(text.clone()),
            text,
        }
    }
}

impl AnsiStripper {
    /// The text of `bytes`, with what an earlier read left unfinished.
    pub fn feed(&mut self, bytes: &[u8]) -> String {
        // Writing to memory cannot fail.
        let _written = self.writer.write_all(bytes);
        let _flushed = self.writer.flush();
        let taken = self.text.take();
        // The parser emits whole characters only.
        String::from_utf8_lossy(&taken).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escapes_across_reads() {
        let mut s = AnsiStripper::default();
        let mut text = s.feed(b"\x1b[2J\x1b[1;1HTick: 3\r\n\x1b[");
        text += &s.feed(b"32mok\x1b]0;title\x07 \xe2\x94");
        text += &s.feed(b"\x80 done\x1b(B");
        assert_eq!(text, "Tick: 3\nok \u{2500} done");
    }

    #[test]
    fn a_step_past_its_deadline_is_stopped_with_its_children() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("step.log");
        let pidfile = dir.path().join("child.pid");
        let mut cmd = command("sh");
        cmd.arg("-c")
            .arg(format!("sleep 30 & echo $! > {}; wait", pidfile.display()));
        let started = Instant::now();
        let exit = run_logged(
            cmd,
            &log,
            Duration::from_millis(300),
            &AtomicBool::new(false),
        )
        .expect("runs");
        assert_eq!(exit, Exit::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid")
            .trim()
            .parse()
            .expect("number");
        assert!(
            gone_within(&pid.to_string(), Duration::from_secs(5)),
            "grandchild {pid} survived"
        );
    }

    #[test]
    fn what_a_finished_step_left_running_is_stopped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("child.pid");
        let mut cmd = command("sh");
        cmd.arg("-c").arg(format!(
            "sleep 30 & echo $! > {}; exit 4",
            pidfile.display()
        ));
        let exit = run_logged(
            cmd,
            &dir.path().join("step.log"),
            Duration::from_secs(60),
            &AtomicBool::new(false),
        )
        .expect("runs");
        assert_eq!(exit, Exit::Code(4));
        let pid = std::fs::read_to_string(&pidfile).expect("pid");
        assert!(
            gone_within(pid.trim(), Duration::from_secs(5)),
            "background child {pid} survived"
        );
    }

    #[test]
    fn everything_a_quickly_exiting_program_wrote_to_the_terminal_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("step.log");
        // About 1 MB, far more than a terminal buffers, then exit at once.
        let mut cmd = command("sh");
        cmd.arg("-c")
            .arg("seq 1 150000; echo last line >&2; exit 3");
        let run = run_in_pty(
            cmd,
            &log,
            Duration::from_secs(60),
            &AtomicBool::new(false),
            &|_| false,
        )
        .expect("runs");
        assert_eq!(run.exit, Exit::Code(3));
        let lines: Vec<&str> = run.screen.lines().collect();
        assert_eq!(lines.len(), 150_001, "{:?}", &lines[lines.len() - 3..]);
        assert_eq!((lines[149_999], lines[150_000]), ("150000", "last line"));
        assert_eq!(std::fs::read_to_string(&log).expect("log"), run.screen);
    }
}
