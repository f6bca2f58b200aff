//! Each rule firing and not firing at its threshold, over fixtures of both
//! `tick_health` key sets, through the library entry point the gate uses.

use monitor::{Input, Kind, Report, Rule};

use crate::fixtures::evaluate;
use rollout_core::Severity;
use rollout_core::Verdict;

use crate::fixtures::{self, Keys};

fn run(monitor_yaml: &str, files: &[(&str, Option<Kind>, &str, String)]) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(dir.path(), monitor_yaml);
    let inputs: Vec<Input> = files
        .iter()
        .map(|(env, kind, name, text)| Input {
            env: env.to_string(),
            path: fixtures::write(dir.path(), name, text),
            kind: *kind,
        })
        .collect();
    evaluate(&ctx.settings, &inputs, None).expect("evaluate")
}

fn alerts(r: &Report, rule: Rule) -> Vec<(Severity, String)> {
    r.alerts
        .iter()
        .filter(|a| a.rule == rule)
        .map(|a| {
            let ticks: Vec<String> = a.ticks.iter().map(ToString::to_string).collect();
            (a.severity, format!("{}:{}", a.env, ticks.join(",")))
        })
        .collect()
}

/// `drops` payloads dropped one per tick from tick 101 on, in a 200-tick run:
/// the rate over the last 100 ticks peaks at `drops`.
fn log_with(keys: Keys, drops: u64) -> String {
    fixtures::log(keys, 200, |t| {
        let d = u64::from(t > 100 && t <= 100 + drops);
        (d, 0, 0)
    })
}

#[test]
fn drops_fire_above_configured_thresholds_only() {
    let cfg = "drop_warning_per_100_ticks: 10\ndrop_critical_per_100_ticks: 20";
    for keys in [Keys::Newer, Keys::Older] {
        let at = |n| run(cfg, &[("e", Some(Kind::Log), "run.log", log_with(keys, n))]);
        assert_eq!(alerts(&at(10), Rule::TelemetryDrops), vec![], "{keys:?}");
        let r = at(11);
        assert_eq!(
            alerts(&r, Rule::TelemetryDrops),
            vec![(Severity::Warning, "e:111-200".into())],
            "{keys:?}"
        );
        assert_eq!(r.verdict, Verdict::Pass);
        assert_eq!(
            alerts(&at(20), Rule::TelemetryDrops)[0].0,
            Severity::Warning
        );
        let r = at(21);
        assert_eq!(alerts(&r, Rule::TelemetryDrops)[0].0, Severity::Critical);
        assert_eq!(r.verdict, Verdict::Fail);
        // Where drops began, with the line of the buffer warning.
        let a = &r.alerts[0];
        assert_eq!(a.first_tick, Some(101));
        assert!(
            a.message.contains("drops began at tick 101"),
            "{}",
            a.message
        );
        assert_eq!(a.evidence[0].line, 3 + 100 + 1);
    }
}

#[test]
fn without_thresholds_any_drop_is_a_warning() {
    let none = run(
        "",
        &[("e", Some(Kind::Log), "a.log", log_with(Keys::Newer, 0))],
    );
    assert_eq!(alerts(&none, Rule::TelemetryDrops), vec![]);
    let one = run(
        "",
        &[("e", Some(Kind::Log), "a.log", log_with(Keys::Older, 1))],
    );
    assert_eq!(
        alerts(&one, Rule::TelemetryDrops),
        vec![(Severity::Warning, "e:101-200".into())]
    );
    assert_eq!(one.thresholds.source, "none");
}

#[test]
fn exit_queue_above_its_limit() {
    let log = |peak| {
        fixtures::log(Keys::Newer, 30, move |t| {
            (0, 0, if t == 20 { peak } else { 1 })
        })
    };
    // A large spike factor keeps this a test of the limit alone.
    let cfg = "exit_queue_limit: 5\nexit_queue_spike_factor: 10";
    let r = run(cfg, &[("e", Some(Kind::Log), "a.log", log(5))]);
    assert_eq!(alerts(&r, Rule::ExitQueueSpike), vec![]);
    let r = run(cfg, &[("e", Some(Kind::Log), "a.log", log(6))]);
    assert_eq!(
        alerts(&r, Rule::ExitQueueSpike),
        vec![(Severity::Warning, "e:20".into())]
    );
}

#[test]
fn exit_queue_above_k_times_its_moving_median() {
    let log = |peak| {
        fixtures::log(Keys::Older, 30, move |t| {
            (0, 0, if t == 25 { peak } else { 2 })
        })
    };
    let r = run(
        "exit_queue_spike_factor: 3",
        &[("e", Some(Kind::Log), "a.log", log(6))],
    );
    assert_eq!(alerts(&r, Rule::ExitQueueSpike), vec![]);
    let r = run(
        "exit_queue_spike_factor: 3",
        &[("e", Some(Kind::Log), "a.log", log(7))],
    );
    assert_eq!(
        alerts(&r, Rule::ExitQueueSpike),
        vec![(Severity::Warning, "e:25".into())]
    );
}

#[test]
fn telemetry_pending_count_above_the_streams_queue_limit() {
    let t = |peak| {
        fixtures::telemetry(
            1..=20,
            |_| "facade".into(),
            move |t| if t == 15 { peak } else { 0 },
        )
    };
    let cfg = "exit_queue_spike_factor: 100";
    let r = run(cfg, &[("e", Some(Kind::Telemetry), "t.jsonl", t(8))]);
    assert_eq!(alerts(&r, Rule::ExitQueueSpike), vec![]);
    let r = run(cfg, &[("e", Some(Kind::Telemetry), "t.jsonl", t(9))]);
    assert_eq!(
        alerts(&r, Rule::ExitQueueSpike),
        vec![(Severity::Warning, "e:15".into())]
    );
}

#[test]
fn non_facade_runtime_variant_is_critical_with_ticks_and_environment() {
    let good = fixtures::telemetry(1..=20, |_| "facade".into(), |_| 0);
    let bad = fixtures::telemetry(
        1..=20,
        |t| {
            if (5..=8).contains(&t) {
                "legacy".into()
            } else {
                "facade".into()
            }
        },
        |_| 0,
    );
    let r = run(
        "",
        &[
            ("staging", None, "s.jsonl", good),
            ("prod", None, "p.jsonl", bad),
        ],
    );
    assert_eq!(
        alerts(&r, Rule::RuntimeVariant),
        vec![(Severity::Critical, "prod:5-8".into())]
    );
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.alerts[0].message.contains("'legacy' (4 ticks)"));
}

#[test]
fn plaintext_is_a_warning_on_loopback_and_critical_elsewhere() {
    let log = |endpoint: &str| {
        let mut s = fixtures::plaintext_warning(endpoint);
        s.push_str(&log_with(Keys::Newer, 0));
        s
    };
    for (endpoint, severity) in [
        ("localhost:8765", Severity::Warning),
        ("127.0.0.1:8765", Severity::Warning),
        ("demo.local:8765", Severity::Critical),
        ("10.1.2.3:9000", Severity::Critical),
    ] {
        let r = run("", &[("e", Some(Kind::Log), "a.log", log(endpoint))]);
        assert_eq!(
            alerts(&r, Rule::PlaintextTransport),
            vec![(severity, "e:".into())],
            "{endpoint}"
        );
        assert_eq!(r.alerts[0].evidence[0].line, 1);
    }
    let r = run(
        "",
        &[("e", Some(Kind::Log), "a.log", log_with(Keys::Newer, 0))],
    );
    assert_eq!(alerts(&r, Rule::PlaintextTransport), vec![]);
}

#[test]
fn gaps_in_telemetry_ticks_are_listed() {
    let whole = fixtures::telemetry(1..=30, |_| "facade".into(), |_| 0);
    let r = run("", &[("e", Some(Kind::Telemetry), "t.jsonl", whole)]);
    assert_eq!(alerts(&r, Rule::TelemetryGap), vec![]);
    let ticks = (1..=4).chain(8..=20).chain(22..=30);
    let gappy = fixtures::telemetry(ticks, |_| "facade".into(), |_| 0);
    let r = run("", &[("e", Some(Kind::Telemetry), "t.jsonl", gappy)]);
    assert_eq!(
        alerts(&r, Rule::TelemetryGap),
        vec![(Severity::Warning, "e:5-7,21".into())]
    );
    assert!(r.alerts[0].message.starts_with("4 ticks missing"));
}

#[test]
fn fail_on_warning_fails_on_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(dir.path(), "fail_on: warning");
    let p = fixtures::write(dir.path(), "a.log", &log_with(Keys::Newer, 1));
    let input = [Input {
        env: "e".into(),
        path: p,
        kind: None,
    }];
    let r = evaluate(&ctx.settings, &input, None).expect("evaluate");
    assert_eq!(r.verdict, Verdict::Fail);
    let r = evaluate(&ctx.settings, &input, Some(Severity::Critical)).expect("evaluate");
    assert_eq!(r.verdict, Verdict::Pass);
}

#[test]
fn bad_inputs_are_errors_that_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(dir.path(), "");
    let t = fixtures::write(
        dir.path(),
        "t.jsonl",
        &fixtures::telemetry(1..=3, |_| "facade".into(), |_| 0),
    );
    let err = |input: Input| {
        format!(
            "{:#}",
            evaluate(&ctx.settings, &[input], None).expect_err("bad input")
        )
    };
    let e = err(Input {
        env: "e".into(),
        path: t.clone(),
        kind: Some(Kind::Log),
    });
    assert!(
        e.contains("t.jsonl` was given as a log") && e.contains("hint:"),
        "{e}"
    );

    let broken = fixtures::write(dir.path(), "b.jsonl", "{\"tick\":1}\n{\"tick\": 2,\n");
    let e = err(Input {
        env: "e".into(),
        path: broken,
        kind: Some(Kind::Telemetry),
    });
    assert!(e.contains("b.jsonl") && e.contains(":2"), "{e}");
}

#[test]
fn a_log_without_tick_health_fails_on_its_own_and_the_stream_is_still_judged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(dir.path(), "");
    // The stream is lossy (ticks 4-6 missing) and not facade from tick 8.
    let t = fixtures::write(
        dir.path(),
        "t.jsonl",
        &fixtures::telemetry(
            (1..=3).chain(7..=9),
            |t| {
                if t >= 8 {
                    "legacy".into()
                } else {
                    "facade".into()
                }
            },
            |_| 0,
        ),
    );
    // Townlet's script configures no logging: the capture's log has no
    // tick_health lines.
    let log = fixtures::write(
        dir.path(),
        "capture.log",
        "Telemetry stream written to t.jsonl\n",
    );
    let input = |path: std::path::PathBuf, kind| Input {
        env: "gate".into(),
        path,
        kind,
    };
    let report = evaluate(
        &ctx.settings,
        &[
            input(t.clone(), Some(Kind::Telemetry)),
            input(log, Some(Kind::Log)),
            input(dir.path().join("townlet.log"), Some(Kind::Log)),
        ],
        None,
    )
    .expect("the stream can be judged");
    assert_eq!(report.verdict, rollout_core::Verdict::Fail);
    let problems: Vec<&str> = report.problems().map(|(_, p)| p).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("no `tick_health` lines in 1 lines"),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].contains("townlet.log` does not exist"),
        "{}",
        problems[1]
    );
    let rules: Vec<_> = report.alerts.iter().map(|a| a.rule).collect();
    assert!(rules.contains(&monitor::Rule::RuntimeVariant), "{rules:?}");
    assert!(rules.contains(&monitor::Rule::TelemetryGap), "{rules:?}");
    let mut text = Vec::new();
    monitor::render::human(&report, &rollout_core::Style::new(false), &mut text).expect("render");
    let text = String::from_utf8(text).expect("utf-8");
    assert!(text.starts_with("FAIL input [gate]: `"), "{text}");
    assert!(text.contains("; 2 inputs unusable"), "{text}");
}

/// The stream checks monitoring shares with the baseline comparison: ticks
/// must increase, and a diff that removes `runtime_variant` is not 'facade'.
#[test]
fn streams_baseline_diff_refuses_are_refused_here_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(dir.path(), "");
    let stream = fixtures::telemetry(1..=6, |_| "facade".into(), |_| 0);
    let lines: Vec<&str> = stream.lines().collect();
    let err = |name: &str, lines: &[&str]| {
        let path = fixtures::write(dir.path(), name, &(lines.join("\n") + "\n"));
        let input = Input {
            env: "e".into(),
            path,
            kind: Some(Kind::Telemetry),
        };
        format!(
            "{:#}",
            evaluate(&ctx.settings, &[input], None).expect_err("refused")
        )
    };
    let backwards = [lines[0], lines[1], lines[3], lines[2], lines[4]];
    let e = err("back.jsonl", &backwards);
    assert!(
        e.contains("back.jsonl`:4: tick 3 does not follow tick 4 of line 3: ticks must increase"),
        "{e}"
    );
    let repeated = [lines[0], lines[1], lines[2], lines[2], lines[3]];
    let e = err("dup.jsonl", &repeated);
    assert!(
        e.contains("dup.jsonl`:4: tick 3 does not follow tick 3 of line 3"),
        "{e}"
    );
    assert!(e.contains("hint: a tick written twice"), "{e}");

    let mut removed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    removed[3] = r#"{"schema_version":"0.9.7","tick":4,"payload_type":"diff","changes":{},"removed":["runtime_variant"]}"#.into();
    let r = run(
        "",
        &[("prod", None, "removed.jsonl", removed.join("\n") + "\n")],
    );
    assert_eq!(
        alerts(&r, Rule::RuntimeVariant),
        vec![(Severity::Critical, "prod:4-6".into())]
    );
    assert!(
        r.alerts[0]
            .message
            .contains("'none (removed by a diff)' (3 ticks)"),
        "{}",
        r.alerts[0].message
    );
    assert_eq!(r.verdict, Verdict::Fail);
}

#[test]
fn malformed_tick_health_values_are_warned_with_their_line() {
    let mut log = fixtures::log(Keys::Newer, 6, |_| (0, 0, 0));
    log = log.replace(
        "tick=3 duration_ms=1.43 queue=0 dropped=0",
        "tick=3 duration_ms=1.43 queue=0 dropped=abc",
    );
    log = log.replace("tick=5 ", "tick=-1 ");
    let lines = log.lines().count();
    let r = run("", &[("prod", Some(Kind::Log), "t.log", log)]);
    let warnings = &r.inputs[0].warnings;
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    // The header is 3 lines: tick 3 is on line 6, tick 5 on line 8.
    assert_eq!(
        warnings[0],
        "`t.log`:6: tick_health `dropped=abc` is not a number: read as not reported"
            .replace("t.log", &r.inputs[0].path),
        "{lines}"
    );
    assert_eq!(
        warnings[1],
        "`t.log`:8: tick_health line skipped: `tick=-1` is not a tick"
            .replace("t.log", &r.inputs[0].path)
    );
    assert_eq!(r.inputs[0].ticks, 5);
    let mut out = Vec::new();
    monitor::render::human(&r, &rollout_core::Style::new(false), &mut out).expect("render");
    let text = String::from_utf8(out).expect("utf8");
    assert!(text.contains("warn input [prod]: `"), "{text}");
}

/// Issue 20, item 14: the largest exit queue Python can print is read, and
/// is a spike (it was "not a number", no alert, exit 0 with
/// `--fail-on warning`), twice in the median window too; what truly is not
/// a number keeps its warning.
#[test]
fn an_exit_queue_as_large_as_u64_is_a_spike_not_a_malformed_value() {
    let huge = "18446744073709551615";
    let log = fixtures::log(Keys::Newer, 30, |_| (0, 0, 1))
        .replace("tick=20 duration_ms=1.43 queue=0 dropped=0 flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue=1",
            &format!("tick=20 duration_ms=1.43 queue={huge} dropped=0 flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue={huge}"))
        .replace("tick=21 duration_ms=1.43 queue=0 dropped=0 flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue=1",
            "tick=21 duration_ms=1.43 queue=0 dropped=0 flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue=99999999999999999999999")
        .replace("tick=25 duration_ms=1.43 queue=0 dropped=0 flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue=1",
            "tick=25 duration_ms=1.43 queue=0 dropped=0 flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue=lots");
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(dir.path(), "");
    let input = Input {
        env: "prod".into(),
        path: fixtures::write(dir.path(), "huge.log", &log),
        kind: Some(Kind::Log),
    };
    let r = evaluate(&ctx.settings, &[input], Some(Severity::Warning)).expect("evaluate");
    assert_eq!(
        alerts(&r, Rule::ExitQueueSpike),
        vec![(Severity::Warning, "prod:20-21".into())]
    );
    assert!(
        r.alerts[0]
            .message
            .contains(&format!("exit_queue reached {huge} at tick 20")),
        "{}",
        r.alerts[0].message
    );
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.environments[0].metrics.queue, Some(0));
    let warnings = &r.inputs[0].warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .ends_with(":28: tick_health `exit_queue=lots` is not a number: read as not reported"),
        "{warnings:?}"
    );
}
