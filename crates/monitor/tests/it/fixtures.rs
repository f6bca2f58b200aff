//! Fixture writers in the exact formats of Townlet's logs and telemetry:
//! `tick_health` lines of the newer key set (with `flush_ms`,
//! `payloads_total`, `bytes_total`) and the older one (without), the buffer
//! and plaintext warnings, and 0.9.7 snapshot + diff telemetry.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rollout_config::{Context, Overrides, Settings};
use rollout_core::{Format, Verbosity};

/// One tick of a run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tick {
    pub dropped: u64,
    pub queue: u64,
    pub exit_queue: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    /// Current Townlet: `flush_ms`, `payloads_total`, `bytes_total` too.
    Newer,
    /// Older builds: no `flush_ms`, `payloads_total`, `bytes_total`.
    Older,
}

fn stamp(i: u64) -> String {
    format!(
        "2026-01-05 10:00:{:02},{:03}",
        10 + (i / 1000) % 50,
        i % 1000
    )
}

/// The header Townlet prints before the first tick.
pub(crate) fn header() -> String {
    let mut s = String::from("Telemetry stream written to tmp/rollout/t.jsonl\n");
    writeln!(s, "{} INFO townlet.config.affordance_manifest Loaded affordance manifest configs/affordances/core.yaml (objects=3, affordances=4, sha256=00)", stamp(0)).ok();
    writeln!(s, "{} WARNING townlet.console.auth console_auth_disabled role=viewer message='Admin commands require tokens; console auth is disabled.'", stamp(0)).ok();
    s
}

pub(crate) fn tick_health(keys: Keys, tick: u64, t: Tick) -> String {
    match keys {
        Keys::Newer => format!(
            "{} INFO townlet.core.sim_loop tick_health tick={tick} duration_ms=1.43 queue={} dropped={} flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue={}\n",
            stamp(tick),
            t.queue,
            t.dropped,
            t.exit_queue
        ),
        Keys::Older => format!(
            "{} INFO townlet.core.sim_loop tick_health tick={tick} duration_ms=1.43 queue={} dropped={} perturbations_pending=0 perturbations_active=0 exit_queue={}\n",
            stamp(tick),
            t.queue,
            t.dropped,
            t.exit_queue
        ),
    }
}

pub(crate) fn buffer_warning(tick: u64, n: u64) -> String {
    format!(
        "{} WARNING townlet.telemetry.worker Telemetry buffer exceeded 256000 bytes; dropped {n} payloads\n",
        stamp(tick)
    )
}

pub(crate) fn plaintext_warning(endpoint: &str) -> String {
    format!(
        "{} WARNING townlet.telemetry.transport telemetry_tcp_plaintext_enabled endpoint={endpoint}\n",
        stamp(0)
    )
}

/// A log of ticks 1..=n; `per_tick(tick)` gives the drops of that tick
/// (printed as a buffer warning before the tick's line), the queue and the
/// exit queue.
pub(crate) fn log(keys: Keys, n: u64, per_tick: impl Fn(u64) -> (u64, u64, u64)) -> String {
    let mut s = header();
    let mut total = 0;
    for tick in 1..=n {
        let (drops, queue, exit_queue) = per_tick(tick);
        if drops > 0 {
            s.push_str(&buffer_warning(tick, drops));
        }
        total += drops;
        s.push_str(&tick_health(
            keys,
            tick,
            Tick {
                dropped: total,
                queue,
                exit_queue,
            },
        ));
    }
    writeln!(s, "Completed {n} ticks in 0.535s (560.6 ticks/sec)").ok();
    s
}

/// A 0.9.7 stream: a snapshot at tick 1, then diffs for the ticks in
/// `ticks` (others missing); `variant(tick)` is the runtime_variant, set by
/// a diff when it changes; `pending(tick)` the employment queue.
pub(crate) fn telemetry(
    ticks: impl IntoIterator<Item = u64>,
    variant: impl Fn(u64) -> String,
    pending: impl Fn(u64) -> u64,
) -> String {
    let mut s = String::new();
    let mut last_variant = String::new();
    let mut last_pending = u64::MAX;
    for tick in ticks {
        let v = variant(tick);
        let p = pending(tick);
        let employment = format!(
            r#"{{"daily_exit_cap":2,"exits_today":0,"pending":[],"pending_count":{p},"queue_limit":8,"review_window":1440}}"#
        );
        if s.is_empty() {
            writeln!(s, r#"{{"schema_version":"0.9.7","tick":{tick},"runtime_variant":"{v}","queue_metrics":{{"cooldown_events":0,"ghost_step_events":0,"rotation_events":0}},"employment":{employment},"stability":{{"alerts":[]}},"payload_type":"snapshot"}}"#).ok();
        } else {
            let mut changes = String::from(r#""stability":{"alerts":[]}"#);
            if v != last_variant {
                write!(changes, r#","runtime_variant":"{v}""#).ok();
            }
            if p != last_pending {
                write!(changes, r#","employment":{employment}"#).ok();
            }
            writeln!(s, r#"{{"schema_version":"0.9.7","tick":{tick},"payload_type":"diff","changes":{{{changes}}}}}"#).ok();
        }
        last_variant = v;
        last_pending = p;
    }
    s
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write fixture");
    p
}

/// A context over a rollout config holding `monitor_yaml` as its `monitor`
/// section, in `dir`.
pub(crate) fn context(dir: &Path, monitor_yaml: &str) -> Context {
    let cfg = dir.join("rollout.yaml");
    let mut text =
        String::from("runtime_variant: facade\nmonitor:\n  thresholds_file: thresholds.yaml\n");
    for line in monitor_yaml.lines() {
        writeln!(text, "  {line}").ok();
    }
    std::fs::write(&cfg, text).expect("write config");
    let overrides = Overrides {
        config: Some(cfg),
        root: Some(dir.to_path_buf()),
    };
    let settings = Settings::resolve(dir, dir, &overrides, &|_| None).expect("settings");
    Context {
        settings,
        format: Format::Json,
        verbosity: Verbosity::Quiet,
        out: rollout_core::Out::stdout(),
    }
}

/// The rule settings of the context's config, with the learnt thresholds
/// when it sets none (what `xtask` resolves for `monitor`).
pub(crate) fn rule_settings(settings: &Settings) -> anyhow::Result<monitor::RuleSettings> {
    let config = &settings.config;
    let learnt = monitor::learnt_thresholds(config)?;
    Ok(monitor::rule_settings(config, learnt.as_ref()))
}

/// Judges `inputs` once as the gate does (a missing input is its own
/// failed check), failing on `fail_on` or the config's `monitor.fail_on`.
pub(crate) fn evaluate(
    settings: &Settings,
    inputs: &[monitor::Input],
    fail_on: Option<rollout_core::Severity>,
) -> anyhow::Result<monitor::Report> {
    let mut s = monitor::Settings::from_config(&settings.config, inputs.to_vec())?;
    if let Some(fail_on) = fail_on {
        s.fail_on = fail_on;
    }
    monitor::evaluate(&s)
}

/// `monitor --follow` over `inputs` as the command line sets it, stopping
/// after `idle`.
pub(crate) fn follow_settings(
    settings: &Settings,
    inputs: Vec<monitor::Input>,
    fail_on: rollout_core::Severity,
    idle: std::time::Duration,
) -> monitor::Settings {
    monitor::Settings {
        inputs,
        last_capture_of: None,
        rules: rule_settings(settings).expect("rules"),
        fail_on,
        unreadable: monitor::Unreadable::Refuse,
        follow: Some(monitor::FollowSettings {
            stop_after_idle: Some(idle),
        }),
        prom_textfile: None,
        textfile_interval: std::time::Duration::from_secs(15),
    }
}

/// An input of the default environment.
pub(crate) fn input(path: &Path, kind: Option<monitor::Kind>) -> monitor::Input {
    monitor::Input {
        env: monitor::input::DEFAULT_ENV.into(),
        path: path.to_path_buf(),
        kind,
    }
}

/// `monitor learn --from FROM` with the config's output and factors.
pub(crate) fn learn_settings(settings: &Settings, from: Vec<PathBuf>) -> monitor::LearnSettings {
    let m = &settings.config.monitor;
    monitor::LearnSettings {
        from,
        output: m.thresholds_file.clone(),
        wait: false,
        rules: monitor::rule_settings_without_thresholds(&settings.config),
        margin: m.learn_margin,
        critical_factor: m.learn_critical_factor,
    }
}
