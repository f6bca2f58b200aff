//! Human output: one line per rule and environment with a status word,
//! details only for alerts, then one verdict line. Everything that came from
//! data (file names, environment names, values in alerts and warnings) goes
//! through [`printable`]; the JSON report keeps it exact.

use std::io::Write;

use anyhow::Result;
use rollout_core::{Style, printable};

use crate::rules::{Kind, Rule, TickRange};
use crate::{Alert, Report};

/// Why a rule could not be checked for an environment, if it could not.
fn skip_reason(report: &Report, env: &str, rule: Rule) -> Option<&'static str> {
    let kinds: Vec<Kind> = report
        .inputs
        .iter()
        .filter(|i| i.env == env && i.problem.is_none())
        .map(|i| i.kind)
        .collect();
    let metrics = report
        .environments
        .iter()
        .find(|e| e.env == env)
        .map(|e| &e.metrics);
    match rule {
        Rule::RuntimeVariant if metrics.is_none_or(|m| m.runtime_variant.is_none()) => {
            Some("no input reports runtime_variant (see runtime-variant-missing)")
        }
        Rule::RuntimeVariantMissing if metrics.is_none_or(|m| m.tick.is_none()) => {
            Some("no input reports a tick")
        }
        Rule::TelemetryDrops if !kinds.contains(&Kind::Log) => {
            Some("needs a log (tick_health `dropped`)")
        }
        Rule::PlaintextTransport if !kinds.contains(&Kind::Log) => Some("needs a log"),
        Rule::TelemetryGap if !kinds.contains(&Kind::Telemetry) => Some("needs a telemetry stream"),
        Rule::ExitQueueSpike if metrics.is_none_or(|m| m.exit_queue.is_none()) => {
            Some("no input reports an exit queue")
        }
        _ => None,
    }
}

fn ranges(ticks: &[TickRange], more: u64) -> String {
    let mut s: Vec<String> = ticks.iter().map(ToString::to_string).collect();
    if more > 0 {
        s.push(format!("and {more} more ranges"));
    }
    s.join(", ")
}

/// Every check: what passed, was skipped, warned and failed.
pub fn human(report: &Report, style: &Style, out: &mut dyn Write) -> Result<()> {
    human_shown(report, style, false, out)
}

/// `-q`: only unusable inputs and alerts that fail, then the verdict line.
pub(crate) fn failures(report: &Report, style: &Style, out: &mut dyn Write) -> Result<()> {
    human_shown(report, style, true, out)
}

fn human_shown(
    report: &Report,
    style: &Style,
    only_failed: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut envs: Vec<&str> = Vec::new();
    for i in &report.inputs {
        if !envs.contains(&i.env.as_str()) {
            envs.push(&i.env);
        }
    }
    inputs(report, style, only_failed, out)?;
    for env in &envs {
        for rule in Rule::ALL {
            rule_lines(report, style, only_failed, (env, rule), out)?;
        }
    }
    verdict_line(report, style, envs.len(), out)
}

/// Unusable inputs, then (unless `only_failed`) the warnings of each.
fn inputs(report: &Report, style: &Style, only_failed: bool, out: &mut dyn Write) -> Result<()> {
    for (input, problem) in report.problems() {
        writeln!(
            out,
            "{} input [{}]: {}",
            style.fail(),
            printable(&input.env),
            printable(problem)
        )?;
    }
    for input in report.inputs.iter().filter(|_| !only_failed) {
        for warning in &input.warnings {
            writeln!(
                out,
                "{} input [{}]: {}",
                style.warn(),
                printable(&input.env),
                printable(warning)
            )?;
        }
    }
    Ok(())
}

/// The lines of one rule in one environment: pass or skip, or each alert
/// with its details.
fn rule_lines(
    report: &Report,
    style: &Style,
    only_failed: bool,
    (env, rule): (&str, Rule),
    out: &mut dyn Write,
) -> Result<()> {
    let shown_env = printable(env);
    let alerts: Vec<&Alert> = report
        .alerts
        .iter()
        .filter(|a| a.env == env && a.rule == rule)
        .collect();
    if alerts.is_empty() && !only_failed {
        match skip_reason(report, env, rule) {
            Some(why) => writeln!(out, "{} {rule} [{shown_env}]: {why}", style.skip())?,
            None => writeln!(out, "{} {rule} [{shown_env}]", style.pass())?,
        }
        return Ok(());
    }
    for a in alerts {
        let fails = a.severity >= report.fail_on;
        if only_failed && !fails {
            continue;
        }
        let word = if fails { style.fail() } else { style.warn() };
        writeln!(
            out,
            "{word} {rule} [{shown_env}] {}: {}",
            a.severity.as_str(),
            printable(&a.message)
        )?;
        for line in alert_details(a) {
            writeln!(out, "     {line}")?;
        }
    }
    Ok(())
}

/// The detail lines of an alert, escaped: the ticks it held at, then the
/// lines that show it.
pub fn alert_details(a: &Alert) -> Vec<String> {
    let mut lines = Vec::new();
    if !a.ticks.is_empty() {
        lines.push(format!("ticks {}", ranges(&a.ticks, a.more_ranges)));
    }
    for ev in &a.evidence {
        lines.push(format!("at {}", printable(&ev.to_string())));
    }
    lines
}

/// `pass: N critical, M warning alerts in K environments (fail on ...)`.
fn verdict_line(report: &Report, style: &Style, envs: usize, out: &mut dyn Write) -> Result<()> {
    let (crit, warn) = report.counts();
    let threshold = report.fail_on.as_str();
    let unusable = report.problems().count();
    let summary = format!(
        "{crit} critical, {warn} warning alerts in {envs} environment{} (fail on {threshold}){}",
        if envs == 1 { "" } else { "s" },
        match unusable {
            0 => String::new(),
            1 => "; 1 input unusable".into(),
            n => format!("; {n} inputs unusable"),
        }
    );
    match report.verdict {
        rollout_core::Verdict::Pass => writeln!(out, "{}: {summary}", style.pass())?,
        rollout_core::Verdict::Fail | rollout_core::Verdict::Error => {
            writeln!(out, "{}: {summary}", style.fail())?
        }
    }
    Ok(())
}
