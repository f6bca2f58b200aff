//! Each check failing on its own, the happy path, overrides.

use plumbing::report::GateVerdict;

use release::tag::{CheckId, Settings};
use rollout_core::Verdict;

use crate::support::{Fixture, failed, status};

#[test]
fn ready_repo_gets_base_tag_then_next_candidate() {
    let f = Fixture::new();
    f.ready();
    let (o, out) = f.run(Settings::default());
    assert_eq!(o, Verdict::Pass, "{out}");
    assert!(
        out.contains("plan: create annotated tag v0.9.0-m4"),
        "{out}"
    );
    assert!(f.tags().is_empty(), "a dry run creates nothing");

    let (o, out) = f.run(Fixture::execute_args());
    assert_eq!(o, Verdict::Pass, "{out}");
    assert_eq!(f.tags(), ["v0.9.0-m4"]);
    assert_eq!(f.git(&["cat-file", "-t", "v0.9.0-m4"]), "tag", "annotated");
    let msg = f.git(&["tag", "-l", "--format=%(contents)", "v0.9.0-m4"]);
    assert!(
        msg.contains("Gate: pass for this commit, 2 steps in 15.4s"),
        "{msg}"
    );
    assert!(
        msg.contains("Baseline diff: pass (step baseline-diff"),
        "{msg}"
    );
    assert!(
        msg.contains("UI (ui) Release Tester <tester@example.org>"),
        "{msg}"
    );
    assert!(msg.contains("Overrides:\n  none"), "{msg}");
    assert!(msg.contains("git revert --no-edit"), "{msg}");

    // A second release candidate.
    f.commit("src/townlet/world/grid.py", "GRID = 2\n", "world: fix grid");
    f.ready();
    let (o, out) = f.run(Fixture::execute_args());
    assert_eq!(o, Verdict::Pass, "{out}");
    assert!(out.contains("created annotated tag v0.9.0-m4.1"), "{out}");
    let msg = f.git(&["tag", "-l", "--format=%(contents)", "v0.9.0-m4.1"]);
    assert!(msg.contains("since v0.9.0-m4, newest first"), "{msg}");
}

#[test]
fn dirty_tree_fails_alone_and_untracked_files_only_when_configured() {
    let mut f = Fixture::new();
    f.ready();
    f.write("notes.txt", "scratch\n");
    assert!(
        failed(&f.plan(&Settings::default())).is_empty(),
        "untracked ignored by default"
    );

    f.config = "release:\n  untracked_dirty: true\n".into();
    // A report made with the old config no longer counts: gate again.
    f.gate();
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["clean"]);
    assert!(
        plan.checks[0]
            .details
            .iter()
            .any(|d| d.contains("notes.txt"))
    );

    f.config = "release: {}\n".into();
    f.gate();
    f.write("README.md", "changed\n");
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["clean"]);
    assert!(!plan.ready);
    let (o, out) = f.run(Fixture::execute_args());
    assert_eq!(o, Verdict::Fail);
    assert!(
        out.contains("FAIL clean     1 uncommitted change in the working tree"),
        "{out}"
    );
    assert!(
        out.contains("hint: commit or stash them (git stash), or pass --allow-dirty"),
        "{out}"
    );
    assert!(
        out.contains(
            "refused to tag: clean failed; follow the hints above, or override with --allow-dirty)"
        ),
        "{out}"
    );
    assert!(f.tags().is_empty());

    // The override is named and recorded.
    let (o, out) = f.run_outcome(
        &f.repo,
        Settings {
            allowed: vec![CheckId::Clean],
            ..Fixture::execute_args()
        },
        rollout_core::Format::Human,
    );
    assert_eq!(o.verdict, Verdict::Pass, "{out}");
    assert!(out.contains("warn clean"), "{out}");
    // In the outcome the overridden failure warns and names its flag; the
    // tag was created.
    let clean = &o.checks[0];
    assert_eq!(
        (clean.id.as_str(), clean.status),
        ("clean", rollout_core::Status::Warn)
    );
    assert!(
        clean.summary.ends_with("(overridden by --allow-dirty)"),
        "{clean:?}"
    );
    assert_eq!(o.status(), rollout_core::Status::Warn);
    let create = o.checks.iter().find(|c| c.id == "create").expect("create");
    assert_eq!(create.status, rollout_core::Status::Pass);
    assert_eq!(o.summary, "v0.9.0-m4 is in place locally");
    let msg = f.git(&["tag", "-l", "--format=%(contents)", "v0.9.0-m4"]);
    assert!(
        msg.contains("--allow-dirty: check clean failed: 1 uncommitted change"),
        "{msg}"
    );
}

#[test]
fn other_branch_fails_alone() {
    let f = Fixture::new();
    f.git(&["switch", "-q", "-c", "feature/x"]);
    f.ready();
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["branch"]);
    let c = &plan.checks[1];
    assert_eq!(
        c.summary,
        "HEAD is on feature/x, not on a tag branch (main, release/m4-rollout)"
    );

    f.git(&["switch", "-q", "-c", "release/m4-rollout"]);
    assert!(
        failed(&f.plan(&Settings::default())).is_empty(),
        "staging branch is a tag branch"
    );
}

#[test]
fn detached_head_fails_alone() {
    let f = Fixture::new();
    let head = f.head();
    f.git(&["checkout", "-q", "--detach", &head]);
    f.ready();
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["branch"]);
    assert!(plan.checks[1].summary.starts_with("HEAD is detached at "));
    assert!(plan.message.contains("(detached HEAD)"));
}

#[test]
fn gate_report_must_pass_for_exactly_head() {
    let f = Fixture::new();
    f.sign_all();
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["gate"]);
    assert!(
        plan.checks[2].summary.starts_with("no gate report at "),
        "{}",
        plan.checks[2].summary
    );
    let report_path = f.report_path(&f.repo);
    assert!(
        plan.checks[2]
            .summary
            .contains(&report_path.display().to_string())
    );

    // Gated an older commit.
    f.gate();
    f.commit("docs/notes.md", "x\n", "docs: notes");
    f.sign_all();
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["gate"]);
    assert!(
        plan.checks[2]
            .summary
            .starts_with("gate report is for commit ")
    );
    let plan = f.plan(&Settings {
        allowed: vec![CheckId::Gate],
        ..Default::default()
    });
    assert!(plan.ready);
    assert!(
        plan.message.contains("(not this commit)"),
        "{}",
        plan.message
    );
    assert!(
        plan.message
            .contains("--allow-gate: check gate failed: gate report is for commit")
    );

    // Failed verdict names the failing step.
    f.gate_in(&f.repo, GateVerdict::Fail, false);
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["gate"]);
    assert_eq!(plan.checks[2].details, ["pytest: 812 passed"]);

    // Gated with uncommitted changes.
    f.gate_in(&f.repo, GateVerdict::Pass, true);
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["gate"]);
    assert!(plan.checks[2].summary.contains("uncommitted changes"));

    // A passing run of only some steps does not clear a tag.
    f.gate();
    let path = f.report_path(&f.repo);
    let mut report = plumbing::report::GateReport::load(&path).expect("report");
    report.complete = false;
    report.selection.steps = vec!["pytest".into()];
    report.write(&path).expect("write");
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["gate"]);
    assert!(
        plan.checks[2]
            .summary
            .ends_with("passed, but only a selection ran (--steps pytest)"),
        "{}",
        plan.checks[2].summary
    );

    // Not a report at all.
    std::fs::write(f.report_path(&f.repo), "{}").expect("write");
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["gate"]);
    assert!(
        plan.checks[2].summary.contains("is not a gate report"),
        "{}",
        plan.checks[2].summary
    );

    f.gate();
    assert!(failed(&f.plan(&Settings::default())).is_empty());
}

#[test]
fn missing_signoff_fails_alone() {
    let f = Fixture::new();
    f.gate();
    f.sign_in(&f.repo, "ui", "HEAD");
    f.sign_in(&f.repo, "training", "HEAD");
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["signoff"]);
    let c = &plan.checks[3];
    assert_eq!(c.summary, "1 of 3 teams have no valid sign-off: telemetry");
    assert!(
        c.details[0].starts_with("Telemetry: no sign-off on "),
        "{:?}",
        c.details
    );
    assert!(
        c.hint
            .as_deref()
            .unwrap_or("")
            .contains("cargo xtask signoff telemetry")
    );
}

#[test]
fn unreachable_push_remote_fails_the_name_check_alone() {
    let f = Fixture::new();
    f.ready();
    let missing = f.dir.path().join("no-such-remote.git");
    let plan = f.plan(&Settings {
        push: Some(missing.display().to_string()),
        ..Default::default()
    });
    assert_eq!(failed(&plan), ["tag-name"]);
    assert!(
        plan.checks[4]
            .summary
            .starts_with("cannot list the tags on "),
        "{}",
        plan.checks[4].summary
    );
    assert_eq!(
        plan.checks[4].override_flag, None,
        "a tag name is never overridden"
    );

    f.bare_remote("origin");
    let plan = f.plan(&Settings {
        push: Some("orign".into()),
        ..Default::default()
    });
    assert_eq!(failed(&plan), ["tag-name"]);
    let hint = plan.checks[4].hint.clone().unwrap_or_default();
    assert!(
        hint.ends_with(
            "`orign` is not a configured remote (known: origin), did you mean 'origin'?"
        ),
        "{hint}"
    );
}

#[test]
fn shallow_clone_without_previous_release_fails_history_alone() {
    let f = Fixture::new();
    f.git(&["tag", "v0.8.0"]);
    f.commit("src/townlet/world/grid.py", "GRID = 2\n", "world: grid v2");
    let url = format!("file://{}", f.repo.display());
    let clone = f.dir.path().join("shallow");
    f.git_in(
        f.dir.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &url,
            clone.to_str().expect("utf-8"),
        ],
    );
    f.gate_in(&clone, GateVerdict::Pass, false);
    f.sign_all_in(&clone, "HEAD");

    let plan = f.plan_in(&clone, &Settings::default());
    assert!(plan.shallow);
    assert_eq!(failed(&plan), ["history"]);
    assert!(
        plan.checks[5]
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("git fetch --unshallow")
    );

    // Deepened to the previous release, the rollback section is complete.
    f.git_in(&clone, &["fetch", "-q", "--deepen=1", "--tags"]);
    let plan = f.plan_in(&clone, &Settings::default());
    assert_eq!(status(&plan, "history"), "pass", "{:?}", plan.checks[5]);
    assert_eq!(plan.previous_tag.as_deref(), Some("v0.8.0"));
    assert_eq!(plan.rollback.len(), 1);
}

#[test]
fn json_plan_has_stable_fields() {
    let f = Fixture::new();
    f.ready();
    let (o, out) = f.run_in(&f.repo, Settings::default(), rollout_core::Format::Json);
    assert_eq!(o, Verdict::Pass);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["schema"], 1);
    assert_eq!(v["mode"], "dry-run");
    assert_eq!(v["tag"]["name"], "v0.9.0-m4");
    assert_eq!(v["tag"]["action"], "create");
    assert_eq!(v["tag"]["reason"], "base");
    assert_eq!(v["checks"].as_array().map(Vec::len), Some(6));
    assert_eq!(v["checks"][0]["id"], "clean");
    assert_eq!(v["checks"][0]["override_flag"], "--allow-dirty");
    assert_eq!(v["execution"], serde_json::Value::Null);
    assert_eq!(v["verdict"], "pass");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Townlet v0.9.0-m4\n")
    );

    let (_, out) = f.run_in(&f.repo, Fixture::execute_args(), rollout_core::Format::Json);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["mode"], "execute");
    assert_eq!(v["execution"]["created"], true);
    assert!(v["execution"]["tag_object"].is_string());
}

#[test]
fn no_signoffs_at_all_suggests_fetching_them() {
    let f = Fixture::new();
    f.gate();
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["signoff"]);
    let hint = plan.checks[3].hint.clone().unwrap_or_default();
    assert!(
        hint.starts_with(
            "this checkout has no sign-offs at all (`refs/notes/townlet-signoff` is absent): fetch them with `git fetch origin refs/notes/townlet-signoff:refs/notes/townlet-signoff`, or each team"
        ),
        "{hint}"
    );
}

#[test]
fn a_root_inside_another_repository_is_refused() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.path("examples/sample")).expect("mkdir");
    let err = release::tag::plan(
        &f.sh,
        &f.context_for(&f.path("examples/sample")),
        &Settings::default(),
    )
    .expect_err("refused");
    let err = format!("{err:#}");
    assert!(
        err.contains("is not the top of a git repository: it lies inside"),
        "{err}"
    );
    assert!(err.contains("hint: pass `--root PATH`"), "{err}");
}

#[test]
fn a_gate_report_made_with_another_config_or_root_does_not_count() {
    let mut f = Fixture::new();
    f.ready();
    assert!(failed(&f.plan(&Settings::default())).is_empty());

    // The same file, edited since the gate ran.
    f.config = "release:\n  remote: upstream\n".into();
    let plan = f.plan(&Settings::default());
    assert_eq!(failed(&plan), ["gate"]);
    let gate = plan
        .checks
        .iter()
        .find(|c| c.id == CheckId::Gate)
        .expect("gate check");
    assert!(
        gate.summary.contains("gate ran with another version of"),
        "{}",
        gate.summary
    );

    // A report without the config (an older version) does not count either.
    f.config = "release: {}\n".into();
    f.gate();
    let path = f.report_path(&f.repo);
    let mut report = plumbing::report::GateReport::load(&path).expect("report");
    report.config = None;
    report.write(&path).expect("write");
    let plan = f.plan(&Settings::default());
    let gate = plan
        .checks
        .iter()
        .find(|c| c.id == CheckId::Gate)
        .expect("gate check");
    assert!(
        gate.summary
            .contains("does not record which rollout config"),
        "{}",
        gate.summary
    );

    // Nor a report of another checkout.
    f.gate();
    report = plumbing::report::GateReport::load(&path).expect("report");
    report.root = f.workspace.clone();
    report.write(&path).expect("write");
    let plan = f.plan(&Settings::default());
    let gate = plan
        .checks
        .iter()
        .find(|c| c.id == CheckId::Gate)
        .expect("gate check");
    assert!(
        gate.summary.contains("is for the checkout"),
        "{}",
        gate.summary
    );
}
