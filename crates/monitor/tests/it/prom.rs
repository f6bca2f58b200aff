//! Prometheus with the real promtool: the emitted rules load, the textfile
//! parses, and `promtool test rules` shows that, fed the textfile metrics of
//! each scenario, the rules raise exactly the alerts the tool raised.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use monitor::{Input, Kind, Rule, prom};

use crate::fixtures::evaluate;
use rollout_core::Severity;
use serde::Deserialize;
use xshell::{Shell, cmd};

use crate::fixtures::{self, Keys};

const CONFIG: &str =
    "drop_warning_per_100_ticks: 10\ndrop_critical_per_100_ticks: 20\nexit_queue_spike_factor: 3";

#[derive(Deserialize)]
struct RulesFile {
    groups: Vec<Group>,
}
#[derive(Deserialize)]
struct Group {
    rules: Vec<AlertRule>,
}
/// An alerting rule, or a recording rule (`record`, no `alert`).
#[derive(Deserialize)]
struct AlertRule {
    #[serde(default)]
    alert: String,
    record: Option<String>,
    #[serde(rename = "for")]
    hold: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl Group {
    fn alerts(&self) -> impl Iterator<Item = &AlertRule> {
        self.rules.iter().filter(|r| r.record.is_none())
    }
}

fn scenario_inputs(dir: &Path) -> Vec<Input> {
    let drops = |n: u64| fixtures::log(Keys::Newer, 200, move |t| (u64::from(t > 200 - n), 0, 1));
    let mut plain = fixtures::plaintext_warning("localhost:8765");
    plain.push_str(&fixtures::plaintext_warning("demo.local:8765"));
    plain.push_str(&drops(0));
    let files: Vec<(&str, Kind, String)> = vec![
        ("clean", Kind::Log, drops(0)),
        (
            "clean",
            Kind::Telemetry,
            fixtures::telemetry(1..=200, |_| "facade".into(), |_| 0),
        ),
        (
            "legacy",
            Kind::Telemetry,
            fixtures::telemetry(1..=50, |_| "legacy".into(), |_| 0),
        ),
        ("drops-ok", Kind::Log, drops(10)),
        ("drops-warn", Kind::Log, drops(11)),
        ("drops-crit", Kind::Log, drops(21)),
        (
            "spike",
            Kind::Log,
            fixtures::log(Keys::Older, 30, |t| (0, 0, if t == 30 { 7 } else { 2 })),
        ),
        ("plain", Kind::Log, plain),
        (
            "gappy",
            Kind::Telemetry,
            fixtures::telemetry((1..=4).chain(8..=20), |_| "facade".into(), |_| 0),
        ),
    ];
    files
        .into_iter()
        .enumerate()
        .map(|(i, (env, kind, text))| Input {
            env: env.into(),
            path: fixtures::write(dir, &format!("{i}-{env}"), &text),
            kind: Some(kind),
        })
        .collect()
}

fn alert_name(rule: Rule) -> &'static str {
    match rule {
        Rule::RuntimeVariant => "TownletRuntimeVariantNotExpected",
        Rule::RuntimeVariantMissing => "TownletRuntimeVariantMissing",
        Rule::TelemetryDrops => "TownletTelemetryDrops",
        Rule::ExitQueueSpike => "TownletExitQueueSpike",
        Rule::PlaintextTransport => "TownletTelemetryPlaintext",
        Rule::TelemetryGap => "TownletTelemetryGap",
    }
}

fn yaml_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[test]
fn promtool_agrees_with_the_built_in_rules() {
    let sh = Shell::new().expect("shell");
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(dir.path(), CONFIG);
    let report = evaluate(&ctx.settings, &scenario_inputs(dir.path()), None).expect("evaluate");

    // The textfile parses.
    let textfile = prom::textfile(&report.environments);
    cmd!(sh, "promtool check metrics")
        .stdin(&textfile)
        .quiet()
        .run()
        .expect("promtool check metrics accepts the textfile");
    let written = dir.path().join("townlet.prom");
    prom::write_textfile(&written, &report.environments).expect("write");
    assert_eq!(std::fs::read_to_string(&written).expect("read"), textfile);

    // The rules load.
    let rules_yaml =
        prom::alert_rules(&fixtures::rule_settings(&ctx.settings).expect("rules")).expect("yaml");
    let rules_path = fixtures::write(dir.path(), "rules.yml", &rules_yaml);
    cmd!(sh, "promtool check rules {rules_path}")
        .quiet()
        .run()
        .expect("promtool check rules");
    let parsed: RulesFile = rollout_config::parse_yaml(&rules_yaml, &rules_path).expect("yaml");
    // One alert per condition; its severities are rules of the same name.
    let by_name: BTreeMap<(&str, &str), &AlertRule> = parsed.groups[0]
        .alerts()
        .map(|r| ((r.alert.as_str(), r.labels["severity"].as_str()), r))
        .collect();
    for rule in parsed.groups[0].alerts() {
        for key in ["summary", "description", "runbook_url"] {
            assert!(
                rule.annotations.contains_key(key),
                "{} has no {key}",
                rule.alert
            );
        }
        assert!(rule.hold.is_some(), "{} has no for:", rule.alert);
    }

    // Every sample of the textfile is an input series.
    let mut series = String::new();
    let mut values: BTreeMap<(String, String), String> = BTreeMap::new();
    for line in textfile.lines().filter(|l| !l.starts_with('#')) {
        let (name_labels, value) = line.rsplit_once(' ').expect("sample");
        writeln!(
            series,
            "      - series: {}\n        values: '{value}x15'",
            yaml_str(name_labels)
        )
        .ok();
        let name = name_labels
            .split('{')
            .next()
            .unwrap_or_default()
            .to_string();
        let env = name_labels
            .split("env=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default();
        values.insert((name, env.to_string()), value.to_string());
    }

    // The alerts the tool raised, as Prometheus would label them.
    let mut expected: BTreeMap<&str, Vec<String>> = by_name
        .keys()
        .map(|(name, _)| (*name, Vec::new()))
        .collect();
    let mut raised = 0;
    for a in &report.alerts {
        let m = &report
            .environments
            .iter()
            .find(|e| e.env == a.env)
            .expect("env")
            .metrics;
        let mut extra: Vec<(String, String)> = Vec::new();
        let (_loopback, value) = match a.rule {
            Rule::RuntimeVariant => {
                extra.push((
                    "variant".into(),
                    m.runtime_variant.clone().expect("variant"),
                ));
                (false, "1".to_string())
            }
            Rule::RuntimeVariantMissing => (false, "0".to_string()),
            Rule::TelemetryDrops => (
                false,
                values[&(
                    "townlet_telemetry_drop_rate_per_100_ticks".into(),
                    a.env.clone(),
                )]
                    .clone(),
            ),
            Rule::ExitQueueSpike => (
                false,
                values[&("townlet_exit_queue_length".into(), a.env.clone())].clone(),
            ),
            Rule::TelemetryGap => (
                false,
                values[&("townlet_telemetry_missing_ticks".into(), a.env.clone())].clone(),
            ),
            Rule::PlaintextTransport => {
                let (endpoint, lo) = m
                    .plaintext_endpoints
                    .iter()
                    .find(|(e, _)| a.message.contains(&format!("endpoint={e} ")))
                    .expect("endpoint")
                    .clone();
                extra.push(("endpoint".into(), endpoint));
                extra.push(("loopback".into(), lo.to_string()));
                (lo, "1".to_string())
            }
        };
        let name = alert_name(a.rule);
        let rule = by_name[&(name, a.severity.as_str())];
        let mut labels = rule.labels.clone();
        labels.insert("env".into(), a.env.clone());
        labels.extend(extra);
        let annotations: Vec<String> = rule
            .annotations
            .iter()
            .map(|(key, template)| {
                let mut text = template.replace("{{ $value }}", &value);
                for (k, v) in &labels {
                    text = text.replace(&format!("{{{{ $labels.{k} }}}}"), v);
                }
                format!("{key}: {}", yaml_str(&text))
            })
            .collect();
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}: {}", yaml_str(v)))
            .collect();
        expected.get_mut(name).expect("known alert").push(format!(
            "          - exp_labels: {{{}}}\n            exp_annotations: {{{}}}\n",
            labels.join(", "),
            annotations.join(", ")
        ));
        raised += 1;
    }
    // The scenarios cover every rule, and the envs that should stay quiet do.
    let fired: Vec<(&str, Rule, Severity)> = report
        .alerts
        .iter()
        .map(|a| (a.env.as_str(), a.rule, a.severity))
        .collect();
    // The log-only environments state no variant: the built-in rules and
    // Prometheus both warn; `clean` (log and stream), `legacy` and `gappy`
    // state one.
    assert_eq!(
        fired,
        vec![
            ("drops-crit", Rule::TelemetryDrops, Severity::Critical),
            ("legacy", Rule::RuntimeVariant, Severity::Critical),
            ("plain", Rule::PlaintextTransport, Severity::Critical),
            ("drops-crit", Rule::RuntimeVariantMissing, Severity::Warning),
            ("drops-ok", Rule::RuntimeVariantMissing, Severity::Warning),
            ("drops-warn", Rule::TelemetryDrops, Severity::Warning),
            ("drops-warn", Rule::RuntimeVariantMissing, Severity::Warning),
            ("gappy", Rule::TelemetryGap, Severity::Warning),
            ("plain", Rule::PlaintextTransport, Severity::Warning),
            ("plain", Rule::RuntimeVariantMissing, Severity::Warning),
            ("spike", Rule::ExitQueueSpike, Severity::Warning),
            ("spike", Rule::RuntimeVariantMissing, Severity::Warning),
        ]
    );
    assert_eq!(raised, 12);

    let mut test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n"
    );
    for (name, alerts) in expected {
        write!(
            test,
            "      - eval_time: 10m\n        alertname: {name}\n        exp_alerts:"
        )
        .ok();
        if alerts.is_empty() {
            test.push_str(" []\n");
        } else {
            test.push('\n');
            for a in alerts {
                test.push_str(&a);
            }
        }
    }
    let test_path = fixtures::write(dir.path(), "rules_test.yml", &test);
    let out = cmd!(sh, "promtool test rules {test_path}")
        .ignore_status()
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}{}\n--- test file ---\n{test}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shipped rules are what `monitor rules` makes of the shipped config,
/// and the shipped `promtool test rules` file passes on them: alerts hold
/// for their `for:`, resolve, and the textfile's own alerts fire.
#[test]
fn the_shipped_rules_are_current_and_pass_their_promtool_tests() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let settings =
        rollout_config::Settings::resolve(&ws, &ws, &rollout_config::Overrides::default(), &|_| {
            None
        })
        .expect("settings");
    let generated =
        prom::alert_rules(&fixtures::rule_settings(&settings).expect("rules")).expect("yaml");
    let shipped_path = ws.join("configs/prometheus/townlet.rules.yml");
    let shipped = std::fs::read_to_string(&shipped_path).expect("shipped rules");
    assert!(
        shipped == generated,
        "{} is out of date: run `cargo xtask monitor rules --output configs/prometheus/townlet.rules.yml`",
        shipped_path.display()
    );
    let sh = Shell::new().expect("shell");
    let _dir = sh.push_dir(ws.join("configs/prometheus"));
    let out = cmd!(sh, "promtool test rules townlet.rules.test.yml")
        .ignore_status()
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let check = cmd!(sh, "promtool check rules townlet.rules.yml")
        .ignore_status()
        .output()
        .expect("promtool runs");
    assert!(check.status.success(), "{check:?}");
}

/// `townlet.rules.test.yml`, as far as coverage needs it.
#[derive(Deserialize)]
struct RulesTest {
    tests: Vec<TestGroup>,
}
#[derive(Deserialize)]
struct TestGroup {
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
}
#[derive(Deserialize)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    exp_alerts: Vec<ExpAlert>,
}
#[derive(Deserialize)]
struct ExpAlert {
    exp_labels: BTreeMap<String, String>,
}

/// Minutes of a promtool duration (`30m`, `1h`).
fn minutes(d: &str) -> u64 {
    let (n, unit) = d.split_at(d.len() - 1);
    let n: u64 = n.parse().expect("duration");
    match unit {
        "m" => n,
        "h" => n * 60,
        _ => panic!("unexpected duration {d}"),
    }
}

/// Issue 23: every alert of the shipped rules, each severity of it, fires
/// in `townlet.rules.test.yml` and resolves later in the same test (a
/// later `eval_time` with `exp_alerts: []`); the labels the tests expect
/// carry the configured `alert_labels`.
#[test]
fn the_shipped_promtool_tests_fire_and_resolve_every_alert() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rules_path = ws.join("configs/prometheus/townlet.rules.yml");
    let rules: RulesFile = rollout_config::parse_yaml(
        &std::fs::read_to_string(&rules_path).expect("rules"),
        &rules_path,
    )
    .expect("rules yaml");
    let test_path = ws.join("configs/prometheus/townlet.rules.test.yml");
    let test: RulesTest = rollout_config::parse_yaml(
        &std::fs::read_to_string(&test_path).expect("test"),
        &test_path,
    )
    .expect("test yaml");
    let alerts: Vec<&AlertRule> = rules.groups.iter().flat_map(Group::alerts).collect();
    assert!(alerts.len() >= 9, "{} alerting rules", alerts.len());
    for rule in alerts {
        let severity = &rule.labels["severity"];
        let covered = test.tests.iter().any(|group| {
            let fired = group.alert_rule_test.iter().find(|t| {
                t.alertname == rule.alert
                    && t.exp_alerts
                        .iter()
                        .any(|a| a.exp_labels.get("severity") == Some(severity))
            });
            fired.is_some_and(|fired| {
                group.alert_rule_test.iter().any(|t| {
                    t.alertname == rule.alert
                        && t.exp_alerts.is_empty()
                        && minutes(&t.eval_time) > minutes(&fired.eval_time)
                })
            })
        });
        assert!(
            covered,
            "{} ({severity}) does not both fire and resolve in {}",
            rule.alert,
            test_path.display()
        );
        assert_eq!(rule.labels.get("team").map(String::as_str), Some("townlet"));
    }
}

/// With `monitor.runbook_base_url`, every `runbook_url` is an absolute
/// link into the runbook; every rule carries `monitor.alert_labels`; and
/// promtool still loads the rules.
#[test]
fn a_runbook_base_url_makes_every_runbook_link_absolute() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(
        dir.path(),
        "runbook_base_url: https://git.example.org/townlet/rollout/blob/main/\nalert_labels:\n  team: sim\n  env_class: staging",
    );
    let yaml =
        prom::alert_rules(&fixtures::rule_settings(&ctx.settings).expect("rules")).expect("yaml");
    let path = fixtures::write(dir.path(), "rules.yml", &yaml);
    let parsed: RulesFile = rollout_config::parse_yaml(&yaml, &path).expect("yaml");
    for rule in parsed.groups[0].alerts() {
        assert_eq!(
            rule.annotations["runbook_url"],
            format!(
                "https://git.example.org/townlet/rollout/blob/main/docs/runbook.md#{}",
                rule.alert.to_lowercase()
            )
        );
        assert_eq!(rule.labels["team"], "sim");
        assert_eq!(rule.labels["env_class"], "staging");
    }
    let sh = Shell::new().expect("shell");
    cmd!(sh, "promtool check rules {path}")
        .quiet()
        .run()
        .expect("promtool check rules");
}
