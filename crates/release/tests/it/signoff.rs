//! Recording sign-offs, their validity on ancestors, and their travel.

use release::signoff::{self, Settings, Signing, TeamState};
use rollout_core::{Format, Out, Verdict};

use crate::support::{Fixture, failed};

/// `signoff` with `settings` in `ctx`: its outcome and what it printed.
fn run(
    f: &Fixture,
    mut ctx: rollout_config::Context,
    settings: Settings,
) -> (rollout_core::Outcome, String) {
    let (out, captured) = Out::memory();
    ctx.out = out;
    let o = signoff::run_with(&f.sh, &ctx, settings).expect("signoff runs");
    (o, captured.text())
}

fn status(f: &Fixture, rev: &str) -> (Verdict, String) {
    let (o, text) = run(f, f.ctx(), Settings::Status { rev: rev.into() });
    (o.verdict, text)
}

#[test]
fn records_with_checklist_and_lists_status() {
    let f = Fixture::new();
    let mut ctx = f.ctx();
    ctx.format = Format::Json;
    let (o, out) = run(
        &f,
        ctx,
        Settings::Record(Signing {
            team: "telemetry".into(),
            by: Some("Tess Telemetry <tess@example.org>".into()),
            note: Some("TLS smoke green".into()),
            ..Default::default()
        }),
    );
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(o.checks.len(), 1);
    assert_eq!(o.checks[0].id, "telemetry");
    assert!(
        o.summary.starts_with("Telemetry (telemetry) signed off "),
        "{}",
        o.summary
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["team"], "telemetry");
    assert_eq!(v["commit"], f.head());
    assert_eq!(v["notes_ref"], "refs/notes/townlet-signoff");
    assert!(v["checklist"][0].as_str().unwrap_or("").contains("TLS"));

    // Human output shows the checklist.
    let (_, text) = run(
        &f,
        f.ctx(),
        Settings::Record(Signing {
            team: "ui".into(),
            ..Default::default()
        }),
    );
    assert!(text.contains("UI (ui) signed off"), "{text}");
    assert!(
        text.contains("by Release Tester <tester@example.org>"),
        "{text}"
    );
    assert!(
        text.contains("checklist confirmed by this sign-off:"),
        "{text}"
    );

    // Stored as reviewable JSON lines in the notes ref.
    let note = f.git(&["notes", "--ref=refs/notes/townlet-signoff", "show", "HEAD"]);
    assert_eq!(note.lines().count(), 2);
    assert!(note.contains(r#""note":"TLS smoke green""#), "{note}");

    let (o, text) = run(&f, f.ctx(), Settings::Status { rev: "HEAD".into() });
    assert_eq!(o.verdict, Verdict::Fail);
    assert_eq!(o.summary, "1 of 3 teams have no valid sign-off");
    let failing: Vec<&str> = o.not_passing().map(|c| c.id.as_str()).collect();
    assert_eq!(failing, ["training"]);
    assert!(
        text.contains("pass telemetry  Telemetry: Tess Telemetry <tess@example.org> at "),
        "{text}"
    );
    assert!(
        text.contains("FAIL training   Training/Automation: no sign-off on "),
        "{text}"
    );
    assert!(
        text.contains("hint: cargo xtask signoff training --commit "),
        "{text}"
    );
    assert!(
        text.contains("verdict: FAIL (1 of 3 teams have no valid sign-off)"),
        "{text}"
    );
}

#[test]
fn unknown_team_and_bad_commit_are_errors() {
    let f = Fixture::new();
    let run = |team: &str, commit: Option<&str>| {
        let e = signoff::run_with(
            &f.sh,
            &f.ctx(),
            Settings::Record(Signing {
                team: team.into(),
                commit: commit.map(str::to_string),
                ..Default::default()
            }),
        )
        .expect_err("refused");
        format!("{e:#}")
    };
    let e = run("telemetri", None);
    assert!(
        e.contains("unknown team 'telemetri', did you mean 'telemetry'?"),
        "{e}"
    );
    assert!(
        e.contains("hint: teams are listed in `release.signoff_teams`"),
        "{e}"
    );
    let e = run("ui", Some("no-such-rev"));
    assert!(e.contains("`no-such-rev` does not name a commit"), "{e}");
}

#[test]
fn ancestor_signoff_holds_until_a_high_risk_path_changes() {
    let f = Fixture::new();
    let signed = f.head();
    f.sign_all();
    // Telemetry is a facade path but not high-risk (default: src/townlet/world).
    f.commit(
        "src/townlet/telemetry/publisher.py",
        "PUB = 2\n",
        "telemetry: tweak",
    );
    f.gate();
    let plan = f.plan(&release::tag::Settings::default());
    assert!(failed(&plan).is_empty(), "{:?}", plan.checks);
    assert!(
        plan.message.contains(&format!(
            "on ancestor {} (1 commit back, no high-risk change since)",
            &signed[..12]
        )),
        "{}",
        plan.message
    );

    f.commit("src/townlet/world/grid.py", "GRID = 9\n", "world: risky");
    f.commit("README.md", "later\n", "docs: later");
    f.gate();
    let plan = f.plan(&release::tag::Settings::default());
    assert_eq!(failed(&plan), ["signoff"]);
    assert!(
        plan.checks[3].details[0]
            .contains("but high-risk paths changed since: src/townlet/world/grid.py"),
        "{:?}",
        plan.checks[3].details
    );
    let head = f.head();
    let teams = signoff::evaluate(
        &plumbing::git::Git::open(&f.sh, &f.repo).expect("git"),
        &f.ctx().settings.config.release,
        &head,
    )
    .expect("evaluate");
    assert!(teams.iter().all(|t| t.state == TeamState::Stale));

    let mut ctx = f.ctx();
    ctx.format = Format::Json;
    let (o, out) = run(&f, ctx, Settings::Status { rev: "HEAD".into() });
    assert_eq!(o.verdict, Verdict::Fail);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["commit"], head);
    assert_eq!(v["teams"][0]["state"], "stale");
    assert_eq!(v["teams"][0]["signoff"]["commit"], signed);
    assert_eq!(v["teams"][0]["signoff"]["distance"], 3);
    assert_eq!(v["teams"][0]["changed"][0], "src/townlet/world/grid.py");
    assert_eq!(v["verdict"], "fail");

    // A new sign-off on the risky commit's descendant counts again.
    f.sign_all();
    assert!(failed(&f.plan(&release::tag::Settings::default())).is_empty());
}

#[test]
fn signoffs_travel_with_push_and_fetch_of_the_notes_ref() {
    let f = Fixture::new();
    let bare = f.bare_remote("origin");
    f.sign_all();
    f.git(&["push", "-q", "origin", "main", "refs/notes/townlet-signoff"]);

    let clone = f.dir.path().join("clone");
    f.git_in(
        f.dir.path(),
        &[
            "clone",
            "-q",
            bare.to_str().expect("utf-8"),
            clone.to_str().expect("utf-8"),
        ],
    );
    f.git_in(
        &clone,
        &[
            "fetch",
            "-q",
            "origin",
            "refs/notes/townlet-signoff:refs/notes/townlet-signoff",
        ],
    );
    let teams = signoff::evaluate(
        &plumbing::git::Git::open(&f.sh, &clone).expect("git"),
        &f.ctx().settings.config.release,
        &f.head(),
    )
    .expect("evaluate");
    assert!(
        teams.iter().all(|t| t.state == TeamState::Valid),
        "{teams:?}"
    );

    // Sign-offs made concurrently in two clones merge line by line.
    f.git_in(&clone, &["config", "user.name", "Uma UI"]);
    f.git(&["config", "user.name", "Tara Training"]);
    f.sign_in(&clone, "ui", "HEAD");
    f.sign_in(&f.repo, "training", "HEAD");
    f.git(&["push", "-q", "origin", "refs/notes/townlet-signoff"]);
    f.git_in(
        &clone,
        &[
            "fetch",
            "-q",
            "origin",
            "refs/notes/townlet-signoff:refs/notes/origin-signoff",
        ],
    );
    f.git_in(
        &clone,
        &[
            "notes",
            "--ref=refs/notes/townlet-signoff",
            "merge",
            "-q",
            "-s",
            "cat_sort_uniq",
            "refs/notes/origin-signoff",
        ],
    );
    let note = f.git_in(
        &clone,
        &["notes", "--ref=refs/notes/townlet-signoff", "show", "HEAD"],
    );
    assert_eq!(note.lines().count(), 5, "{note}");
}

#[test]
fn a_record_with_a_field_that_is_not_valid_does_not_count() {
    let f = Fixture::new();
    let head = f.head();
    let lines = [
        r#"{"team":"ui","by":"Ana <ana@example.org>","at":"yesterday"}"#,
        r#"{"team":"telemetry","by":"  ","at":"2026-01-02T00:00:00Z"}"#,
        r#"{"team":"","by":"Ana","at":"2026-01-02T00:00:00Z"}"#,
        r#"{"team":"training","by":"Tom <t@example.org>","at":"2026-01-02T00:00:00Z"}"#,
    ];
    f.git(&[
        "notes",
        "--ref=refs/notes/townlet-signoff",
        "add",
        "-m",
        &lines.join("\n"),
        &head,
    ]);
    let (outcome, text) = status(&f, "HEAD");
    assert_eq!(outcome, Verdict::Fail, "{text}");
    let teams = signoff::evaluate(
        &plumbing::git::Git::open(&f.sh, &f.repo).expect("git"),
        &f.ctx().settings.config.release,
        &head,
    )
    .expect("evaluate");
    let state = |id: &str| teams.iter().find(|t| t.team == id).map(|t| t.state);
    assert_eq!(state("ui"), Some(TeamState::Missing));
    assert_eq!(state("telemetry"), Some(TeamState::Missing));
    assert_eq!(state("training"), Some(TeamState::Valid));
    let (records, bad) = signoff::parse_note(&lines.join("\n"));
    assert_eq!(records.len(), 1);
    assert_eq!(bad[0].0, 1);
    assert!(
        bad[0]
            .1
            .contains("`at` is \"yesterday\": expected an RFC 3339 UTC time"),
        "{:?}",
        bad[0]
    );
    assert!(bad[1].1.starts_with("`by` is \"  \""), "{:?}", bad[1]);
    assert!(bad[2].1.starts_with("`team` is \"\""), "{:?}", bad[2]);
}

#[test]
fn a_note_that_is_not_utf8_is_never_rewritten() {
    let f = Fixture::new();
    let head = f.head();
    let note = f.path("note.bin");
    std::fs::write(
        &note,
        b"{\"team\":\"ui\",\"by\":\"Ana \xff\",\"at\":\"2026-01-02T00:00:00Z\"}\n",
    )
    .expect("write");
    f.git(&[
        "notes",
        "--ref=refs/notes/townlet-signoff",
        "add",
        "-F",
        note.to_str().expect("utf-8 path"),
        &head,
    ]);
    let blob = || f.git(&["notes", "--ref=refs/notes/townlet-signoff", "list", &head]);
    let before = blob();
    let err = signoff::run_with(
        &f.sh,
        &f.ctx(),
        Settings::Record(Signing {
            team: "telemetry".into(),
            by: Some("Tess <t@example.org>".into()),
            ..Default::default()
        }),
    )
    .expect_err("refused");
    let text = format!("{err:#}");
    assert!(text.contains("is not UTF-8 (byte 23)"), "{text}");
    assert!(text.contains("nothing was written"), "{text}");
    assert_eq!(blob(), before, "the note's blob is unchanged");
}
