//! The mypy debt ratchet against Townlet's recorded M4 debt: mypy output in
//! the exact shape of the M4-era run (18 errors in one file, exit 1) passes
//! as debt; a 19th error fails and is the only one listed.

use plumbing::report::StepStatus;
use rollout_core::Verdict;

use crate::support::{Args, Ws, repo_root, step};

/// mypy's output for the recorded debt, with line numbers as mypy prints
/// them, plus `extra` lines, and mypy's notes and summary.
fn mypy_output(extra: &[&str]) -> String {
    let debt = std::fs::read_to_string(repo_root().join("baselines/townlet/mypy-debt.txt"))
        .expect("Townlet debt");
    let mut out = String::new();
    let mut n = 0;
    for (i, line) in debt
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .enumerate()
    {
        let (path, rest) = line.split_once(": error: ").expect("debt line");
        out.push_str(&format!("{path}:{}: error: {rest}\n", 200 + i * 7));
        n += 1;
    }
    for line in extra {
        out.push_str(line);
        out.push('\n');
        n += 1;
    }
    out.push_str(
        "pyproject.toml: note: unused section(s): module = ['townlet.world.console_service']\n",
    );
    out.push_str(&format!(
        "Found {n} errors in 1 file (checked 4 source files)\n"
    ));
    out
}

fn run(ws: &Ws, output: &str) -> plumbing::report::StepReport {
    ws.write("townlet/mypy-output.txt", output);
    ws.write(
        "configs/rollout.yaml",
        &format!(
            "target:\n  root: ../townlet\ngate:\n  steps:\n    - id: mypy\n      command: [sh, -c, 'cat mypy-output.txt; exit 1']\n      debt: {}\n",
            repo_root().join("baselines/townlet/mypy-debt.txt").display()
        ),
    );
    let (_, report) = ws.gate(Args::default());
    step(&report.expect("report"), "mypy").clone()
}

#[test]
fn townlets_m4_debt_passes_and_a_nineteenth_error_fails() {
    let ws = Ws::new();
    let s = run(&ws, &mypy_output(&[]));
    assert_eq!(
        (s.status, s.exit_code),
        (StepStatus::Pass, Some(1)),
        "{s:?}"
    );
    assert_eq!(s.summary, "18 error(s), all known debt");

    let new = "src/townlet/observations/builder.py:990: error: Name \"agent_idx\" is not defined  [name-defined]";
    let s = run(&ws, &mypy_output(&[new]));
    assert_eq!(s.status, StepStatus::Fail, "{s:?}");
    assert_eq!(
        s.summary,
        "1 new error(s) beyond the recorded debt (18 known)"
    );
    let (_, report) = ws.gate(Args::default());
    assert_eq!(
        report.expect("report").verdict,
        plumbing::report::GateVerdict::Fail
    );
}

#[test]
fn a_repeat_of_a_known_error_is_new_and_fixed_ones_are_paid_off() {
    let ws = Ws::new();
    let repeat = "src/townlet/observations/builder.py:999: error: \"object\" has no attribute \"get\"  [attr-defined]";
    let s = run(&ws, &mypy_output(&[repeat]));
    assert_eq!(s.status, StepStatus::Fail);
    assert!(s.summary.starts_with("1 new error(s)"), "{s:?}");

    let fewer: String = mypy_output(&[])
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace("Found 18 errors", "Found 17 errors");
    let s = run(&ws, &fewer);
    assert_eq!(s.status, StepStatus::Pass, "{s:?}");
    assert!(s.summary.contains("; 1 paid off (shrink `"), "{s:?}");
}

#[test]
fn unreadable_or_crashed_mypy_fails_instead_of_passing() {
    let ws = Ws::new();
    // The summary counts more errors than there are error lines.
    let s = run(
        &ws,
        &mypy_output(&[]).replace("Found 18 errors", "Found 20 errors"),
    );
    assert_eq!(s.status, StepStatus::Fail);
    assert_eq!(
        s.summary,
        "mypy reported 20 errors but 18 error lines could be read"
    );

    ws.write("townlet/.keep", "");
    ws.write(
        "configs/rollout.yaml",
        "target:\n  root: ../townlet\ngate:\n  steps:\n    - id: mypy\n      command: [sh, -c, 'echo \"mypy: error: unrecognized arguments\"; exit 2']\n      debt: debt.txt\n",
    );
    let (outcome, report) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Fail);
    let s = step(&report.expect("report"), "mypy").clone();
    assert_eq!(s.status, StepStatus::Fail);
    assert_eq!(
        s.summary,
        "mypy could not check (exit 2): mypy: error: unrecognized arguments"
    );
}

#[test]
fn update_debt_only_shrinks_unless_growth_is_allowed() {
    let ws = Ws::new();
    let debt = ws.write(
        "debt.txt",
        &std::fs::read_to_string(repo_root().join("baselines/townlet/mypy-debt.txt"))
            .expect("debt"),
    );
    let config = |ws: &Ws| {
        ws.write(
            "configs/rollout.yaml",
            "target:\n  root: ../townlet\ngate:\n  steps:\n    - id: mypy\n      command: [sh, -c, 'cat mypy-output.txt; exit 1']\n      debt: ../debt.txt\n",
        )
    };
    config(&ws);
    let count = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .expect("read")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count()
    };

    let new = "src/townlet/world/grid.py:3: error: Missing return statement  [return]";
    ws.write("townlet/mypy-output.txt", &mypy_output(&[new]));
    let update = Args {
        update_debt: true,
        ..Default::default()
    };
    let (outcome, report) = ws.gate(update.clone());
    assert_eq!(outcome.expect("runs"), Verdict::Fail);
    let s = step(&report.expect("report"), "mypy").clone();
    assert!(
        s.summary
            .starts_with("--update-debt would add 1 new error(s) to `"),
        "{s:?}"
    );
    assert_eq!(count(&debt), 18, "the debt file must not change");

    let (outcome, _) = ws.gate(Args {
        update_debt: true,
        allow_debt_growth: true,
        ..Default::default()
    });
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    assert_eq!(count(&debt), 19);

    let fewer: String = mypy_output(&[])
        .lines()
        .skip(2)
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace("Found 18 errors", "Found 16 errors");
    ws.write("townlet/mypy-output.txt", &fewer);
    let (outcome, report) = ws.gate(update);
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    assert_eq!(count(&debt), 16);
    let report = report.expect("report");
    assert!(
        step(&report, "mypy")
            .summary
            .ends_with("now holds 16 error(s) (was 19)"),
        "{:?}",
        step(&report, "mypy")
    );
    assert!(
        !report.complete,
        "an --update-debt run does not clear a tag"
    );
}

/// A stand-in `mypy` in the Townlet root: with `-O json` it prints
/// `json_output` (or, when that is `None`, refuses the flag as mypy before
/// 1.11 does, exit 2); without it, `mypy-output.txt` as text.
fn fake_mypy(ws: &Ws, json_output: Option<&str>) -> plumbing::report::StepReport {
    let on_json = match json_output {
        Some(json) => {
            ws.write("townlet/mypy-output.json", json);
            "cat mypy-output.json; exit 1".to_string()
        }
        None => "echo 'usage: mypy [-h] [-v] [-V] [more options; see below]' >&2; echo 'mypy: error: unrecognized arguments: -O json' >&2; exit 2".to_string(),
    };
    let script = ws.write(
        "townlet/mypy",
        &format!(
            "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = -O ]; then {on_json}; fi; done\ncat mypy-output.txt; exit 1\n"
        ),
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    ws.write(
        "configs/rollout.yaml",
        &format!(
            "target:\n  root: ../townlet\ngate:\n  steps:\n    - id: mypy\n      command: ./mypy src/townlet\n      debt: {}\n",
            repo_root().join("baselines/townlet/mypy-debt.txt").display()
        ),
    );
    let (_, report) = ws.gate(Args::default());
    step(&report.expect("report"), "mypy").clone()
}

/// The recorded debt as `mypy -O json` prints it (columns from 0), plus
/// one new error.
fn mypy_json_output(new: bool) -> String {
    let mut out = String::new();
    for (i, line) in mypy_output(&[]).lines().enumerate() {
        let Some((path, rest)) = line.split_once(": error: ") else {
            continue;
        };
        let path = path.rsplit_once(':').map_or(path, |(p, _)| p);
        let (message, code) = rest.rsplit_once("  [").expect("code");
        let entry = serde_json::json!({
            "file": path, "line": 200 + i * 7, "column": 4, "end_line": 200 + i * 7,
            "end_column": 9, "message": message, "hint": null,
            "code": code.trim_end_matches(']'), "severity": "error",
        });
        out.push_str(&format!("{entry}\n"));
    }
    if new {
        out.push_str(r#"{"file": "src/townlet/observations/builder.py", "line": 990, "column": 11, "end_line": 990, "end_column": 20, "message": "Name \"agent_idx\" is not defined", "hint": null, "code": "name-defined", "severity": "error"}"#);
        out.push('\n');
    }
    out.push_str(
        "pyproject.toml: note: unused section(s): module = ['townlet.world.console_service']",
    );
    out
}

#[test]
fn mypy_is_read_from_its_json_lines_with_places_for_new_errors() {
    let ws = Ws::new();
    ws.write("townlet/mypy-output.txt", "not read\n");
    let s = fake_mypy(&ws, Some(&mypy_json_output(false)));
    assert_eq!(s.status, StepStatus::Pass, "{s:?}");
    assert_eq!(s.summary, "18 error(s), all known debt");

    let s = fake_mypy(&ws, Some(&mypy_json_output(true)));
    assert_eq!(s.status, StepStatus::Fail, "{s:?}");
    assert_eq!(
        s.summary,
        "1 new error(s) beyond the recorded debt (18 known)"
    );
    assert_eq!(
        s.diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "src/townlet/observations/builder.py:990:12: name-defined Name \"agent_idx\" is not defined"
        ]
    );
}

#[test]
fn a_mypy_without_json_output_is_run_again_and_read_from_its_text() {
    let ws = Ws::new();
    ws.write("townlet/mypy-output.txt", &mypy_output(&[]));
    let s = fake_mypy(&ws, None);
    assert_eq!(
        (s.status, s.summary.as_str()),
        (StepStatus::Pass, "18 error(s), all known debt"),
        "{s:?}"
    );
    let log = std::fs::read_to_string(s.log.expect("log")).expect("log");
    assert!(
        log.starts_with("gate: the tool does not accept `-O`; running it again as configured"),
        "{log}"
    );
    assert!(!log.contains("unrecognized arguments"), "{log}");
}
