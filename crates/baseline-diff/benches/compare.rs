//! Figures for baseline-diff on a synthetic Townlet capture (written under
//! the system temp directory, never in the repository):
//!
//! - throughput of `compare_paths` against plain `serde_json` parsing of the
//!   same bytes (one thread, every line into a `Value`);
//! - the command as users run it, the xtask binary alone (dev profile, built
//!   first) and `cargo xtask baseline-diff`, beside the Python reference
//!   (`benches/reference.py`: json + numpy.isclose) in rounds of the three,
//!   with CPU times, peak RSS and the speed-ups taken round by round
//!   (`BENCH_ROUNDS`, default 5);
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
        rounds(&base, &cand, &dir, mib, t_parse, true);
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

    rounds(&base, &cand, &dir, mib, t_parse, false);
}

/// The xtask binary to measure: `BENCH_XTASK`, or `target/debug/xtask`
/// built now (dev profile, as `cargo xtask` builds it) so that the figures
/// are of the current code. `None` when the build failed.
fn xtask_binary(ws: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BENCH_XTASK") {
        return Some(PathBuf::from(p));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = plumbing::process::command(&cargo)
        .current_dir(ws)
        .args(["build", "--quiet", "--package", "xtask"])
        .status();
    if !built.map(|s| s.success()).unwrap_or(false) {
        println!("xtask baseline-diff: not measured, `cargo build -p xtask` failed");
        return None;
    }
    Some(ws.join("target/debug/xtask"))
}

/// The interpreter of the Python reference, when one has numpy:
/// `BENCH_PYTHON`, `python3`, or the numpy virtual environment.
fn python_with_numpy() -> Option<PathBuf> {
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
    if has_numpy(&python) {
        Some(python)
    } else {
        println!(
            "python reference: not measured, `{}` cannot import numpy (pip install numpy)",
            python.display()
        );
        None
    }
}

/// One run's (wall, peak RSS in KiB, CPU).
type Run = (Duration, u64, Duration);

/// The command as users run it, beside the Python reference
/// (`benches/reference.py`: json + numpy.isclose), in rounds of (xtask
/// binary, `cargo xtask baseline-diff`, Python) run one after the other,
/// so that a change in the machine's speed (a shared VM) moves all three
/// alike. Prints each one's median over the rounds, then the speed-ups
/// taken round by round: their median, lowest and highest. `cargo xtask`
/// adds cargo's up-to-date check to the binary; its CPU time includes the
/// binary's. `BENCH_ROUNDS` sets the rounds (default 5); quick runs measure
/// the binary alone, once.
fn rounds(base: &Path, cand: &Path, dir: &Path, mib: f64, t_parse: Duration, quick: bool) {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(xtask) = xtask_binary(&ws) else {
        return;
    };
    let measured = std::env::var_os("BENCH_XTASK").is_none() && !quick;
    let python = if quick { None } else { python_with_numpy() };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference.py");
    let n: usize = if quick {
        1
    } else {
        std::env::var("BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5)
            .max(1)
    };
    let diff = |program: &Path, leading: &[&str]| {
        let mut cmd = plumbing::process::command(program);
        cmd.current_dir(&ws)
            .args(leading)
            .args(["baseline-diff", "--quiet", "--format", "json", "--output"])
            .arg(dir.join("report.json"))
            .arg("--baseline")
            .arg(base)
            .arg("--candidate")
            .arg(cand);
        run_measured(&mut cmd)
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut bin: Vec<Run> = Vec::new();
    let mut via_cargo: Vec<Run> = Vec::new();
    let mut py: Vec<Run> = Vec::new();
    for _ in 0..n {
        bin.push(diff(&xtask, &[]));
        if measured {
            via_cargo.push(diff(Path::new(&cargo), &["xtask"]));
        }
        if let Some(python) = &python {
            // Its verdict is printed once.
            let mut cmd = plumbing::process::command(python);
            cmd.arg(&script).arg(base).arg(cand);
            if !py.is_empty() {
                cmd.stdout(std::process::Stdio::null());
            }
            py.push(run_measured(&mut cmd));
        }
    }
    let b = median_run(&bin);
    println!(
        "xtask baseline-diff binary (dev profile, median of {n}; min {:.3}s, max {:.3}s): {:.3}s, {:.0} MiB/s, {:.2}x the parse-only time, cpu {:.3}s, peak RSS {:.0} MiB",
        bin.iter()
            .map(|r| r.0)
            .min()
            .unwrap_or_default()
            .as_secs_f64(),
        bin.iter()
            .map(|r| r.0)
            .max()
            .unwrap_or_default()
            .as_secs_f64(),
        b.0.as_secs_f64(),
        mib / b.0.as_secs_f64(),
        b.0.as_secs_f64() / t_parse.as_secs_f64(),
        b.2.as_secs_f64(),
        b.1 as f64 / 1024.0
    );
    if !via_cargo.is_empty() {
        let c = median_run(&via_cargo);
        println!(
            "`cargo xtask baseline-diff` (up-to-date check included, median of {n}): {:.3}s, cpu {:.3}s",
            c.0.as_secs_f64(),
            c.2.as_secs_f64()
        );
    }
    if py.is_empty() {
        return;
    }
    let p = median_run(&py);
    println!(
        "python reference (json + numpy.isclose, median of {n}): {:.2}s, {:.1} MiB/s, cpu {:.2}s, peak RSS {:.0} MiB",
        p.0.as_secs_f64(),
        mib / p.0.as_secs_f64(),
        p.2.as_secs_f64(),
        p.1 as f64 / 1024.0
    );
    for (what, runs) in [("xtask binary", &bin), ("cargo xtask", &via_cargo)] {
        if runs.is_empty() {
            continue;
        }
        let mut ratios: Vec<f64> = runs
            .iter()
            .zip(&py)
            .map(|(r, p)| p.0.as_secs_f64() / r.0.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "speed-up over python, round by round: {what} {:.1}x (lowest {:.1}x, highest {:.1}x)",
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
}

/// The run of median wall time.
fn median_run(runs: &[Run]) -> Run {
    let mut sorted = runs.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
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
