//! The merge policy on real git repositories.

use plumbing::report::StepStatus;
use rollout_core::Verdict;

use crate::support::{Args, Ws, git, step};

fn repo(ws: &Ws) -> std::path::PathBuf {
    let root = ws.path().join("townlet");
    ws.write("townlet/src/townlet/world/grid.py", "GRID = 1\n");
    ws.write("townlet/README.md", "sample\n");
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "base"]);
    root
}

fn config(ws: &Ws, policy: &str) {
    ws.write(
        "configs/rollout.yaml",
        &format!("target:\n  root: ../townlet\ngate:\n  steps:\n    - id: merge-policy\n      kind: merge-policy\n      policy: {policy}\n"),
    );
}

#[test]
fn a_high_risk_change_off_the_staging_branch_fails() {
    let ws = Ws::new();
    let root = repo(&ws);
    config(&ws, "fail");
    git(&root, &["checkout", "-qb", "feature"]);
    ws.write("townlet/src/townlet/world/grid.py", "GRID = 2\n");
    git(&root, &["commit", "-qam", "change the world"]);
    let (outcome, report) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Fail);
    let report = report.expect("report");
    let s = step(&report, "merge-policy");
    assert_eq!(s.status, StepStatus::Fail);
    assert!(
        s.summary
            .starts_with("1 file(s) under src/townlet/world changed since merge-base"),
        "{s:?}"
    );
    assert!(
        s.summary.ends_with(
            "on feature; stage this change on `release/m4-rollout` before merging into `main`"
        ),
        "{s:?}"
    );
    assert_eq!(
        report.git.as_ref().and_then(|g| g.branch.as_deref()),
        Some("feature")
    );

    // Staged on the staging branch, the same change passes.
    git(&root, &["checkout", "-qb", "release/m4-rollout"]);
    let (outcome, report) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    assert!(
        step(&report.expect("report"), "merge-policy")
            .summary
            .contains("staged on `release/m4-rollout` as required")
    );

    // Configured to warn, it does not fail the gate.
    git(&root, &["checkout", "-q", "feature"]);
    config(&ws, "warn");
    let (outcome, report) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    assert_eq!(
        step(&report.expect("report"), "merge-policy").status,
        StepStatus::AllowedFailure
    );
}

#[test]
fn other_changes_pass_and_no_repository_is_not_applicable() {
    let ws = Ws::new();
    let root = repo(&ws);
    config(&ws, "fail");
    git(&root, &["checkout", "-qb", "docs"]);
    ws.write("townlet/README.md", "better\n");
    git(&root, &["commit", "-qam", "docs"]);
    let (outcome, report) = ws.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    let report = report.expect("report");
    assert!(
        step(&report, "merge-policy")
            .summary
            .starts_with("1 file(s) changed since merge-base")
    );
    let git_state = report.git.expect("git state");
    assert_eq!(git_state.commit, git(&root, &["rev-parse", "HEAD"]));
    assert_eq!(git_state.tree, git(&root, &["rev-parse", "HEAD^{tree}"]));
    assert!(!git_state.dirty);

    let plain = Ws::new();
    plain.write("townlet/.keep", "");
    config(&plain, "fail");
    let (outcome, report) = plain.gate(Args::default());
    assert_eq!(outcome.expect("runs"), Verdict::Pass);
    assert!(
        step(&report.expect("report"), "merge-policy")
            .summary
            .starts_with("not applicable: ")
    );
}
