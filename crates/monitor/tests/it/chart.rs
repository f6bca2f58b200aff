//! `monitor chart`: two environments, one of them not facade.

use monitor::{Input, Kind, chart, read_inputs};

use crate::fixtures::rule_settings;

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

/// Rendered to PNG (CairoSVG), a run that lost most of its ticks shows
/// the lost ticks' dark band; a loss-free one does not. Thresholds and the
/// exit queue limit are drawn with a legend; a missing log is a note, not
/// empty axes.
#[test]
fn a_lossy_run_looks_lossy_in_the_png() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(
        dir.path(),
        "drop_warning_per_100_ticks: 5\ndrop_critical_per_100_ticks: 20\nexit_queue_limit: 6",
    );
    let rules = rule_settings(&ctx.settings).expect("rules");
    let lossy = fixtures::telemetry((1..=40).chain(420..=500), |_| "facade".into(), |_| 0);
    let whole = fixtures::telemetry(1..=500, |_| "facade".into(), |_| 0);
    let log = fixtures::log(Keys::Newer, 500, |t| (u64::from(t % 10 == 0), 0, 1));
    let bin = test_support::venv("chart-venv", "", &["cairosvg>=2.7,<3"]);
    let script = r#"
import sys, cairosvg, io
from PIL import Image
png = cairosvg.svg2png(url=sys.argv[1])
image = Image.open(io.BytesIO(png)).convert("RGB")
gap = sum(1 for (r, g, b) in image.getdata() if abs(r - 79) < 8 and abs(g - 107) < 8 and abs(b - 84) < 8)
print(gap)
"#;
    let mut counts = Vec::new();
    for (name, stream) in [("lossy", &lossy), ("whole", &whole)] {
        let inputs = vec![
            Input {
                env: name.into(),
                path: fixtures::write(dir.path(), &format!("{name}.jsonl"), stream),
                kind: None,
            },
            Input {
                env: name.into(),
                path: fixtures::write(dir.path(), &format!("{name}.log"), &log),
                kind: Some(Kind::Log),
            },
        ];
        let (evals, _) = read_inputs(&rules, &inputs, true).expect("read");
        let out = dir.path().join(format!("{name}.svg"));
        chart::draw(&evals, &rules, &out).expect("draw");
        let svg = std::fs::read_to_string(&out).expect("svg");
        assert!(svg.contains("warning above 5"), "warning line");
        assert!(svg.contains("critical above 20"), "critical line");
        assert!(svg.contains("exit queue limit 6"), "limit line");
        let out = plumbing::process::command(bin.join("python"))
            .arg("-c")
            .arg(script)
            .arg(&out)
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        counts.push(
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u64>()
                .expect("count"),
        );
    }
    assert!(counts[0] > 10_000, "lossy run: {} dark pixels", counts[0]);
    assert_eq!(counts[1], 0, "loss-free run has no lost-ticks band");
    let svg = std::fs::read_to_string(dir.path().join("lossy.svg")).expect("svg");
    assert!(svg.contains("lossy: all facade; 379 ticks lost"), "label");

    // Without a log: a note instead of empty drop axes.
    let inputs = vec![Input {
        env: "nolog".into(),
        path: fixtures::write(dir.path(), "n.jsonl", &whole),
        kind: None,
    }];
    let (evals, _) = read_inputs(&rules, &inputs, true).expect("read");
    let out = dir.path().join("nolog.svg");
    chart::draw(&evals, &rules, &out).expect("draw");
    let svg = std::fs::read_to_string(&out).expect("svg");
    assert!(svg.contains("nolog: no tick_health log, so no drop counts"));
    assert!(!svg.contains("dropped payloads per 100 ticks"));
}
