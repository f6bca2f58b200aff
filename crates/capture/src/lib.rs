//! The rollout capture: running Townlet so that it writes the candidate the
//! Phase 3 baselines are compared with, and saying what it wrote.
//!
//! Owns: running `capture.commands` from the Townlet root into
//! `target/rollout/capture/` under a deadline and cancellation (through
//! `plumbing`), the sim config with `capture.set` applied (written by the
//! target's own Python, never over the target's file), Townlet's Python
//! logging at `capture.log_level` into `target/rollout/townlet.log` (its
//! scripts configure none, so `tick_health` lines are otherwise never
//! written), and the capture record (`target/rollout/capture-record.json`):
//! commands, Townlet commit, ticks written and lost per stream, and the drops
//! Townlet reported.
//!
//! Does not own: comparing the capture (`baseline-diff`), alerting on it
//! (`monitor`), or reading streams and log lines (`telemetry`). The gate's
//! `capture` step and `baseline-diff` without `--candidate` call [`run`].

mod account;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use plumbing::process::{Exit, run_logged};
use rollout_config::Settings;
use serde::{Deserialize, Serialize};

pub use account::{LogCount, StreamCount};

/// Version of the record's shape.
pub const SCHEMA: u32 = 1;

/// The record's file name, in `target/rollout/`.
pub const RECORD_FILE: &str = "capture-record.json";

/// The helper run by the target's interpreter (see its docstring).
const BOOTSTRAP: &str = include_str!("bootstrap.py");

/// How a capture runs: where its output goes, for how long, and what stops it.
pub struct Run<'a> {
    /// The commands' stdout and stderr are appended here.
    pub log: &'a Path,
    pub timeout: Duration,
    /// Variables added to the commands' environment (a gate step's `env`).
    pub env: &'a [(String, String)],
    pub cancel: &'a AtomicBool,
    /// Told one line per command as it starts (progress).
    pub progress: &'a dyn Fn(&str),
}

/// How the commands ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Ended {
    /// Every command exited 0.
    Done,
    /// A command exited otherwise (or died of a signal).
    Failed {
        command: String,
        exit_code: Option<i32>,
        signal: Option<i32>,
    },
    TimedOut {
        command: String,
    },
    Interrupted {
        command: String,
    },
}

/// One command as it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// As written in `capture.commands` (placeholders kept), or what the
    /// tooling itself ran (writing the sim config).
    pub written: String,
    /// Placeholders filled.
    pub command: String,
    /// What was executed (the interpreter runs the logging bootstrap).
    pub argv: Vec<String>,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
}

/// The sim config the capture ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// `capture.sim_config`, relative to the Townlet root.
    pub source: String,
    /// The file written with `set` applied (what `{sim_config}` named).
    pub written: PathBuf,
    pub set: std::collections::BTreeMap<String, serde_json::Value>,
}

/// `target/rollout/capture-record.json`: what a capture ran and wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub schema: u32,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub duration_ms: u64,
    pub root: PathBuf,
    /// `git rev-parse HEAD` of the Townlet checkout, when it is one.
    pub townlet_commit: Option<String>,
    /// Uncommitted changes to tracked files were present.
    pub townlet_dirty: Option<bool>,
    pub sim_config: Option<SimConfig>,
    pub log_level: String,
    pub commands: Vec<CommandRecord>,
    pub ended: Ended,
    /// The telemetry streams (`*.jsonl`) written into the capture directory.
    pub streams: Vec<StreamCount>,
    /// Other files written there (observation tensors and their metadata).
    pub files: Vec<String>,
    /// What Townlet's log (`townlet.log`) says.
    pub log: LogCount,
}

impl Record {
    /// No stream lost a tick and Townlet reported no drop.
    pub fn is_lossless(&self) -> bool {
        self.streams
            .iter()
            .all(|s| s.lost == 0 && s.error.is_none())
            && self.log.dropped.unwrap_or(0) == 0
            && self.log.dropped_in_warnings == 0
    }

    /// Reads a record written by [`run`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = input::read_to_string(path, input::Kind::DOCUMENT)
            .map_err(|error| anyhow::anyhow!("capture record {error}"))?;
        serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not a capture record", path.display()))
    }

    /// One line for people: what was written and lost.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self.streams.iter().map(StreamCount::summary).collect();
        if self.streams.is_empty() {
            parts.push("no telemetry stream (*.jsonl) written".into());
        }
        if !self.files.is_empty() {
            parts.push(format!(
                "{} other file{}",
                self.files.len(),
                if self.files.len() == 1 { "" } else { "s" }
            ));
        }
        parts.push(self.log.summary());
        parts.join("; ")
    }
}

/// The telemetry streams of a candidate (a `.jsonl` file, or the `*.jsonl`
/// files of a directory), each with the ticks it lost. Without a log, only
/// gaps and a missing start count as lost.
pub fn streams_in(candidate: &Path) -> Result<Vec<StreamCount>> {
    if candidate.is_dir() {
        return Ok(account::streams(candidate)?.0);
    }
    let name = candidate
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if candidate.extension().is_some_and(|e| e == "jsonl") {
        return Ok(vec![account::count_stream(candidate, name)]);
    }
    Ok(Vec::new())
}

/// Where the record of the last capture is.
pub fn record_path(settings: &Settings) -> PathBuf {
    settings.rollout_dir().join(RECORD_FILE)
}

/// Runs the capture: empties `{capture_dir}`, writes the sim config, runs
/// every command, counts what was written, and writes the record (also when
/// a command failed). `Err` only when it could not run at all (no commands,
/// a directory that cannot be made, a program that cannot start).
pub fn run(settings: &Settings, run: &Run<'_>) -> Result<Record> {
    let cfg = &settings.config.capture;
    if cfg.commands.is_empty() {
        bail!(
            "no capture commands configured\nhint: set `capture.commands` in `{}`",
            settings.config.path.display()
        );
    }
    let root = settings.townlet_checkout()?.to_path_buf();
    let started = Instant::now();
    let started_at = jiff::Timestamp::now().to_string();
    let rollout = settings.rollout_dir();
    let dir = settings.capture_dir();
    let townlet_log = settings.townlet_log();
    let record_file = record_path(settings);
    prepare(&rollout, &dir, &[&townlet_log, &record_file])?;
    let bootstrap = rollout.join("capture-bootstrap.py");
    rollout_core::fs::write_atomic(&bootstrap, BOOTSTRAP.as_bytes())?;

    let mut session = Session {
        root: &root,
        python: settings.python(),
        bootstrap: &bootstrap,
        townlet_log: &townlet_log,
        run,
        deadline: started + run.timeout,
        commands: Vec::new(),
        ended: Ended::Done,
    };
    let sim_config = match &cfg.sim_config {
        None => None,
        Some(source) => Some(session.write_sim_config(settings, source)?),
    };
    let vars = |name: &str| match name {
        "sim_config" => sim_config
            .as_ref()
            .map(|s| vec![s.written.display().to_string()]),
        other => settings.placeholder(other),
    };
    let total = cfg.commands.len();
    for (i, line) in cfg.commands.iter().enumerate() {
        if session.ended != Ended::Done {
            break;
        }
        let argv = line
            .expand(&vars)
            .map_err(|e| anyhow::anyhow!("capture.commands[{i}]: {e}"))?;
        (run.progress)(&format!(
            "capture [{}/{total}]: `{}`",
            i + 1,
            argv.join(" ")
        ));
        session.command(&line.raw, argv, &cfg.log_level)?;
    }
    let Session {
        commands, ended, ..
    } = session;

    let (streams, files) = account::streams(&dir)?;
    let log = account::log(&townlet_log)?;
    let streams = account::with_expected_ticks(streams, &log);
    let (townlet_commit, townlet_dirty) = commit_of(&root);
    let record = Record {
        schema: SCHEMA,
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        root,
        townlet_commit,
        townlet_dirty,
        sim_config,
        log_level: cfg.log_level.clone(),
        commands,
        ended,
        streams,
        files,
        log,
    };
    let mut json = serde_json::to_vec_pretty(&record)?;
    json.push(b'\n');
    rollout_core::fs::write_atomic(&record_file, &json)?;
    Ok(record)
}

/// The commands of one capture, run one after the other under one deadline.
struct Session<'a> {
    root: &'a Path,
    python: PathBuf,
    bootstrap: &'a Path,
    townlet_log: &'a Path,
    run: &'a Run<'a>,
    deadline: Instant,
    commands: Vec<CommandRecord>,
    ended: Ended,
}

impl Session<'_> {
    /// Writes `source` with `capture.set` applied, by the target's own
    /// Python (the bootstrap's `sim-config`), under `target/rollout/`.
    fn write_sim_config(&mut self, settings: &Settings, source: &str) -> Result<SimConfig> {
        let cfg = &settings.config.capture;
        let rollout = settings.rollout_dir();
        let written = rollout.join("capture-sim-config").join(
            Path::new(source)
                .file_name()
                .map_or_else(|| "sim.yaml".into(), |n| n.to_os_string()),
        );
        std::fs::create_dir_all(written.parent().unwrap_or(&rollout))
            .with_context(|| format!("cannot create `{}`", written.display()))?;
        let argv = vec![
            self.python.display().to_string(),
            self.bootstrap.display().to_string(),
            "sim-config".to_string(),
            settings.in_root(source).display().to_string(),
            written.display().to_string(),
            serde_json::to_string(&cfg.set)?,
        ];
        let shown = format!(
            "write `{source}` with {} key(s) set to `{}`",
            cfg.set.len(),
            written.display()
        );
        (self.run.progress)(&format!("capture: {shown}"));
        let what = format!("write `{source}` with `capture.set` applied");
        self.execute(&what, &shown, argv)?;
        Ok(SimConfig {
            source: source.to_string(),
            written,
            set: cfg.set.clone(),
        })
    }

    /// Runs one of `capture.commands` (`written` as in the config, `argv`
    /// filled); the target's interpreter runs it under the bootstrap, with
    /// Townlet's logging at `log_level`.
    fn command(&mut self, written: &str, argv: Vec<String>, log_level: &str) -> Result<()> {
        let shown = argv.join(" ");
        let argv = if argv.first().map(PathBuf::from).as_ref() == Some(&self.python) {
            let mut with = vec![
                self.python.display().to_string(),
                self.bootstrap.display().to_string(),
                "run".into(),
                log_level.to_string(),
                self.townlet_log.display().to_string(),
                "--".into(),
            ];
            with.extend(argv.into_iter().skip(1));
            with
        } else {
            argv
        };
        self.execute(written, &shown, argv)
    }

    fn execute(&mut self, written: &str, shown: &str, argv: Vec<String>) -> Result<()> {
        let (exit, record) = self.spawn(written, shown, argv)?;
        self.commands.push(record);
        if let Some(e) = failure(exit, shown) {
            self.ended = e;
        }
        Ok(())
    }

    /// Runs one command from the root with its output appended to the
    /// log, under what is left of the deadline.
    fn spawn(
        &self,
        written: &str,
        shown: &str,
        argv: Vec<String>,
    ) -> Result<(Exit, CommandRecord)> {
        let (root, run, deadline) = (self.root, self.run, self.deadline);
        let started = Instant::now();

        let command = plumbing::process::command_in(root, &argv, run.env)?;
        {
            use std::io::Write as _;
            let mut log = std::fs::File::options()
                .create(true)
                .append(true)
                .open(run.log)
                .with_context(|| format!("cannot open the capture log `{}`", run.log.display()))?;
            writeln!(log, "== capture: {shown}")?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let exit = run_logged(command, run.log, left, run.cancel).with_context(|| {
            format!(
                "cannot run capture command `{shown}`\nhint: check `target.python` and `capture.commands` in the rollout config"
            )
        })?;
        Ok((
            exit,
            CommandRecord {
                written: written.to_string(),
                command: shown.to_string(),
                argv,
                exit_code: exit.code(),
                duration_ms: started.elapsed().as_millis() as u64,
            },
        ))
    }
}

/// Empties the capture directory and removes what an earlier capture left.
fn prepare(rollout: &Path, dir: &Path, stale: &[&Path]) -> Result<()> {
    std::fs::create_dir_all(rollout)
        .with_context(|| format!("cannot create `{}`", rollout.display()))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear the capture directory `{}`", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    for file in stale {
        match std::fs::remove_file(file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot remove `{}`", file.display()));
            }
        }
    }
    Ok(())
}

fn failure(exit: Exit, shown: &str) -> Option<Ended> {
    let command = shown.to_string();
    match exit {
        Exit::Code(0) => None,
        Exit::Code(c) => Some(Ended::Failed {
            command,
            exit_code: Some(c),
            signal: None,
        }),
        Exit::Signal(s) => Some(Ended::Failed {
            command,
            exit_code: None,
            signal: Some(s),
        }),
        Exit::TimedOut => Some(Ended::TimedOut { command }),
        Exit::Interrupted => Some(Ended::Interrupted { command }),
    }
}

/// The checkout's commit and whether tracked files changed, when it is a git
/// checkout of its own.
pub fn commit_of(root: &Path) -> (Option<String>, Option<bool>) {
    let Ok(sh) = xshell::Shell::new() else {
        return (None, None);
    };
    let Ok(git) = plumbing::git::Git::open(&sh, root) else {
        return (None, None);
    };
    let commit = git.commit("HEAD").ok();
    let dirty = git.status(false).ok().map(|s| !s.is_empty());
    (commit, dirty)
}
