//! The capture with a real interpreter: scripts shaped like Townlet's (they
//! log only through Python logging), a sim config changed by `set`, losses,
//! failures and deadlines.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use capture::{Ended, Run};
use rollout_config::{Overrides, Settings};

/// A workspace with a rollout config whose Townlet root is `townlet/`, and
/// the sample's interpreter as `target.python`.
struct Ws {
    dir: tempfile::TempDir,
}

impl Ws {
    fn new(capture: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Ws { dir };
        ws.write("Cargo.toml", "[workspace]\n");
        // What a Townlet checkout holds (`target.requires`).
        ws.write("townlet/pyproject.toml", "[project]\nname = \"townlet\"\n");
        ws.write("townlet/scripts/run_simulation.py", "");
        ws.write(
            "configs/rollout.yaml",
            &format!(
                "target:\n  root: ../townlet\n  python: {}\ncapture:\n{capture}",
                test_support::sample_python().display()
            ),
        );
        ws
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        p
    }

    fn settings(&self) -> Settings {
        Settings::resolve(self.path(), self.path(), &Overrides::default(), &|_| None)
            .expect("settings")
    }

    fn run(&self, timeout: Duration) -> capture::Record {
        let log = self.path().join("capture.log");
        let cancel = AtomicBool::new(false);
        let quiet = |_: &str| {};
        capture::run(
            &self.settings(),
            &Run {
                log: &log,
                timeout,
                env: &[],
                cancel: &cancel,
                progress: &quiet,
            },
        )
        .expect("capture runs")
    }
}

/// A Townlet-like script: reads the budget from its config, writes one
/// payload per tick but those it drops, and logs tick_health through a
/// `townlet.*` logger only. It calls `logging.basicConfig(force=True)` for
/// WARNING first, as a script may, which must not lose the capture's log.
const SIM: &str = r#"
import json, logging, sys, yaml
logging.basicConfig(level=logging.WARNING, force=True)
log = logging.getLogger("townlet.core.sim_loop")
config, ticks, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
budget = yaml.safe_load(open(config))["telemetry"]["transport"]["buffer"]["max_buffer_bytes"]
drop_every = 0 if budget >= 100000 else 3
dropped = 0
with open(out, "w") as f:
    for t in range(1, ticks + 1):
        if drop_every and t % drop_every == 0:
            dropped += 1
            logging.getLogger("townlet.telemetry.worker").warning(
                "Telemetry buffer exceeded %d bytes; dropped 1 payloads", budget)
        else:
            payload = {"tick": t, "payload_type": "snapshot" if t == 1 else "diff"}
            if t == 1:
                payload["runtime_variant"] = "facade"
            else:
                payload["changes"] = {}
            f.write(json.dumps(payload) + "\n")
        log.info("tick_health tick=%d duration_ms=1.0 queue=0 dropped=%d exit_queue=0", t, dropped)
print("Telemetry stream written to", out)
"#;

const SIM_CONFIG: &str = "config_id: test\ntelemetry:\n  transport:\n    type: stdout\n    buffer:\n      max_buffer_bytes: 256000\n";

fn sim_ws(budget: u64) -> Ws {
    let ws = Ws::new(&format!(
        "  sim_config: configs/sim.yaml\n  set:\n    telemetry.transport.buffer.max_buffer_bytes: {budget}\n  commands:\n    - \"{{python}} scripts/sim.py {{sim_config}} 10 {{capture_dir}}/telemetry.jsonl\"\n"
    ));
    ws.write("townlet/scripts/sim.py", SIM);
    ws.write("townlet/configs/sim.yaml", SIM_CONFIG);
    ws
}

#[test]
fn townlets_logging_reaches_the_log_and_set_reaches_the_config() {
    let ws = sim_ws(16_777_216);
    let record = ws.run(Duration::from_secs(60));
    assert_eq!(record.ended, Ended::Done, "{record:#?}");
    assert!(record.is_lossless(), "{record:#?}");
    assert_eq!(
        record.summary(),
        "telemetry.jsonl: 10 of 10 ticks written, none lost; Townlet logged 10 tick_health lines, dropped=0"
    );
    let log =
        std::fs::read_to_string(ws.settings().rollout_dir().join("townlet.log")).expect("log");
    assert!(
        log.lines()
            .any(|l| l.ends_with("INFO townlet.core.sim_loop tick_health tick=10 duration_ms=1.0 queue=0 dropped=0 exit_queue=0")),
        "{log}"
    );
    // The target's own config is untouched; the capture ran a copy.
    let own = std::fs::read_to_string(ws.path().join("townlet/configs/sim.yaml")).expect("read");
    assert_eq!(own, SIM_CONFIG);
    let sim = record.sim_config.as_ref().expect("sim config");
    let written = std::fs::read_to_string(&sim.written).expect("written");
    assert!(written.contains("max_buffer_bytes: 16777216"), "{written}");
    assert!(written.contains("config_id: test"), "{written}");
    // The record is on disk for bless and later readers.
    let again = capture::Record::load(&ws.settings().rollout_dir().join("capture-record.json"))
        .expect("record");
    assert_eq!(again, record);
}

#[test]
fn a_lossy_capture_says_what_it_lost() {
    let ws = sim_ws(1024);
    let record = ws.run(Duration::from_secs(60));
    assert_eq!(record.ended, Ended::Done);
    assert!(!record.is_lossless());
    let stream = &record.streams[0];
    assert_eq!((stream.payloads, stream.lost), (7, 3));
    assert_eq!(stream.lost_ranges, [(3, 3), (6, 6), (9, 9)]);
    assert_eq!(record.log.dropped, Some(3));
    assert_eq!(
        (record.log.drop_warnings, record.log.dropped_in_warnings),
        (3, 3)
    );
    assert_eq!(
        record.summary(),
        "telemetry.jsonl: 7 of 10 ticks written, 3 lost (3, 6, 9); Townlet logged 10 tick_health lines, dropped=3"
    );
}

#[test]
fn a_failing_command_stops_the_capture_and_says_which() {
    let ws = Ws::new(
        "  commands:\n    - \"{python} -c 'import sys; sys.exit(3)'\"\n    - \"touch {root}/second\"\n",
    );
    std::fs::create_dir_all(ws.path().join("townlet")).expect("mkdir");
    let record = ws.run(Duration::from_secs(60));
    match &record.ended {
        Ended::Failed {
            command,
            exit_code: Some(3),
            ..
        } => assert!(command.contains("sys.exit(3)"), "{command}"),
        other => panic!("{other:?}"),
    }
    assert!(
        !ws.path().join("townlet/second").exists(),
        "the rest did not run"
    );
}

#[test]
fn a_capture_past_its_timeout_is_stopped_with_what_it_started() {
    let ws = Ws::new(
        "  commands:\n    - \"{python} -c 'import subprocess, time; p = subprocess.Popen([\\\"sleep\\\", \\\"60\\\"]); open(\\\"child.pid\\\", \\\"w\\\").write(str(p.pid)); time.sleep(60)'\"\n",
    );
    std::fs::create_dir_all(ws.path().join("townlet")).expect("mkdir");
    let started = std::time::Instant::now();
    let record = ws.run(Duration::from_millis(1500));
    assert!(
        matches!(record.ended, Ended::TimedOut { .. }),
        "{:?}",
        record.ended
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let pid = std::fs::read_to_string(ws.path().join("townlet/child.pid")).expect("pid");
    assert!(
        test_support::process_gone(pid.trim()),
        "grandchild {pid} survived"
    );
}
