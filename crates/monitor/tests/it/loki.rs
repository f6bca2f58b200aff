//! Loki: every emitted LogQL expression parses with Grafana's own LogQL
//! parser (`@grafana/lezer-logql`, from npm), the rule file has the ruler's
//! shape and its Prometheus twins' names, severities, `for:` and texts,
//! each rule's log queries select exactly the real-format lines they
//! should (evaluated by `logql_eval`), and the shipped file is current.

use std::collections::BTreeMap;
use std::path::Path;

use monitor::loki::{self, LokiRule};
use monitor::{LokiSettings, RuleSettings, prom};
use serde::Deserialize;
use xshell::{Shell, cmd};

use crate::fixtures;
use crate::logql_eval::Query;

const LEZER: &str = "@grafana/lezer-logql@0.4.2";

/// Parses each expression of a JSON array with lezer-logql; prints the
/// failures (expression, offset of the first error node) and exits 1.
const PARSE_SCRIPT: &str = r"
const { parser } = require('@grafana/lezer-logql');
const exprs = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const bad = [];
for (const expr of exprs) {
  const tree = parser.parse(expr);
  let at = -1;
  tree.iterate({ enter: (n) => { if (at < 0 && n.type.isError) at = n.from; } });
  if (at >= 0) bad.push({ expr, offset: at, near: expr.slice(at, at + 30) });
}
console.log(JSON.stringify({ parsed: exprs.length, bad }));
process.exit(bad.length ? 1 : 0);
";

fn loki_settings(selector: &str, env_label: &str) -> LokiSettings {
    LokiSettings {
        selector: selector.into(),
        env_label: env_label.into(),
        range: "5m".into(),
    }
}

fn rules_of(config: &str) -> RuleSettings {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(dir.path(), config);
    fixtures::rule_settings(&ctx.settings).expect("rules")
}

/// The rule sets the tests judge: the defaults, thresholds with a limit,
/// another environment label, and a variant with quotes and regex signs.
fn variants() -> Vec<Vec<LokiRule>> {
    let plain = rules_of("");
    let strict = rules_of(
        "drop_warning_per_100_ticks: 10\ndrop_critical_per_100_ticks: 20.5\nexit_queue_limit: 20",
    );
    let mut odd = plain.clone();
    odd.variant = "fa\"ca`de.(x)".into();
    vec![
        loki::loki_rules(&plain, &loki_settings(r#"{job="townlet"}"#, "env")),
        loki::loki_rules(
            &strict,
            &loki_settings(r#"{namespace=~"prod-.+", app="townlet"}"#, "namespace"),
        ),
        loki::loki_rules(&odd, &loki_settings(r#"{job=`town"let`}"#, "env")),
    ]
}

#[test]
fn every_expression_parses_with_grafana_lezer_logql() {
    let modules = test_support::npm_package("lezer-logql", LEZER);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut exprs: Vec<String> = Vec::new();
    for rules in variants() {
        for rule in rules {
            // The log queries the line tests evaluate are the expression's
            // own (a log range alone is no query, so only `expr` is parsed).
            for q in &rule.queries {
                assert!(rule.expr.contains(&q.text), "{}: {}", rule.alert, q.text);
            }
            exprs.push(rule.expr);
        }
    }
    // The parser must refuse what is not LogQL, or the test proves nothing.
    let broken = r#"sum by (env) (count_over_time({job="townlet"} |= "x" [5m]) garbage"#;
    let script = fixtures::write(dir.path(), "parse.cjs", PARSE_SCRIPT);
    let control = fixtures::write(
        dir.path(),
        "broken.json",
        &serde_json::to_string(&[broken]).expect("json"),
    );
    let list = fixtures::write(
        dir.path(),
        "exprs.json",
        &serde_json::to_string(&exprs).expect("json"),
    );
    let sh = Shell::new().expect("shell");
    let _env = sh.push_env("NODE_PATH", &modules);
    let refused = cmd!(sh, "node {script} {control}")
        .ignore_status()
        .output()
        .expect("node runs");
    assert!(!refused.status.success(), "lezer-logql took {broken}");
    let said = String::from_utf8_lossy(&refused.stdout);
    assert!(
        said.contains("\"offset\":59,\"near\":\"garbage\""),
        "{said}"
    );
    let out = cmd!(sh, "node {script} {list}")
        .ignore_status()
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lezer-logql found errors: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("\"parsed\":{}", exprs.len())),
        "{stdout}"
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<Group>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    name: String,
    rules: Vec<Rule>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    hold: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}
#[derive(Deserialize)]
struct PromFile {
    groups: Vec<PromGroup>,
}
#[derive(Deserialize)]
struct PromGroup {
    rules: Vec<serde_yaml_ng::Value>,
}

impl PromFile {
    /// The alerting rules of every group (recording rules left out).
    fn alerts(&self) -> Vec<Rule> {
        self.groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter(|r| r.get("alert").is_some())
            .map(|r| serde_yaml_ng::from_value(r.clone()).expect("an alerting rule"))
            .collect()
    }
}

/// The YAML has the ruler's shape, and each alert is its Prometheus
/// twin's: name, severity, `for:`, summary, runbook, and the description
/// followed by what differs over logs. Every twin but the textfile's own
/// alerts has a Loki rule.
#[test]
fn the_rule_file_has_the_rulers_shape_and_the_prometheus_texts() {
    let rules = rules_of("drop_warning_per_100_ticks: 10\ndrop_critical_per_100_ticks: 20");
    let loki_yaml =
        loki::alert_rules(&rules, &loki_settings(r#"{job="townlet"}"#, "env")).expect("yaml");
    let file: RuleFile = serde_yaml_ng::from_str(&loki_yaml).expect("ruler shape");
    assert_eq!(file.groups.len(), 1);
    assert!(!file.groups[0].name.is_empty());
    let prom: PromFile =
        serde_yaml_ng::from_str(&prom::alert_rules(&rules).expect("prom")).expect("prom yaml");
    let key = |r: &Rule| (r.alert.clone(), r.labels["severity"].clone());
    let prom_alerts = prom.alerts();
    let twins: BTreeMap<_, _> = prom_alerts.iter().map(|r| (key(r), r)).collect();
    let mine: BTreeMap<_, _> = file.groups[0].rules.iter().map(|r| (key(r), r)).collect();
    for (k, twin) in &twins {
        if twin.labels["rule"] == "textfile" {
            assert!(!mine.contains_key(k), "{k:?} has no log to read");
            continue;
        }
        let r = mine
            .get(k)
            .unwrap_or_else(|| panic!("no Loki rule for {k:?}"));
        assert_eq!((&r.hold, &r.labels), (&twin.hold, &twin.labels), "{k:?}");
        for a in ["summary", "runbook_url"] {
            assert_eq!(r.annotations[a], twin.annotations[a], "{k:?} {a}");
        }
        let (same, note) = r.annotations["description"]
            .split_once(" Over logs: ")
            .expect("a note on logs");
        assert_eq!(same, twin.annotations["description"], "{k:?}");
        assert!(!note.is_empty());
    }
    // The alert of an environment reporting ticks but no variant has its
    // twin's `for:` like every other.
    let missing = &mine[&("TownletRuntimeVariantMissing".into(), "warning".into())];
    assert_eq!(missing.hold, "5m");
    assert!(missing.annotations["runbook_url"].ends_with("#townletruntimevariantmissing"));
    for r in &file.groups[0].rules {
        assert!(
            !r.expr.is_empty() && r.annotations.len() == 3,
            "{}",
            r.alert
        );
    }
}

/// The shipped file is what `monitor rules --emit loki` makes of the
/// shipped config.
#[test]
fn the_shipped_loki_rules_are_current() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let settings =
        rollout_config::Settings::resolve(&ws, &ws, &rollout_config::Overrides::default(), &|_| {
            None
        })
        .expect("settings");
    let generated = loki::alert_rules(
        &fixtures::rule_settings(&settings).expect("rules"),
        &LokiSettings::from_config(&settings.config),
    )
    .expect("yaml");
    let shipped_path = ws.join("configs/loki/townlet.rules.yml");
    let shipped = std::fs::read_to_string(&shipped_path).expect("shipped rules");
    assert!(
        shipped == generated,
        "{} is out of date: run `cargo xtask monitor rules --emit loki --output configs/loki/townlet.rules.yml`",
        shipped_path.display()
    );
}

#[path = "loki_lines.rs"]
mod lines;
