//! Measuring a command for benchmarks: wall time, CPU time and peak RSS,
//! read from `/proc` while it runs.

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

/// Runs a command, polling its peak RSS (`VmHWM`, KiB) and CPU time until
/// it exits.
pub fn run_measured(cmd: &mut Command) -> (Duration, u64, Duration) {
    let t = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let mut cpu = Duration::ZERO;
    let pid = child.id().to_string();
    loop {
        if let Some(c) = cpu_of(&pid) {
            cpu = cpu.max(c);
        }
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
            return (elapsed, peak, cpu);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
