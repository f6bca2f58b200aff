//! Loki: ruler rules (LogQL) that raise the Prometheus rules' alerts from
//! Townlet's log lines themselves, for the Loki ruler or Grafana's
//! Loki-backed alerting.
//!
//! Each rule has its Prometheus twin's name, severity, `for:`, summary,
//! description (with a note on what differs over logs) and runbook link
//! (taken from [`crate::prom`]'s rules, so the two never drift). Where the
//! built-in rules count ticks (the drop rate over the last 100 ticks, the
//! moving median of the exit queue) LogQL only has time ranges: the rules
//! read the ticks logged in `monitor.loki_range` instead, and say so.

use anyhow::{Context as _, Result};

use crate::prom;
use crate::rules::{DROP_WINDOW, MEDIAN_WARMUP, RuleSettings, fmt_num};
use crate::settings::LokiSettings;

/// The line filter of `tick_health` records: the marker as a word, as the
/// built-in parser takes it.
pub const TICK_HEALTH_FILTER: &str = "(^| )tick_health ";
/// How long a plaintext warning keeps its alert firing: Townlet logs it
/// once, when the transport starts.
pub const PLAINTEXT_RANGE: &str = "1h";
/// The gap alert's range, as the Prometheus rule's `delta(...[15m])`.
pub const GAP_RANGE: &str = "15m";
/// The loopback hosts Townlet accepts for plaintext (`telemetry::log::is_loopback`).
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// One log query of a rule (`{selector} | pipeline [range]`), named by
/// what it selects: what the tests evaluate against log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// `ticks`, `bad-variant`, `reported-variant`, `drops`, `exit-queue`,
    /// `exit-queue-count` or `plaintext`.
    pub role: &'static str,
    /// The LogQL text, as it appears in the rule's `expr`.
    pub text: String,
}

/// One Loki alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct LokiRule {
    pub alert: String,
    pub severity: String,
    /// `for:`.
    pub hold: String,
    /// The built-in rule (`rule` label).
    pub rule: String,
    pub summary: String,
    pub description: String,
    pub runbook_url: String,
    pub expr: String,
    /// The log queries inside `expr`.
    pub queries: Vec<LogQuery>,
}

/// The LogQL pieces every rule is made of.
struct Parts<'a> {
    loki: &'a LokiSettings,
    rules: &'a RuleSettings,
}

impl Parts<'_> {
    fn query(&self, role: &'static str, pipeline: &str, range: &str) -> LogQuery {
        LogQuery {
            role,
            text: format!("{}{pipeline} [{range}]", self.loki.selector),
        }
    }

    /// `tick_health` lines with a tick, parsed.
    fn tick_health(&self) -> String {
        format!(
            " |~ {} | logfmt | __error__=\"\" | tick=~{}",
            lit(TICK_HEALTH_FILTER),
            lit("[0-9]+")
        )
    }

    fn by(&self) -> &str {
        &self.loki.env_label
    }

    /// `sum by (env) (count_over_time(q))`.
    fn count(&self, q: &LogQuery) -> String {
        format!("sum by ({}) (count_over_time({}))", self.by(), q.text)
    }

    /// The alert's `env` label from the configured stream label.
    fn env(&self, expr: String) -> String {
        if self.by() == "env" {
            expr
        } else {
            format!(
                "label_replace({expr}, \"env\", \"$1\", \"{}\", \"(.*)\")",
                self.by()
            )
        }
    }
}

/// A LogQL string: raw (backticks) when it can be, else a Go string.
fn lit(s: &str) -> String {
    if s.contains('`') {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    } else {
        format!("`{s}`")
    }
}

/// `s` as a literal in an RE2 regular expression.
fn re_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The endpoints `telemetry::log::is_loopback` accepts, as a label regex
/// (anchored by Loki): an optional `:PORT` is split off first, then any
/// `[` and `]` around the host are trimmed; names compare in ASCII case.
pub fn loopback_regex() -> String {
    let name = |host: &str| -> String {
        host.chars()
            .map(|c| match c {
                c if c.is_ascii_alphabetic() => {
                    format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                }
                '.' => "\\.".to_string(),
                c => c.to_string(),
            })
            .collect()
    };
    let all = LOOPBACK_HOSTS.map(name).join("|");
    let named = LOOPBACK_HOSTS[..2]
        .iter()
        .map(|h| name(h))
        .collect::<Vec<_>>();
    // Without a port, `::1` would lose `:1` as its port; only `[::1]` (a
    // `]` after it) is loopback then.
    format!(
        "\\[*(?:{all})\\]*:[0-9]+|\\[*(?:{})\\]*|\\[*::1\\]+",
        named.join("|")
    )
}

/// The Loki rules for `rules`, reading the logs `loki` names.
pub fn loki_rules(rules: &RuleSettings, loki: &LokiSettings) -> Vec<LokiRule> {
    let parts = Parts { loki, rules };
    let mut out = Vec::new();
    for twin in prom::condition_rules(rules) {
        let Some((expr, queries, note)) = condition(&parts, twin.alert, twin.severity) else {
            continue;
        };
        out.push(LokiRule {
            alert: twin.alert.to_string(),
            severity: twin.severity.to_string(),
            hold: twin.hold.to_string(),
            rule: twin.rule.to_string(),
            summary: twin.summary.to_string(),
            description: format!("{} Over logs: {note}", twin.description),
            runbook_url: runbook_url(rules, twin.alert),
            expr: parts.env(expr),
            queries,
        });
    }
    out
}

fn runbook_url(rules: &RuleSettings, alert: &str) -> String {
    format!("{}#{}", rules.runbook_url, alert.to_lowercase())
}

type Condition = (String, Vec<LogQuery>, String);

/// The LogQL of a Prometheus rule, with the log queries in it and a note
/// on how it reads over logs; `None` for the textfile's own alerts, which
/// have no log to read.
fn condition(parts: &Parts<'_>, alert: &str, severity: &str) -> Option<Condition> {
    match alert {
        "TownletRuntimeVariantNotExpected" => Some(variant(parts)),
        "TownletRuntimeVariantMissing" => Some(variant_missing(parts)),
        "TownletTelemetryDrops" => Some(drops(parts, severity)),
        "TownletExitQueueSpike" => Some(spike(parts)),
        "TownletTelemetryPlaintext" => Some(plaintext(parts, severity == "warning")),
        "TownletTelemetryGap" => Some(gap(parts)),
        _ => None,
    }
}

/// The filters of a reported `runtime_variant` (`None` is not reported).
fn reported() -> &'static str {
    " | runtime_variant!=\"\" | runtime_variant!=\"None\""
}

fn variant(parts: &Parts<'_>) -> Condition {
    let range = &parts.loki.range;
    let expected = format!("[\"']*{}[\"']*", re_escape(&parts.rules.variant));
    let bad = parts.query(
        "bad-variant",
        &format!(
            "{}{} | runtime_variant!~{} | label_format variant=runtime_variant",
            parts.tick_health(),
            reported(),
            lit(&expected)
        ),
        range,
    );
    let expr = format!(
        "sum by ({}, variant) (count_over_time({})) > 0",
        parts.by(),
        bad.text
    );
    let note = format!(
        "fires while `tick_health` lines of the last {range} carry another `runtime_variant` (quotes around it ignored), and resolves {range} after the last one."
    );
    (expr, vec![bad], note)
}

/// Ticks in the range, none of them with a reported `runtime_variant`.
fn variant_missing(parts: &Parts<'_>) -> Condition {
    let range = &parts.loki.range;
    let ticks = parts.query("ticks", &parts.tick_health(), range);
    let with_variant = parts.query(
        "reported-variant",
        &format!("{}{}", parts.tick_health(), reported()),
        range,
    );
    let expr = format!(
        "{} unless {}",
        parts.count(&ticks),
        parts.count(&with_variant)
    );
    let note = format!(
        "fires while the `tick_health` lines of the last {range} carry no `runtime_variant` (`None` counts as none), and resolves when one does."
    );
    (expr, vec![ticks, with_variant], note)
}

/// Drops per 100 ticks over the range: the buffer warnings' drops per
/// `tick_health` line, counted as at least 100 ticks.
fn drops(parts: &Parts<'_>, severity: &str) -> Condition {
    let range = &parts.loki.range;
    let ticks = parts.query("ticks", &parts.tick_health(), range);
    let dropped = drop_warnings(parts, range);
    let t = parts.count(&ticks);
    let d = format!("sum by ({}) (sum_over_time({}))", parts.by(), dropped.text);
    let rate = format!(
        "((({DROP_WINDOW} * {d} / {t}) and ({t} >= {DROP_WINDOW})) or ({d} and ({t} < {DROP_WINDOW})))"
    );
    let drops = &parts.rules.drops;
    let expr = match (severity, drops.critical) {
        ("critical", Some(critical)) => format!("{rate} > {}", fmt_num(critical)),
        (_, Some(critical)) => format!(
            "({rate} > {}) <= {}",
            fmt_num(drops.warning.unwrap_or(0.0)),
            fmt_num(critical)
        ),
        (_, None) => format!("{rate} > {}", fmt_num(drops.warning.unwrap_or(0.0))),
    };
    let note = format!(
        "the payloads that the `Telemetry buffer exceeded ... dropped N payloads` warnings of the last {range} add up to, per {DROP_WINDOW} `tick_health` lines (ticks) of the same {range}; fewer than {DROP_WINDOW} ticks count as {DROP_WINDOW}. LogQL ranges are time, not ticks: this is the closest form of the built-in rule's sliding window of exactly {DROP_WINDOW} ticks, averaged over the ticks of the range."
    );
    (expr, vec![ticks, dropped], note)
}

/// The buffer warnings, their dropped payloads unwrapped.
fn drop_warnings(parts: &Parts<'_>, range: &str) -> LogQuery {
    parts.query(
        "drops",
        &format!(
            " |= {} | regexp {} | unwrap buffer_dropped | __error__=\"\"",
            lit("Telemetry buffer exceeded "),
            lit(r"Telemetry buffer exceeded (?:\S+\s+)*?dropped\s+(?P<buffer_dropped>[0-9]+)(?:\s|$)")
        ),
        range,
    )
}

fn spike(parts: &Parts<'_>) -> Condition {
    let range = &parts.loki.range;
    let by = parts.by();
    let numeric = format!("{} | exit_queue=~{}", parts.tick_health(), lit("[0-9]+"));
    let values = parts.query(
        "exit-queue",
        &format!("{numeric} | unwrap exit_queue | __error__=\"\""),
        range,
    );
    let counted = parts.query("exit-queue-count", &numeric, range);
    let last = format!("last_over_time({}) by ({by})", values.text);
    let median = format!("quantile_over_time(0.5, {}) by ({by})", values.text);
    let count = parts.count(&counted);
    let k = fmt_num(parts.rules.spike_factor);
    let median_rule = format!(
        "(((({last} > {k} * {median}) and ({median} >= 1)) or (({last} > {k}) and ({median} < 1))) and ({count} > {MEDIAN_WARMUP}))"
    );
    let expr = match parts.rules.exit_queue_limit {
        Some(limit) => format!("({last} > {limit}) or {median_rule}"),
        None => median_rule,
    };
    let note = format!(
        "the last `exit_queue` of the last {range} against the limit (`monitor.exit_queue_limit`; a telemetry stream's `employment.queue_limit` is not in the log) and against {k} times the median of the `exit_queue` values of the same {range}, counted as at least 1, once more than {MEDIAN_WARMUP} are there. LogQL has no moving median over the previous {} ticks: `quantile_over_time(0.5)` over the time range, the last value included, is the closest form.",
        parts.rules.window
    );
    (expr, vec![values, counted], note)
}

fn plaintext(parts: &Parts<'_>, loopback: bool) -> Condition {
    let op = if loopback { "=~" } else { "!~" };
    let lines = parts.query(
        "plaintext",
        &format!(
            " |= {} | logfmt | __error__=\"\" | endpoint!=\"\" | endpoint{op}{}",
            lit("telemetry_tcp_plaintext_enabled"),
            lit(&loopback_regex())
        ),
        PLAINTEXT_RANGE,
    );
    let expr = format!(
        "sum by ({}, endpoint) (count_over_time({})) > 0",
        parts.by(),
        lines.text
    );
    let note = format!(
        "fires when the warning is logged and resolves {PLAINTEXT_RANGE} after the last one (Townlet logs it once, when the transport starts)."
    );
    (expr, vec![lines], note)
}

fn gap(parts: &Parts<'_>) -> Condition {
    let dropped = drop_warnings(parts, GAP_RANGE);
    let expr = format!(
        "sum by ({}) (sum_over_time({})) > 0",
        parts.by(),
        dropped.text
    );
    let note = "the ticks the stream lost are the payloads that the `Telemetry buffer exceeded ... dropped N payloads` warnings of the last 15 minutes report (one payload per tick); the stream itself is not read.".to_string();
    (expr, vec![dropped], note)
}

/// The Loki ruler rule file (YAML) of [`loki_rules`].
pub fn alert_rules(rules: &RuleSettings, loki: &LokiSettings) -> Result<String> {
    let all = loki_rules(rules, loki);
    // The ruler reads Prometheus' rule-file shape: the same types write it.
    let file = prom::RuleFile {
        groups: vec![prom::RuleGroup {
            name: "townlet-monitor-logs",
            rules: all
                .iter()
                .map(|r| {
                    prom::Entry::Alert(prom::RuleEntry {
                        alert: &r.alert,
                        expr: &r.expr,
                        hold: &r.hold,
                        labels: prom::RuleLabels {
                            severity: &r.severity,
                            rule: &r.rule,
                            extra: &rules.alert_labels,
                        },
                        annotations: prom::RuleAnnotations {
                            summary: &r.summary,
                            description: &r.description,
                            runbook_url: r.runbook_url.clone(),
                        },
                    })
                })
                .collect(),
        }],
    };
    let yaml = serde_yaml_ng::to_string(&file).context("cannot write the Loki rules as YAML")?;
    Ok(format!(
        "# Loki ruler rules equivalent to `cargo xtask monitor` (written by\n# `cargo xtask monitor rules --emit loki`): LogQL over Townlet's log lines\n# in Loki ({}, environment label `{}`).\n{yaml}",
        loki.selector
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>(),
        loki.env_label
    ))
}
