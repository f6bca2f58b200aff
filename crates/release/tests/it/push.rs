//! Pushing, failing pushes, reruns and races.

use release::tag::{Action, Settings};
use rollout_core::Verdict;

use crate::support::Fixture;

fn push_args(remote: &str) -> Settings {
    Settings {
        push: Some(remote.into()),
        ..Fixture::execute_args()
    }
}

fn remote_tags(f: &Fixture, bare: &std::path::Path) -> String {
    f.git_in(
        bare,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/tags",
        ],
    )
}

#[test]
fn pushes_only_the_tag_to_a_bare_remote() {
    let f = Fixture::new();
    let bare = f.bare_remote("origin");
    // An unpushed annotated tag that `push.followTags` would carry along.
    f.git(&["tag", "-a", "-m", "not for the remote", "local-only"]);
    f.git(&["config", "push.followTags", "true"]);
    f.commit("README.md", "two\n", "docs: readme");
    f.ready();
    let (o, out) = f.run(push_args("origin"));
    assert_eq!(o, Verdict::Pass, "{out}");
    assert!(out.contains("pushed v0.9.0-m4 to `origin`"), "{out}");
    let object = f.git(&["rev-parse", "refs/tags/v0.9.0-m4"]);
    assert_eq!(
        remote_tags(&f, &bare),
        format!("refs/tags/v0.9.0-m4 {object}")
    );
    assert_eq!(
        f.git_in(&bare, &["for-each-ref", "refs/heads"]),
        "",
        "no branch pushed"
    );

    // A rerun finds it in place and does nothing.
    let (o, out) = f.run(push_args("origin"));
    assert_eq!(o, Verdict::Pass, "{out}");
    assert!(out.contains("`origin` already has v0.9.0-m4"), "{out}");
    assert_eq!(f.tags(), ["local-only", "v0.9.0-m4"]);
}

#[test]
fn failed_push_keeps_the_tag_and_a_rerun_recovers() {
    let f = Fixture::new();
    let bare = f.bare_remote("origin");
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'tags are frozen today' >&2\nexit 1\n",
    )
    .expect("hook");
    set_executable(&hook);
    f.ready();

    let (outcome, out) = f.run_outcome(&f.repo, push_args("origin"), rollout_core::Format::Human);
    assert_eq!(outcome.verdict, Verdict::Fail, "{out}");
    assert!(out.contains("created annotated tag v0.9.0-m4"), "{out}");
    // The outcome: `create` passed, `push` failed with git's words and the
    // retry.
    let steps: Vec<(&str, rollout_core::Status)> = outcome.checks[6..]
        .iter()
        .map(|c| (c.id.as_str(), c.status))
        .collect();
    assert_eq!(
        steps,
        [
            ("create", rollout_core::Status::Pass),
            ("push", rollout_core::Status::Fail)
        ]
    );
    assert_eq!(
        outcome.checks[7].details[0],
        "git: remote: tags are frozen today"
    );
    assert!(
        outcome.checks[7]
            .details
            .last()
            .is_some_and(|d| d.contains("retry with `git push origin refs/tags/v0.9.0-m4`")),
        "{:?}",
        outcome.checks[7]
    );
    assert_eq!(outcome.summary, "v0.9.0-m4 not completed");
    assert!(
        out.contains(
            "FAIL push      pushing v0.9.0-m4 to `origin` failed; `origin` does not have v0.9.0-m4; the local tag is kept"
        ),
        "{out}"
    );
    assert!(
        out.contains("     git: remote: tags are frozen today\n"),
        "{out}"
    );
    assert!(
        out.contains("retry with `git push origin refs/tags/v0.9.0-m4`"),
        "{out}"
    );
    assert_eq!(f.tags(), ["v0.9.0-m4"]);
    assert_eq!(remote_tags(&f, &bare), "");

    // The plan of a rerun reuses the tag instead of cutting v0.9.0-m4.1.
    let plan = f.plan(&push_args("origin"));
    assert_eq!(plan.tag.action, Action::Reuse);
    assert_eq!(plan.tag.name, "v0.9.0-m4");

    std::fs::remove_file(&hook).expect("remove hook");
    let (o, out) = f.run(push_args("origin"));
    assert_eq!(o, Verdict::Pass, "{out}");
    assert!(
        out.contains("reused tag v0.9.0-m4 from an earlier run"),
        "{out}"
    );
    assert!(out.contains("pushed v0.9.0-m4 to `origin`"), "{out}");
    assert_eq!(f.tags(), ["v0.9.0-m4"], "no duplicate tag");
    assert!(remote_tags(&f, &bare).starts_with("refs/tags/v0.9.0-m4 "));
}

#[test]
fn tag_created_locally_between_plan_and_execute() {
    let f = Fixture::new();
    f.ready();
    let plan = f.plan(&Fixture::execute_args());
    assert_eq!(plan.tag.name, "v0.9.0-m4");
    f.git(&["tag", "v0.9.0-m4"]);
    let ex = f.execute(&plan);
    assert!(!ex.ok());
    assert!(!ex.created);
    assert_eq!(
        ex.error.as_deref(),
        Some("git refused to create tag `v0.9.0-m4`")
    );
    let said = ex.git_stderr.unwrap_or_default();
    assert!(said.contains("already exists"), "{said}");
    let hint = ex.hint.unwrap_or_default();
    assert!(
        hint.contains("created by someone else after the plan"),
        "{hint}"
    );
    assert!(
        hint.contains("run the command again to take the next free name"),
        "{hint}"
    );
    // The other tag is untouched and a new plan moves on.
    assert_eq!(f.git(&["cat-file", "-t", "v0.9.0-m4"]), "commit");
    assert_eq!(f.plan(&Settings::default()).tag.name, "v0.9.0-m4.1");
}

#[test]
fn tag_pushed_by_someone_else_between_plan_and_execute() {
    let f = Fixture::new();
    let bare = f.bare_remote("origin");
    f.git(&["push", "-q", "origin", "main"]);
    f.ready();
    let plan = f.plan(&push_args("origin"));
    assert!(plan.ready, "{:?}", plan.checks);

    // Someone else cuts the same name from their clone.
    let other = f.dir.path().join("other");
    f.git_in(
        f.dir.path(),
        &[
            "clone",
            "-q",
            bare.to_str().expect("utf-8"),
            other.to_str().expect("utf-8"),
        ],
    );
    f.git_in(&other, &["tag", "-a", "-m", "theirs", "v0.9.0-m4"]);
    f.git_in(&other, &["push", "-q", "origin", "v0.9.0-m4"]);
    let theirs = f.git_in(&other, &["rev-parse", "refs/tags/v0.9.0-m4"]);

    let ex = f.execute(&plan);
    assert!(!ex.ok());
    assert!(ex.created);
    let push = ex.push.clone().expect("push attempted");
    assert_eq!(push.remote_has_tag, Some(true));
    assert!(
        push.git_stderr
            .unwrap_or_default()
            .contains("already exists")
    );
    let hint = ex.hint.unwrap_or_default();
    assert!(hint.contains("someone else pushed v0.9.0-m4"), "{hint}");
    assert!(hint.contains("git tag -d v0.9.0-m4"), "{hint}");
    // Never forced: theirs stays.
    assert_eq!(
        remote_tags(&f, &bare),
        format!("refs/tags/v0.9.0-m4 {theirs}")
    );

    // A rerun notices instead of pushing again.
    let plan = f.plan(&push_args("origin"));
    assert_eq!(plan.tag.action, Action::Reuse);
    assert!(!plan.ready);
    assert!(plan.checks[4].summary.contains("has a different v0.9.0-m4"));

    // Following the hint leads to the next name.
    f.git(&["tag", "-d", "v0.9.0-m4"]);
    let (o, out) = f.run(push_args("origin"));
    assert_eq!(o, Verdict::Pass, "{out}");
    assert!(out.contains("pushed v0.9.0-m4.1 to `origin`"), "{out}");
}

#[test]
fn sign_without_a_key_fails_clearly() {
    let f = Fixture::new();
    f.ready();
    let (o, out) = f.run_outcome(
        &f.repo,
        Settings {
            sign: true,
            ..Fixture::execute_args()
        },
        rollout_core::Format::Human,
    );
    assert_eq!(o.verdict, Verdict::Fail, "{out}");
    // The outcome's failing check is `create`, with git's words and the hint.
    let failing: Vec<&str> = o.not_passing().map(|c| c.id.as_str()).collect();
    assert_eq!(failing, ["create"]);
    let create = o.not_passing().next().expect("create");
    assert!(
        create
            .details
            .last()
            .is_some_and(|d| d.starts_with("hint: signing failed")),
        "{create:?}"
    );
    assert!(
        out.contains("git refused to create tag `v0.9.0-m4`"),
        "{out}"
    );
    assert!(
        out.contains("hint: signing failed: set up a key for git"),
        "{out}"
    );
    assert!(f.tags().is_empty());
}

#[cfg(unix)]
fn set_executable(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn remote_gone_between_plan_and_push_says_it_cannot_tell() {
    let f = Fixture::new();
    let bare = f.bare_remote("origin");
    f.ready();
    let plan = f.plan(&push_args("origin"));
    assert!(plan.ready, "{:?}", plan.checks);
    std::fs::rename(&bare, f.dir.path().join("moved.git")).expect("move remote");

    let ex = f.execute(&plan);
    assert!(!ex.ok());
    assert!(ex.created, "the local tag is kept");
    let push = ex.push.clone().expect("push attempted");
    assert_eq!(push.remote_has_tag, None);
    assert_eq!(
        push.error.as_deref(),
        Some("pushing v0.9.0-m4 to `origin` failed")
    );
    assert_eq!(
        ex.retry.as_deref(),
        Some("git push origin refs/tags/v0.9.0-m4")
    );
    let hint = ex.hint.unwrap_or_default();
    assert!(
        hint.starts_with("check with `git ls-remote --tags origin v0.9.0-m4`"),
        "{hint}"
    );
    assert_eq!(f.tags(), ["v0.9.0-m4"]);
}

#[test]
fn a_push_that_hangs_is_stopped_at_the_network_timeout() {
    let mut f = Fixture::new();
    f.config = "release:\n  network_timeout: 2s\n".into();
    let bare = f.bare_remote("origin");
    // The remote accepts the connection and then never answers.
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\nsleep 60\n").expect("hook");
    set_executable(&hook);
    f.ready();

    let started = std::time::Instant::now();
    let (o, out) = f.run(push_args("origin"));
    assert_eq!(o, Verdict::Fail, "{out}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the push was not stopped"
    );
    assert!(
        out.contains("did not finish within 2s; it was stopped (release.network_timeout)"),
        "{out}"
    );
    assert!(
        out.contains("`origin` does not have v0.9.0-m4; the local tag is kept"),
        "{out}"
    );
    assert!(
        out.contains("retry with `git push origin refs/tags/v0.9.0-m4`"),
        "{out}"
    );
    assert_eq!(f.tags(), ["v0.9.0-m4"]);
}
