//! `monitor chart`: two environments, one of them not facade.

use monitor::{Input, Kind, chart, read_inputs, rule_settings};

use crate::fixtures::{self, Keys};

#[test]
fn chart_shows_both_environments_and_the_non_facade_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(dir.path(), "");
    let staging_log = fixtures::log(Keys::Newer, 100, |t| (u64::from(t > 50), t % 3, 0));
    let staging = fixtures::telemetry(1..=100, |_| "facade".into(), |_| 0);
    let prod = fixtures::telemetry(
        (1..=40).chain(60..=100),
        |t| {
            if t > 30 {
                "legacy".into()
            } else {
                "facade".into()
            }
        },
        |t| t % 5,
    );
    let inputs = vec![
        Input {
            env: "staging".into(),
            path: fixtures::write(dir.path(), "s.log", &staging_log),
            kind: Some(Kind::Log),
        },
        Input {
            env: "staging".into(),
            path: fixtures::write(dir.path(), "s.jsonl", &staging),
            kind: None,
        },
        Input {
            env: "prod".into(),
            path: fixtures::write(dir.path(), "p.jsonl", &prod),
            kind: None,
        },
    ];
    let rules = rule_settings(&ctx.settings).expect("rules");
    let (evals, _) = read_inputs(&rules, &inputs, true).expect("read");
    let out = dir.path().join("envs.svg");
    chart::draw(&evals, &rules, &out).expect("draw");
    let svg = std::fs::read_to_string(&out).expect("svg");
    assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
    assert!(
        svg.contains("runtime_variant NOT &apos;facade&apos; in: prod")
            || svg.contains("runtime_variant NOT 'facade' in: prod"),
        "heading"
    );
    assert!(svg.contains("staging: all facade"));
    // Ticks 41-59 were lost, and a lost diff may have changed the variant:
    // from tick 60 on it is not known, so only ticks 31-40 count.
    assert!(svg.contains("prod: NOT facade at 10 of 40 ticks"));
    assert!(svg.contains("#D62728"), "red band for the non-facade ticks");
}
