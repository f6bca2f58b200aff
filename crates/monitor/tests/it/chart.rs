//! `monitor chart`: two environments, one of them not facade; log-only
//! environments; 100k ticks. Rendered to PNG with CairoSVG (from PyPI, in
//! `target/chart-venv`), the PNGs kept under the test's target directory
//! (`target/tmp/chart-*.png`) for a look.

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
    keep(&out, "chart-two-environments");
    let svg = std::fs::read_to_string(&out).expect("svg");
    assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
    assert!(
        svg.contains("runtime_variant NOT &apos;facade&apos; in: prod")
            || svg.contains("runtime_variant NOT 'facade' in: prod"),
        "heading"
    );
    assert!(svg.contains("staging: all facade"));
    // Ticks 41-59 were lost, and a lost diff may have changed the variant:
    // from tick 60 on it is not known. Of the 81 ticks present, 31-40 are
    // not facade.
    assert!(
        svg.contains("prod: NOT facade at 10 of 81 ticks (not known at 41)"),
        "variant label"
    );
    assert!(svg.contains("#D62728"), "red band for the non-facade ticks");
    // Every axis has its title.
    for title in [
        "tick",
        "runtime_variant",
        "drops per 100 ticks",
        "queue length",
    ] {
        assert!(
            svg.contains(&format!("\n{title}\n</text>")),
            "axis title {title}"
        );
    }
    assert!(
        svg.contains("prod: WARNING telemetry-gap"),
        "prod's gap alert in its status"
    );
    let png = render_png(&out, "chart-two-environments");
    assert!(png.width == 1500 && png.bytes < 400_000, "{png:?}");
}

/// A copy of the SVG `out` as `target/tmp/{name}.svg`, for a look.
fn keep(out: &std::path::Path, name: &str) {
    let kept = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.svg"));
    std::fs::copy(out, kept).expect("keep the svg");
}

/// A PNG rendered from an SVG: where it is, its size in pixels and bytes.
#[derive(Debug)]
struct Png {
    width: u32,
    height: u32,
    bytes: u64,
}

/// Renders `svg` to `target/tmp/{name}.png` with CairoSVG, which must
/// accept it.
fn render_png(svg: &std::path::Path, name: &str) -> Png {
    let bin = test_support::venv("chart-venv", "", &["cairosvg>=2.7,<3"]);
    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
    let script = r#"
import sys, cairosvg, io
from PIL import Image
cairosvg.svg2png(url=sys.argv[1], write_to=sys.argv[2])
image = Image.open(sys.argv[2])
print(image.size[0], image.size[1])
"#;
    let out = plumbing::process::command(bin.join("python"))
        .arg("-c")
        .arg(script)
        .arg(svg)
        .arg(&png)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = String::from_utf8_lossy(&out.stdout);
    let mut size = size
        .split_whitespace()
        .map(|n| n.parse::<u32>().expect("size"));
    Png {
        width: size.next().expect("width"),
        height: size.next().expect("height"),
        bytes: std::fs::metadata(&png).expect("png").len(),
    }
}

/// Six environments with only logs: none reports a variant, so the
/// headline says so instead of the green "every environment reports".
/// A critical plaintext endpoint shows in its environment's status line.
#[test]
fn log_only_environments_say_no_variant_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(
        dir.path(),
        "drop_warning_per_100_ticks: 5\ndrop_critical_per_100_ticks: 20",
    );
    let rules = rule_settings(&ctx.settings).expect("rules");
    let mut inputs = Vec::new();
    for (i, env) in ["dev", "qa", "staging", "canary", "prod-eu", "prod-us"]
        .iter()
        .enumerate()
    {
        let n = i as u64;
        let mut log = fixtures::log(Keys::Newer, 300, |t| {
            (u64::from(t % (7 + n) == 0) * (n + 1), (t + n) % 5, t % 3)
        });
        if *env == "prod-us" {
            log.push_str(&fixtures::plaintext_warning("collector.internal:8765"));
        }
        inputs.push(Input {
            env: (*env).into(),
            path: fixtures::write(dir.path(), &format!("{env}.log"), &log),
            kind: Some(Kind::Log),
        });
    }
    let (evals, _) = read_inputs(&rules, &inputs, true).expect("read");
    let out = dir.path().join("logs.svg");
    chart::draw(&evals, &rules, &out).expect("draw");
    keep(&out, "chart-log-only");
    let svg = std::fs::read_to_string(&out).expect("svg");
    assert!(
        svg.contains(
            "runtime_variant: no environment reports a variant (expected &apos;facade&apos;)"
        ) || svg.contains("runtime_variant: no environment reports a variant (expected 'facade')"),
        "headline"
    );
    assert!(!svg.contains("every environment"), "no green headline");
    assert!(svg.contains("dev: runtime_variant not reported"));
    assert!(
        svg.contains("prod-us: CRITICAL plaintext-transport: telemetry_tcp_plaintext_enabled endpoint=collector.internal:8765"),
        "the critical plaintext alert is on the chart"
    );
    assert!(
        svg.contains("dev: no alerts") || svg.contains("dev: WARNING"),
        "dev's status"
    );
    let png = render_png(&out, "chart-log-only");
    assert!(png.width == 1500 && png.height > 6 * 260, "{png:?}");
    assert!(png.bytes < 1_000_000, "{png:?}");
}

/// 100k ticks of log and telemetry: the SVG stays under 300 KB, and a
/// one-tick exit queue spike (and a one-tick non-facade variant) still
/// show after thinning and per-column cutting.
#[test]
fn a_100k_tick_chart_stays_small_and_keeps_its_spikes() {
    const N: u64 = 100_000;
    const SPIKE: u64 = 54_321;
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(
        dir.path(),
        "drop_warning_per_100_ticks: 5\ndrop_critical_per_100_ticks: 20",
    );
    let rules = rule_settings(&ctx.settings).expect("rules");
    let log = fixtures::log(Keys::Newer, N, |t| {
        (
            u64::from(t % 97 == 0),
            t % 4,
            if t == SPIKE { 500 } else { t % 3 },
        )
    });
    let stream = fixtures::telemetry(
        1..=N,
        |t| {
            if t == 77_777 {
                "legacy".into()
            } else {
                "facade".into()
            }
        },
        |t| t % 3,
    );
    let inputs = vec![
        Input {
            env: "long".into(),
            path: fixtures::write(dir.path(), "long.log", &log),
            kind: Some(Kind::Log),
        },
        Input {
            env: "long".into(),
            path: fixtures::write(dir.path(), "long.jsonl", &stream),
            kind: None,
        },
    ];
    let (evals, _) = read_inputs(&rules, &inputs, true).expect("read");
    let out = dir.path().join("long.svg");
    chart::draw(&evals, &rules, &out).expect("draw");
    keep(&out, "chart-100k");
    let size = std::fs::metadata(&out).expect("svg").len();
    assert!(size < 300_000, "the 100k-tick SVG is {size} bytes");
    let svg = std::fs::read_to_string(&out).expect("svg");
    assert!(
        svg.contains("long: NOT facade at 1 of 100000 ticks"),
        "exact count"
    );
    // The exit queue's line reaches far above the queue's (0 to 3): the
    // spike of 500 at one tick survived.
    let top = |stroke: &str| {
        polyline_ys(&svg, stroke)
            .into_iter()
            .fold(f64::INFINITY, f64::min)
    };
    let (exit_queue_top, queue_top) = (top("#8000A0"), top("#0000FF"));
    assert!(
        exit_queue_top + 100.0 < queue_top,
        "spike drawn: exit queue top {exit_queue_top}, queue top {queue_top}"
    );
    // The one non-facade tick is a red column in the band, at least 2
    // pixels wide (besides the legend's red box, 14 wide).
    let red: Vec<&str> = svg
        .split("<rect")
        .skip(1)
        .filter_map(|r| r.split('>').next())
        .filter(|r| r.contains("fill=\"#D62728\"") && !r.contains("width=\"14\""))
        .collect();
    assert_eq!(red.len(), 1, "one red band column: {red:?}");
    let width = red[0]
        .split("width=\"")
        .nth(1)
        .and_then(|w| w.split('"').next())
        .expect("width");
    assert!(width.parse::<u32>().expect("width") >= 2, "{width}");
    let png = render_png(&out, "chart-100k");
    assert!(png.width == 1500 && png.bytes < 400_000, "{png:?}");
}

/// The y coordinates of the series drawn in `stroke`.
fn polyline_ys(svg: &str, stroke: &str) -> Vec<f64> {
    svg.split("<polyline")
        .skip(1)
        .filter(|p| p.contains(&format!("stroke=\"{stroke}\"")))
        .filter_map(|p| p.split("points=\"").nth(1)?.split('"').next())
        // Not a legend's or a threshold's two-point line.
        .filter(|points| points.split_whitespace().count() > 2)
        .flat_map(|points| {
            points
                .split_whitespace()
                .filter_map(|xy| xy.split(',').nth(1)?.parse::<f64>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
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
# The lost-ticks band (90, 90, 90) at 0.75 over the grey of an unknown
# variant (190, 190, 190): what the telemetry lost may have changed it.
gap = sum(1 for (r, g, b) in image.getdata() if abs(r - 115) < 3 and abs(g - 115) < 3 and abs(b - 115) < 3)
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
    // Grey text is antialiased through that shade in a few pixels; a band
    // is thousands.
    assert!(
        counts[1] < 500,
        "loss-free run has no lost-ticks band: {} pixels",
        counts[1]
    );
    let svg = std::fs::read_to_string(dir.path().join("lossy.svg")).expect("svg");
    assert!(
        svg.contains("lossy: facade at 40 of 121 ticks (not known at 81); 379 ticks lost"),
        "label"
    );

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
