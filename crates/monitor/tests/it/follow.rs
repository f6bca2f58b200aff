//! `--follow` over real files in a temp dir: rotation (rename, the writer
//! finishes the old file, a new file appears) and truncation in place, with
//! bounded waits on what the follower has printed.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use monitor::{Rule, follow};
use rollout_core::Severity;

use crate::fixtures::{self, Keys, Tick};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }

    /// Waits (at most 20 s) until the follower has printed `what`.
    fn wait_for(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.text().contains(what) {
            assert!(
                Instant::now() < deadline,
                "follower never printed {what:?}; printed:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn append(path: &std::path::Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

#[test]
fn follows_through_rotation_and_truncation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ctx = fixtures::context(dir.path(), "");
    ctx.format = rollout_core::Format::Human;
    let log = dir.path().join("townlet.log");
    let mut first = fixtures::header();
    for t in 1..=50 {
        first.push_str(&fixtures::tick_health(
            Keys::Newer,
            t,
            Tick {
                dropped: u64::from(t >= 40),
                ..Tick::default()
            },
        ));
    }
    std::fs::write(&log, &first).expect("write");

    let out = Shared::default();
    ctx.out = rollout_core::Out::to_writer(out.clone(), false);
    let settings = monitor::Settings {
        prom_textfile: Some(dir.path().join("m.prom")),
        ..fixtures::follow_settings(
            &ctx.settings,
            vec![fixtures::input(&log, Some(monitor::Kind::Log))],
            Severity::Critical,
            Duration::from_millis(1500),
        )
    };
    let follower = {
        let ctx = ctx.clone();
        std::thread::spawn(move || follow::run(&ctx, &settings))
    };
    out.wait_for("telemetry-drops [default] warning");

    // Rotation: the file is renamed, the writer finishes it, a new one starts.
    let rotated = dir.path().join("townlet.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    append(&rotated, &fixtures::plaintext_warning("demo.local:8765"));
    append(
        &rotated,
        &fixtures::tick_health(
            Keys::Newer,
            51,
            Tick {
                dropped: 1,
                ..Tick::default()
            },
        ),
    );
    let mut second = String::new();
    for t in 52..=80 {
        second.push_str(&fixtures::tick_health(
            Keys::Older,
            t,
            Tick {
                dropped: 1,
                exit_queue: 1,
                ..Tick::default()
            },
        ));
    }
    std::fs::write(&log, &second).expect("new file");
    out.wait_for("plaintext-transport [default] critical");

    // Truncation in place: a new run starts at tick 1, shorter than before.
    std::fs::write(&log, "").expect("truncate");
    let mut third = String::new();
    for t in 1..=12 {
        third.push_str(&fixtures::tick_health(
            Keys::Older,
            t,
            Tick {
                exit_queue: if t == 12 { 50 } else { 1 },
                ..Tick::default()
            },
        ));
    }
    append(&log, &third);
    out.wait_for("exit-queue-spike [default] warning");

    let report = follower.join().expect("thread").expect("follow");
    let rules: Vec<(Rule, Severity)> = report.alerts.iter().map(|a| (a.rule, a.severity)).collect();
    assert!(
        rules.contains(&(Rule::PlaintextTransport, Severity::Critical)),
        "{rules:?}"
    );
    assert!(
        rules.contains(&(Rule::TelemetryDrops, Severity::Warning)),
        "{rules:?}"
    );
    assert!(
        rules.contains(&(Rule::ExitQueueSpike, Severity::Warning)),
        "{rules:?}"
    );
    let drops = report
        .alerts
        .iter()
        .find(|a| a.rule == Rule::TelemetryDrops)
        .expect("drops");
    assert_eq!(drops.first_tick, Some(40));
    // Every tick of every file was read once: 51 + 29 + 12.
    assert_eq!(report.inputs[0].ticks, 92);
    assert_eq!(report.environments[0].metrics.tick, Some(12));
    let metrics = std::fs::read_to_string(dir.path().join("m.prom")).expect("textfile");
    assert!(
        metrics.contains("townlet_tick{env=\"default\"} 12"),
        "{metrics}"
    );
}
