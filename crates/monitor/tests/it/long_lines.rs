//! Lines longer than the log line cap (issue 20, item 9): the same rule in a
//! whole read and in `--follow` (`monitor::input::over_long_line`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use monitor::{Input, Kind, Report, follow};

use crate::fixtures::evaluate;
use rollout_core::Severity;

use crate::fixtures::{self, Keys};

/// A 30-tick log with a record of `bytes` bytes that is not `tick_health`
/// after tick 10 (line 14) and another after tick 20 (line 25).
fn log_with_long_records(bytes: usize) -> String {
    let record = format!(
        "2026-01-05 10:00:10,000 INFO townlet.world.dump state={}\n",
        "x".repeat(bytes)
    );
    let mut log = String::new();
    for (i, line) in fixtures::log(Keys::Newer, 30, |t| (0, 0, u64::from(t == 28) * 50))
        .lines()
        .enumerate()
    {
        log.push_str(line);
        log.push('\n');
        if i == 12 || i == 22 {
            log.push_str(&record);
        }
    }
    log
}

fn whole_read(dir: &Path, path: &Path) -> anyhow::Result<Report> {
    let ctx = fixtures::context(dir, "");
    let input = Input {
        env: "prod".into(),
        path: path.to_path_buf(),
        kind: Some(Kind::Log),
    };
    evaluate(&ctx.settings, &[input], Some(Severity::Warning))
}

fn followed(dir: &Path, path: &Path) -> anyhow::Result<Report> {
    let mut ctx = fixtures::context(dir, "");
    ctx.out = rollout_core::Out::memory().0;
    let input = Input {
        env: "prod".into(),
        path: path.to_path_buf(),
        kind: None,
    };
    let settings = fixtures::follow_settings(
        &ctx.settings,
        vec![input],
        Severity::Warning,
        Duration::from_millis(300),
    );
    follow::run(&ctx, &settings)
}

#[test]
fn over_long_records_are_skipped_with_a_counted_warning_in_both_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = fixtures::write(dir.path(), "big.log", &log_with_long_records(10 << 20));
    let name = path.display().to_string();
    let whole = whole_read(dir.path(), &path).expect("read whole");
    let follow = followed(dir.path(), &path).expect("followed");
    for report in [&whole, &follow] {
        let input = &report.inputs[0];
        assert_eq!((input.records, input.ticks), (36, 30));
        assert_eq!(
            input.warnings,
            [format!(
                "`{name}`:14: line longer than 1 MiB skipped (2 such lines in all, the first here): not a record the alert rules read"
            )]
        );
        // The ticks after the long records are judged: the spike at 28
        // (and, a log alone, no runtime_variant).
        assert_eq!(report.alerts.len(), 2, "{:?}", report.alerts);
        assert_eq!(report.alerts[1].rule, monitor::Rule::RuntimeVariantMissing);
        assert_eq!(report.alerts[0].rule, monitor::Rule::ExitQueueSpike);
        assert_eq!(report.alerts[0].evidence[0].line, 3 + 28 + 2);
    }
    // One long record: the count says so.
    let one = log_with_long_records(2 << 20).replacen(
        &format!("state={}", "x".repeat(2 << 20)),
        "state=short",
        1,
    );
    std::fs::write(&path, one).expect("write");
    let whole = whole_read(dir.path(), &path).expect("read whole");
    assert_eq!(
        whole.inputs[0].warnings,
        [format!(
            "`{name}`:25: line longer than 1 MiB skipped (1 such line in all): not a record the alert rules read"
        )]
    );
}

/// A record the rules read is refused in both modes (the stricter of the
/// two behaviours before): skipping it would hide its figures.
#[test]
fn an_over_long_tick_health_record_is_refused_in_both_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = fixtures::log(Keys::Older, 12, |_| (0, 0, 1)).replace(
        "tick=7 duration_ms=1.43",
        &format!("tick=7 pad={} duration_ms=1.43", "y".repeat(3 << 20)),
    );
    let path = fixtures::write(dir.path(), "forged.log", &log);
    for error in [
        whole_read(dir.path(), &path).expect_err("refused"),
        followed(dir.path(), &path).expect_err("refused"),
    ] {
        let error = format!("{error:#}");
        assert!(
            error.starts_with(&format!(
                "`{}`:10: a `tick_health` record longer than 1 MiB: the alert rules read it, so it is not skipped\nhint: ",
                path.display()
            )),
            "{error}"
        );
    }
    // So is a plaintext-transport warning that long.
    let log = fixtures::log(Keys::Older, 3, |_| (0, 0, 1))
        + &fixtures::plaintext_warning(&format!("{}.example:8765", "h".repeat(2 << 20)));
    let path = fixtures::write(dir.path(), "plaintext.log", &log);
    let error = format!("{:#}", whole_read(dir.path(), &path).expect_err("refused"));
    assert!(
        error.contains(":8: a `telemetry_tcp_plaintext_enabled` warning longer than 1 MiB"),
        "{error}"
    );
}

/// A line without an end (`/dev/zero` on stdin) is skipped only so far:
/// both modes stop after 64 MiB.
#[test]
fn a_line_without_an_end_is_refused_after_64_mib() {
    let input = Input {
        env: "prod".into(),
        path: "-".into(),
        kind: Some(Kind::Log),
    };
    let mut eval = monitor::SourceEval::new(
        "prod",
        "<stdin>",
        Kind::Log,
        monitor::RuleSettings::new("facade", monitor::DropThresholds::none()),
    );
    let reader = Box::new(std::io::BufReader::new(std::io::repeat(0)));
    let started = std::time::Instant::now();
    let error =
        monitor::input::read_all(&input, reader, Kind::Log, &mut eval).expect_err("refused");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        format!("{error:#}"),
        "`<stdin>`:1: line longer than 1 MiB without a newline after 64 MiB: expected a Townlet log, one record per line\nhint: is this a log? (`/dev/zero` and binary files have no newlines)"
    );
    // Followed, a file that grows without a newline.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = fixtures::log(Keys::Older, 3, |_| (0, 0, 1));
    log.push_str(&"z".repeat(65 << 20));
    let path = fixtures::write(dir.path(), "endless.log", &log);
    let error = format!("{:#}", followed(dir.path(), &path).expect_err("refused"));
    assert!(
        error.ends_with(":8: line longer than 1 MiB without a newline after 64 MiB: expected a Townlet log, one record per line\nhint: is this a log? (`/dev/zero` and binary files have no newlines)"),
        "{error}"
    );
}
