//! Figures for baseline-diff on a synthetic Townlet capture (written under
//! the system temp directory, never in the repository):
//!
//! - throughput of `compare_paths` against plain `serde_json` parsing of the
//!   same bytes (one thread, every line into a `Value`);
//! - the command as users run it (`cargo xtask baseline-diff`, dev profile;
//!   the binary is built first) with its CPU time and peak RSS;
//! - the Python reference (`benches/reference.py`: json + numpy.isclose).
//!
//! - the hostile object arrays of issue 20, written by numpy (a pickled
//!   4 MiB string referenced 1000 times through the memo, and one 10 MiB
//!   integer), each compared in a child process with its time and peak
//!   RSS: both must be refused (exit 2) within 1 s and 256 MB.
//!
//! `BENCH_MB` sets the size of each capture (default 200); `BENCH_XTASK` an
//! xtask binary to measure instead of building `target/debug/xtask`;
//! `BENCH_PYTHON` the interpreter (default `python3` when it has numpy, else
//! the numpy virtual environment the hostile arrays are written with).
//! `BENCH_HOSTILE_ONLY=1` measures the hostile object arrays only.

// A harness is one long script of scenarios, read top to bottom.
#![allow(clippy::too_many_lines, clippy::too_many_arguments)]

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use baseline_diff::{CompareSettings, compare_paths};
use rollout_config::model::BaselineSection;
use serde_json::{Value, json};
use test_support::measure::{cpu_of, run_measured};

/// The same allocator as the xtask binary, for both the command and the
/// plain serde_json figure.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the child of [`hostile_pickles`] finds the files it compares.
const CHILD_BASELINE: &str = "BENCH_CHILD_BASELINE";
const CHILD_CANDIDATE: &str = "BENCH_CHILD_CANDIDATE";

fn main() {
    if let (Some(baseline), Some(candidate)) = (
        std::env::var_os(CHILD_BASELINE),
        std::env::var_os(CHILD_CANDIDATE),
    ) {
        compare_in_child(Path::new(&baseline), Path::new(&candidate));
    }
    hostile_pickles();
    if std::env::var_os("BENCH_HOSTILE_ONLY").is_some() {
        return;
    }
    let (dir, base, cand) = captures();
    let bytes = std::fs::metadata(&base).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(&cand).map(|m| m.len()).unwrap_or(0);
    let mib = bytes as f64 / (1u64 << 20) as f64;
    println!(
        "capture: 2 files, {mib:.0} MiB in total, in `{}`",
        dir.display()
    );

    // BENCH_QUICK=1: one parse-only run and the command only (for the 1 GB
    // memory figure).
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let runs = if quick { 1 } else { 2 };
    let t_parse = best(runs, || parse_only(&[&base, &cand]));
    let (_, cpu_parse) = if quick {
        (t_parse, t_parse)
    } else {
        timed(|| parse_only(&[&base, &cand]))
    };
    println!(
        "serde_json parse only (1 thread): {:.2}s, {:.0} MiB/s, cpu {:.2}s",
        t_parse.as_secs_f64(),
        mib / t_parse.as_secs_f64(),
        cpu_parse.as_secs_f64()
    );

    let t_read = best(runs, || {
        for p in [&base, &cand] {
            let n: u64 = telemetry::Stream::open(p)
                .expect("open")
                .map(|s| s.expect("state").tick)
                .sum();
            std::hint::black_box(n);
        }
    });
    println!(
        "telemetry::Stream alone, every value built (read, parse, reconstruct; files one after the other): {:.2}s, {:.0} MiB/s",
        t_read.as_secs_f64(),
        mib / t_read.as_secs_f64()
    );
    let kept = telemetry::Keep::fields(
        BaselineSection::default()
            .fields
            .iter()
            .map(|f| telemetry::FieldPattern::new(f).expect("pattern")),
    );
    let t_kept = best(runs, || {
        for p in [&base, &cand] {
            let options = telemetry::Options::default()
                .keep(kept.clone())
                .schema(true);
            let n: u64 = telemetry::Stream::open_with(p, options)
                .expect("open")
                .map(|s| s.expect("state").tick)
                .sum();
            std::hint::black_box(n);
        }
    });
    println!(
        "telemetry::Stream alone, keeping the compared fields, with key paths: {:.2}s, {:.0} MiB/s",
        t_kept.as_secs_f64(),
        mib / t_kept.as_secs_f64()
    );

    let settings = CompareSettings::from_config(&BaselineSection::default(), "facade");
    if quick {
        measure_xtask(&base, &cand, &dir, mib, t_parse);
        return;
    }
    let mut verdict = String::new();
    let t_cmp = best(2, || {
        let r = compare_paths(&settings, &base, &cand).expect("compare");
        verdict = format!("{:?}, {} failed checks", r.verdict, r.counts.fail);
    });
    let (_, cpu_cmp) = timed(|| {
        compare_paths(&settings, &base, &cand).expect("compare");
    });
    println!(
        "compare_paths (bench profile): {:.2}s, {:.0} MiB/s, {:.2}x the parse-only time, cpu {:.2}s = {:.2}x the parse-only cpu ({verdict})",
        t_cmp.as_secs_f64(),
        mib / t_cmp.as_secs_f64(),
        t_cmp.as_secs_f64() / t_parse.as_secs_f64(),
        cpu_cmp.as_secs_f64(),
        cpu_cmp.as_secs_f64() / cpu_parse.as_secs_f64()
    );

    let t_xtask = measure_xtask(&base, &cand, &dir, mib, t_parse);
    python(&base, &cand, mib, t_cmp, t_xtask);
}

/// The command as users run it: `cargo xtask baseline-diff` (dev profile).
/// The binary is built first so that the figures are of the current code;
/// `BENCH_XTASK` measures another binary instead. Reports the median of
/// three runs of the binary (with CPU time and peak RSS), then the literal
/// `cargo xtask` invocation, which adds cargo's up-to-date check: (the
/// binary's median, the `cargo xtask` run when measured).
fn measure_xtask(
    base: &Path,
    cand: &Path,
    dir: &Path,
    mib: f64,
    t_parse: Duration,
) -> Option<(Duration, Option<Duration>)> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let xtask = match std::env::var_os("BENCH_XTASK") {
        Some(p) => PathBuf::from(p),
        None => {
            let built = plumbing::process::command(&cargo)
                .current_dir(&ws)
                .args(["build", "--quiet", "--package", "xtask"])
                .status();
            if !built.map(|s| s.success()).unwrap_or(false) {
                println!("xtask baseline-diff: not measured, `cargo build -p xtask` failed");
                return None;
            }
            ws.join("target/debug/xtask")
        }
    };
    let args = |cmd: &mut Command| {
        cmd.current_dir(&ws)
            .args(["baseline-diff", "--quiet", "--format", "json", "--output"])
            .arg(dir.join("report.json"))
            .arg("--baseline")
            .arg(base)
            .arg("--candidate")
            .arg(cand);
    };
    let mut runs: Vec<(Duration, u64, Duration)> = (0..3)
        .map(|_| {
            let mut cmd = plumbing::process::command(&xtask);
            args(&mut cmd);
            run_measured(&mut cmd)
        })
        .collect();
    runs.sort();
    let (t, rss, cpu) = runs[1];
    println!(
        "xtask baseline-diff (dev profile, median of 3; min {:.2}s, max {:.2}s): {:.2}s, {:.0} MiB/s, {:.2}x the parse-only time, cpu {:.2}s, peak RSS {:.0} MiB",
        runs[0].0.as_secs_f64(),
        runs[2].0.as_secs_f64(),
        t.as_secs_f64(),
        mib / t.as_secs_f64(),
        t.as_secs_f64() / t_parse.as_secs_f64(),
        cpu.as_secs_f64(),
        rss as f64 / 1024.0
    );
    if std::env::var_os("BENCH_XTASK").is_none() {
        let mut cmd = plumbing::process::command(&cargo);
        cmd.args(["xtask"]);
        args(&mut cmd);
        let (tc, _, _) = run_measured(&mut cmd);
        println!(
            "`cargo xtask baseline-diff` (up-to-date check included): {:.2}s",
            tc.as_secs_f64()
        );
        return Some((t, Some(tc.max(t))));
    }
    Some((t, None))
}

fn python(
    base: &Path,
    cand: &Path,
    mib: f64,
    t_cmp: Duration,
    t_xtask: Option<(Duration, Option<Duration>)>,
) {
    let has_numpy = |python: &Path| {
        plumbing::process::command(python)
            .args(["-c", "import numpy"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let python = match std::env::var_os("BENCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None if has_numpy(Path::new("python3")) => PathBuf::from("python3"),
        None => test_support::venv("numpy-venv", "", &["numpy>=1.26,<3"]).join("python"),
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference.py");
    if has_numpy(&python) {
        let (t, rss, cpu) = run_measured(
            plumbing::process::command(&python)
                .arg(&script)
                .arg(base)
                .arg(cand),
        );
        println!(
            "python reference (json + numpy.isclose): {:.2}s, {:.1} MiB/s, cpu {:.2}s, peak RSS {:.0} MiB",
            t.as_secs_f64(),
            mib / t.as_secs_f64(),
            cpu.as_secs_f64(),
            rss as f64 / 1024.0
        );
        println!(
            "speed-up over python: compare_paths {:.1}x",
            t.as_secs_f64() / t_cmp.as_secs_f64()
        );
        if let Some((binary, cargo)) = t_xtask {
            println!(
                "speed-up over python: xtask binary {:.1}x",
                t.as_secs_f64() / binary.as_secs_f64()
            );
            if let Some(x) = cargo {
                println!(
                    "speed-up over python: cargo xtask {:.1}x",
                    t.as_secs_f64() / x.as_secs_f64()
                );
            }
        }
    } else {
        println!(
            "python reference: not measured, `{}` cannot import numpy (pip install numpy)",
            python.display()
        );
    }
}

/// The two synthetic captures of `BENCH_MB` MiB each, generated once into
/// the temp directory: (directory, baseline, candidate).
fn captures() -> (PathBuf, PathBuf, PathBuf) {
    let mb: u64 = std::env::var("BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("baseline-diff-bench-{mb}mb"));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let base = dir.join("baseline.jsonl");
    let cand = dir.join("candidate.jsonl");
    let target = mb << 20;
    for (p, perturb) in [(&base, false), (&cand, true)] {
        if std::fs::metadata(p)
            .map(|m| m.len() < target)
            .unwrap_or(true)
        {
            let t = Instant::now();
            generate(p, target, perturb);
            eprintln!("generated `{}` in {:.1?}", p.display(), t.elapsed());
        }
    }
    (dir, base, cand)
}

/// The hostile object arrays of issue 20, written by numpy in a cached
/// virtual environment, each compared with a plain archive in a child
/// process (this bench binary again) whose time and peak RSS are printed.
fn hostile_pickles() {
    const SCRIPT: &str = r#"
import sys
import numpy as np
kind, path = sys.argv[1], sys.argv[2]
meta = np.empty(1, dtype=object)
if kind == "memo":
    s = "a" * (4 << 20)
    meta[0] = {"variant": "hybrid", "feature_names": [s] * 1000}
elif kind == "int":
    meta[0] = {"variant": "hybrid", "seed": 1 << (8 * (10 << 20) - 2)}
else:
    meta[0] = {"variant": "hybrid", "feature_names": ["need_hunger", "wallet"]}
np.savez_compressed(path, map=np.zeros((4, 11, 11), np.float32), metadata=meta)
"#;
    let dir = std::env::temp_dir().join("baseline-diff-bench-hostile");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let python = test_support::venv("numpy-venv", "", &["numpy>=1.26,<3"]).join("python");
    let make = |kind: &str| {
        let path = dir.join(format!("{kind}.npz"));
        let status = plumbing::process::command(&python)
            .args(["-c", SCRIPT, kind])
            .arg(&path)
            .status()
            .expect("run python");
        assert!(
            status.success(),
            "numpy could not write `{}`",
            path.display()
        );
        path
    };
    let baseline = make("plain");
    for (kind, what) in [
        (
            "memo",
            "4 MiB string referenced 1000 times through the memo",
        ),
        ("int", "one 10 MiB integer"),
    ] {
        let candidate = make(kind);
        let size = std::fs::metadata(&candidate).map(|m| m.len()).unwrap_or(0);
        let exe = std::env::current_exe().expect("bench binary");
        let mut cmd = plumbing::process::command(exe);
        cmd.env(CHILD_BASELINE, &baseline)
            .env(CHILD_CANDIDATE, &candidate);
        let (t, rss, cpu) = run_measured(&mut cmd);
        println!(
            "hostile object array ({what}; {size} bytes on disk), refused: {:.3}s, cpu {:.3}s, peak RSS {:.1} MiB",
            t.as_secs_f64(),
            cpu.as_secs_f64(),
            rss as f64 / 1024.0
        );
    }
}

/// The child of [`hostile_pickles`]: compares the two files and exits 2
/// with the error, as the command does, or 0 if they were compared.
fn compare_in_child(baseline: &Path, candidate: &Path) -> ! {
    let settings = CompareSettings::from_config(&BaselineSection::default(), "facade");
    match compare_paths(&settings, baseline, candidate) {
        Ok(_) => {
            eprintln!("compared, not refused: `{}`", candidate.display());
            std::process::exit(0)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::exit(2)
        }
    }
}

/// Wall and CPU time of `f` in this process.
fn timed(mut f: impl FnMut()) -> (Duration, Duration) {
    let c0 = cpu_of("self").unwrap_or_default();
    let t = Instant::now();
    f();
    (
        t.elapsed(),
        cpu_of("self").unwrap_or_default().saturating_sub(c0),
    )
}

fn best(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn parse_only(paths: &[&Path]) {
    let mut lines = 0u64;
    for p in paths {
        let mut r = BufReader::with_capacity(1 << 16, std::fs::File::open(p).expect("open"));
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf).expect("read") == 0 {
                break;
            }
            let v: Value = serde_json::from_slice(&buf).expect("json");
            std::hint::black_box(&v);
            lines += 1;
        }
    }
    std::hint::black_box(lines);
}

/// Writes a capture shaped like Townlet's schema 0.9.7 stream: a snapshot,
/// then diffs of `conflict`, `stability` and `kpi_history` (about 4 KiB a
/// line), with every third tick dropped. `perturb` changes one queue value.
fn generate(path: &Path, target: u64, perturb: bool) {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create"));
    let mut written = 0u64;
    let mut tick = 1u64;
    let names = ["alice", "bob", "carol", "dave", "erin", "frank"];
    while written < target {
        let queues = json!({
            "cooldown_events": tick / 7,
            "ghost_step_events": tick / 11,
            "rotation_events": tick / 13 + u64::from(perturb && tick == 1001),
        });
        let history: Vec<Value> = (0..12)
            .map(|i| json!({"tick": tick.saturating_sub(i), "delta": {"cooldown_events": i % 2, "ghost_step_events": 0, "rotation_events": i % 3}, "totals": queues}))
            .collect();
        let rivalry: serde_json::Map<String, Value> = names
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    json!({"intensity": (tick % 17) as f64 * 0.05, "last_tick": tick}),
                )
            })
            .collect();
        let kpi: Vec<f64> = (0..60).map(|i| ((tick + i) % 97) as f64 / 97.0).collect();
        let stability = json!({
            "metrics": {"starvation_incidents": 0, "option_switch_rate": 0.125, "reward_variance": (tick % 5) as f64 * 0.01,
                         "queue_totals": queues, "queue_deltas": {"cooldown_events": 0, "ghost_step_events": 1, "rotation_events": 0},
                         "thresholds": {"affordance_fail_threshold": 5, "lateness_threshold": 3}},
            "alerts": [], "inputs": {"hunger_levels": names.iter().map(|n| (n.to_string(), json!(0.42))).collect::<serde_json::Map<_, _>>()}
        });
        let line = if tick == 1 {
            json!({
                "schema_version": "0.9.7", "tick": tick, "runtime_variant": "facade",
                "queue_metrics": queues,
                "embedding_metrics": {"allocations_total": 6.0, "forced_reuse_count": 0.0, "forced_reuse_rate": 0.0, "reuse_warning": 0.0},
                "employment": {"daily_exit_cap": 2, "exits_today": 0, "pending": [], "pending_count": 0, "queue_limit": 8, "review_window": 1440},
                "conflict": {"queues": queues, "queue_history": history, "rivalry": rivalry, "rivalry_events": []},
                "stability": stability, "kpi_history": {"queue_conflict_intensity": kpi},
                "payload_type": "snapshot"
            })
        } else {
            json!({
                "schema_version": "0.9.7", "tick": tick, "payload_type": "diff",
                "changes": {
                    "queue_metrics": queues,
                    "conflict": {"queues": queues, "queue_history": history, "rivalry": rivalry, "rivalry_events": []},
                    "stability": stability, "kpi_history": {"queue_conflict_intensity": kpi}
                }
            })
        };
        let mut text = serde_json::to_vec(&line).expect("json");
        text.push(b'\n');
        out.write_all(&text).expect("write");
        written += text.len() as u64;
        tick += if tick.is_multiple_of(3) { 2 } else { 1 };
    }
    out.flush().expect("flush");
}
