//! The outcome of a check, as the gate's monitor step shows it: its status
//! (pass with no alerts, warn when no alert reaches `fail_on`, fail
//! otherwise), its summary, and one check per alert and unusable input.

use monitor::{Input, Settings};
use rollout_core::{Format, Status, Verdict};

use crate::fixtures::{self, Keys};

/// Runs `monitor` on `files` (each an environment named after its step)
/// as the gate will, with the config's `monitor` section `monitor_yaml`;
/// returns the outcome and what was written.
fn step(monitor_yaml: &str, files: &[(&str, Option<String>)]) -> (rollout_core::Outcome, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ctx = fixtures::context(dir.path(), monitor_yaml);
    let (out, captured) = rollout_core::Out::memory();
    ctx.out = out;
    ctx.format = Format::Human;
    ctx.verbosity = rollout_core::Verbosity::Normal;
    let inputs = files
        .iter()
        .map(|(name, text)| {
            let path = dir.path().join(name);
            if let Some(text) = text {
                std::fs::write(&path, text).expect("write");
            }
            Input {
                env: "monitor".into(),
                path,
                kind: None,
            }
        })
        .collect();
    let settings = Settings::from_config(&ctx.settings.config, inputs).expect("settings");
    let outcome = monitor::run(&ctx, settings).expect("run");
    (outcome, captured.text())
}

fn clean() -> String {
    fixtures::log(Keys::Newer, 20, |_| (0, 0, 0))
}

/// The capture's stream, which states the variant (the log does not).
fn facade() -> (&'static str, Option<String>) {
    (
        "t.jsonl",
        Some(fixtures::telemetry(1..=20, |_| "facade".into(), |_| 0)),
    )
}

#[test]
fn a_log_alone_cannot_show_the_variant_and_warns() {
    let (outcome, _) = step("", &[("a.log", Some(clean()))]);
    assert_eq!(outcome.verdict, Verdict::Pass);
    assert_eq!(outcome.status(), Status::Warn);
    assert_eq!(outcome.checks[0].id, "runtime-variant-missing [monitor]");
    assert!(
        outcome.checks[0]
            .summary
            .starts_with("warning: no input reports runtime_variant (ticks up to 20): cannot verify that 'facade' serves"),
        "{}",
        outcome.checks[0].summary
    );
    let (outcome, _) = step("fail_on: warning", &[("a.log", Some(clean()))]);
    assert_eq!(outcome.status(), Status::Fail);
}

#[test]
fn no_alerts_pass() {
    let (outcome, text) = step("", &[("a.log", Some(clean())), facade()]);
    assert_eq!(outcome.verdict, Verdict::Pass);
    assert_eq!(outcome.status(), Status::Pass);
    assert_eq!(outcome.summary, "no alerts over 2 input(s)");
    assert!(outcome.checks.is_empty(), "{:?}", outcome.checks);
    assert!(
        text.contains("pass: 0 critical, 0 warning alerts"),
        "{text}"
    );
}

#[test]
fn alerts_below_fail_on_warn_and_those_at_it_fail() {
    let log = fixtures::plaintext_warning("127.0.0.1:8765") + &clean();
    let (outcome, _) = step("", &[("a.log", Some(log.clone())), facade()]);
    assert_eq!(outcome.verdict, Verdict::Pass);
    assert_eq!(outcome.status(), Status::Warn);
    assert_eq!(outcome.exit_code(), 0);
    assert!(
        outcome
            .summary
            .starts_with("1 alert(s): plaintext-transport (warning); plaintext-transport: telemetry_tcp_plaintext_enabled endpoint=127.0.0.1:8765"),
        "{}",
        outcome.summary
    );
    let check = &outcome.checks[0];
    assert_eq!(check.id, "plaintext-transport [monitor]");
    assert_eq!(check.status, Status::Warn);
    assert!(check.summary.starts_with("warning: "), "{}", check.summary);
    assert_eq!(check.places[0].line, Some(1));
    assert_eq!(
        check.details,
        ["at ".to_string() + &check.places[0].file + ":1"]
    );

    let (outcome, _) = step("fail_on: warning", &[("a.log", Some(log)), facade()]);
    assert_eq!(outcome.verdict, Verdict::Fail);
    assert_eq!(outcome.status(), Status::Fail);
    assert_eq!(outcome.checks[0].status, Status::Fail);
    assert_eq!(outcome.not_passing().count(), 1);
}

#[test]
fn the_worst_alert_is_named_and_unusable_inputs_are_listed() {
    let log = fixtures::plaintext_warning("127.0.0.1:8765")
        + &fixtures::plaintext_warning("demo.local:8765")
        + &clean();
    let (outcome, _) = step("", &[("a.log", Some(log)), facade(), ("gone.log", None)]);
    assert_eq!(outcome.status(), Status::Fail);
    let summary = &outcome.summary;
    assert!(
        summary.starts_with(
            "2 alert(s): plaintext-transport (critical), plaintext-transport (warning); plaintext-transport: telemetry_tcp_plaintext_enabled endpoint=demo.local:8765"
        ),
        "{summary}"
    );
    assert!(
        summary.ends_with(&format!("; unusable: {}", outcome.checks[2].summary)),
        "{summary}"
    );
    assert_eq!(outcome.checks[2].id, "input [monitor]");
    assert_eq!(outcome.checks[2].status, Status::Fail);
}

#[test]
fn unusable_inputs_alone_say_no_alerts_from_the_rest() {
    let (outcome, _) = step(
        "",
        &[("a.log", Some(clean())), facade(), ("gone.log", None)],
    );
    assert_eq!(outcome.verdict, Verdict::Fail);
    assert!(
        outcome.summary.starts_with("1 of 3 input(s) unusable: `")
            && outcome
                .summary
                .ends_with("gone.log` does not exist; no alerts from the rest"),
        "{}",
        outcome.summary
    );
    assert_eq!(outcome.checks.len(), 1);
}
