//! The sample target with the real tools.

use plumbing::report::{GateVerdict, StepStatus};
use rollout_core::Verdict;

use crate::support::{Args, Ws, copy_sample, repo_root, step, tool_python};

fn sample_ws() -> Ws {
    let ws = Ws::new();
    copy_sample(&ws.path().join("townlet"));
    let debt = std::fs::read_to_string(repo_root().join("baselines/townlet-sample/mypy-debt.txt"))
        .expect("debt");
    ws.write("baselines/mypy-debt.txt", &debt);
    let python = tool_python();
    ws.write(
        "configs/rollout.yaml",
        &format!(
            r#"target:
  root: ../townlet
  python: {python}
gate:
  suites:
    employment: [tests/test_employment.py]
  steps:
    - id: pytest
      command: "{{python}} -m pytest -p no:cacheprovider {{suite...}}"
      env: {{PYTHONPATH: "{{root}}/src"}}
    - id: ruff
      command: "{{bin}}/ruff check --no-cache src/townlet/world src/townlet/observations"
    - id: mypy
      command: "{{bin}}/mypy src/townlet/world/observation.py src/townlet/observations"
      debt: ../baselines/mypy-debt.txt
    - id: capture
      command: "{{python}} scripts/run_simulation.py configs/examples/poc_hybrid.yaml --ticks 50 --telemetry-path {{capture_dir}}/telemetry.jsonl"
      env: {{PYTHONPATH: "{{root}}/src"}}
    - id: observer-ui
      kind: terminal-smoke
      command: "{{python}} scripts/observer_ui.py configs/examples/poc_hybrid.yaml --ticks 0 --refresh 0.2"
      env: {{PYTHONPATH: "{{root}}/src"}}
      run_for: 30s
    - id: tls-smoke
      kind: tls-smoke
      loopback: true
"#,
            python = python.display()
        ),
    );
    ws
}

#[test]
fn the_sample_passes_every_step_with_the_real_tools() {
    let ws = sample_ws();
    let junit = ws.path().join("out/gate.xml");
    let summary = ws.path().join("out/summary.md");
    let args = Args {
        junit: Some(junit.clone()),
        summary: Some(summary.clone()),
        ..Default::default()
    };
    let (outcome, report) = ws.gate(args);
    let report = report.expect("report written");
    for s in &report.steps {
        // A failing step shows its log: CI keeps nothing else.
        let log = (s.log.as_ref()).and_then(|l| std::fs::read_to_string(l).ok());
        // The TLS smoke used the dev certificates it generated: a warning.
        let expected = if s.id == "tls-smoke" {
            StepStatus::Warn
        } else {
            StepStatus::Pass
        };
        assert_eq!(s.status, expected, "{s:?}\n{}", log.unwrap_or_default());
    }
    assert_eq!(outcome.expect("runs"), Verdict::Pass, "{report:#?}");
    assert_eq!(report.verdict, GateVerdict::Pass);
    assert!(
        step(&report, "pytest").summary.contains("passed"),
        "{report:#?}"
    );
    // Read from ruff's JSON, which prints `[]` when it finds nothing.
    assert_eq!(step(&report, "ruff").summary, "no errors");
    assert_eq!(step(&report, "mypy").summary, "4 error(s), all known debt");
    assert!(
        step(&report, "observer-ui")
            .summary
            .starts_with("rendered Telemetry, Tick went "),
        "{report:#?}"
    );
    assert!(ws.out().join("capture/telemetry.jsonl").is_file());
    assert!(report.git.is_none(), "a temp dir is not a git repository");
    assert!(
        report
            .tools
            .get("python")
            .is_some_and(|v| v.starts_with("Python 3")),
        "{:?}",
        report.tools
    );
    assert!(report.tools.contains_key("pytest"), "{:?}", report.tools);
    let tls = step(&report, "tls-smoke");
    assert!(
        tls.summary.starts_with("pass: TLSv1.3 TLS13_")
            && tls.summary.contains(
                " with demo.local (loopback collector), client certificate accepted (dev certificates generated now: the real ones were not tested)"
            ),
        "{tls:?}"
    );
    // The dev certificates were generated where the Townlet config expects them.
    assert!(ws.path().join("townlet/certs/demo_ca.pem").is_file());
    let log = step(&report, "pytest").log.clone().expect("log");
    assert!(
        std::fs::read_to_string(log)
            .expect("log")
            .contains("passed")
    );

    let xml = std::fs::read_to_string(junit).expect("junit");
    assert!(
        xml.contains(r#"<testsuite name="townlet-gate" tests="6""#),
        "{xml}"
    );
    assert!(xml.contains(r#"failures="0""#), "{xml}");
    let md = std::fs::read_to_string(summary).expect("summary");
    assert!(md.contains("| `mypy` | pass |"), "{md}");
}

#[test]
fn injected_failures_fail_their_steps_with_the_evidence() {
    let ws = sample_ws();
    let edit = |file: &str, change: &dyn Fn(String) -> String| {
        let path = ws.path().join("townlet").join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, change(text)).expect("write");
    };
    // The failing test joins a small suite: the full suite is
    // `the_sample_passes_every_step_with_the_real_tools`'s job.
    edit("tests/test_employment.py", &|text| {
        format!("{text}\n\ndef test_injected_failure():\n    assert 1 + 1 == 3\n")
    });
    edit("src/townlet/world/__init__.py", &|text| {
        format!("import os\n{text}")
    });
    edit("src/townlet/observations/builder.py", &|text| {
        format!("{text}\n\ndef injected() -> int:\n    return \"not an int\"\n")
    });

    let args = Args {
        steps: vec!["pytest".into(), "ruff".into(), "mypy".into()],
        suite: Some("employment".into()),
        ..Default::default()
    };
    let ((outcome, report), human) = ws.gate_output(args);
    assert_eq!(outcome.expect("runs"), Verdict::Fail);
    let report = report.expect("report");
    assert_eq!(report.verdict, GateVerdict::Fail);

    let pytest = step(&report, "pytest");
    assert_eq!(
        (pytest.status, pytest.exit_code),
        (StepStatus::Fail, Some(1))
    );
    let pytest_log = std::fs::read_to_string(pytest.log.clone().expect("log")).expect("log");
    assert!(
        pytest.summary.contains("1 failed, 7 passed"),
        "{pytest:?}\n{pytest_log}"
    );
    assert!(
        pytest.summary.ends_with(
            "; first FAILED tests/test_employment.py::test_injected_failure - assert (1 + 1) == 3"
        ),
        "{pytest:?}"
    );
    assert!(
        pytest_log.contains("FAILED tests/test_employment.py::test_injected_failure"),
        "{pytest_log}"
    );
    let ruff = step(&report, "ruff");
    assert_eq!(ruff.status, StepStatus::Fail);
    let ruff_log = std::fs::read_to_string(ruff.log.clone().expect("log")).expect("log");
    assert!(ruff_log.contains("F401"), "{ruff_log}");
    // The count and the cause, not ruff's last line (`[*] 1 fixable ...`).
    assert!(
        ruff.summary
            .starts_with("exit 1: 3 errors (E402, F401, I001): first src/townlet/world/__init__.py:1:1 I001 Import block is un-sorted or un-formatted"),
        "{ruff:?}"
    );
    // Every place ruff named, from its JSON output.
    let places: Vec<String> = ruff.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        places,
        [
            "src/townlet/world/__init__.py:1:1: I001 Import block is un-sorted or un-formatted",
            "src/townlet/world/__init__.py:1:8: F401 `os` imported but unused",
            "src/townlet/world/__init__.py:4:1: E402 Module level import not at top of file"
        ],
        "{ruff:?}\n{ruff_log}"
    );
    let mypy = step(&report, "mypy");
    assert_eq!(mypy.status, StepStatus::Fail);
    assert!(
        mypy.summary
            .starts_with("1 new error(s) beyond the recorded debt (4 known)"),
        "{mypy:?}"
    );
    // Only the new error is a place to look at, with mypy's column.
    assert_eq!(mypy.diagnostics.len(), 1, "{mypy:?}");
    assert!(
        mypy.diagnostics[0].column.is_some() && mypy.diagnostics[0].line.is_some(),
        "{mypy:?}"
    );
    the_failed_test_is_placed(&ws, pytest, &human);
}

/// The failed test of the injected failure is placed at its assertion, in
/// the report and in the human result (instead of the log's tail).
fn the_failed_test_is_placed(ws: &Ws, pytest: &plumbing::report::StepReport, human: &str) {
    // The failed test, at the line of its assertion.
    let tests = std::fs::read_to_string(ws.path().join("townlet/tests/test_employment.py"))
        .expect("the edited test file");
    let assertion = tests
        .lines()
        .position(|l| l.contains("assert 1 + 1 == 3"))
        .expect("the injected assertion")
        + 1;
    assert_eq!(pytest.diagnostics.len(), 1, "{pytest:?}");
    let failed = &pytest.diagnostics[0];
    assert_eq!(
        (failed.file.as_str(), failed.line, failed.code.as_deref()),
        (
            "tests/test_employment.py",
            u32::try_from(assertion).ok(),
            Some("tests.test_employment::test_injected_failure")
        ),
        "{pytest:?}"
    );
    // The human result shows the failed test at its place with its
    // assertion, not the log's tail.
    let shown = format!(
        "     | tests/test_employment.py:{assertion}: tests.test_employment::test_injected_failure"
    );
    assert!(
        human
            .lines()
            .any(|l| l.starts_with(&shown) && l.contains("assert")),
        "{human}"
    );
    assert!(
        !human.contains("| =="),
        "the log's summary line is not the detail: {human}"
    );
}

#[test]
fn a_crashing_or_silent_ui_fails_the_terminal_smoke() {
    let ws = sample_ws();
    let python = tool_python();
    ws.write(
        "configs/rollout.yaml",
        &format!(
            r#"target:
  root: ../townlet
  python: {}
gate:
  steps:
    - id: crash
      kind: terminal-smoke
      command: "{{python}} scripts/observer_ui.py configs/examples/poc_hybrid.yaml --ticks 0 --refresh 0.2"
      env: {{PYTHONPATH: "{{root}}/src", TOWNLET_SAMPLE_UI_CRASH: "1"}}
      run_for: 30s
    - id: silent
      kind: terminal-smoke
      command: "{{python}} -c 'import time; time.sleep(60)'"
      run_for: 2s
    - id: pipe-only
      kind: terminal-smoke
      command: "{{python}} -c 'print(\"Tick: 1\")'"
      run_for: 5s
"#,
            python.display()
        ),
    );
    let (outcome, report) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Fail);
    let report = report.expect("report");
    let crash = step(&report, "crash");
    assert_eq!(crash.status, StepStatus::Fail);
    assert!(
        crash
            .summary
            .starts_with("the program raised a Python traceback: "),
        "{crash:?}"
    );
    let silent = step(&report, "silent");
    assert_eq!(silent.status, StepStatus::Fail);
    assert_eq!(
        silent.summary,
        "never showed 'Telemetry' and never showed `Tick: (\\d+)` within 2s"
    );
    let pipe = step(&report, "pipe-only");
    assert_eq!(pipe.status, StepStatus::Fail);
    assert_eq!(
        pipe.summary,
        "never showed 'Telemetry' and `Tick: (\\d+)` did not advance, Tick stayed at 1 (it exited with 0 by itself)"
    );
}

#[test]
fn a_named_suite_runs_only_its_tests() {
    let ws = sample_ws();
    let args = Args {
        steps: vec!["pytest".into()],
        suite: Some("employment".into()),
        ..Default::default()
    };
    let (outcome, report) = ws.gate(args);
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    let log = std::fs::read_to_string(
        step(&report.expect("report"), "pytest")
            .log
            .clone()
            .expect("log"),
    )
    .expect("log");
    assert!(!log.contains("test_observation"), "{log}");
    let err = ws
        .gate(Args {
            suite: Some("nope".into()),
            ..Default::default()
        })
        .0
        .expect_err("unknown suite");
    assert!(
        err.to_string()
            .starts_with("no pytest suite 'nope' in gate.suites"),
        "{err}"
    );
}

/// A workspace with the sample, its blessed baselines and a gate of capture,
/// baseline-diff and monitor; `set` goes into `capture.set`, `inputs` are
/// the monitor's.
fn capture_ws(set: &str, inputs: &str) -> Ws {
    let ws = Ws::new();
    copy_sample(&ws.path().join("townlet"));
    copy_dir(
        &repo_root().join("baselines/townlet-sample/phase3"),
        &ws.path().join("baselines/townlet-sample/phase3"),
    );
    ws.write(
        "configs/rollout.yaml",
        &format!(
            r#"target:
  root: ../townlet
  python: {python}
capture:
  sim_config: configs/examples/poc_hybrid.yaml
  set: {{{set}}}
  commands:
    - "{{python}} scripts/run_simulation.py {{sim_config}} --ticks 500 --telemetry-path {{capture_dir}}/telemetry.jsonl"
    - "{{python}} scripts/capture_rollout.py configs/scenarios/observation_baseline.yaml --output {{capture_dir}}/observations"
baseline:
  ignore: ["*.capture_timestamp", "*.config_path"]
gate:
  steps:
    - id: capture
      kind: capture
      env: {{PYTHONPATH: "{{root}}/src"}}
    - id: baseline-diff
      kind: baseline-diff
      needs: [capture]
    - id: monitor
      kind: monitor
      needs: [capture]
      inputs: [{inputs}]
"#,
            python = tool_python().display()
        ),
    );
    ws
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

#[test]
fn a_loss_free_capture_of_the_blessed_sample_passes_with_townlets_own_log() {
    let ws = capture_ws(
        "telemetry.transport.buffer.max_buffer_bytes: 16777216",
        r#""{capture_dir}/telemetry.jsonl", "{townlet_log}""#,
    );
    let (outcome, report) = ws.gate(Args::default());
    let report = report.expect("report");
    assert_eq!(outcome.expect("runs"), Verdict::Pass, "{report:#?}");
    let capture = step(&report, "capture");
    assert_eq!(capture.status, StepStatus::Pass, "{capture:?}");
    assert_eq!(
        capture.summary,
        "telemetry.jsonl: 500 of 500 ticks written, none lost; 4 other files; Townlet logged 520 tick_health lines over 2 runs, dropped=0"
    );
    let diff = step(&report, "baseline-diff");
    assert_eq!(diff.status, StepStatus::Pass, "{diff:?}");
    assert!(
        diff.summary
            .starts_with("14 checks within tolerance against `"),
        "{diff:?}"
    );
    assert_eq!(
        step(&report, "monitor").summary,
        "no alerts over 2 input(s)"
    );
    // The script configures no logging: the tick_health lines are in
    // Townlet's log only because the capture set logging up.
    let log = std::fs::read_to_string(ws.out().join("townlet.log")).expect("log");
    assert!(
        log.contains("INFO townlet.core.sim_loop tick_health tick=500 "),
        "{log}"
    );
}

#[test]
fn a_lossy_capture_warns_and_fails_the_baseline_with_the_missing_ticks() {
    // Townlet's smallest buffer: the sample drops payloads under it, as
    // Townlet does under backpressure.
    let ws = capture_ws(
        "telemetry.transport.buffer.max_buffer_bytes: 6000",
        r#""{capture_dir}/telemetry.jsonl", "{townlet_log}""#,
    );
    let (outcome, report) = ws.gate(Args::default());
    let report = report.expect("report");
    assert_eq!(outcome.expect("runs"), Verdict::Fail, "{report:#?}");
    let capture = step(&report, "capture");
    assert_eq!(capture.status, StepStatus::Warn, "{capture:?}");
    assert!(
        capture.summary.starts_with(
            "lossy capture: telemetry.jsonl: 290 of 500 ticks written, 210 lost (1, 5, 9,"
        ),
        "{capture:?}"
    );
    assert!(capture.summary.contains("dropped=210"), "{capture:?}");
    let diff = step(&report, "baseline-diff");
    assert_eq!(diff.status, StepStatus::Fail, "{diff:?}");
    // The snapshot of tick 1 was dropped too: runtime_variant cannot be
    // confirmed, and the ticks check names what is missing.
    assert!(
        diff.summary.starts_with("2 check(s) differ from the baseline; first: telemetry.jsonl: runtime_variant: no candidate payload carries runtime_variant (it has no snapshot"),
        "{diff:?}"
    );
    let diff_log = std::fs::read_to_string(diff.log.clone().expect("log")).expect("log");
    assert!(
        diff_log.contains("FAIL  ticks: 210 ticks are missing from the candidate (1, 5, 9,"),
        "{diff_log}"
    );
    assert!(
        diff_log.contains("pass  schema: "),
        "a lost diff invents no removed key: {diff_log}"
    );
    let monitor = step(&report, "monitor");
    assert!(monitor.summary.contains("telemetry-drops"), "{monitor:?}");
    assert_eq!(report.verdict, GateVerdict::Fail);
}

#[test]
fn a_log_without_tick_health_fails_the_monitor_but_the_stream_is_still_judged() {
    // What the capture's commands printed has no tick_health lines (the
    // script logs only through Python logging): that input fails on its
    // own, the telemetry rules still run.
    let ws = capture_ws(
        "telemetry.transport.buffer.max_buffer_bytes: 6000",
        r#""{capture_dir}/telemetry.jsonl", "{log_dir}/capture.log""#,
    );
    let (_, report) = ws.gate(Args::default());
    let report = report.expect("report");
    let monitor = step(&report, "monitor");
    assert_eq!(monitor.status, StepStatus::Fail, "{monitor:?}");
    assert!(
        monitor.summary.contains("telemetry-gap (warning)"),
        "{monitor:?}"
    );
    assert!(
        monitor
            .summary
            .contains("capture.log`: no `tick_health` lines in "),
        "{monitor:?}"
    );
}
