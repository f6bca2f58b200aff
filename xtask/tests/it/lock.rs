//! The output directory's lock, between real processes: a second gate on
//! the same outputs is refused naming the first (or waits with `--wait`),
//! a killed gate leaves no lock behind, and a held lock refuses
//! `baseline-diff --bless` and `monitor learn` too.

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use plumbing::lock::OutputLock;

/// A workspace whose gate has the one step `step`, run in `townlet/`.
fn workspace_with(step: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("townlet")).expect("mkdir");
    std::fs::write(
        dir.path().join("rollout.yaml"),
        format!(
            "target:\n  root: townlet\n  python: python3\ngate:\n  steps:\n    - id: slow\n      command: [sh, -c, '{step}']\n"
        ),
    )
    .expect("write");
    dir
}

/// `cargo xtask gate` on the workspace `dir`, with its outputs in
/// `dir/target/rollout`.
fn gate(dir: &Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::cargo_bin("xtask").expect("bin");
    cmd.args(["gate", "--config"])
        .arg(dir.join("rollout.yaml"))
        .args(extra)
        .env("NO_COLOR", "1")
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn spawn(mut cmd: std::process::Command) -> Child {
    cmd.spawn().expect("spawn")
}

fn wait_for(path: &Path) {
    let until = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < until,
            "`{}` never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_second_gate_on_the_same_outputs_exits_2_naming_the_first() {
    let dir = workspace_with("echo started > started; sleep 3; echo done");
    let first = spawn(gate(dir.path(), &[]));
    wait_for(&dir.path().join("townlet/started"));

    let started = Instant::now();
    let second = gate(dir.path(), &[]).output().expect("second gate");
    let took = started.elapsed();
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    let message = stderr(&second);
    let rollout = rollout_config::resolve::rollout_dir_for(
        &dir.path().join("target"),
        &dir.path().join("townlet"),
    );
    assert!(
        message.contains(&format!(
            "error: `{}` is in use by `gate` (pid {}, started 20",
            rollout.display(),
            first.id()
        )),
        "{message}"
    );
    assert!(
        message.contains("Z)\nhint: wait for it, or pass `--wait`"),
        "{message}"
    );
    assert!(took < Duration::from_secs(2), "refused after {took:?}");

    // The first gate's log and report are its own, whole.
    let out = first.wait_with_output().expect("first gate");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = std::fs::read_to_string(rollout.join("gate/slow.log")).expect("log");
    assert_eq!(log, "done\n");
}

#[test]
fn with_wait_a_second_gate_runs_when_the_first_is_done() {
    let dir = workspace_with("echo start >> runs; sleep 2; echo end >> runs");
    let first = spawn(gate(dir.path(), &[]));
    wait_for(&dir.path().join("townlet/runs"));
    let second = spawn(gate(dir.path(), &["--wait"]));
    let first_pid = first.id();

    let first = first.wait_with_output().expect("first gate");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = second.wait_with_output().expect("second gate");
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&format!("waiting for `gate` (pid {first_pid}, started ")),
        "{}",
        stderr(&second)
    );
    // One run after the other, never both at once.
    let runs = std::fs::read_to_string(dir.path().join("townlet/runs")).expect("runs");
    assert_eq!(runs, "start\nend\nstart\nend\n");
}

#[test]
fn a_gate_killed_with_sigkill_leaves_no_lock_behind() {
    // The step leaves a process running in the background, in a session of
    // its own so that the guardian does not stop it with the step's group:
    // had it inherited the lock's descriptor, it would hold the lock after
    // the gate died.
    let dir = workspace_with(
        "test -f quick && exit 0; setsid sleep 60 & echo $! > background.pid; echo $$ > leader.pid; wait",
    );
    let mut first = spawn(gate(dir.path(), &[]));
    wait_for(&dir.path().join("townlet/leader.pid"));
    // The shell writes the pids as soon as it forks: the background
    // process must have left the step's session before the gate dies, or
    // the guardian rightly stops it with the step.
    wait_for_own_session(&dir.path().join("townlet/background.pid"));
    first.kill().expect("SIGKILL the gate");
    first.wait().expect("reap");
    let lock_file = rollout_config::resolve::rollout_dir_for(
        &dir.path().join("target"),
        &dir.path().join("townlet"),
    )
    .join(".lock");
    let said = std::fs::read_to_string(&lock_file).expect("the lock file stays");
    assert!(
        said.contains(&format!("\"pid\":{}", first.id())),
        "the dead gate's line stays: {said}"
    );

    std::fs::write(dir.path().join("townlet/quick"), "").expect("write");
    let started = Instant::now();
    let second = gate(dir.path(), &[]).output().expect("second gate");
    let background =
        std::fs::read_to_string(dir.path().join("townlet/background.pid")).expect("background pid");
    let background_alive = !test_support::process_gone(&background);
    if let Ok(pid) = background.trim().parse::<i32>() {
        let _gone = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        background_alive,
        "the step's background process was meant to outlive the gate"
    );
}

/// Waits (up to 10 s) until the process whose pid `pid_file` holds leads a
/// session of its own (`/proc/PID/stat`'s session field is its pid).
fn wait_for_own_session(pid_file: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pid = std::fs::read_to_string(pid_file).unwrap_or_default();
        let pid = pid.trim();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The fields after the command's `(name)`: state, ppid, pgrp, session.
        let session = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(3));
        if !pid.is_empty() && session == Some(pid) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pid} never left the step's session: {stat}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_held_lock_refuses_a_bless_until_it_is_released() {
    let dir = tempfile::tempdir().expect("tempdir");
    let candidate = dir.path().join("candidate");
    std::fs::create_dir(&candidate).expect("mkdir");
    std::fs::write(candidate.join("a.json"), "{}").expect("write");
    let baselines = dir.path().join("baselines");
    let baseline = baselines.join("phase3");
    let bless = || {
        let mut cmd = std::process::Command::cargo_bin("xtask").expect("bin");
        cmd.args(["baseline-diff", "--bless", "--baseline"])
            .arg(&baseline)
            .arg("--candidate")
            .arg(&candidate)
            .env_remove("TOWNLET_ROOT")
            .env("NO_COLOR", "1");
        cmd
    };

    let held = OutputLock::acquire(&baselines, "holder", false).expect("lock");
    let out = bless().output().expect("bless");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "`{}` is in use by `holder` (pid {}, started ",
            baselines.display(),
            std::process::id()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!baseline.exists(), "nothing blessed");

    let waiting = spawn({
        let mut cmd = bless();
        cmd.arg("--wait")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!baseline.exists(), "blessed while the lock was held");
    drop(held);
    let out = waiting.wait_with_output().expect("bless --wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(baseline.join("manifest.json").is_file());
}

#[test]
fn a_held_lock_refuses_monitor_learn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log: String = (1..=5)
        .map(|tick| format!("2026-01-05 10:00:00,987 INFO townlet.core.sim_loop tick_health tick={tick} duration_ms=1.91 queue=0 dropped=0 flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue=0\n"))
        .collect();
    let good = dir.path().join("good.log");
    std::fs::write(&good, log).expect("write");
    let out_dir = dir.path().join("thresholds");
    let learn = || {
        let mut cmd = std::process::Command::cargo_bin("xtask").expect("bin");
        cmd.args(["monitor", "learn", "--from"])
            .arg(&good)
            .arg("--output")
            .arg(out_dir.join("monitor-thresholds.yaml"))
            .env_remove("TOWNLET_ROOT")
            .env("NO_COLOR", "1");
        cmd
    };

    let held = OutputLock::acquire(&out_dir, "holder", false).expect("lock");
    let out = learn().output().expect("learn");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "`{}` is in use by `holder` (pid {}, started ",
            out_dir.display(),
            std::process::id()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!out_dir.join("monitor-thresholds.yaml").exists());
    drop(held);
    let out = learn().output().expect("learn");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out_dir.join("monitor-thresholds.yaml").is_file());
}
