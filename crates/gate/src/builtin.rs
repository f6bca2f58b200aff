//! Built-in steps backed by other crates of the workspace, called as
//! libraries: `tls-smoke`, `baseline-diff` and `monitor` (the capture step
//! is in `run`, next to the other steps that run processes).

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use rollout_config::Context;
use rollout_config::model::StepKind;
use rollout_core::Style;

use crate::plan::Planned;
use plumbing::report::StepStatus;

/// What a built-in step concluded.
pub(crate) struct BuiltinOutcome {
    pub status: StepStatus,
    pub summary: String,
    pub details: Vec<String>,
}

pub(crate) fn run(ctx: &Context, p: &Planned, log: &Path) -> Result<BuiltinOutcome> {
    match p.step.kind {
        StepKind::TlsSmoke => tls(ctx, p, log),
        StepKind::BaselineDiff => baseline(ctx, p, log),
        StepKind::Monitor => monitor(ctx, p, log),
        other => bail!("step '{}' of kind {other:?} is not a built-in", p.step.id),
    }
}

fn tls(ctx: &Context, p: &Planned, log: &Path) -> Result<BuiltinOutcome> {
    let s = &ctx.settings;
    let root = s.checkout()?;
    let sim = s.sim_config(None);
    let transport = rollout_config::load_transport(&sim, root)?;
    let mut notes = Vec::new();
    let target = if p.step.loopback {
        // Loopback runs with dev material next to the configured CA file,
        // generated when none is there yet.
        if let (Some(dir), Some(endpoint)) =
            (tls_smoke::dev_certs_dir(&transport), &transport.endpoint)
            && tls_smoke::ensure_dev_certs(dir, &endpoint.host)?
        {
            notes.push(format!(
                "generated dev certificates for {} in `{}`",
                endpoint.host,
                dir.display()
            ));
        }
        tls_smoke::SmokeTarget::Loopback {
            server_cert: None,
            server_key: None,
        }
    } else {
        tls_smoke::SmokeTarget::Endpoint
    };
    let opts = tls_smoke::SmokeOptions {
        target,
        expiry_warning_days: s.config.tls_smoke.expiry_warning_days,
    };
    let report = tls_smoke::smoke(&transport, &opts);

    let mut text = Vec::new();
    for n in &notes {
        text.extend_from_slice(format!("{n}\n").as_bytes());
    }
    tls_smoke::report::render(&report, &Style::new(false), &mut text)
        .with_context(|| format!("cannot render the TLS smoke report to `{}`", log.display()))?;
    std::fs::write(log, &text)
        .with_context(|| format!("cannot write step log `{}`", log.display()))?;

    let dev_certs = report.used_dev_ca();
    let status = match report.verdict {
        rollout_core::Verdict::Pass if dev_certs && !p.step.accept_dev_certs => StepStatus::Warn,
        rollout_core::Verdict::Pass => StepStatus::Pass,
        rollout_core::Verdict::Fail | rollout_core::Verdict::Error => StepStatus::Fail,
    };
    let mode = if p.step.loopback {
        " (loopback collector)"
    } else {
        ""
    };
    let summary = match (&report.session, status) {
        (Some(session), StepStatus::Pass | StepStatus::Warn) => {
            let client = match report.client_auth.accepted {
                Some(true) => ", client certificate accepted",
                _ => "",
            };
            let dev = match (dev_certs, notes.is_empty()) {
                (false, _) => String::new(),
                (true, false) => {
                    " (dev certificates generated now: the real ones were not tested)".into()
                }
                (true, true) => format!(
                    " (dev certificates of `tls-smoke certs`, CA '{}': the real ones were not tested)",
                    tls_smoke::DEV_CA_NAME
                ),
            };
            let word = if status == StepStatus::Warn {
                "pass"
            } else {
                ""
            };
            format!(
                "{word}{}{} {} with {}{mode}{client}{dev}",
                if word.is_empty() { "" } else { ": " },
                session.protocol,
                session.cipher_suite,
                report.server_name
            )
        }
        _ => {
            let first = report
                .findings
                .iter()
                .find(|f| f.severity == tls_smoke::report::Severity::Error)
                .map(|f| f.message.clone())
                .unwrap_or_else(|| "the TLS smoke failed".to_string());
            format!("{first}{mode}")
        }
    };
    // A pass (or a pass on dev certificates) needs no report under it: the
    // full report is in the log.
    let details = if status == StepStatus::Fail {
        nonempty_lines(&String::from_utf8_lossy(&text))
    } else {
        Vec::new()
    };
    Ok(BuiltinOutcome {
        status,
        summary,
        details,
    })
}

fn nonempty_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn baseline(ctx: &Context, p: &Planned, log: &Path) -> Result<BuiltinOutcome> {
    let cfg = &ctx.settings.config;
    let candidate = p
        .inputs
        .first()
        .context("baseline-diff step without a candidate")?;
    let chosen = baseline_diff::baselines::choose(&cfg.baseline.dir, &ctx.settings.root.value)
        .with_context(|| format!("no baseline for target '{}'", ctx.settings.target))?;
    let baseline = &chosen.path;
    let settings = baseline_diff::CompareSettings::from_config(&cfg.baseline, &cfg.runtime_variant);
    let mut report = baseline_diff::compare_paths(&settings, baseline, candidate)?;
    report.baseline_relation = (!chosen.relation.is_empty()).then(|| chosen.relation.clone());
    let relation = report
        .baseline_relation
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let text = baseline_diff::render(&report, rollout_core::Format::Human, Style::new(false))?;
    std::fs::write(log, &text)
        .with_context(|| format!("cannot write step log `{}`", log.display()))?;
    let c = report.counts;
    let (status, summary) = match report.verdict {
        rollout_core::Verdict::Pass => {
            let first_warning = report
                .files
                .iter()
                .flat_map(|f| f.checks.iter().map(move |c| (f, c)))
                .find(|(_, c)| c.status == baseline_diff::Status::Warn)
                .map(|(f, c)| format!("{}: {}: {}", f.path, c.name, c.summary));
            let warn = match &first_warning {
                Some(w) => format!(", {} warned (first: {w})", c.warn),
                None => String::new(),
            };
            (
                if c.warn > 0 {
                    StepStatus::Warn
                } else {
                    StepStatus::Pass
                },
                format!(
                    "{} checks within tolerance{warn} against `{}`{relation}",
                    c.pass,
                    baseline.display()
                ),
            )
        }
        rollout_core::Verdict::Fail | rollout_core::Verdict::Error => {
            let first = report
                .files
                .iter()
                .flat_map(|f| f.checks.iter().map(move |c| (f, c)))
                .find(|(_, c)| c.status == baseline_diff::Status::Fail)
                .map(|(f, c)| format!("{}: {}: {}", f.path, c.name, c.summary))
                .unwrap_or_default();
            (
                StepStatus::Fail,
                format!(
                    "{} check(s) differ from the baseline{relation}; first: {first}",
                    c.fail
                ),
            )
        }
    };
    Ok(BuiltinOutcome {
        status,
        summary,
        details: not_passing(&report),
    })
}

/// The checks of a report that did not pass, with their details: what a
/// failing or warning step shows (the full report is in its log).
fn not_passing(report: &baseline_diff::Report) -> Vec<String> {
    let mut out = Vec::new();
    for f in &report.files {
        for c in f.checks.iter().filter(|c| {
            matches!(
                c.status,
                baseline_diff::Status::Fail | baseline_diff::Status::Warn
            )
        }) {
            let word = if c.status == baseline_diff::Status::Fail {
                "FAIL"
            } else {
                "warn"
            };
            out.push(format!("{}: {word} {}: {}", f.path, c.name, c.summary));
            out.extend(c.details.iter().map(|d| format!("  {d}")));
        }
    }
    out
}

fn monitor(ctx: &Context, p: &Planned, log: &Path) -> Result<BuiltinOutcome> {
    let inputs: Vec<monitor::input::Input> = p
        .inputs
        .iter()
        .map(|path| monitor::input::Input {
            env: p.step.id.clone(),
            path: path.clone(),
            kind: None,
        })
        .collect();
    let report = monitor::evaluate(&monitor::Settings::from_config(
        &ctx.settings.config,
        inputs,
    )?)?;
    let mut text = Vec::new();
    monitor::render::human(&report, &Style::new(false), &mut text)?;
    std::fs::write(log, &text)
        .with_context(|| format!("cannot write step log `{}`", log.display()))?;
    // The first of the most severe alerts.
    let worst = report
        .alerts
        .iter()
        .enumerate()
        .max_by_key(|(i, a)| (a.severity, std::cmp::Reverse(*i)))
        .map(|(_, a)| a);
    // Alerts below `monitor.fail_on` do not fail the step, but it says so.
    let status = match report.verdict {
        rollout_core::Verdict::Pass if report.alerts.is_empty() => StepStatus::Pass,
        rollout_core::Verdict::Pass => StepStatus::Warn,
        rollout_core::Verdict::Fail | rollout_core::Verdict::Error => StepStatus::Fail,
    };
    let problems: Vec<&str> = report.problems().map(|(_, p)| p).collect();
    let summary = match worst {
        None if !problems.is_empty() => format!(
            "{} of {} input(s) unusable: {}; no alerts from the rest",
            problems.len(),
            report.inputs.len(),
            problems.join("; ")
        ),
        None => format!("no alerts over {} input(s)", report.inputs.len()),
        Some(a) => {
            let list: Vec<String> = report
                .alerts
                .iter()
                .map(|a| format!("{} ({})", a.rule, a.severity.as_str()))
                .collect();
            let unusable = if problems.is_empty() {
                String::new()
            } else {
                format!("; unusable: {}", problems.join("; "))
            };
            format!(
                "{} alert(s): {}; {}: {}{unusable}",
                report.alerts.len(),
                list.join(", "),
                a.rule,
                a.message
            )
        }
    };
    Ok(BuiltinOutcome {
        status,
        summary,
        details: nonempty_lines(&String::from_utf8_lossy(&text)),
    })
}
