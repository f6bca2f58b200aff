//! `cargo bench -p tls-smoke`: the `--loopback` smoke end to end (read the
//! config, load certificates and system roots, start the in-process
//! collector, connect, handshake, round trip) with certificates already on
//! disk. Prints figures; the target is well under 200 ms per run.

// A harness is one long script of scenarios, read top to bottom.
#![allow(clippy::too_many_lines, clippy::too_many_arguments)]

use std::path::Path;
use std::time::{Duration, Instant};

use tls_smoke::{SmokeOptions, SmokeTarget, ensure_dev_certs, smoke};

const RUNS: usize = 30;

fn main() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/townlet-sample/configs/demo/poc_demo_tls.yaml");
    let config = root.path().join("configs/demo/poc_demo_tls.yaml");
    std::fs::create_dir_all(config.parent().expect("config dir"))?;
    std::fs::copy(&sample, &config)?;

    let t = Instant::now();
    ensure_dev_certs(&root.path().join("certs"), "demo.local")?;
    let certs = t.elapsed();

    let opts = SmokeOptions {
        target: SmokeTarget::Loopback {
            server_cert: None,
            server_key: None,
        },
        expiry_warning_days: 30,
    };
    let mut walls = Vec::with_capacity(RUNS);
    let mut handshakes = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let transport = rollout_config::load_transport(&config, root.path())?;
        let report = smoke(&transport, &opts);
        walls.push(t.elapsed());
        anyhow::ensure!(
            report.verdict == rollout_core::Verdict::Pass,
            "loopback smoke failed: {:?}",
            report.findings
        );
        handshakes.push(Duration::from_secs_f64(
            report.handshake_ms.unwrap_or_default() / 1000.0,
        ));
    }
    walls.sort();
    handshakes.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("tls-smoke loopback, {RUNS} runs (certificates on disk)");
    println!("  generate dev certs once: {:8.2} ms", ms(certs));
    for (name, v) in [("end to end", &walls), ("handshake", &handshakes)] {
        println!(
            "  {name:<12} min {:7.2} ms  median {:7.2} ms  max {:7.2} ms",
            ms(v[0]),
            ms(v[v.len() / 2]),
            ms(v[v.len() - 1])
        );
    }
    Ok(())
}
