//! The alerts a [`SourceEval`] has raised so far, built from its state.

use rollout_core::Severity;

use telemetry::log as logline;

use super::{Alert, DROP_WINDOW, Kind, Ranges, Rule, SourceEval, fmt_num};

impl SourceEval {
    /// The alerts raised so far.
    pub fn alerts(&self) -> Vec<Alert> {
        let mut out = Vec::new();
        out.extend(self.variant_alert());
        out.extend(self.drops_alert());
        out.extend(self.spike_alert());
        out.extend(self.plaintext_alerts());
        out.extend(self.gap_alert());
        out
    }

    fn alert(&self, rule: Rule, severity: Severity, message: String, ranges: &Ranges) -> Alert {
        let (ticks, more_ranges) = ranges.snapshot();
        let first_tick = match (rule, &self.first_drop) {
            (Rule::TelemetryDrops, Some((tick, _))) => Some(*tick),
            _ => ticks.first().map(|range| range.start),
        };
        Alert {
            env: self.env.clone(),
            rule,
            severity,
            first_tick,
            message,
            ticks,
            more_ranges,
            evidence: Vec::new(),
        }
    }

    fn variant_alert(&self) -> Option<Alert> {
        if self.bad_variant.is_empty() {
            return None;
        }
        let found: Vec<String> = self
            .bad_variants
            .iter()
            .map(|(variant, count)| format!("'{variant}' ({count} ticks)"))
            .collect();
        Some(Alert {
            evidence: self.variant_evidence.clone(),
            ..self.alert(
                Rule::RuntimeVariant,
                Severity::Critical,
                format!(
                    "runtime_variant is not '{}': found {}",
                    self.settings.variant,
                    found.join(", ")
                ),
                &self.bad_variant,
            )
        })
    }

    fn drops_alert(&self) -> Option<Alert> {
        if self.drop_warn.is_empty() {
            return None;
        }
        let thresholds = &self.settings.drops;
        let severity = if self.drop_crit.is_empty() {
            Severity::Warning
        } else {
            Severity::Critical
        };
        let (began, evidence) = match &self.first_drop {
            Some((tick, evidence)) => (
                format!("drops began at tick {tick} ({evidence}); "),
                vec![evidence.clone()],
            ),
            None => (String::new(), Vec::new()),
        };
        let (peak, peak_tick) = self.peak_rate.unwrap_or((0.0, 0));
        let threshold_text = match (thresholds.warning, thresholds.critical) {
            (None, None) => {
                "any drop is a warning without learnt or configured thresholds".to_string()
            }
            (warning, critical) => format!(
                "warning above {}, critical above {} ({})",
                warning.map_or("0".into(), fmt_num),
                critical.map_or("never".into(), fmt_num),
                thresholds.source
            ),
        };
        Some(Alert {
            evidence,
            ..self.alert(
            Rule::TelemetryDrops,
            severity,
            format!(
                "telemetry dropped payloads: {began}{} dropped by tick {}; peak {} per {DROP_WINDOW} ticks at tick {peak_tick}; {threshold_text}",
                self.dropped.unwrap_or(0),
                self.last_tick.unwrap_or(0),
                fmt_num(peak),
            ),
            &self.drop_warn,)
        })
    }

    fn spike_alert(&self) -> Option<Alert> {
        if self.spikes.is_empty() {
            return None;
        }
        let (peak, tick, reason) = self.spike_peak.clone().unwrap_or((0, 0, String::new()));
        let what = match self.kind {
            Kind::Log => "exit_queue",
            Kind::Telemetry => "employment.pending_count",
        };
        Some(Alert {
            evidence: self.spike_evidence.iter().cloned().collect(),
            ..self.alert(
            Rule::ExitQueueSpike,
            Severity::Warning,
            format!(
                "employment exit queue spike: {what} reached {peak} at tick {tick}, {reason}; {} ticks affected",
                self.spikes.ticks
            ),
            &self.spikes,)
        })
    }

    fn plaintext_alerts(&self) -> Vec<Alert> {
        self.plaintext
            .iter()
            .map(|(endpoint, (count, evidence))| {
                let (severity, why) = if logline::is_loopback(endpoint) {
                    (
                        Severity::Warning,
                        "plaintext is for localhost development only",
                    )
                } else {
                    (
                        Severity::Critical,
                        "a non-loopback endpoint receives telemetry unencrypted",
                    )
                };
                Alert {
                    env: self.env.clone(),
                    rule: Rule::PlaintextTransport,
                    severity,
                    message: format!(
                        "telemetry_tcp_plaintext_enabled endpoint={endpoint} (logged {count} time{}): {why}",
                        if *count == 1 { "" } else { "s" }
                    ),
                    first_tick: None,
                    ticks: Vec::new(),
                    more_ranges: 0,
                    evidence: vec![evidence.clone()],
                }
            })
            .collect()
    }

    fn gap_alert(&self) -> Option<Alert> {
        if self.gaps.is_empty() {
            return None;
        }
        Some(Alert {
            evidence: self.gap_evidence.clone(),
            ..self.alert(
                Rule::TelemetryGap,
                Severity::Warning,
                format!(
                    "{} ticks missing from the telemetry stream (payloads dropped)",
                    self.gaps.ticks
                ),
                &self.gaps,
            )
        })
    }
}
