//! Gate overhead: wall time minus the longest chain of steps, with synthetic
//! steps (`sleep`). Prints figures; run with `cargo bench -p gate`.

// A harness is one long script of scenarios, read top to bottom.
#![allow(clippy::too_many_lines, clippy::too_many_arguments)]

use std::time::{Duration, Instant};

use rollout_config::{Context, Overrides, Settings};
use rollout_core::{Format, Verbosity};

fn run(name: &str, steps: &str, jobs: usize, critical_path: Duration, rounds: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("townlet")).expect("mkdir");
    std::fs::write(
        dir.path().join("rollout.yaml"),
        format!("target:\n  root: townlet\n  python: python3\ngate:\n  steps:\n{steps}"),
    )
    .expect("write");
    let settings = Settings::resolve(
        dir.path(),
        dir.path(),
        &Overrides {
            config: Some(dir.path().join("rollout.yaml")),
            root: None,
        },
        &|_| None,
    )
    .expect("settings");
    let ctx = Context {
        out: rollout_core::Out::stdout(),
        settings,
        format: Format::Json,
        verbosity: Verbosity::Quiet,
    };
    let mut overheads = Vec::new();
    for _ in 0..rounds {
        let t0 = Instant::now();
        let (out, _captured) = rollout_core::Out::memory();
        let ctx = Context { out, ..ctx.clone() };
        gate::run(
            &ctx,
            gate::Settings {
                jobs,
                ..Default::default()
            },
        )
        .expect("gate");
        overheads.push(t0.elapsed().saturating_sub(critical_path));
    }
    overheads.sort();
    let median = overheads[overheads.len() / 2];
    let worst = overheads[overheads.len() - 1];
    let pct = 100.0 * median.as_secs_f64() / critical_path.as_secs_f64();
    println!(
        "{name:<40} critical path {:>5.2}s  overhead median {:>6.1} ms ({pct:.1}%)  worst {:>6.1} ms  ({rounds} runs)",
        critical_path.as_secs_f64(),
        median.as_secs_f64() * 1000.0,
        worst.as_secs_f64() * 1000.0,
    );
}

fn main() {
    let three = "    - id: a\n      command: [sleep, '1']\n    - id: b\n      command: [sleep, '1']\n    - id: c\n      command: [sleep, '1']\n";
    run(
        "three independent 1 s steps, 3 jobs",
        three,
        3,
        Duration::from_secs(1),
        5,
    );
    let chain = "    - id: a\n      command: [sleep, '0.5']\n    - id: b\n      command: [sleep, '0.5']\n      needs: [a]\n    - id: c\n      command: [sleep, '0.5']\n      needs: [b]\n";
    run(
        "chain of three 0.5 s steps",
        chain,
        3,
        Duration::from_millis(1500),
        5,
    );
    let mut many = String::new();
    for i in 0..20 {
        many.push_str(&format!("    - id: s{i}\n      command: [sleep, '0.2']\n"));
    }
    run(
        "twenty 0.2 s steps, 4 jobs",
        &many,
        4,
        Duration::from_millis(1000),
        5,
    );
}
