//! Scheduling, timeouts, reports and provisioning with plain processes.

use std::path::Path;

use plumbing::report::{GateVerdict, StepStatus};
use rollout_core::Verdict;

use crate::support::{Args, Ws, step};

fn config(ws: &Ws, steps: &str) {
    ws.write("townlet/.keep", "");
    ws.write(
        "configs/rollout.yaml",
        &format!("target:\n  root: ../townlet\n  python: python3\ngate:\n  steps:\n{steps}"),
    );
}

/// A step that records when it started and ended (nanoseconds).
fn timed(id: &str, secs: &str, extra: &str) -> String {
    format!(
        "    - id: {id}\n      command: [sh, -c, 'date +%s%N > {id}.start; sleep {secs}; date +%s%N > {id}.end']\n{extra}"
    )
}

/// A step that records its start, then waits (at most 20 s) until all of
/// `group` have started, and records `{id}.met` if they did: steps that run
/// at the same time meet however slow the machine is; steps run one after
/// the other never do.
fn meeting(id: &str, group: &[&str]) -> String {
    let all = group
        .iter()
        .map(|g| format!("[ -e {g}.start ]"))
        .collect::<Vec<_>>()
        .join(" && ");
    format!(
        "    - id: {id}\n      command: [sh, -c, 'date +%s%N > {id}.start; i=0; until {all}; do i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.1; done; {all} && touch {id}.met; date +%s%N > {id}.end']\n"
    )
}

fn stamp(root: &Path, name: &str) -> u128 {
    std::fs::read_to_string(root.join(name))
        .expect(name)
        .trim()
        .parse()
        .expect("nanoseconds")
}

#[test]
fn independent_steps_overlap_and_dependents_wait() {
    let ws = Ws::new();
    let group = ["a", "b", "c"];
    let steps = [
        meeting("a", &group),
        meeting("b", &group),
        meeting("c", &group),
        timed("d", "0.1", "      needs: [a, b]\n"),
    ]
    .concat();
    config(&ws, &steps);
    let (outcome, report) = ws.gate(Args {
        jobs: Some(3),
        ..Default::default()
    });
    assert_eq!(outcome.expect("runs"), Verdict::Pass, "{report:#?}");
    let root = ws.path().join("townlet");
    // a, b and c ran at the same time: each saw the others start.
    for s in group {
        assert!(root.join(format!("{s}.met")).is_file(), "{s} ran alone");
    }
    // d started after both of its needs ended.
    assert!(stamp(&root, "d.start") >= stamp(&root, "a.end").max(stamp(&root, "b.end")));
}

#[test]
fn one_job_runs_steps_one_at_a_time() {
    let ws = Ws::new();
    config(
        &ws,
        &[timed("a", "0.2", ""), timed("b", "0.2", "")].concat(),
    );
    let (outcome, _) = ws.gate(Args {
        jobs: Some(1),
        ..Default::default()
    });
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    let root = ws.path().join("townlet");
    assert!(stamp(&root, "b.start") >= stamp(&root, "a.end"));
}

#[test]
fn a_hanging_step_times_out_and_its_dependents_are_skipped() {
    let ws = Ws::new();
    config(
        &ws,
        "    - id: hang\n      command: [sh, -c, 'sleep 60 & echo $! > child.pid; wait']\n      timeout: 1s\n    - id: after\n      command: ['true']\n      needs: [hang]\n    - id: other\n      command: ['true']\n",
    );
    let (outcome, report) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Fail);
    let report = report.expect("report");
    let hang = step(&report, "hang");
    assert_eq!(hang.status, StepStatus::Timeout);
    assert_eq!(
        hang.summary,
        "timed out after 1s; its process group was stopped"
    );
    assert_eq!(step(&report, "after").status, StepStatus::Skipped);
    assert_eq!(
        step(&report, "after").summary,
        "needs 'hang', which did not pass"
    );
    assert_eq!(step(&report, "other").status, StepStatus::Pass);
    let pid = std::fs::read_to_string(ws.path().join("townlet/child.pid")).expect("pid");
    assert!(
        test_support::process_gone(&pid),
        "step process {} outlived the gate",
        pid.trim()
    );
}

#[test]
fn failures_allowed_to_fail_warn_and_fail_fast_stops_the_rest() {
    let ws = Ws::new();
    config(
        &ws,
        "    - id: flaky\n      command: [sh, -c, 'echo boom; exit 3']\n      allow_failure: true\n    - id: fine\n      command: ['true']\n",
    );
    let (outcome, report) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    let flaky = step(report.as_ref().expect("report"), "flaky").clone();
    assert_eq!(
        (flaky.status, flaky.exit_code),
        (StepStatus::AllowedFailure, Some(3))
    );
    assert_eq!(flaky.summary, "exit 3: boom");

    config(
        &ws,
        "    - id: bad\n      command: [sh, -c, 'exit 1']\n    - id: slow\n      command: [sleep, '30']\n    - id: later\n      command: ['true']\n      needs: [slow]\n",
    );
    let (outcome, report) = ws.gate(Args {
        fail_fast: true,
        jobs: Some(3),
        ..Default::default()
    });
    assert_eq!(outcome.expect("runs"), Verdict::Fail);
    let report = report.expect("report");
    assert_eq!(report.verdict, GateVerdict::Fail);
    assert_eq!(step(&report, "bad").status, StepStatus::Fail);
    assert_eq!(step(&report, "slow").status, StepStatus::Interrupted);
    assert_eq!(step(&report, "later").status, StepStatus::Skipped);
    assert!(
        report.duration_ms < 25_000,
        "fail-fast did not stop the slow step"
    );
}

#[test]
fn the_report_says_what_was_gated() {
    let ws = Ws::new();
    config(
        &ws,
        "    - id: one\n      command: [sh, -c, 'echo hello from one']\n    - id: two\n      command: ['false']\n",
    );
    let junit = ws.path().join("gate.xml");
    let summary = ws.path().join("summary.md");
    let ((outcome, report), human) = ws.gate_output(Args {
        junit: Some(junit.clone()),
        summary: Some(summary.clone()),
        ..Default::default()
    });
    let lines: Vec<&str> = human.lines().collect();
    assert!(
        lines[0].starts_with("pass one ") && lines[0].ends_with("  hello from one"),
        "{human}"
    );
    assert!(
        lines[1].starts_with("FAIL two ") && lines[1].ends_with("  exit 1, no output"),
        "{human}"
    );
    assert!(lines[2].starts_with("     full log: "), "{human}");
    assert!(
        lines[3].starts_with("gate FAILED: 1 failed (two) in "),
        "{human}"
    );
    assert_eq!(outcome.expect("runs"), Verdict::Fail);
    let report = report.expect("report");
    assert_eq!(report.schema, 1);
    assert_eq!(report.root, ws.path().join("townlet"));
    let one = step(&report, "one");
    assert_eq!(
        (one.status, one.exit_code, one.kind.as_str()),
        (StepStatus::Pass, Some(0), "command")
    );
    assert_eq!(one.summary, "hello from one");
    assert_eq!(
        one.log.as_deref(),
        Some(ws.out().join("gate/one.log").as_path())
    );
    let two = step(&report, "two");
    assert_eq!((two.status, two.exit_code), (StepStatus::Fail, Some(1)));
    let xml = std::fs::read_to_string(junit).expect("junit");
    assert!(
        xml.contains(r#"<testcase name="two" classname="gate.command""#),
        "{xml}"
    );
    assert!(xml.contains("<failure"), "{xml}");
    // The junit-10 schema: no `skipped` on <testsuites>; a `time` on each
    // <testsuite> (test reporters show NaN without it).
    let suites = &xml[xml.find("<testsuites").expect("testsuites")..];
    let suites_tag = &suites[..suites.find('>').expect("tag end")];
    assert!(!suites_tag.contains("skipped="), "{suites_tag}");
    assert!(suites_tag.contains(" time=\""), "{suites_tag}");
    let suite = &xml[xml.find("<testsuite ").expect("testsuite")..];
    let suite_tag = &suite[..suite.find('>').expect("tag end")];
    assert!(suite_tag.contains(" time=\""), "{suite_tag}");
    assert!(suite_tag.contains(" skipped=\""), "{suite_tag}");
    // What Jenkins and the test reporters that follow it accept.
    test_support::assert_valid_junit10(&xml);
    let md = std::fs::read_to_string(summary).expect("md");
    assert!(md.contains("gate FAILED: 1 failed (two)"), "{md}");
    assert!(md.contains("| `one` | pass |"), "{md}");
}

#[test]
fn a_missing_environment_is_provisioned_or_reported() {
    let ws = Ws::new();
    ws.write("townlet/.keep", "");
    ws.write(
        "configs/rollout.yaml",
        "target:\n  root: ../townlet\n  python: .venv/bin/python\n  provision:\n    - mkdir -p .venv/bin\n    - cp /bin/true .venv/bin/python\ngate:\n  steps:\n    - id: uses-python\n      command: \"{python} -m anything\"\n",
    );
    let err = ws
        .gate(Args {
            no_provision: true,
            ..Default::default()
        })
        .0
        .expect_err("no provisioning");
    let text = format!("{err:#}");
    assert!(
        text.contains("the target's Python environment is missing"),
        "{text}"
    );
    assert!(text.contains("hint: run without --no-provision, or by hand: `mkdir -p .venv/bin` then `cp /bin/true .venv/bin/python`"), "{text}");

    let (outcome, report) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Pass, "{report:#?}");
    assert!(ws.path().join("townlet/.venv/bin/python").is_file());
}

#[test]
fn a_half_provisioned_environment_is_provisioned_again() {
    let ws = Ws::new();
    ws.write(
        "townlet/pyproject.toml",
        "[project]\nname = \"town\"\nversion = \"0.1.0\"\n",
    );
    // The interpreter exists after the second command; the third fails
    // until `ok` exists, as a `pip install` that fails half-way.
    ws.write(
        "configs/rollout.yaml",
        "target:\n  root: ../townlet\n  python: .venv/bin/python\n  provision:\n    - mkdir -p .venv/bin\n    - cp /bin/true .venv/bin/python\n    - sh -c 'echo run >> runs && test -f ok'\ngate:\n  steps:\n    - id: uses-python\n      command: \"{python} -m anything\"\n",
    );
    let runs = || {
        std::fs::read_to_string(ws.path().join("townlet/runs"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let err = ws.gate(Args::default()).0.expect_err("could not run");
    let text = format!("{err:#}");
    assert!(
        text.contains(
            "provisioning command `sh -c 'echo run >> runs && test -f ok'` failed (exit 1)"
        ),
        "{text}"
    );
    assert!(ws.path().join("townlet/.venv/bin/python").is_file());
    assert!(
        !ws.path()
            .join("townlet/.venv/.rollout-provisioned.json")
            .exists()
    );

    // The interpreter is there, but provisioning never completed: the rerun
    // provisions again instead of blaming the step.
    ws.write("townlet/ok", "");
    let (outcome, report) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Pass, "{report:#?}");
    assert_eq!(runs(), 2);
    let marker = std::fs::read_to_string(ws.path().join("townlet/.venv/.rollout-provisioned.json"))
        .expect("marker");
    assert!(marker.contains("test -f ok"), "{marker}");
    assert!(marker.contains("pyproject_sha256"), "{marker}");

    // Completed and unchanged: nothing runs again.
    let (outcome, _) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    assert_eq!(runs(), 2);

    // A changed pyproject.toml makes the environment stale.
    ws.write(
        "townlet/pyproject.toml",
        "[project]\nname = \"town\"\nversion = \"0.2.0\"\n",
    );
    let (outcome, _) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    assert_eq!(runs(), 3);

    // --no-provision uses a stale environment as it is.
    ws.write(
        "townlet/pyproject.toml",
        "[project]\nname = \"town\"\nversion = \"0.3.0\"\n",
    );
    let (outcome, _) = ws.gate(Args {
        no_provision: true,
        ..Default::default()
    });
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    assert_eq!(runs(), 3);
}

#[test]
fn a_step_running_a_tool_of_the_environment_provisions_it_too() {
    let ws = Ws::new();
    // A target named by its pyproject gets its own provisioning commands.
    ws.write(
        "townlet/pyproject.toml",
        "[project]\nname = \"townlet\"\nversion = \"0.1.0\"\n",
    );
    ws.write(
        "configs/rollout.yaml",
        "target:\n  root: ../townlet\n  python: .venv/bin/python\n  provision:\n    - \"false\"\n  provision_by_target:\n    townlet:\n      - mkdir -p .venv/bin\n      - cp /bin/true .venv/bin/python\n      - cp /bin/true .venv/bin/ruff\ngate:\n  steps:\n    - id: ruff\n      command: \"{bin}/ruff check src\"\n    - id: plain\n      command: \"true\"\n",
    );
    // Only `{bin}/ruff` is selected: no `{python}` anywhere, yet the
    // environment must exist first.
    let (outcome, report) = ws.gate(Args {
        steps: vec!["ruff".into()],
        ..Default::default()
    });
    assert_eq!(outcome.expect("runs"), Verdict::Pass, "{report:#?}");
    assert!(ws.path().join("townlet/.venv/bin/ruff").is_file());
    // A step that needs nothing of the environment does not provision.
    std::fs::remove_dir_all(ws.path().join("townlet/.venv")).expect("rm");
    let (outcome, _) = ws.gate(Args {
        steps: vec!["plain".into()],
        ..Default::default()
    });
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    assert!(!ws.path().join("townlet/.venv").exists());
}

#[test]
fn unknown_steps_and_unusable_commands_are_reported() {
    let ws = Ws::new();
    config(
        &ws,
        "    - id: nothing\n      command: [/nonexistent/tool, --flag]\n",
    );
    let err = ws
        .gate(Args {
            steps: vec!["nothin".into()],
            ..Default::default()
        })
        .0
        .expect_err("unknown");
    assert!(
        err.to_string()
            .starts_with("no gate step 'nothin', did you mean 'nothing'?"),
        "{err}"
    );
    // A program that does not exist: the gate could not run (exit 2), and
    // its report says which step and why.
    let (outcome, report) = ws.gate(Args::default());
    let err = format!("{:#}", outcome.expect_err("could not run"));
    assert!(
        err.starts_with("the gate could not run a step: nothing (cannot start `/nonexistent/tool`"),
        "{err}"
    );
    assert!(
        err.contains("\nhint: install the missing program or fix its path in `gate.steps` of `"),
        "{err}"
    );
    let s = step(report.as_ref().expect("report"), "nothing").clone();
    assert_eq!(s.status, StepStatus::Fail);
    assert!(
        s.summary
            .starts_with("could not run: cannot start `/nonexistent/tool`"),
        "{s:?}"
    );
}

#[test]
fn a_log_that_cannot_be_written_means_the_gate_could_not_run() {
    let ws = Ws::new();
    config(&ws, "    - id: fine\n      command: \"true\"\n");
    // A directory where the step's log goes: not writable, even for root.
    std::fs::create_dir_all(ws.out().join("gate/fine.log")).expect("mkdir");
    let (outcome, report) = ws.gate(Args::default());
    let err = format!("{:#}", outcome.expect_err("could not run"));
    assert!(
        err.contains("could not run a step: fine (cannot create step log"),
        "{err}"
    );
    let s = step(report.as_ref().expect("report"), "fine").clone();
    assert!(
        s.summary
            .starts_with("could not run: cannot create step log"),
        "{s:?}"
    );
}

#[test]
fn a_step_printing_more_than_the_log_keeps_is_cut_in_the_middle() {
    let ws = Ws::new();
    // 40 MB of output, then a last line that the failure's tail must show.
    config(
        &ws,
        "    - id: loud\n      command: [sh, -c, \"yes 'row of output' | head -c 40000000; echo; echo the last word; exit 3\"]\n",
    );
    let (outcome, report) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Fail);
    let s = step(report.as_ref().expect("report"), "loud").clone();
    assert_eq!(s.summary, "exit 3: the last word");
    let log = ws.out().join("gate/loud.log");
    let size = std::fs::metadata(&log).expect("log").len();
    let limit = plumbing::steplog::HEAD + plumbing::steplog::TAIL as u64 + 1024;
    assert!(size <= limit, "log is {size} bytes, more than {limit}");
    let text = std::fs::read_to_string(&log).expect("read");
    assert!(text.starts_with("row of output\nrow of output\n"));
    assert!(
        text.contains(
            "of output dropped here; the log keeps the first 16.0 MiB and the last 1.0 MiB]"
        ),
        "no note"
    );
    assert!(
        text.ends_with("row of output\nrow of outpu\nthe last word\n"),
        "tail lost"
    );
}

#[test]
fn the_junit_lists_every_pytest_test_from_pytest_itself() {
    let ws = Ws::new();
    let python = test_support::sample_python();
    ws.write(
        "townlet/tests/test_mixed.py",
        "import pytest\n\ndef test_fine():\n    assert True\n\ndef test_broken():\n    assert 1 == 2, 'one is not two'\n\n@pytest.mark.skip(reason='not here')\ndef test_skipped():\n    pass\n",
    );
    ws.write(
        "configs/rollout.yaml",
        &format!(
            "target:\n  root: ../townlet\n  python: {}\ngate:\n  steps:\n    - id: pytest\n      command: \"{{python}} -m pytest -q -p no:cacheprovider tests\"\n",
            python.display()
        ),
    );
    let junit = ws.path().join("gate.xml");
    let (outcome, _) = ws.gate(Args {
        junit: Some(junit.clone()),
        ..Default::default()
    });
    assert_eq!(outcome.expect("runs"), Verdict::Fail);
    let xml = std::fs::read_to_string(junit).expect("junit");
    // The step itself, then one testcase per pytest test.
    assert!(
        xml.contains(r#"<testcase name="pytest" classname="gate.command""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testsuite name="gate.pytest" tests="3""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="test_fine" classname="tests.test_mixed""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="test_broken" classname="tests.test_mixed""#),
        "{xml}"
    );
    assert!(xml.contains("one is not two"), "{xml}");
    assert!(xml.contains(r#"<skipped message="not here""#), "{xml}");
    // What Jenkins and the test reporters that follow it accept.
    test_support::assert_valid_junit10(&xml);
}

#[test]
fn a_step_that_did_not_run_has_no_log_from_an_earlier_run() {
    let ws = Ws::new();
    let steps = |first: &str| {
        format!(
            "    - id: first\n      command: ['{first}']\n    - id: second\n      command: [sh, -c, 'echo second ran']\n      needs: [first]\n"
        )
    };
    config(&ws, &steps("true"));
    let (_, report) = ws.gate(Args::default());
    assert!(
        step(report.as_ref().expect("report"), "second")
            .log
            .is_some()
    );
    config(&ws, &steps("false"));
    let (_, report) = ws.gate(Args::default());
    let second = step(report.as_ref().expect("report"), "second");
    assert_eq!(second.status, StepStatus::Skipped);
    assert_eq!(second.log, None, "the log is the earlier run's");
}
