//! The report of a check (its JSON fields are stable, see README) and the
//! [`Outcome`] made of it: one check per alert and per unusable input, with
//! the summary a gate step shows.

use rollout_core::{Check, Outcome, Place, Severity, Status, Verdict};
use serde::Serialize;

use crate::input::InputSummary;
use crate::rules::{Alert, DropThresholds, Metrics, Rule, RuleSettings, SourceEval};

/// Version of the JSON report's shape.
pub const SCHEMA: u32 = 1;

/// The result of a check: stable JSON fields (see README).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub schema: u32,
    /// `pass` or `fail`.
    pub verdict: Verdict,
    /// The lowest severity that fails.
    pub fail_on: Severity,
    pub expected_variant: String,
    pub thresholds: DropThresholds,
    pub inputs: Vec<InputSummary>,
    pub alerts: Vec<Alert>,
    /// Last figures per environment.
    pub environments: Vec<EnvMetrics>,
}

/// The merged figures of one environment's inputs.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EnvMetrics {
    pub env: String,
    #[serde(flatten)]
    pub metrics: Metrics,
}

impl rollout_core::Report for Report {
    fn human(
        &self,
        style: &rollout_core::Style,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<()> {
        crate::render::human(self, style, out)
    }
}

impl Report {
    /// The inputs nothing could be read from, with why.
    pub fn problems(&self) -> impl Iterator<Item = (&InputSummary, &str)> {
        self.inputs
            .iter()
            .filter_map(|i| i.problem.as_deref().map(|p| (i, p)))
    }

    /// Critical alerts, and the others.
    pub fn counts(&self) -> (usize, usize) {
        let crit = self
            .alerts
            .iter()
            .filter(|a| a.severity == Severity::Critical)
            .count();
        (crit, self.alerts.len() - crit)
    }

    /// The outcome: the report's verdict, one check per alert (`fail` at or
    /// above `fail_on`, else `warn`: alerts below it do not fail, but say
    /// so) and one failed check per unusable input, under the summary
    /// [`Report::summary`].
    pub fn outcome(&self) -> Outcome {
        let alerts = self.alerts.iter().map(|a| {
            let status = if a.severity >= self.fail_on {
                Status::Fail
            } else {
                Status::Warn
            };
            Check::new(
                format!("{} [{}]", a.rule, a.env),
                status,
                format!("{}: {}", a.severity.as_str(), a.message),
            )
            .with_details(crate::render::alert_details(a))
            .with_places(
                a.evidence
                    .iter()
                    .map(|ev| Place {
                        file: ev.file.clone(),
                        line: u32::try_from(ev.line).ok(),
                        column: None,
                        code: Some(a.rule.to_string()),
                        message: a.message.clone(),
                    })
                    .collect(),
            )
        });
        let unusable = self
            .problems()
            .map(|(i, p)| Check::new(format!("input [{}]", i.env), Status::Fail, p));
        Outcome::new(self.verdict, self.summary()).with_checks(alerts.chain(unusable).collect())
    }

    /// One line: `no alerts over N input(s)`; `N alert(s): rule (severity),
    /// ...; worst-rule: its message` (`; unusable: ...` when inputs were);
    /// or `N of M input(s) unusable: ...; no alerts from the rest`.
    pub fn summary(&self) -> String {
        // The first of the most severe alerts.
        let worst = self
            .alerts
            .iter()
            .enumerate()
            .max_by_key(|(i, a)| (a.severity, std::cmp::Reverse(*i)))
            .map(|(_, a)| a);
        let problems: Vec<&str> = self.problems().map(|(_, p)| p).collect();
        let Some(worst) = worst else {
            if problems.is_empty() {
                return format!("no alerts over {} input(s)", self.inputs.len());
            }
            return format!(
                "{} of {} input(s) unusable: {}; no alerts from the rest",
                problems.len(),
                self.inputs.len(),
                problems.join("; ")
            );
        };
        let list: Vec<String> = self
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
            self.alerts.len(),
            list.join(", "),
            worst.rule,
            worst.message
        )
    }
}

/// Builds the report from evaluators.
pub fn report(
    rules: &RuleSettings,
    fail_on: Severity,
    evals: &[SourceEval],
    inputs: Vec<InputSummary>,
) -> Report {
    let environments = env_metrics(evals);
    let mut alerts: Vec<Alert> = evals.iter().flat_map(SourceEval::alerts).collect();
    alerts.extend(variant_missing(&environments, &rules.variant));
    alerts.sort_by(|a, b| (b.severity, &a.env, a.rule).cmp(&(a.severity, &b.env, b.rule)));
    let unusable = inputs.iter().any(|i| i.problem.is_some());
    let verdict = Verdict::from_ok(!unusable && !alerts.iter().any(|a| a.severity >= fail_on));
    Report {
        schema: SCHEMA,
        verdict,
        fail_on,
        expected_variant: rules.variant.clone(),
        thresholds: rules.drops.clone(),
        inputs,
        alerts,
        environments,
    }
}

/// `runtime-variant-missing`: an environment whose inputs reported ticks
/// but none a `runtime_variant` (Townlet's `tick_health` lines never print
/// it; a stream whose snapshot was lost never states it), so whether
/// `expected` serves there cannot be told. A warning: nothing shows the
/// wrong variant, but the rollout's "every environment reports it" is not
/// shown either. The textfile's `townlet_runtime_variant_reported` 0 and
/// the alert `TownletRuntimeVariantMissing` are the same condition.
fn variant_missing(envs: &[EnvMetrics], expected: &str) -> Vec<Alert> {
    envs.iter()
        .filter(|e| e.metrics.runtime_variant.is_none())
        .filter_map(|e| e.metrics.tick.map(|tick| (e, tick)))
        .map(|(e, tick)| Alert {
            env: e.env.clone(),
            rule: Rule::RuntimeVariantMissing,
            severity: Severity::Warning,
            message: format!(
                "no input reports runtime_variant (ticks up to {tick}): cannot verify that '{expected}' serves; tick_health lines do not print it, a telemetry stream states it in its snapshot"
            ),
            first_tick: None,
            ticks: Vec::new(),
            more_ranges: 0,
            evidence: Vec::new(),
        })
        .collect()
}

/// Merges the figures of each environment's inputs: the log's counters, the
/// latest tick, and the exit queue of the input with the latest tick.
pub fn env_metrics(evals: &[SourceEval]) -> Vec<EnvMetrics> {
    let mut envs: Vec<EnvMetrics> = Vec::new();
    for e in evals {
        let m = e.metrics();
        let Some(slot) = envs.iter_mut().find(|x| x.env == e.env()) else {
            envs.push(EnvMetrics {
                env: e.env().to_string(),
                metrics: m,
            });
            continue;
        };
        let t = &mut slot.metrics;
        let newer = m.tick >= t.tick;
        t.tick = t.tick.max(m.tick);
        t.dropped_total = max_opt(t.dropped_total, m.dropped_total);
        t.drop_rate_per_100_ticks = match (t.drop_rate_per_100_ticks, m.drop_rate_per_100_ticks) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        t.queue = t.queue.or(m.queue);
        if m.exit_queue.is_some() && (newer || t.exit_queue.is_none()) {
            t.exit_queue = m.exit_queue;
            t.exit_queue_median = m.exit_queue_median;
            t.exit_queue_limit = m.exit_queue_limit;
        }
        if m.runtime_variant.is_some() && (newer || t.runtime_variant.is_none()) {
            t.runtime_variant = m.runtime_variant;
        }
        for p in m.plaintext_endpoints {
            if !t.plaintext_endpoints.contains(&p) {
                t.plaintext_endpoints.push(p);
            }
        }
        t.missing_ticks = match (t.missing_ticks, m.missing_ticks) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
    envs
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
