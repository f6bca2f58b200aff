//! `monitor learn` then check: thresholds learnt from known-good runs decide
//! the drop alert's severity.

use monitor::{Input, Kind, Rule, learn};

use crate::fixtures::evaluate;
use rollout_core::Severity;

use crate::fixtures::{self, Keys};

/// A 300-tick run dropping `n` payloads in ticks 201..=200+n.
fn run_with(keys: Keys, n: u64) -> String {
    fixtures::log(keys, 300, move |t| {
        (u64::from(t > 200 && t <= 200 + n), 0, 0)
    })
}

#[test]
fn learn_then_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ctx = fixtures::context(dir.path(), "learn_margin: 0.5\nlearn_critical_factor: 4");
    let runs = dir.path().join("good");
    std::fs::create_dir(&runs).expect("mkdir");
    fixtures::write(&runs, "good1.log", &run_with(Keys::Newer, 4));
    fixtures::write(&runs, "notes.txt", "not a run");
    let good = vec![
        runs,
        fixtures::write(dir.path(), "good2.log", &run_with(Keys::Older, 6)),
    ];
    let (out, captured) = rollout_core::Out::memory();
    ctx.out = out;
    let outcome =
        monitor::run_learn(&ctx, fixtures::learn_settings(&ctx.settings, good)).expect("learn");
    let said = captured.text();
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(format!("{}\n", outcome.summary), said);
    assert!(
        said.contains("warning above 9, critical above 36"),
        "{said}"
    );
    let learnt = learn::load(&dir.path().join("thresholds.yaml")).expect("thresholds file");
    assert_eq!(learnt.runs.len(), 2);
    assert_eq!(learnt.runs[1].peak_drop_per_100_ticks, 6.0);

    let check = |n| {
        let p = fixtures::write(dir.path(), "candidate.log", &run_with(Keys::Newer, n));
        let input = [Input {
            env: "e".into(),
            path: p,
            kind: Some(Kind::Log),
        }];
        let r = evaluate(&ctx.settings, &input, None).expect("evaluate");
        assert!(
            r.thresholds.source.starts_with("learnt in"),
            "{}",
            r.thresholds.source
        );
        r.alerts
            .iter()
            .filter(|a| a.rule == Rule::TelemetryDrops)
            .map(|a| a.severity)
            .collect::<Vec<_>>()
    };
    assert_eq!(check(9), vec![]);
    assert_eq!(check(10), vec![Severity::Warning]);
    assert_eq!(check(36), vec![Severity::Warning]);
    assert_eq!(check(37), vec![Severity::Critical]);
}

#[test]
fn configured_thresholds_win_over_learnt_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("thresholds.yaml"),
        "schema: 1\ndrop_warning_per_100_ticks: 50\ndrop_critical_per_100_ticks: 90\nmargin: 0.5\ncritical_factor: 4\nruns: []\n",
    )
    .expect("write");
    let ctx = fixtures::context(dir.path(), "drop_warning_per_100_ticks: 2");
    let rules = fixtures::rule_settings(&ctx.settings).expect("rules");
    assert_eq!(rules.drops.warning, Some(2.0));
    assert_eq!(rules.drops.critical, None);
}

#[test]
fn a_broken_thresholds_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("thresholds.yaml"),
        "schema: 1\ndrop_warning: 3\n",
    )
    .expect("write");
    let ctx = fixtures::context(dir.path(), "");
    let err = format!(
        "{:#}",
        fixtures::rule_settings(&ctx.settings).expect_err("broken")
    );
    assert!(
        err.contains("thresholds.yaml") && err.contains("drop_warning"),
        "{err}"
    );
}

#[test]
fn learn_refuses_telemetry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(dir.path(), "");
    let t = fixtures::write(
        dir.path(),
        "t.jsonl",
        &fixtures::telemetry(1..=3, |_| "facade".into(), |_| 0),
    );
    let err = monitor::run_learn(&ctx, fixtures::learn_settings(&ctx.settings, vec![t]))
        .expect_err("telemetry");
    assert!(
        format!("{err:#}").contains("learn reads the cumulative `dropped`"),
        "{err:#}"
    );
}

#[test]
fn a_thresholds_file_that_is_not_a_regular_file_is_refused_not_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(dir.path(), "");
    // A dangling symlink, a directory and a device are there: each is an
    // error naming the file, never "no learnt thresholds".
    for (target, reason) in [
        ("missing.yaml", "does not exist"),
        (".", "is a directory"),
        ("/dev/zero", "is a character device"),
    ] {
        let path = dir.path().join("thresholds.yaml");
        let _gone = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(target, &path).expect("symlink");
        let err = format!(
            "{:#}",
            fixtures::rule_settings(&ctx.settings).expect_err("refused")
        );
        assert!(
            err.contains("thresholds.yaml") && err.contains(reason),
            "{target}: {err}"
        );
    }
}
