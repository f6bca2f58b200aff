//! Memory stays bounded on hostile inputs: peak RSS of the commands as
//! users run them (the `xtask` binary, built first), with figures printed.
//! Run with `cargo bench -p xtask --bench bounded`.
//!
//! - `gate` with one step printing 500 MB (`BENCH_GATE_MB`): the output is
//!   pumped through the gate into a log capped at 17 MiB;
//! - `baseline-diff` on an `.npz` whose entry declares 4 GiB of float32
//!   (deflated zeros, a zip bomb) and on one whose header declares 4 GiB
//!   with almost no data behind it.

// A harness is one long script of scenarios, read top to bottom.
#![allow(clippy::too_many_lines, clippy::too_many_arguments)]

use std::io::Write;
use std::path::Path;

use test_support::measure::run_measured;

fn main() {
    let ws = test_support::workspace();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = plumbing::process::command(&cargo)
        .current_dir(&ws)
        .args(["build", "--quiet", "--package", "xtask"])
        .status();
    assert!(
        built.map(|s| s.success()).unwrap_or(false),
        "cargo build -p xtask failed"
    );
    let xtask = ws.join("target/debug/xtask");
    let dir = tempfile::tempdir().expect("tempdir");
    gate(&xtask, dir.path());
    npz(&xtask, dir.path());
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The gate with one step printing `BENCH_GATE_MB` (default 500) MB.
fn gate(xtask: &Path, dir: &Path) {
    let mb: u64 = std::env::var("BENCH_GATE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let ws = dir.join("ws");
    std::fs::create_dir_all(ws.join("townlet")).expect("mkdir");
    let config = ws.join("rollout.yaml");
    std::fs::write(
        &config,
        format!(
            "target:\n  root: townlet\n  python: python3\ngate:\n  steps:\n    - id: loud\n      command: [sh, -c, \"yes 'a line of output from a noisy step' | head -c {}\"]\n",
            mb * 1_000_000
        ),
    )
    .expect("config");
    let mut cmd = plumbing::process::command(xtask);
    cmd.current_dir(&ws)
        .args(["gate", "--quiet", "--format", "json", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null());
    let (elapsed, peak, cpu) = run_measured(&mut cmd);
    // Logs go under the target directory of the workspace the binary runs for.
    let log = rollout_config::resolve::rollout_dir_for(
        &test_support::workspace().join("target"),
        &ws.join("townlet"),
    )
    .join("gate/loud.log");
    let kept = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    println!(
        "gate, one step printing {mb} MB: {:.2}s (cpu {:.2}s, the step's included), peak RSS {:.1} MiB (limit 100 MiB); log kept {:.1} MiB",
        elapsed.as_secs_f64(),
        cpu.as_secs_f64(),
        mib(peak),
        kept as f64 / (1024.0 * 1024.0)
    );
}

/// baseline-diff on npz files declaring 4 GiB.
fn npz(xtask: &Path, dir: &Path) {
    let base = dir.join("base.npz");
    write_npz_python(
        &base,
        r#"
with zipfile.ZipFile(out, "w") as z:
    z.writestr("obs.npy", header((4, 8)) + bytes(4 * 8 * 4))
"#,
    );
    let bomb = dir.join("bomb.npz");
    // 2^30 float32 = 4 GiB of zeros, deflated to about 4 MiB.
    write_npz_python(
        &bomb,
        r#"
with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
    with z.open("obs.npy", "w", force_zip64=True) as f:
        f.write(header((1 << 30,)))
        chunk = bytes(1 << 24)
        for _ in range(256):
            f.write(chunk)
"#,
    );
    let declared = dir.join("declared.npz");
    write_npz_python(
        &declared,
        r#"
with zipfile.ZipFile(out, "w") as z:
    z.writestr("obs.npy", header((1 << 30,)) + bytes(64))
"#,
    );
    for (name, candidate) in [
        ("zip bomb (4 GiB of deflated zeros)", &bomb),
        ("header declaring 4 GiB, 64 bytes of data", &declared),
    ] {
        let size = std::fs::metadata(candidate).map(|m| m.len()).unwrap_or(0);
        let mut cmd = plumbing::process::command(xtask);
        cmd.args(["baseline-diff", "--quiet", "--baseline"])
            .arg(&base)
            .arg("--candidate")
            .arg(candidate)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let (elapsed, peak, _) = run_measured(&mut cmd);
        println!(
            "baseline-diff, {name} ({:.1} MiB on disk): {:.2}s, peak RSS {:.1} MiB (limit 256 MiB)",
            size as f64 / (1024.0 * 1024.0),
            elapsed.as_secs_f64(),
            mib(peak)
        );
    }
}

/// Runs a Python snippet with `out` set to `path` and `header(shape)`
/// making a float32 `.npy` version 1.0 header (no numpy needed).
fn write_npz_python(path: &Path, code: &str) {
    let python = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = plumbing::process::command(&python)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    const HEADER: &str = r#"
import struct, zipfile
def header(shape):
    text = "{'descr': '<f4', 'fortran_order': False, 'shape': %r, }" % (shape,)
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * (pad % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()
"#;
    let script = format!("out = {:?}\n{HEADER}\n{code}", path.display().to_string());
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    let status = child.wait().expect("wait");
    assert!(status.success(), "writing {} failed", path.display());
}
