//! Benchmarks, printed as figures (run with `cargo bench -p monitor`):
//!
//! 1. log-line parsing in lines per second (target: at least 1 million),
//!    alone and with the rules fed;
//! 2. memory while following an hour-long synthetic stream (Townlet runs at
//!    about 560 ticks/s: 2 million ticks plus buffer warnings), written by a
//!    fast writer thread with one rotation halfway: resident set size at the
//!    start and at the end must stay flat.

// A harness is one long script of scenarios, read top to bottom.
#![allow(clippy::too_many_lines, clippy::too_many_arguments)]

use std::io::Write;
use std::time::{Duration, Instant};

use monitor::follow;
use monitor::rules::{DropThresholds, Kind, RuleSettings, SourceEval};
use rollout_config::{Context, Overrides, Settings};
use rollout_core::Severity;
use rollout_core::{Format, Verbosity};
use telemetry::log as logline;

fn line(tick: u64, dropped: u64, older: bool) -> String {
    if older {
        format!(
            "2026-01-05 10:00:00,987 INFO townlet.core.sim_loop tick_health tick={tick} duration_ms=1.43 queue=0 dropped={dropped} perturbations_pending=0 perturbations_active=0 exit_queue={}\n",
            tick % 4
        )
    } else {
        format!(
            "2026-01-05 10:00:00,987 INFO townlet.core.sim_loop tick_health tick={tick} duration_ms=1.43 queue=0 dropped={dropped} flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue={}\n",
            tick % 4
        )
    }
}

const WARNING: &str = "2026-01-05 10:00:01,123 WARNING townlet.telemetry.worker Telemetry buffer exceeded 256000 bytes; dropped 2 payloads\n";

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn parsing() {
    let n = 2_000_000u64;
    let mut text = String::with_capacity(400 * n as usize);
    for t in 1..=n {
        if t % 3 == 0 {
            text.push_str(WARNING);
        }
        text.push_str(&line(t, t / 2, t % 2 == 0));
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = Instant::now();
    let mut ticks = 0u64;
    for l in &lines {
        if let Some(logline::LogEvent::TickHealth(t)) = logline::parse(l) {
            ticks += t.tick & 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "parse: {} lines in {:.3} s = {:.2} million lines/s (checksum {ticks})",
        lines.len(),
        secs,
        lines.len() as f64 / secs / 1e6
    );
    let mut eval = SourceEval::new(
        "b",
        "bench.log",
        Kind::Log,
        RuleSettings::new("facade", DropThresholds::none()),
    );
    let start = Instant::now();
    for (i, l) in lines.iter().enumerate() {
        eval.log_line(i as u64 + 1, l);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "parse + rules: {} lines in {:.3} s = {:.2} million lines/s ({} alerts)",
        lines.len(),
        secs,
        lines.len() as f64 / secs / 1e6,
        eval.alerts().len()
    );
}

fn follow_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("rollout.yaml");
    std::fs::write(&cfg, "monitor:\n  thresholds_file: none.yaml\n").expect("config");
    let overrides = Overrides {
        config: Some(cfg),
        root: Some(dir.path().to_path_buf()),
    };
    let settings =
        Settings::resolve(dir.path(), dir.path(), &overrides, &|_| None).expect("settings");
    let ctx = Context {
        out: rollout_core::Out::to_writer(std::io::sink(), false),
        settings,
        format: Format::Human,
        verbosity: Verbosity::Quiet,
    };
    let log = dir.path().join("live.log");
    std::fs::write(&log, line(1, 0, false)).expect("log");
    let settings = monitor::Settings {
        inputs: vec![monitor::Input {
            env: monitor::input::DEFAULT_ENV.into(),
            path: log.clone(),
            kind: Some(Kind::Log),
        }],
        last_capture_of: None,
        rules: monitor::rule_settings(&ctx.settings.config, None),
        fail_on: Severity::Critical,
        unreadable: monitor::Unreadable::Refuse,
        follow: Some(monitor::FollowSettings {
            stop_after_idle: Some(Duration::from_secs(2)),
        }),
        prom_textfile: None,
        textfile_interval: std::time::Duration::from_secs(15),
    };
    let follower = std::thread::spawn(move || follow::run(&ctx, &settings));

    let ticks = 2_000_000u64; // an hour at ~560 ticks/s
    let start = Instant::now();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    let mut chunk = String::with_capacity(1 << 20);
    let mut rss_start = 0;
    let mut peak = 0;
    for t in 2..=ticks {
        if t % 3 == 0 {
            chunk.push_str(WARNING);
        }
        chunk.push_str(&line(t, t / 2, false));
        if chunk.len() > (1 << 19) {
            file.write_all(chunk.as_bytes()).expect("write");
            chunk.clear();
            // Pace the writer a little so the follower keeps up as it would.
            std::thread::sleep(Duration::from_millis(2));
            peak = peak.max(rss_kib());
        }
        if t == ticks / 20 {
            std::thread::sleep(Duration::from_millis(300));
            rss_start = rss_kib();
        }
        if t == ticks / 2 {
            // Rotate: rename, then a new file.
            file.write_all(chunk.as_bytes()).expect("write");
            chunk.clear();
            std::fs::rename(&log, dir.path().join("live.log.1")).expect("rotate");
            file = std::fs::File::create(&log).expect("new log");
        }
    }
    file.write_all(chunk.as_bytes()).expect("write");
    drop(file);
    let report = follower.join().expect("thread").expect("follow");
    let rss_end = rss_kib();
    println!(
        "follow: {} ticks ({} lines read) in {:.1} s; RSS at 5%: {} KiB, at end: {} KiB, peak while writing: {} KiB",
        report.inputs[0].ticks,
        report.inputs[0].records,
        start.elapsed().as_secs_f64(),
        rss_start,
        rss_end,
        peak
    );
}

fn main() {
    parsing();
    follow_memory();
}
