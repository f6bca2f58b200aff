//! Measuring a command for benchmarks: wall time, CPU time and peak RSS.

use std::process::Command;
use std::time::{Duration, Instant};

/// CPU time (user + system) of a process so far, from `/proc/PID/stat`.
pub fn cpu_of(pid: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = text.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time (user + system) of this process's children that have been
/// waited for, and of theirs: the kernel's own accounting, to the
/// microsecond.
fn children_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(Duration::ZERO, |u| {
        let us = |t: nix::sys::time::TimeVal| {
            Duration::from_secs(t.tv_sec().max(0).unsigned_abs())
                + Duration::from_micros(t.tv_usec().max(0).unsigned_abs())
        };
        us(u.user_time()) + us(u.system_time())
    })
}

/// Runs a command to its end: (wall time, peak RSS in KiB, CPU time). The
/// wall time is read within a millisecond of the exit; the CPU time is the
/// kernel's accounting of the reaped child and of the processes it waited
/// for (for `cargo run`, the program it ran); the peak RSS (`VmHWM`) is
/// polled, and is the child's own.
pub fn run_measured(cmd: &mut Command) -> (Duration, u64, Duration) {
    let cpu_before = children_cpu();
    let t = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            let elapsed = t.elapsed();
            assert!(status.code().is_some(), "killed: {status}");
            return (elapsed, peak, children_cpu().saturating_sub(cpu_before));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
