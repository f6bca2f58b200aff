//! Built-in steps: the workspace's own commands (`tls-smoke`,
//! `baseline-diff`, `monitor`) run as libraries, each with its report in
//! the step's log. The gate reads only their [`Outcome`]: its status, its
//! summary and the checks that did not pass; every report type stays in
//! the crate that owns it. (The capture step is in `step`, next to the
//! other steps that run processes.)

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use rollout_config::Context;
use rollout_config::model::StepKind;
use rollout_core::{Format, Out, Outcome, Status, Verbosity};

use crate::plan::Planned;

/// Runs a built-in step with its report written to `log`.
pub(crate) fn run(ctx: &Context, p: &Planned, log: &Path) -> Result<Outcome> {
    let file = std::fs::File::create(log)
        .with_context(|| format!("cannot create step log `{}`", log.display()))?;
    let step = Context {
        settings: ctx.settings.clone(),
        format: Format::Human,
        verbosity: Verbosity::Normal,
        out: Out::to_writer(file, false),
    };
    match p.step.kind {
        StepKind::TlsSmoke => tls_smoke::run(&step, tls(ctx, p)),
        StepKind::BaselineDiff => baseline(&step, p),
        StepKind::Monitor => monitor::run(&step, monitor(ctx, p)?),
        other => bail!("step '{}' of kind {other} is not a built-in", p.step.id),
    }
}

/// The lines a failing or warning step shows under it: each check that did
/// not pass, with its details (the full report is in the log).
pub(crate) fn details(outcome: &Outcome) -> Vec<String> {
    let mut lines = Vec::new();
    for check in outcome.not_passing() {
        let word = if check.status == Status::Fail {
            "FAIL"
        } else {
            "warn"
        };
        lines.push(format!("{}: {word} {}", check.id, check.summary));
        lines.extend(check.details.iter().map(|d| format!("  {d}")));
    }
    lines
}

/// The TLS step: the configured transport, on the live endpoint or (with
/// `loopback`) against a collector of our own with dev certificates made
/// next to the configured CA file when none are there.
fn tls(ctx: &Context, p: &Planned) -> tls_smoke::Settings {
    let target = if p.step.loopback {
        tls_smoke::SmokeTarget::Loopback {
            server_cert: None,
            server_key: None,
        }
    } else {
        tls_smoke::SmokeTarget::Endpoint
    };
    tls_smoke::Settings {
        sim_config: ctx.settings.sim_config(None),
        target,
        generate_dev_certs: p.step.loopback,
        accept_dev_certs: p.step.accept_dev_certs,
        expiry_warning_days: ctx.settings.config.tls_smoke.expiry_warning_days,
    }
}

/// The monitor step: its inputs, each named by the step as its
/// environment, judged with the config's rules; an input that is missing
/// or has nothing to judge is its own failed check.
fn monitor(ctx: &Context, p: &Planned) -> Result<monitor::Settings> {
    let inputs = p
        .inputs
        .iter()
        .map(|path| monitor::input::Input {
            env: p.step.id.clone(),
            path: path.clone(),
            kind: None,
        })
        .collect();
    monitor::Settings::from_config(&ctx.settings.config, inputs)
}

/// The baseline step: its candidate compared with the baseline chosen for
/// the root, with the configured tolerances (the gate already holds the
/// output directory's lock; nothing is captured or blessed here).
fn baseline(step: &Context, p: &Planned) -> Result<Outcome> {
    let candidate = p
        .inputs
        .first()
        .context("baseline-diff step without a candidate")?
        .clone();
    let settings =
        baseline_diff::Settings::compare_with_configured(&step.settings.config, candidate);
    baseline_diff::run(step, settings)
        .with_context(|| format!("no baseline for target '{}'", step.settings.target))
}
