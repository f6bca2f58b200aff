//! The rules fed line by line.

use super::*;

fn th(tick: u64, dropped: u64, exit_queue: u64) -> String {
    format!(
        "2026-01-01 00:00:00,000 INFO townlet.core.sim_loop tick_health tick={tick} duration_ms=1.0 queue=0 dropped={dropped} exit_queue={exit_queue}"
    )
}

#[test]
fn drop_rate_is_per_100_ticks() {
    let mut e = SourceEval::new(
        "e",
        "f",
        Kind::Log,
        RuleSettings::new(
            "facade",
            DropThresholds {
                warning: Some(10.0),
                critical: None,
                source: "config".into(),
            },
        ),
    );
    // 1 drop per tick from tick 101: at tick 110 the window holds 10 drops.
    for t in 1..=110u64 {
        e.log_line(t, &th(t, t.saturating_sub(100), 0));
    }
    assert_eq!(e.metrics().drop_rate_per_100_ticks, Some(10.0));
    assert!(e.alerts().is_empty());
    e.log_line(111, &th(111, 11, 0));
    let a = e.alerts();
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].ticks,
        vec![TickRange {
            start: 111,
            end: 111
        }]
    );
}

#[test]
fn median_spike_needs_warmup() {
    let mut s = RuleSettings::new("facade", DropThresholds::none());
    s.spike_factor = 3.0;
    let mut e = SourceEval::new("e", "f", Kind::Log, s);
    for t in 1..=9u64 {
        e.log_line(t, &th(t, 0, 2));
    }
    e.log_line(10, &th(10, 0, 100));
    assert!(e.alerts().is_empty(), "{:?}", e.alerts());
    for t in 11..=20u64 {
        e.log_line(t, &th(t, 0, 2));
    }
    e.log_line(21, &th(21, 0, 6));
    assert!(e.alerts().is_empty(), "6 is not above 3 x 2");
    e.log_line(22, &th(22, 0, 7));
    assert_eq!(e.alerts().len(), 1);
}

#[test]
fn buffer_warnings_count_when_dropped_is_not_reported() {
    let mut e = SourceEval::new(
        "e",
        "f",
        Kind::Log,
        RuleSettings::new("facade", DropThresholds::none()),
    );
    let line = |t: u64| {
        format!(
            "2026-01-05 10:00:00,000 INFO townlet.core.sim_loop tick_health tick={t} duration_ms=1.0 queue=0 dropped=None exit_queue=0"
        )
    };
    e.log_line(1, &line(1));
    e.log_line(2, "2026-01-05 10:00:00,000 WARNING townlet.telemetry.worker Telemetry buffer exceeded 6000 bytes; dropped 3 payloads");
    e.log_line(3, &line(2));
    let a = e.alerts();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].first_tick, Some(2));
    assert_eq!(a[0].evidence[0].line, 2);
    assert_eq!(e.metrics().dropped_total, Some(3));
}

#[test]
fn a_restarted_run_starts_a_new_window() {
    let mut e = SourceEval::new(
        "e",
        "f",
        Kind::Log,
        RuleSettings::new("facade", DropThresholds::none()),
    );
    for t in 1..=50u64 {
        e.log_line(t, &th(t, 40, 0));
    }
    assert_eq!(e.metrics().drop_rate_per_100_ticks, Some(40.0));
    e.log_line(51, &th(1, 0, 0));
    assert_eq!(e.metrics().drop_rate_per_100_ticks, Some(0.0));
    assert_eq!(e.metrics().tick, Some(1));
}
