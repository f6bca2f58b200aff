//! The human output, as reviewed text. Commit ids are stable (fixed dates in
//! the fixture); times and temp paths are filtered.

use release::tag::Settings;

use crate::support::Fixture;

fn scrub(f: &Fixture, out: &str) -> String {
    out.replace(&f.dir.path().display().to_string(), "[tmp]")
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        filters => vec![
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[time]"),
            // The outputs' directory names the temp root's hash.
            (r"target/rollout/([a-z0-9_-]+)-[0-9a-f]{8}/", "target/rollout/$1-[root id]/"),
        ],
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

fn scenario() -> Fixture {
    let f = Fixture::new();
    f.git(&["tag", "-a", "-m", "previous", "v0.8.0"]);
    f.commit(
        "src/townlet/world/grid.py",
        "GRID = 2\n",
        "world: facade grid",
    );
    f.commit(
        "src/townlet/telemetry/publisher.py",
        "PUB = 2\n",
        "telemetry: facade publisher",
    );
    f.commit("docs/guide.md", "guide\n", "docs: guide");
    f
}

#[test]
fn dry_run_not_ready() {
    let f = scenario();
    f.git(&["tag", "v0.9.0-m4"]);
    f.sign_in(&f.repo, "ui", "HEAD");
    f.write("README.md", "edited\n");
    let (_, out) = f.run(Settings::default());
    snapshot("dry_run_not_ready", &scrub(&f, &out));
}

#[test]
fn dry_run_ready() {
    let f = scenario();
    f.ready();
    let (_, out) = f.run(Settings::default());
    snapshot("dry_run_ready", &scrub(&f, &out));
}

#[test]
fn failed_push() {
    let f = scenario();
    let bare = f.bare_remote("origin");
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'tags are frozen today' >&2\nexit 1\n",
    )
    .expect("hook");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    f.ready();
    let (_, out) = f.run(Settings {
        push: Some("origin".into()),
        ..Fixture::execute_args()
    });
    snapshot("failed_push", &scrub(&f, &out));
}
