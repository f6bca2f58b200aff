//! The Grafana dashboard: the shipped file is what `monitor dashboard`
//! makes of the shipped config; Grafana's own published schema (npm
//! `@grafana/schema`, checked by `tsc --strict`) accepts it and each
//! panel's options, and refuses a dashboard with an unknown field; every
//! query names only metrics the textfile writes or the rules record,
//! parses with promtool, and the variant query tells facade, another
//! variant and none apart.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use monitor::{dashboard, prom};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::fixtures;

const SCHEMA_NPM: &str = "@grafana/schema@13.2.3";
const TYPESCRIPT_NPM: &str = "typescript@5.9.3";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped_settings() -> rollout_config::Settings {
    let ws = workspace();
    rollout_config::Settings::resolve(&ws, &ws, &rollout_config::Overrides::default(), &|_| None)
        .expect("settings")
}

/// A dashboard for a config with both drop thresholds and a limit.
fn configured() -> (Value, monitor::RuleSettings) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = fixtures::context(
        dir.path(),
        "drop_warning_per_100_ticks: 10\ndrop_critical_per_100_ticks: 20.5\nexit_queue_limit: 8",
    );
    let rules = fixtures::rule_settings(&ctx.settings).expect("rules");
    (dashboard::model(&rules), rules)
}

fn panels(d: &Value) -> Vec<&Value> {
    d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

fn exprs(d: &Value) -> Vec<String> {
    let mut out: Vec<String> = panels(d)
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets"))
        .map(|t| t["expr"].as_str().expect("expr").to_string())
        .collect();
    out.extend(
        d["templating"]["list"]
            .as_array()
            .expect("variables")
            .iter()
            .filter(|v| v["type"] == "query")
            .map(|v| {
                let q = v["query"].as_str().expect("query");
                // `label_values(METRIC, label)` asks for METRIC's series.
                q.trim_start_matches("label_values(")
                    .split(',')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            }),
    );
    out
}

/// The metric names a PromQL expression reads: what is left after label
/// matchers, strings, ranges, grouping clauses, functions, keywords and
/// numbers are taken out.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let re = |p: &str| regex::Regex::new(p).expect("regex");
    let mut e = re(r#""([^"\\]|\\.)*""#).replace_all(expr, "").into_owned();
    e = re(r"\{[^}]*\}").replace_all(&e, " ").into_owned();
    e = re(r"\[[^\]]*\]").replace_all(&e, " ").into_owned();
    e = re(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
        .replace_all(&e, " ")
        .into_owned();
    let keywords = ["and", "or", "unless", "offset", "bool"];
    re(r"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?")
        .find_iter(&e)
        .map(|m| m.as_str())
        .filter(|m| !m.ends_with('('))
        .filter(|m| !keywords.contains(m))
        .map(str::to_string)
        .collect()
}

/// Issue 23: the shipped dashboard is current.
#[test]
fn the_shipped_dashboard_is_what_the_command_makes() {
    let settings = shipped_settings();
    let generated = dashboard::grafana(&fixtures::rule_settings(&settings).expect("rules"));
    let path = workspace().join("configs/grafana/townlet.dashboard.json");
    let shipped = std::fs::read_to_string(&path).expect("shipped dashboard");
    assert!(
        shipped == generated,
        "{} is out of date: run `cargo xtask monitor dashboard --emit grafana --output configs/grafana/townlet.dashboard.json`",
        path.display()
    );
}

/// Current Grafana's model: `schemaVersion` 42, a `${datasource}`
/// variable and no datasource UID, an `env` variable; every panel has a
/// description, a unit and thresholds; the drop panel's thresholds are
/// where the drop alerts fire (`> 10` is 11 and up for integer counts),
/// the exit queue's where the spike alert does.
#[test]
fn the_dashboard_has_its_variables_units_and_the_alerts_thresholds() {
    let (d, _) = configured();
    assert_eq!(d["schemaVersion"], 42);
    let vars = d["templating"]["list"].as_array().expect("variables");
    assert_eq!(vars[0]["name"], "datasource");
    assert_eq!(vars[0]["type"], "datasource");
    assert_eq!(vars[0]["query"], "prometheus");
    assert_eq!(vars[1]["name"], "env");
    assert_eq!(vars[1]["query"], "label_values(townlet_tick, env)");
    let text = d.to_string();
    let uids: BTreeSet<&str> = regex::Regex::new(r#""uid":"([^"]*)""#)
        .expect("regex")
        .captures_iter(&text)
        .map(|c| c.get(1).map_or("", |m| m.as_str()))
        .collect();
    assert_eq!(
        uids,
        BTreeSet::from(["${datasource}", "-- Grafana --", dashboard::UID]),
        "no datasource UID is baked in"
    );
    for p in panels(&d) {
        let title = &p["title"];
        assert!(
            p["description"].as_str().is_some_and(|s| s.len() > 40),
            "{title}"
        );
        let defaults = &p["fieldConfig"]["defaults"];
        assert!(defaults["unit"].is_string(), "{title} has no unit");
        assert_eq!(
            defaults["thresholds"]["steps"][0]["value"],
            Value::Null,
            "{title}"
        );
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
    }
    let steps = |title: &str| -> Vec<Value> {
        let p = panels(&d)
            .into_iter()
            .find(|p| p["title"] == title)
            .unwrap_or_else(|| panic!("no panel {title}"));
        p["fieldConfig"]["defaults"]["thresholds"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .skip(1)
            .map(|s| s["value"].clone())
            .collect()
    };
    assert_eq!(steps("Telemetry drops per 100 ticks"), [11.0, 21.0]);
    assert_eq!(steps("Employment exit queue against its limit"), [9.0]);
    // Without thresholds any drop warns: 1 and up, no critical step.
    let bare = dashboard::model(&monitor::RuleSettings::new(
        "facade",
        monitor::DropThresholds::none(),
    ));
    let drop_panel = panels(&bare)
        .into_iter()
        .find(|p| p["title"] == "Telemetry drops per 100 ticks")
        .expect("drop panel");
    assert_eq!(
        drop_panel["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"],
        1.0
    );
    assert_eq!(
        drop_panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

/// The TypeScript that declares `dashboards` as Grafana's `Dashboard` type
/// and each panel's options and custom field config as its plugin's types.
/// `Json<T>` turns the schema's string enums into their values, which is
/// what a JSON file holds.
fn check_ts(schema: &Path, dashboards: &[Value]) -> String {
    let base = schema.join("@grafana/schema");
    let base = base.display();
    let mut ts = format!("import type {{ Dashboard }} from '{base}';\n");
    for plugin in ["stat", "timeseries", "statetimeline"] {
        writeln!(
            ts,
            "import type * as P_{plugin} from '{base}/dist/types/raw/composable/{plugin}/panelcfg/x/types.gen';"
        )
        .ok();
    }
    ts.push_str("type Json<T> = T extends string ? `${T}` : T extends number | boolean | null | undefined ? T : T extends Array<infer U> ? Array<Json<U>> : T extends object ? { [K in keyof T]: Json<T[K]> } : T;\n");
    for (i, d) in dashboards.iter().enumerate() {
        writeln!(ts, "export const dashboard{i}: Json<Dashboard> = {d};").ok();
        for (j, p) in panels(d).iter().enumerate() {
            let plugin = p["type"].as_str().expect("type").replace('-', "");
            writeln!(
                ts,
                "export const options{i}_{j}: Json<Partial<P_{plugin}.Options>> = {};",
                p["options"]
            )
            .ok();
            let custom = &p["fieldConfig"]["defaults"]["custom"];
            if !custom.is_null() {
                writeln!(
                    ts,
                    "export const custom{i}_{j}: Json<Partial<P_{plugin}.FieldConfig>> = {custom};"
                )
                .ok();
            }
        }
    }
    ts
}

/// `tsc --noEmit --strict` on `ts`: its exit status and output.
fn tsc(ts: &str) -> (bool, String) {
    let typescript = test_support::npm_package("typescript-npm", TYPESCRIPT_NPM);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("check.ts");
    std::fs::write(&file, ts).expect("write check.ts");
    let tsc = typescript.join("typescript/bin/tsc");
    let sh = Shell::new().expect("shell");
    let out = cmd!(
        sh,
        "node {tsc} --noEmit --strict --moduleResolution node --target es2020 {file}"
    )
    .ignore_status()
    .output()
    .expect("tsc runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Issue 23: Grafana's published schema accepts the shipped dashboard and
/// one with every threshold, and their panels' options; a dashboard with
/// an unknown field or a value outside an enum is refused (the check
/// bites).
#[test]
fn grafana_schema_accepts_the_dashboard_and_refuses_unknown_fields() {
    let schema = test_support::npm_package("grafana-schema-npm", SCHEMA_NPM);
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("configs/grafana/townlet.dashboard.json"))
            .expect("shipped dashboard"),
    )
    .expect("json");
    let (configured, _) = configured();
    let (ok, out) = tsc(&check_ts(&schema, &[shipped.clone(), configured]));
    assert!(ok, "tsc refused the dashboard:\n{out}");

    let mut unknown = shipped.clone();
    unknown["panels"][1]["fieldConfig"]["defaults"]["unitt"] = "short".into();
    unknown["templating"]["list"][1]["definition"] = "label_values(env)".into();
    unknown["panels"][1]["options"]["colorMode"] = "bg".into();
    let (ok, out) = tsc(&check_ts(&schema, &[unknown]));
    assert!(!ok, "tsc accepted unknown fields");
    for refused in [
        "'\"unitt\"' does not exist",
        "'\"definition\"' does not exist",
        "Type '\"bg\"' is not assignable",
    ] {
        assert!(out.contains(refused), "{refused} not in:\n{out}");
    }
}

/// Every query names only the textfile's metrics, the recording rules and
/// node_exporter's textfile mtime (which the stale alert reads too); each
/// parses with promtool.
#[test]
fn every_query_names_known_metrics_and_parses_with_promtool() {
    let (d, _) = configured();
    let mut known: BTreeSet<String> = prom::textfile_families()
        .into_iter()
        .map(str::to_string)
        .collect();
    known.extend(
        prom::RECORDING_RULES
            .iter()
            .map(|(name, _)| name.to_string()),
    );
    known.insert("node_textfile_mtime_seconds".into());
    let exprs = exprs(&d);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut rules = String::from("groups:\n- name: dashboard\n  rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let names = metric_names(e);
        assert!(!names.is_empty(), "no metric in {e}");
        let unknown: Vec<&String> = names.difference(&known).collect();
        assert!(
            unknown.is_empty(),
            "{e} reads {unknown:?}, not written by the textfile or the rules"
        );
        let concrete = e.replace("$env", ".*");
        writeln!(
            rules,
            "  - record: dashboard:q{i}\n    expr: '{}'",
            concrete.replace('\'', "''")
        )
        .ok();
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixtures::write(dir.path(), "queries.yml", &rules);
    let sh = Shell::new().expect("shell");
    let out = cmd!(sh, "promtool check rules {path}")
        .ignore_status()
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool check rules on the dashboard's queries:\n{}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The variant panels' query, on the series a textfile holds for an
/// environment on the facade, one on another variant and a log-only one:
/// 2, 1 and 0 (the value mappings' facade / NOT facade / not reported).
#[test]
fn the_variant_query_tells_facade_another_variant_and_none_apart() {
    let (d, _) = configured();
    let expr = panels(&d)[0]["targets"][0]["expr"]
        .as_str()
        .expect("expr")
        .replace("$env", ".*");
    let dir = tempfile::tempdir().expect("tempdir");
    fixtures::write(dir.path(), "none.yml", "groups: []\n");
    let test = format!(
        "rule_files: [none.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'townlet_runtime_variant_info{{env=\"prod\",variant=\"facade\"}}'\n        values: '1x5'\n      - series: 'townlet_runtime_variant_reported{{env=\"prod\"}}'\n        values: '1x5'\n      - series: 'townlet_runtime_variant_info{{env=\"canary\",variant=\"legacy\"}}'\n        values: '1x5'\n      - series: 'townlet_runtime_variant_reported{{env=\"canary\"}}'\n        values: '1x5'\n      - series: 'townlet_runtime_variant_reported{{env=\"logs\"}}'\n        values: '0x5'\n    promql_expr_test:\n      - expr: '{}'\n        eval_time: 3m\n        exp_samples:\n          - labels: '{{env=\"prod\"}}'\n            value: 2\n          - labels: '{{env=\"canary\"}}'\n            value: 1\n          - labels: '{{env=\"logs\"}}'\n            value: 0\n",
        expr.replace('\'', "''")
    );
    let path = fixtures::write(dir.path(), "variant.test.yml", &test);
    let sh = Shell::new().expect("shell");
    let out = cmd!(sh, "promtool test rules {path}")
        .ignore_status()
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "{}{}\n{test}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
