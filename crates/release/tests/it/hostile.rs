//! Values and repositories that try to make git do something else: an
//! option smuggled in as a remote, a hook that never returns, a sign-off
//! ref that is not a notes tree.

use std::time::{Duration, Instant};

use release::signoff::{self, Signing};
use release::tag::{self, Settings};

use crate::support::Fixture;

/// What `signoff` with `settings` fails with, as one message.
fn signoff_error(f: &Fixture, settings: signoff::Settings, why: &str) -> String {
    let err = signoff::run_with(&f.sh, &f.ctx(), settings).expect_err(why);
    format!("{err:#}")
}

fn recording(team: &str) -> signoff::Settings {
    signoff::Settings::Record(Signing {
        team: team.into(),
        ..Default::default()
    })
}

#[test]
fn a_push_value_that_is_an_option_never_reaches_git() {
    let f = Fixture::new();
    f.bare_remote("origin");
    f.ready();
    let marker = f.dir.path().join("pwned");
    let hostile = format!("--upload-pack=touch {}", marker.display());
    let err = tag::plan(
        &f.sh,
        &f.ctx(),
        &Settings {
            push: Some(hostile.clone()),
            ..Default::default()
        },
    )
    .expect_err("an option as `--push` is refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("`--push` `--upload-pack=touch")
            && message.contains("git would read it as an option"),
        "{message}"
    );
    assert!(!marker.exists(), "git ran the smuggled upload-pack");

    // The same value through the CLI's run (dry run and --execute) changes
    // nothing either.
    for execute in [false, true] {
        let got = tag::run_with(
            &f.sh,
            &f.ctx(),
            Settings {
                push: Some(hostile.clone()),
                execute,
                ..Default::default()
            },
        );
        assert!(got.is_err(), "execute={execute}: refused");
        assert!(!marker.exists(), "execute={execute}: git ran it");
    }
    assert_eq!(f.git(&["tag", "--list"]), "", "no tag was created");
}

#[test]
fn a_hook_that_hangs_is_stopped_at_the_deadline_and_named() {
    let mut f = Fixture::new();
    f.config = "release:\n  git_timeout: 2s\n".into();
    let hook = f.path(".git/hooks/reference-transaction");
    let pid_file = f.dir.path().join("hook.pid");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nexec sleep 300\n",
            pid_file.display()
        ),
    )
    .expect("write hook");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let started = Instant::now();
    let message = signoff_error(&f, recording("ui"), "a hung hook makes signoff fail");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(
        message.contains("did not finish within 2s")
            && message.contains(".git/hooks/reference-transaction")
            && message.contains("release.git_timeout"),
        "{message}"
    );
    let pid = std::fs::read_to_string(&pid_file).expect("the hook ran");
    assert!(
        plumbing::process::gone_within(&pid, Duration::from_secs(5)),
        "the hook's sleep outlived the deadline"
    );

    // `tag --execute` creates a tag through the same hook.
    f.config = "release:\n  git_timeout: 2s\n".into();
    std::fs::remove_file(&hook).expect("remove hook");
    f.ready();
    let plan = f.plan(&Settings::default());
    std::fs::write(&hook, "#!/bin/sh\nexec sleep 300\n").expect("write hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let started = Instant::now();
    let err =
        tag::execute(&f.sh, &f.ctx(), &plan).expect_err("a hung hook makes tag --execute fail");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        format!("{err:#}").contains(".git/hooks/reference-transaction"),
        "{err:#}"
    );
}

#[test]
fn a_signoff_ref_that_points_at_a_blob_is_unreadable_not_empty() {
    let f = Fixture::new();
    let blob = {
        let path = f.dir.path().join("blob.txt");
        std::fs::write(&path, "not a notes tree\n").expect("write");
        f.git(&["hash-object", "-w", path.to_str().expect("utf-8")])
    };
    f.git(&["update-ref", "refs/notes/townlet-signoff", &blob]);
    let status = signoff::Settings::Status { rev: "HEAD".into() };
    let message = signoff_error(&f, status, "an unreadable sign-off record is an error");
    assert!(
        message.contains("`refs/notes/townlet-signoff` points at a blob")
            && message.contains("cannot be read"),
        "{message}"
    );
    // Recording on top of it would bury it: refused the same way.
    let message = signoff_error(&f, recording("ui"), "recording is refused too");
    assert!(message.contains("points at a blob"), "{message}");
}

#[test]
fn a_signoff_shows_its_signer_escaped() {
    let f = Fixture::new();
    // `--by` (or git's user.name) with a bidi override reached the
    // terminal raw in the recorded line.
    let mut ctx = f.ctx();
    let (out, captured) = rollout_core::Out::memory();
    ctx.out = out;
    let outcome = signoff::run_with(
        &f.sh,
        &ctx,
        signoff::Settings::Record(Signing {
            team: "ui".into(),
            by: Some("Eve\u{202e}gro.elpmaxe <eve@example.org>".into()),
            ..Default::default()
        }),
    )
    .expect("recorded");
    // The outcome keeps the value as it is; its reader escapes it.
    assert!(outcome.summary.contains('\u{202e}'), "{outcome:?}");
    let text = captured.text();
    assert!(!text.contains('\u{202e}'), "{text:?}");
    assert!(
        text.contains("by Eve\\u{202e}gro.elpmaxe <eve@example.org>"),
        "{text}"
    );
}

#[test]
fn a_signoff_that_would_not_count_is_refused_before_it_is_written() {
    // `--by` or `--note` with control characters were recorded, then
    // `--status` and `tag` skipped the line as "not a sign-off".
    let f = Fixture::new();
    for (by, note) in [
        (Some("Eve\u{1b}[31m <eve@example.org>"), None),
        (None, Some("checked\r\nall")),
    ] {
        let err = signoff::run_with(
            &f.sh,
            &f.ctx(),
            signoff::Settings::Record(Signing {
                team: "ui".into(),
                by: by.map(str::to_string),
                note: note.map(str::to_string),
                ..Default::default()
            }),
        )
        .expect_err("refused");
        let message = format!("{err:#}");
        assert!(
            message.contains("this sign-off would not count, so it is not recorded"),
            "{message}"
        );
    }
    assert_eq!(
        f.git(&["for-each-ref", "refs/notes/"]),
        "",
        "nothing was written"
    );
}

#[test]
fn git_dir_from_the_environment_does_not_redirect_a_signoff() {
    // Inside a git hook (or a shell set up for another repository) GIT_DIR
    // and GIT_WORK_TREE are set: the sign-off went to that repository.
    let f = Fixture::new();
    let other = f.dir.path().join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    {
        let sh = &f.sh;
        let _dir = sh.push_dir(&other);
        xshell::cmd!(sh, "git init -q -b main").run().expect("init");
        xshell::cmd!(sh, "git commit -q --allow-empty -m other")
            .run()
            .expect("commit");
    }
    let hooked = crate::support::shell(f.dir.path());
    hooked.set_var("GIT_DIR", other.join(".git"));
    hooked.set_var("GIT_WORK_TREE", &other);
    signoff::run_with(&hooked, &f.ctx(), recording("ui")).expect("recorded");
    let sh = &f.sh;
    let notes_in = |repo: &std::path::Path| {
        let _dir = sh.push_dir(repo);
        xshell::cmd!(sh, "git notes --ref=refs/notes/townlet-signoff list")
            .ignore_status()
            .read()
            .expect("notes list")
    };
    assert_eq!(
        notes_in(&other),
        "",
        "the note went to GIT_DIR's repository"
    );
    assert_ne!(notes_in(&f.repo), "", "the note is in the checkout");
}

#[test]
fn a_tag_name_too_long_for_a_ref_file_is_invalid_at_once() {
    // git check-ref-format accepts it; `git tag` cannot create the file, so
    // the dry run planned it and `--execute` failed (exit 1, not 2).
    let f = Fixture::new();
    let err = tag::plan(
        &f.sh,
        &f.ctx(),
        &Settings {
            name: Some("v".repeat(100_000)),
            ..Default::default()
        },
    )
    .expect_err("refused");
    assert!(
        format!("{err:#}").contains("is not a valid tag name"),
        "{err:#}"
    );
}
