//! The mypy debt ratchet against Townlet's recorded M4 debt: mypy output in
//! the exact shape of the M4-era run (18 errors in one file, exit 1) passes
//! as debt; a 19th error fails and is the only one listed.

use plumbing::report::StepStatus;
use rollout_config::Outcome;

use crate::support::{Ws, repo_root, step};

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
    let (_, report) = ws.gate(gate::Args::default());
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
    let (_, report) = ws.gate(gate::Args::default());
    assert_eq!(
        report.expect("report").verdict,
        plumbing::report::Verdict::Fail
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
    let (outcome, report) = ws.gate(gate::Args::default());
    assert_eq!(outcome.expect("runs"), Outcome::Fail);
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
    let update = gate::Args {
        update_debt: true,
        ..Default::default()
    };
    let (outcome, report) = ws.gate(update.clone());
    assert_eq!(outcome.expect("runs"), Outcome::Fail);
    let s = step(&report.expect("report"), "mypy").clone();
    assert!(
        s.summary
            .starts_with("--update-debt would add 1 new error(s) to `"),
        "{s:?}"
    );
    assert_eq!(count(&debt), 18, "the debt file must not change");

    let (outcome, _) = ws.gate(gate::Args {
        update_debt: true,
        allow_debt_growth: true,
        ..Default::default()
    });
    assert_eq!(outcome.expect("runs"), Outcome::Pass);
    assert_eq!(count(&debt), 19);

    let fewer: String = mypy_output(&[])
        .lines()
        .skip(2)
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace("Found 18 errors", "Found 16 errors");
    ws.write("townlet/mypy-output.txt", &fewer);
    let (outcome, report) = ws.gate(update);
    assert_eq!(outcome.expect("runs"), Outcome::Pass);
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
