//! Choosing the tag name against real local and remote tags.

use release::tag::{Action, Reason, Settings};

use crate::support::{Fixture, failed};

#[test]
fn next_after_the_highest_with_gaps_lightweight_and_annotated() {
    let f = Fixture::new();
    let first = f.head();
    f.git(&["tag", "v0.9.0-m4", &first]);
    f.git(&["tag", "-a", "-m", "rc", "v0.9.0-m4.3", &first]);
    f.git(&["tag", "v0.9.0-m4.10-not-in-series", &first]);
    f.commit("README.md", "two\n", "docs: readme");
    f.ready();
    let plan = f.plan(&Settings::default());
    assert_eq!(plan.tag.name, "v0.9.0-m4.4");
    assert_eq!(plan.tag.reason, Reason::Next);
    assert_eq!(plan.tag.taken, ["v0.9.0-m4", "v0.9.0-m4.3"]);
}

#[test]
fn names_only_on_the_remote_count() {
    let f = Fixture::new();
    f.bare_remote("origin");
    f.git(&["push", "-q", "origin", "main"]);
    f.git(&["tag", "-a", "-m", "one", "v0.9.0-m4"]);
    f.git(&["tag", "v0.9.0-m4.1"]);
    f.git(&["push", "-q", "origin", "--tags"]);
    f.git(&["tag", "-d", "v0.9.0-m4", "v0.9.0-m4.1"]);
    f.commit("README.md", "two\n", "docs: readme");
    f.ready();

    // Without --push the configured remote (origin) still counts.
    let plan = f.plan(&Settings::default());
    assert_eq!(plan.tag.name, "v0.9.0-m4.2");
    assert!(failed(&plan).is_empty(), "{:?}", plan.checks);
    let plan = f.plan(&Settings {
        push: Some("origin".into()),
        ..Default::default()
    });
    assert_eq!(plan.tag.name, "v0.9.0-m4.2");
    assert!(
        plan.checks[4]
            .summary
            .contains("free locally and on `origin`")
    );
}

#[test]
fn tags_of_others_at_head_are_not_reused() {
    let f = Fixture::new();
    f.ready();
    f.git(&["tag", "v0.9.0-m4"]);
    f.git(&["tag", "-a", "-m", "hand-made", "v0.9.0-m4.1"]);
    let plan = f.plan(&Settings::default());
    assert_eq!(plan.tag.action, Action::Create);
    assert_eq!(plan.tag.name, "v0.9.0-m4.2");
}

#[test]
fn explicit_name_never_moves_an_existing_tag() {
    let f = Fixture::new();
    f.ready();
    f.git(&["tag", "v0.9.0-m4"]);
    let err = f.run_err(Settings {
        name: Some("v0.9.0-m4".into()),
        ..Fixture::execute_args()
    });
    assert!(
        err.contains("tag `v0.9.0-m4` already exists locally"),
        "{err}"
    );
    assert!(err.contains("never moved or replaced"), "{err}");
    assert!(
        err.contains("hint: leave out `--name` to take the next free name (v0.9.0-m4.1)"),
        "{err}"
    );

    let err = f.run_err(Settings {
        name: Some("v0.9 m4".into()),
        ..Default::default()
    });
    assert!(err.contains("is not a valid tag name"), "{err}");

    let plan = f.plan(&Settings {
        name: Some("townlet-m4-final".into()),
        ..Default::default()
    });
    assert_eq!(plan.tag.name, "townlet-m4-final");
    assert_eq!(plan.tag.reason, Reason::Explicit);
}

#[test]
fn explicit_name_taken_on_the_remote_is_refused() {
    let f = Fixture::new();
    f.bare_remote("origin");
    f.git(&["tag", "v1.0.0"]);
    f.git(&["push", "-q", "origin", "v1.0.0"]);
    f.git(&["tag", "-d", "v1.0.0"]);
    let err = f.run_err(Settings {
        name: Some("v1.0.0".into()),
        ..Default::default()
    });
    assert!(
        err.contains("tag `v1.0.0` already exists on `origin`"),
        "{err}"
    );
}

#[test]
fn names_that_shadow_refs_are_refused_and_nothing_is_tagged() {
    let f = Fixture::new();
    f.bare_remote("origin");
    f.git(&["push", "-q", "origin", "main"]);
    f.git(&["branch", "release/m4"]);
    f.ready();
    let cases = [
        ("HEAD", "would shadow git's `HEAD`"),
        ("FETCH_HEAD", "would shadow git's `FETCH_HEAD`"),
        ("main", "is the name of the branch `main`"),
        ("release/m4", "is the name of the branch `release/m4`"),
        ("origin/main", "is the name of the branch `origin/main`"),
        ("refs/heads/main", "is a full ref path"),
        ("bad..name", "is not a valid tag name"),
        ("trailing.lock", "is not a valid tag name"),
        ("with\u{7f}del", "is not a valid tag name"),
    ];
    for (name, expected) in cases {
        let err = f.run_err(Settings {
            name: Some(name.into()),
            ..Fixture::execute_args()
        });
        assert!(err.contains(expected), "--name {name:?}: {err}");
        assert!(err.contains("hint: "), "--name {name:?}: {err}");
    }
    assert_eq!(f.git(&["tag", "--list"]).trim(), "", "no tag was created");
}
