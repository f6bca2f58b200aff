//! The gate as a process: interruption, CI integrations.

use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

/// `dir/townlet`, holding what a Townlet checkout holds (`target.requires`).
fn townlet_in(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("townlet/scripts")).expect("mkdir");
    std::fs::write(
        dir.join("townlet/pyproject.toml"),
        "[project]\nname = \"townlet\"\n",
    )
    .expect("write");
    std::fs::write(dir.join("townlet/scripts/run_simulation.py"), "").expect("write");
}

fn workspace_with(steps: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    townlet_in(dir.path());
    std::fs::write(
        dir.path().join("rollout.yaml"),
        format!("target:\n  root: townlet\n  python: python3\ngate:\n  steps:\n{steps}"),
    )
    .expect("write");
    dir
}

fn report(dir: &std::path::Path) -> serde_json::Value {
    let out = rollout_config::resolve::rollout_dir_for(&dir.join("target"), &dir.join("townlet"));
    let text = std::fs::read_to_string(out.join("gate-report.json")).expect("report");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn ctrl_c_sigterm_and_sighup_stop_every_step_and_still_write_the_report() {
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
        // A closed terminal or ssh session.
        nix::sys::signal::Signal::SIGHUP,
    ] {
        interrupt_the_gate_with(signal);
    }
}

fn spawn_gate(dir: &std::path::Path) -> std::process::Child {
    std::process::Command::cargo_bin("xtask")
        .expect("bin")
        .args(["gate", "--config"])
        .arg(dir.join("rollout.yaml"))
        .env("NO_COLOR", "1")
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn wait_for(path: &std::path::Path, what: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while !path.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(path.exists(), "{what} never started");
    // The file exists once the shell opened it; give it time to be written.
    std::thread::sleep(Duration::from_millis(50));
}

fn interrupt_the_gate_with(signal: nix::sys::signal::Signal) {
    let dir = workspace_with(
        "    - id: sleeper\n      command: [sh, -c, 'sleep 60 & echo $! > child.pid; wait']\n    - id: other\n      command: [sleep, '60']\n",
    );
    let child = spawn_gate(dir.path());
    let pidfile = dir.path().join("townlet/child.pid");
    wait_for(&pidfile, "the step");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).expect("kill");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{signal}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: the gate was interrupted; the report marks it so"),
        "{signal}: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("gate INTERRUPTED"), "{signal}: {stdout}");
    let r = report(dir.path());
    assert_eq!(r["verdict"], "interrupted");
    assert_eq!(r["steps"][0]["status"], "interrupted");
    let pid = std::fs::read_to_string(&pidfile).expect("pid");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        test_support::process_gone(&pid),
        "{signal}: step process {} outlived the gate",
        pid.trim()
    );
}

#[test]
fn a_killed_gate_takes_its_step_leaders_with_it() {
    let dir = workspace_with(
        "    - id: leader\n      command: [sh, -c, 'echo $$ > leader.pid; sleep 60']\n",
    );
    let mut child = spawn_gate(dir.path());
    let pidfile = dir.path().join("townlet/leader.pid");
    wait_for(&pidfile, "the step");
    child.kill().expect("SIGKILL the gate");
    child.wait().expect("wait");
    let pid = std::fs::read_to_string(&pidfile).expect("pid");
    assert!(
        plumbing_gone_within(&pid),
        "step leader {} outlived a SIGKILL of the gate",
        pid.trim()
    );
}

#[test]
fn a_killed_gate_takes_what_its_steps_started_with_it() {
    // The leader `sh` stops with the gate (PR_SET_PDEATHSIG); its child
    // `sleep` used to be left running.
    let dir = workspace_with(
        "    - id: parent\n      command: [sh, -c, 'sleep 100 & echo $! > grandchild.pid; wait']\n",
    );
    let mut gate = spawn_gate(dir.path());
    let pidfile = dir.path().join("townlet/grandchild.pid");
    wait_for(&pidfile, "the step");
    let guardians = guardians_of(gate.id());
    gate.kill().expect("SIGKILL the gate");
    gate.wait().expect("wait");
    let pid = std::fs::read_to_string(&pidfile).expect("pid");
    let gone = plumbing::process::gone_within(&pid, Duration::from_secs(5));
    if !gone {
        // Do not leave it behind for the next test run.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid.trim().parse().expect("a pid")),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        gone,
        "the step's child {} outlived a SIGKILL of the gate",
        pid.trim()
    );
    assert_eq!(guardians.len(), 1, "one guardian per gate: {guardians:?}");
    assert!(
        plumbing::process::gone_within(&guardians[0], Duration::from_secs(5)),
        "the guardian {} outlived the gate it guarded",
        guardians[0]
    );
}

#[test]
fn a_finished_gate_leaves_no_guardian_behind() {
    let dir = workspace_with(
        "    - id: one\n      command: [sh, -c, 'echo > one.started; sleep 1']\n    - id: two\n      command: [sh, -c, 'echo > two.started; sleep 1']\n",
    );
    let gate = spawn_gate(dir.path());
    wait_for(&dir.path().join("townlet/one.started"), "step one");
    wait_for(&dir.path().join("townlet/two.started"), "step two");
    let gate_pid = gate.id();
    let guardians = guardians_of(gate_pid);
    assert_eq!(
        guardians.len(),
        1,
        "one guardian for the whole run: {guardians:?}"
    );
    let out = gate.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        plumbing::process::gone_within(&guardians[0], Duration::from_secs(5)),
        "the guardian {} outlived the gate {gate_pid}",
        guardians[0]
    );
}

#[test]
fn a_gate_whose_guardian_was_killed_still_runs_its_steps() {
    // A child registers itself before it execs; with the guardian gone that
    // write must fail quietly, not kill the step with SIGPIPE.
    let dir = workspace_with(
        "    - id: one\n      command: [sh, -c, 'echo > one.started; sleep 1']\n    - id: two\n      command: [sh, -c, 'echo fine']\n      needs: [one]\n",
    );
    let gate = spawn_gate(dir.path());
    wait_for(&dir.path().join("townlet/one.started"), "step one");
    let guardians = guardians_of(gate.id());
    assert_eq!(guardians.len(), 1, "{guardians:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(guardians[0].parse().expect("a pid")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL the guardian");
    let out = gate.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("pass two"), "{stdout}");
}

/// The pids of the guardians watching the gate `gate_pid`: processes whose
/// arguments are `GUARDIAN_ARG GATE-PID` (Linux `/proc`).
fn guardians_of(gate_pid: u32) -> Vec<String> {
    let gate_pid = gate_pid.to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.get(1) == Some(&plumbing::process::GUARDIAN_ARG.as_bytes())
            && args.get(2) == Some(&gate_pid.as_bytes())
        {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

fn plumbing_gone_within(pid: &str) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if test_support::process_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn ctrl_c_during_provisioning_stops_it_with_what_it_started() {
    let dir = tempfile::tempdir().expect("tempdir");
    townlet_in(dir.path());
    // A provisioning command that starts a grandchild and waits on it, as
    // pip does with its build backends.
    std::fs::write(
        dir.path().join("rollout.yaml"),
        "target:\n  root: townlet\n  python: .venv/bin/python\n  provision:\n    - [sh, -c, 'sleep 60 & echo $! > child.pid; wait']\ngate:\n  steps:\n    - id: uses-python\n      command: \"{python} -V\"\n",
    )
    .expect("write");
    let child = std::process::Command::cargo_bin("xtask")
        .expect("bin")
        .args(["gate", "--config"])
        .arg(dir.path().join("rollout.yaml"))
        .env("NO_COLOR", "1")
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pidfile = dir.path().join("townlet/child.pid");
    let until = Instant::now() + Duration::from_secs(20);
    while !pidfile.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pidfile.exists(), "provisioning never started");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("kill");
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the gate did not stop"
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interrupted while provisioning"),
        "{stderr}"
    );
    let pid = std::fs::read_to_string(&pidfile).expect("pid");
    assert!(
        test_support::process_gone(&pid),
        "provisioning's grandchild {} outlived the gate",
        pid.trim()
    );
}

#[test]
fn github_actions_get_annotations_and_a_step_summary() {
    let dir = workspace_with(
        "    - id: broken\n      command: [sh, -c, 'echo src/townlet/x.py:3:1 broken 50%; exit 4']\n",
    );
    let summary = dir.path().join("step-summary.md");
    std::fs::write(&summary, "earlier content\n").expect("write");
    let run = |format: &str| {
        std::process::Command::cargo_bin("xtask")
            .expect("bin")
            .args(["gate", "--format", format, "--config"])
            .arg(dir.path().join("rollout.yaml"))
            .env("GITHUB_ACTIONS", "true")
            .env("CARGO_TARGET_DIR", dir.path().join("target"))
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .expect("run")
    };
    let out = run("human");
    assert_eq!(out.status.code(), Some(1));
    // Workflow commands go to stderr, with the place the step's output names.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("::error file=src/townlet/x.py,line=3,col=1,title=gate step broken::exit 4: src/townlet/x.py:3:1 broken 50%25"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("::error"));
    let md = std::fs::read_to_string(&summary).expect("summary");
    assert!(
        md.starts_with("earlier content\n### Townlet M4 gate"),
        "{md}"
    );
    assert!(md.contains("| `broken` | fail |"), "{md}");

    // Machine-readable stdout stays clean.
    let out = run("json");
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(report["verdict"], "fail");
    let out = run("junit");
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(xml.trim_end().ends_with("</testsuites>"), "{xml}");
}

#[test]
fn the_shipped_gate_passes_on_the_bundled_sample() {
    // What a new user runs first: `cargo xtask gate`, every step for real
    // (provisioning the sample's environment when it is missing).
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::cargo_bin("xtask")
        .expect("bin")
        .arg("gate")
        .env("NO_COLOR", "1")
        .env_remove("TOWNLET_ROOT")
        .env("CARGO_TARGET_DIR", out_dir.path())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sample = test_support::workspace().join("examples/townlet-sample");
    let outputs = rollout_config::resolve::rollout_dir_for(out_dir.path(), &sample);
    let text = std::fs::read_to_string(outputs.join("gate-report.json")).expect("report");
    let r: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["complete"], true);
    let ids: Vec<&str> = r["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        ids,
        [
            "pytest",
            "ruff",
            "mypy",
            "tls-smoke",
            "capture",
            "baseline-diff",
            "monitor",
            "observer-ui",
            "merge-policy"
        ]
    );
    for s in r["steps"].as_array().expect("steps") {
        if s["id"] == "tls-smoke" {
            // The sample's certificates come from `tls-smoke certs`: the
            // handshake passed, but the gate says that real ones were not
            // tested.
            assert_eq!(s["status"], "warn", "{s}");
            assert!(
                s["summary"].as_str().is_some_and(
                    |t| t.starts_with("pass: ") && t.contains("the real ones were not tested")
                ),
                "{s}"
            );
        } else {
            assert_eq!(s["status"], "pass", "{s}");
        }
    }
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("gate passed")),
        "{stdout}"
    );
}

#[test]
fn quiet_shortens_stdout_to_what_did_not_pass() {
    let dir = workspace_with(
        "    - id: fine\n      command: \"true\"\n    - id: shaky\n      command: [sh, -c, 'echo wobbly; exit 3']\n      allow_failure: true\n",
    );
    let run = |quiet: bool| {
        let mut cmd = std::process::Command::cargo_bin("xtask").expect("bin");
        cmd.args(["gate", "--config"])
            .arg(dir.path().join("rollout.yaml"))
            .env("NO_COLOR", "1")
            .env("CARGO_TARGET_DIR", dir.path().join("target"));
        if quiet {
            cmd.arg("-q");
        }
        let out = cmd.output().expect("run");
        assert_eq!(out.status.code(), Some(0));
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (stdout, _) = run(false);
    assert!(stdout.contains("pass fine"), "{stdout}");
    let (stdout, stderr) = run(true);
    assert!(!stdout.contains("fine"), "{stdout}");
    assert!(stdout.contains("warn shaky"), "{stdout}");
    assert!(stdout.contains("gate passed"), "{stdout}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn provisioning_output_is_grouped_in_github_actions() {
    let dir = tempfile::tempdir().expect("tempdir");
    townlet_in(dir.path());
    std::fs::write(
        dir.path().join("rollout.yaml"),
        "target:\n  root: townlet\n  python: .venv/bin/python\n  provision:\n    - mkdir -p .venv/bin\n    - cp /bin/true .venv/bin/python\ngate:\n  steps:\n    - id: uses-python\n      command: \"{python} -m anything\"\n",
    )
    .expect("write");
    let out = std::process::Command::cargo_bin("xtask")
        .expect("bin")
        .args(["gate", "--config"])
        .arg(dir.path().join("rollout.yaml"))
        .env("GITHUB_ACTIONS", "true")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let groups: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("::group::") || *l == "::endgroup::")
        .collect();
    assert_eq!(
        groups,
        [
            "::group::provisioning `mkdir -p .venv/bin`",
            "::endgroup::",
            "::group::provisioning `cp /bin/true .venv/bin/python`",
            "::endgroup::"
        ],
        "{stderr}"
    );
}

/// The gate run on a pseudo-terminal by `script` (util-linux), with `TERM`
/// set to `term`; returns everything written to the terminal.
fn gate_on_a_terminal(term: &str) -> String {
    let dir = workspace_with(
        "    - id: one\n      command: [sh, -c, 'sleep 0.5; echo ok']\n    - id: two\n      command: [sh, -c, 'echo fine']\n      needs: [one]\n",
    );
    let typescript = dir.path().join("typescript");
    let line = format!(
        "'{}' gate --config '{}'",
        assert_cmd::cargo::cargo_bin("xtask").display(),
        dir.path().join("rollout.yaml").display()
    );
    let status = plumbing::process::command("script")
        .arg("-qec")
        .arg(&line)
        .arg(&typescript)
        .env("TERM", term)
        .env("NO_COLOR", "1")
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run script (util-linux)");
    assert!(status.success(), "{status:?}");
    String::from_utf8_lossy(&std::fs::read(&typescript).expect("typescript")).into_owned()
}

#[test]
fn a_terminal_gets_the_live_board_and_a_dumb_one_plain_lines() {
    let screen = gate_on_a_terminal("xterm-256color");
    // indicatif redraws the board in place: each step waits, runs, ends.
    assert!(
        screen.contains("\x1b[1A"),
        "no cursor movement:\n{screen:?}"
    );
    assert!(screen.contains("wait two"), "{screen:?}");
    assert!(screen.contains(" run one"), "{screen:?}");
    assert!(screen.contains("pass two"), "{screen:?}");
    assert!(!screen.contains("gate: start"), "{screen:?}");

    let screen = gate_on_a_terminal("dumb");
    assert!(
        !screen.contains('\x1b'),
        "escapes on TERM=dumb:\n{screen:?}"
    );
    assert!(screen.contains("gate: start one"), "{screen:?}");
    assert!(screen.contains("gate: pass two: fine"), "{screen:?}");
}
