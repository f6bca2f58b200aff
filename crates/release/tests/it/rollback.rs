//! The rollback section lists the right commits, and its commands work.

use release::tag::Settings;

use crate::support::Fixture;

#[test]
fn lists_facade_commits_since_the_previous_release_newest_first() {
    let f = Fixture::new();
    let before = f.commit(
        "src/townlet/world/grid.py",
        "GRID = 0\n",
        "world: before the release",
    );
    f.git(&["tag", "-a", "-m", "previous", "v0.8.0"]);
    let world = f.commit(
        "src/townlet/world/grid.py",
        "GRID = 2\n",
        "world: facade grid",
    );
    f.commit("docs/guide.md", "guide\n", "docs: not facade");
    // A side branch merged in: its facade commit is listed, the merge is not.
    f.git(&["switch", "-q", "-c", "side"]);
    let side = f.commit(
        "src/townlet/telemetry/publisher.py",
        "PUB = 2\n",
        "telemetry: facade publisher",
    );
    f.git(&["switch", "-q", "main"]);
    let tele = f.commit(
        "src/townlet/telemetry/transport.py",
        "T = 1\n",
        "telemetry: transport",
    );
    f.git(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    f.commit(
        "src/townlet/policy/agent.py",
        "A = 1\n",
        "policy: outside the facade",
    );
    f.ready();

    let plan = f.plan(&Settings::default());
    assert_eq!(plan.previous_tag.as_deref(), Some("v0.8.0"));
    let listed: Vec<&str> = plan.rollback.iter().map(|c| c.commit.as_str()).collect();
    assert_eq!(listed.len(), 3, "{:?}", plan.rollback);
    assert!(!listed.contains(&before.as_str()));
    assert_eq!(listed[2], world, "oldest last");
    assert!(listed.contains(&side.as_str()) && listed.contains(&tele.as_str()));
    for c in &plan.rollback {
        assert_eq!(c.revert, format!("git revert --no-edit {}", c.commit));
        assert!(plan.message.contains(&format!("    {}\n", c.revert)));
    }
    let all = format!("git revert --no-edit {}", listed.join(" "));
    assert!(plan.message.contains(&all), "{}", plan.message);
    assert!(
        plan.message
            .contains("Consumers can pin the previous release instead: v0.8.0")
    );

    // Running the one-line command restores the facade paths of v0.8.0.
    let mut args: Vec<&str> = vec!["revert", "--no-edit"];
    args.extend(listed.iter().copied());
    f.git(&args);
    let diff = f.git(&[
        "diff",
        "--name-only",
        "v0.8.0",
        "HEAD",
        "--",
        "src/townlet/world",
        "src/townlet/telemetry",
    ]);
    assert_eq!(diff, "", "facade back to v0.8.0");
}

#[test]
fn a_tag_at_head_is_not_the_previous_release() {
    let f = Fixture::new();
    f.git(&["tag", "v0.8.0"]);
    let world = f.commit("src/townlet/world/grid.py", "GRID = 3\n", "world: change");
    f.git(&["tag", "v0.9.0-rc"]);
    f.ready();
    let plan = f.plan(&Settings::default());
    assert_eq!(plan.previous_tag.as_deref(), Some("v0.8.0"));
    assert_eq!(plan.rollback.len(), 1);
    assert_eq!(plan.rollback[0].commit, world);
}

#[test]
fn without_an_earlier_release_every_facade_commit_is_listed() {
    let f = Fixture::new();
    f.commit("README.md", "x\n", "docs");
    f.ready();
    let plan = f.plan(&Settings::default());
    assert_eq!(plan.previous_tag, None);
    assert_eq!(
        plan.rollback.len(),
        1,
        "the initial import touches the facade"
    );
    assert!(
        plan.message
            .contains("since the start of history (no earlier release tag)")
    );
}

#[test]
fn release_tags_glob_chooses_what_counts_as_the_previous_release() {
    let mut f = Fixture::new();
    f.git(&["tag", "v0.8.0"]);
    f.commit("src/townlet/world/grid.py", "GRID = 2\n", "world: m4");
    f.ready();
    f.run(Fixture::execute_args());
    f.commit(
        "src/townlet/telemetry/publisher.py",
        "PUB = 2\n",
        "telemetry: m4.1",
    );
    f.ready();
    let plan = f.plan(&Settings::default());
    assert_eq!(plan.tag.name, "v0.9.0-m4.1");
    assert_eq!(plan.previous_tag.as_deref(), Some("v0.9.0-m4"));
    assert_eq!(plan.rollback.len(), 1);

    f.config = "release:\n  release_tags: \"v0.8.*\"\n".into();
    let plan = f.plan(&Settings::default());
    assert_eq!(plan.previous_tag.as_deref(), Some("v0.8.0"));
    assert_eq!(plan.rollback.len(), 2);
}
