//! `monitor --log -` over a pipe the test holds open, as `kubectl logs -f
//! POD | cargo xtask monitor --log - --follow --prom-textfile F` runs: the
//! textfile is rewritten while the pipe is open (and `promtool check
//! metrics` accepts each version), the verdict comes when the pipe closes.
//! Also the long-running deployment of `docs/deployment.md`: its systemd
//! units pass `systemd-analyze verify` with no warning.

use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn tick_health(t: u64, dropped: u64) -> String {
    format!(
        "2026-01-05 10:00:00,987 INFO townlet.core.sim_loop tick_health tick={t} duration_ms=1.91 queue={q} dropped={dropped} flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue=0\n",
        q = t % 4
    )
}

fn ticks(range: std::ops::RangeInclusive<u64>) -> String {
    range.map(|t| tick_health(t, 0)).collect()
}

/// The monitor reading a pipe: killed if the test fails before it ends.
struct Monitor {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: std::fs::File,
    stderr: std::fs::File,
}

impl Monitor {
    fn start(args: &[&str]) -> Self {
        let stdout = tempfile::tempfile().expect("tempfile");
        let stderr = tempfile::tempfile().expect("tempfile");
        let mut child = plumbing::process::command(assert_cmd::cargo::cargo_bin("xtask"))
            .env_remove("TOWNLET_ROOT")
            .env("NO_COLOR", "1")
            .arg("monitor")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(stdout.try_clone().expect("clone"))
            .stderr(stderr.try_clone().expect("clone"))
            .spawn()
            .expect("spawn xtask");
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    fn write(&mut self, text: &str) {
        let pipe = self.stdin.as_mut().expect("pipe open");
        pipe.write_all(text.as_bytes()).expect("write to the pipe");
        pipe.flush().expect("flush");
    }

    fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("try_wait");
        assert!(
            status.is_none(),
            "the monitor ended while the pipe was open ({status:?}): {}",
            self.stderr()
        );
    }

    fn stderr(&mut self) -> String {
        read_all(&mut self.stderr)
    }

    /// Closes the pipe; the exit code, stdout and stderr once it ends
    /// (within 20 s).
    fn close(mut self) -> (i32, String, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "the monitor did not end at EOF");
            std::thread::sleep(Duration::from_millis(20));
        };
        let code = status.code().expect("exit code");
        (code, read_all(&mut self.stdout), self.stderr())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _killed = self.child.kill();
            let _reaped = self.child.wait();
        }
    }
}

fn read_all(file: &mut std::fs::File) -> String {
    let mut text = String::new();
    file.rewind().expect("rewind");
    file.read_to_string(&mut text).expect("read");
    text
}

/// Waits (at most 20 s) until the textfile holds `line`; returns it.
fn wait_for_textfile(path: &Path, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(|l| l == line) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the textfile never held {line:?}; it holds:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `promtool check metrics` accepts the textfile as node_exporter reads it.
fn promtool_accepts(text: &str) {
    let cmd = plumbing::process::command("promtool");
    let mut cmd = cmd;
    cmd.args(["check", "metrics"]);
    let run =
        plumbing::process::run_captured_input(cmd, Some(text.as_bytes()), Duration::from_secs(60))
            .expect("promtool runs");
    assert_eq!(
        run.exit.code(),
        Some(0),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn follow_reads_a_pipe_until_it_closes_and_keeps_the_textfile_fresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prom = dir.path().join("townlet.prom");
    let prom_arg = prom.display().to_string();
    let mut monitor = Monitor::start(&[
        "--log",
        "-",
        "--follow",
        "--prom-textfile",
        &prom_arg,
        "--textfile-interval",
        "1s",
    ]);
    monitor.write(&ticks(1..=40));
    let first = wait_for_textfile(&prom, "townlet_tick{env=\"default\"} 40");
    promtool_accepts(&first);
    monitor.assert_running();

    // The pipe stays quiet: the textfile is still rewritten at the
    // interval (node_exporter's mtime of it is the monitor's heartbeat).
    let written = std::fs::metadata(&prom)
        .and_then(|m| m.modified())
        .expect("mtime");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&prom)
        .and_then(|m| m.modified())
        .expect("mtime")
        == written
    {
        assert!(
            Instant::now() < deadline,
            "the textfile was not rewritten while the pipe was quiet"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    monitor.assert_running();

    // More lines, a critical plaintext warning among them, and a last line
    // without a newline: judged as they come.
    monitor.write("2026-01-05 10:00:01,200 WARNING townlet.telemetry.transport telemetry_tcp_plaintext_enabled endpoint=demo.local:8765\n");
    monitor.write(&ticks(41..=79));
    monitor.write(tick_health(80, 0).trim_end());
    let second = wait_for_textfile(&prom, "townlet_tick{env=\"default\"} 79");
    promtool_accepts(&second);
    assert!(
        second.contains("townlet_telemetry_plaintext_info{env=\"default\",endpoint=\"demo.local:8765\",loopback=\"false\"} 1"),
        "{second}"
    );
    monitor.assert_running();
    let stdout_so_far = read_all(&mut monitor.stdout);
    assert!(
        stdout_so_far.contains("FAIL plaintext-transport [default] critical"),
        "the alert is printed while the pipe is open: {stdout_so_far}"
    );

    let (code, stdout, stderr) = monitor.close();
    assert_eq!(
        code, 1,
        "a critical alert fails the run\n{stdout}\n{stderr}"
    );
    assert!(
        // The one warning: tick_health lines carry no runtime_variant.
        stdout.contains("FAIL: 1 critical, 1 warning alerts")
            && stdout.contains("warn runtime-variant-missing [default]"),
        "{stdout}"
    );
    let last = wait_for_textfile(&prom, "townlet_tick{env=\"default\"} 80");
    promtool_accepts(&last);
}

#[test]
fn a_pipe_read_without_follow_refreshes_the_textfile_as_lines_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prom = dir.path().join("townlet.prom");
    let prom_arg = prom.display().to_string();
    let mut monitor = Monitor::start(&[
        "--format",
        "json",
        "--log",
        "-",
        "--prom-textfile",
        &prom_arg,
        "--textfile-interval",
        "1s",
    ]);
    monitor.write(&ticks(1..=10));
    std::thread::sleep(Duration::from_millis(1200));
    monitor.write(&ticks(11..=20));
    let text = wait_for_textfile(&prom, "townlet_tick{env=\"default\"} 11");
    promtool_accepts(&text);
    monitor.assert_running();
    let (code, stdout, stderr) = monitor.close();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON report");
    assert_eq!(report["inputs"][0]["ticks"], 20, "{report}");
    wait_for_textfile(&prom, "townlet_tick{env=\"default\"} 20");
}

#[test]
fn a_telemetry_stream_given_as_a_followed_log_is_refused() {
    let mut monitor = Monitor::start(&["--log", "-", "--follow"]);
    monitor.write("{\"tick\": 1}\n");
    let (code, _, stderr) = monitor.close();
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`<stdin>` was given as a log, but it starts with a JSON object"),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_ends_a_followed_pipe_with_its_verdict_and_textfile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prom = dir.path().join("townlet.prom");
    let prom_arg = prom.display().to_string();
    let mut monitor = Monitor::start(&["--log", "-", "--follow", "--prom-textfile", &prom_arg]);
    monitor.write(&ticks(1..=30));
    // The default interval is 15 s: the first data is written at once.
    wait_for_textfile(&prom, "townlet_tick{env=\"default\"} 30");
    monitor.write(&ticks(31..=35));
    std::thread::sleep(Duration::from_millis(500));
    monitor.assert_running();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor.child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("kill");
    // The pipe is still open: the signal alone ends the run.
    let deadline = Instant::now() + Duration::from_secs(20);
    while monitor.child.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "SIGINT did not end the monitor");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, stdout, stderr) = monitor.close();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("pass: 0 critical, 1 warning alerts"),
        "{stdout}"
    );
    wait_for_textfile(&prom, "townlet_tick{env=\"default\"} 35");
}

/// The fenced blocks of `lang` in `docs/deployment.md`.
fn deployment_blocks(lang: &str) -> Vec<String> {
    let doc =
        std::fs::read_to_string(workspace().join("docs/deployment.md")).expect("deployment.md");
    let fence = format!("```{lang}\n");
    let mut blocks = Vec::new();
    let mut rest = doc.as_str();
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```\n").expect("closed block");
        blocks.push(body[..end].to_string());
        rest = &body[end..];
    }
    blocks
}

/// Both systemd units of the deployment guide pass `systemd-analyze
/// verify` without a warning (unknown keys and bad values are warnings
/// there, so the test requires silence, not only exit 0), with the guide's
/// binary path standing for the binary under test.
#[test]
fn the_deployment_guides_systemd_units_verify() {
    let units = deployment_blocks("ini");
    assert_eq!(units.len(), 2, "two units in docs/deployment.md");
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = assert_cmd::cargo::cargo_bin("xtask");
    for unit in units {
        let name = unit
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# /etc/systemd/system/"))
            .expect("a unit starts with its path");
        assert!(unit.contains("Restart=always"), "{name}");
        assert!(
            unit.contains("--prom-textfile /var/lib/prometheus/node-exporter/townlet.prom"),
            "{name}"
        );
        assert!(
            unit.contains("ProtectSystem=strict") && unit.contains("NoNewPrivileges=yes"),
            "{name}"
        );
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            unit.replace("/usr/local/bin/townlet-xtask", &bin.display().to_string()),
        )
        .expect("write unit");
        let mut cmd = plumbing::process::command("systemd-analyze");
        cmd.arg("verify").arg(&path);
        let run = plumbing::process::run_captured(cmd, Duration::from_secs(60))
            .expect("systemd-analyze runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(run.exit.code(), Some(0), "{name}: {said}");
        assert_eq!(said.trim(), "", "{name}: systemd-analyze warned");
    }
}

/// The sidecar pod: the monitor follows the log the Townlet container
/// writes into the shared volume, and writes its textfile into the
/// directory the node_exporter sidecar reads; every mount names a volume.
#[test]
fn the_deployment_guides_sidecar_shares_the_log_and_the_textfile() {
    let pods = deployment_blocks("yaml");
    assert_eq!(pods.len(), 1);
    let pod: serde_yaml_ng::Value = serde_yaml_ng::from_str(&pods[0]).expect("the pod parses");
    assert_eq!(pod["kind"].as_str(), Some("Pod"));
    let volumes: Vec<&str> = pod["spec"]["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .map(|v| {
            assert!(v.get("emptyDir").is_some(), "{v:?}");
            v["name"].as_str().expect("volume name")
        })
        .collect();
    let containers = pod["spec"]["containers"].as_sequence().expect("containers");
    let container = |name: &str| {
        containers
            .iter()
            .find(|c| c["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("container {name}"))
    };
    let mount = |c: &serde_yaml_ng::Value, volume: &str| -> String {
        c["volumeMounts"]
            .as_sequence()
            .expect("mounts")
            .iter()
            .find(|m| m["name"].as_str() == Some(volume))
            .and_then(|m| m["mountPath"].as_str())
            .unwrap_or_else(|| panic!("{volume} mounted in {c:?}"))
            .to_string()
    };
    for c in containers {
        for m in c["volumeMounts"].as_sequence().expect("mounts") {
            assert!(
                volumes.contains(&m["name"].as_str().expect("name")),
                "{m:?}"
            );
        }
    }
    let args = |c: &serde_yaml_ng::Value| -> Vec<String> {
        c["args"]
            .as_sequence()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("string arg").to_string())
            .collect()
    };
    let (townlet, monitor, exporter) = (
        container("townlet"),
        container("townlet-monitor"),
        container("node-exporter"),
    );
    let monitor_args = args(monitor);
    let after = |flag: &str| -> String {
        let i = monitor_args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag}"));
        monitor_args[i + 1].clone()
    };
    assert!(monitor_args.contains(&"--follow".to_string()));
    let log = after("--log");
    let logs_dir = mount(townlet, "townlet-logs");
    assert_eq!(mount(monitor, "townlet-logs"), logs_dir);
    assert!(
        args(townlet).join(" ").contains(&log),
        "townlet writes {log}"
    );
    assert!(log.starts_with(&format!("{logs_dir}/")), "{log}");
    let textfile = after("--prom-textfile");
    let dir = mount(monitor, "textfile");
    assert_eq!(mount(exporter, "textfile"), dir);
    assert_eq!(Path::new(&textfile).parent(), Some(Path::new(&dir)));
    assert!(textfile.ends_with(".prom"));
    assert!(
        args(exporter).contains(&format!("--collector.textfile.directory={dir}")),
        "node_exporter reads {dir}"
    );
    the_binary_knows(&monitor_args);
}

/// Every flag in `args` is listed by `--help` or `monitor --help`.
fn the_binary_knows(args: &[String]) {
    let mut help = String::new();
    for args in [&["--help"][..], &["monitor", "--help"][..]] {
        let mut cmd = plumbing::process::command(assert_cmd::cargo::cargo_bin("xtask"));
        cmd.args(args);
        let run = plumbing::process::run_captured(cmd, Duration::from_secs(60)).expect("xtask");
        assert_eq!(
            run.exit.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        help.push_str(&String::from_utf8_lossy(&run.stdout));
    }
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(flag.as_str()),
            "`monitor --help` lists {flag}"
        );
    }
}
