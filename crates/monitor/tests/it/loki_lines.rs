//! Each Loki rule's log queries against real-format Townlet lines: the
//! lines each must select and those it must not, checked against the
//! built-in parser (`telemetry::log`) where both read the same line.

use telemetry::log::{LogEvent, is_loopback, parse};

use super::*;
use crate::fixtures::Keys;

const TS: &str = "2026-01-05 10:00:01,123";

fn th(rest: &str) -> String {
    format!("{TS} INFO townlet.core.sim_loop tick_health {rest}")
}

fn real_tick(tick: u64, exit_queue: &str, extra: &str) -> String {
    th(&format!(
        "tick={tick} duration_ms=1.70 queue=0 dropped=2 flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0{extra} exit_queue={exit_queue}"
    ))
}

fn buffer(n: &str) -> String {
    format!(
        "{TS} WARNING townlet.telemetry.worker Telemetry buffer exceeded 256000 bytes; dropped {n} payloads"
    )
}

fn plaintext(endpoint: &str) -> String {
    format!(
        "{TS} WARNING townlet.telemetry.transport telemetry_tcp_plaintext_enabled endpoint={endpoint}"
    )
}

fn query(rules: &[LokiRule], alert: &str, severity: &str, role: &str) -> Query {
    let rule = rules
        .iter()
        .find(|r| r.alert == alert && r.severity == severity)
        .unwrap_or_else(|| panic!("no {alert} {severity}"));
    let q = rule
        .queries
        .iter()
        .find(|q| q.role == role)
        .unwrap_or_else(|| panic!("no {role} query in {alert}"));
    Query::parse(&q.text)
}

fn default_rules() -> Vec<LokiRule> {
    loki::loki_rules(&rules_of(""), &loki_settings(r#"{job="townlet"}"#, "env"))
}

/// Lines around every alert: the real formats, older key sets, `None`
/// values, the other warnings, and near misses.
fn corpus() -> Vec<String> {
    let mut lines = vec![
        real_tick(1, "0", ""),
        real_tick(2, "7", ""),
        real_tick(3, "None", ""),
        real_tick(4, "abc", ""),
        th(
            "tick=9 duration_ms=2.10 queue=3 dropped=None perturbations_pending=0 perturbations_active=0 exit_queue=4",
        ),
        th("tick=-1 duration_ms=2.10 queue=3 dropped=0 exit_queue=4 runtime_variant=legacy"),
        th("duration_ms=2.10 queue=3 dropped=0 exit_queue=4"),
        format!("{TS} INFO townlet.core.sim_loop.tick_health tick=5 runtime_variant=legacy"),
        buffer("2"),
        buffer("None"),
        format!("{TS} WARNING townlet.telemetry.worker Telemetry buffer exceeded 256000 bytes"),
        plaintext("localhost:8765"),
        plaintext("10.0.0.5:8765"),
        format!("{TS} WARNING townlet.telemetry.transport telemetry_tcp_plaintext_enabled"),
        format!(
            "{TS} WARNING townlet.console.auth console_auth_disabled role=viewer message='Admin commands require tokens; console auth is disabled.'"
        ),
        "Completed 300 ticks in 0.535s (560.6 ticks/sec)".to_string(),
    ];
    for v in [
        "facade",
        "'facade'",
        "\"facade\"",
        "None",
        "legacy",
        "'legacy'",
        "\"le gacy\"",
    ] {
        lines.push(real_tick(6, "1", &format!(" runtime_variant={v}")));
    }
    lines
}

/// `bad-variant` selects a tick whose reported variant is not `facade`,
/// exactly when the built-in parser reads one, with the variant as label.
#[test]
fn runtime_variant_not_expected_selects_other_variants() {
    let rules = default_rules();
    let q = query(
        &rules,
        "TownletRuntimeVariantNotExpected",
        "critical",
        "bad-variant",
    );
    let mut selected = Vec::new();
    for line in corpus() {
        let built_in = match parse(&line) {
            Some(LogEvent::TickHealth(t)) => t.runtime_variant.filter(|v| *v != "facade"),
            _ => None,
        };
        let loki = q.select(&line);
        assert_eq!(loki.is_some(), built_in.is_some(), "{line}");
        if let Some(s) = loki {
            selected.push(s.labels["variant"].clone());
        }
    }
    assert_eq!(selected, ["legacy", "'legacy'", "le gacy"]);
}

/// `ticks` selects every tick the built-in rules count; `reported-variant`
/// exactly those with a variant, so an environment whose lines carry none
/// (real Townlet) is selected by the first and never by the second.
#[test]
fn runtime_variant_missing_tells_ticks_without_a_variant() {
    let rules = default_rules();
    let ticks = query(&rules, "TownletRuntimeVariantMissing", "warning", "ticks");
    let reported = query(
        &rules,
        "TownletRuntimeVariantMissing",
        "warning",
        "reported-variant",
    );
    for line in corpus() {
        let event = parse(&line);
        let is_tick = matches!(event, Some(LogEvent::TickHealth(_)));
        let has_variant =
            matches!(&event, Some(LogEvent::TickHealth(t)) if t.runtime_variant.is_some());
        assert_eq!(ticks.select(&line).is_some(), is_tick, "{line}");
        assert_eq!(reported.select(&line).is_some(), has_variant, "{line}");
    }
    let log = crate::fixtures::log(Keys::Newer, 120, |t| (u64::from(t % 7 == 0), 0, 1));
    let n = log.lines().filter(|l| ticks.select(l).is_some()).count();
    assert_eq!(n, 120);
    assert!(log.lines().all(|l| reported.select(l).is_none()));
}

/// `drops` reads the payloads each buffer warning dropped, as the built-in
/// parser does; over a whole fixture log they add up to the cumulative
/// `dropped` of its last `tick_health` line. The gap alert reads the same
/// warnings over 15 minutes.
#[test]
fn drops_and_gap_read_the_buffer_warnings() {
    let rules = rules_of("drop_warning_per_100_ticks: 10\ndrop_critical_per_100_ticks: 20");
    let rules = loki::loki_rules(&rules, &loki_settings(r#"{job="townlet"}"#, "env"));
    for (severity, alert) in [
        ("warning", "TownletTelemetryDrops"),
        ("critical", "TownletTelemetryDrops"),
        ("warning", "TownletTelemetryGap"),
    ] {
        let q = query(&rules, alert, severity, "drops");
        assert_eq!(
            q.range,
            if alert == "TownletTelemetryGap" {
                "15m"
            } else {
                "5m"
            }
        );
        for line in corpus() {
            let built_in = match parse(&line) {
                Some(LogEvent::BufferExceeded { dropped, .. }) => Some(dropped as f64),
                _ => None,
            };
            let loki = q
                .select(&line)
                .filter(|s| !s.labels.contains_key("__error__"));
            assert_eq!(loki.and_then(|s| s.value), built_in, "{alert}: {line}");
        }
        let log = crate::fixtures::log(Keys::Older, 200, |t| (u64::from(t % 3 == 0) * 2, 0, 0));
        let total: f64 = log.lines().filter_map(|l| q.select(l)?.value).sum();
        assert_eq!(total, 132.0);
        assert!(
            log.contains("dropped=132 "),
            "the fixture's cumulative count"
        );
    }
    let ticks = query(&rules, "TownletTelemetryDrops", "critical", "ticks");
    let log = crate::fixtures::log(Keys::Newer, 150, |_| (1, 0, 0));
    assert_eq!(
        log.lines().filter(|l| ticks.select(l).is_some()).count(),
        150
    );
}

/// `exit-queue` unwraps the `exit_queue` of every tick that reports one as
/// a count; `None` and non-counts are left out, as the built-in rules read
/// them as not reported.
#[test]
fn exit_queue_spike_unwraps_the_exit_queue() {
    let rules = default_rules();
    let values = query(&rules, "TownletExitQueueSpike", "warning", "exit-queue");
    let counted = query(
        &rules,
        "TownletExitQueueSpike",
        "warning",
        "exit-queue-count",
    );
    for line in corpus() {
        let built_in = match parse(&line) {
            Some(LogEvent::TickHealth(t)) => t.exit_queue.map(|v| v as f64),
            _ => None,
        };
        let loki = values
            .select(&line)
            .filter(|s| !s.labels.contains_key("__error__"));
        assert_eq!(loki.and_then(|s| s.value), built_in, "{line}");
        assert_eq!(
            counted.select(&line).is_some(),
            built_in.is_some(),
            "{line}"
        );
    }
    let one = real_tick(30, "7", "");
    assert_eq!(values.select(&one).and_then(|s| s.value), Some(7.0));
}

/// The plaintext rules split endpoints as `is_loopback` does: loopback
/// ones warn, the others are critical, and a warning without an endpoint
/// is neither.
#[test]
fn plaintext_splits_loopback_as_the_built_in_rule() {
    let rules = default_rules();
    let warning = query(&rules, "TownletTelemetryPlaintext", "warning", "plaintext");
    let critical = query(&rules, "TownletTelemetryPlaintext", "critical", "plaintext");
    assert_eq!(warning.range, "1h");
    let endpoints = [
        "localhost:8765",
        "LOCALHOST:1",
        "127.0.0.1:8765",
        "[::1]:8765",
        "::1:8765",
        "[::1]",
        "::1",
        "[::1",
        "localhost",
        "localhost:",
        "[localhost]:80",
        "10.0.0.5:8765",
        "demo.local:8765",
        "localhost.evil:80",
        "127.0.0.10:80",
        "xlocalhost:80",
        "localhost:80x",
    ];
    for endpoint in endpoints {
        let line = plaintext(endpoint);
        let Some(LogEvent::Plaintext { endpoint: seen }) = parse(&line) else {
            panic!("{line}")
        };
        let loopback = is_loopback(seen);
        let w = warning.select(&line);
        let c = critical.select(&line);
        assert_eq!(
            (w.is_some(), c.is_some()),
            (loopback, !loopback),
            "{endpoint}"
        );
        let s = w.or(c).expect("one of them");
        assert_eq!(s.labels["endpoint"], endpoint);
    }
    for line in corpus().iter().filter(|l| !l.contains("endpoint=")) {
        assert!(
            warning.select(line).is_none() && critical.select(line).is_none(),
            "{line}"
        );
    }
}
