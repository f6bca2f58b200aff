//! The human report, as a reviewed snapshot.

use monitor::{Input, Kind, evaluate, render};
use rollout_config::Style;

use crate::fixtures::{self, Keys};

#[test]
fn human_report_lists_every_rule_with_alerts_and_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(
        dir.path(),
        "drop_warning_per_100_ticks: 5\ndrop_critical_per_100_ticks: 50",
    );
    let mut log = fixtures::plaintext_warning("demo.local:8765");
    log.push_str(&fixtures::log(Keys::Newer, 120, |t| {
        (u64::from(t % 10 == 0), 0, 0)
    }));
    let prod = fixtures::telemetry(
        (1..=10).chain(15..=40),
        |t| {
            if t > 30 {
                "legacy".into()
            } else {
                "facade".into()
            }
        },
        |_| 0,
    );
    let inputs = vec![
        Input {
            env: "staging".into(),
            path: fixtures::write(dir.path(), "staging.log", &log),
            kind: Some(Kind::Log),
        },
        Input {
            env: "prod".into(),
            path: fixtures::write(dir.path(), "prod.jsonl", &prod),
            kind: None,
        },
    ];
    let report = evaluate(&ctx.settings, &inputs, None).expect("evaluate");
    let mut out = Vec::new();
    render::human(&report, &Style::new(false), &mut out).expect("render");
    let text = String::from_utf8(out).expect("utf8");
    let dir_text = format!("{}/", dir.path().display());
    insta::assert_snapshot!(text.replace(&dir_text, "TMP/"));
}
