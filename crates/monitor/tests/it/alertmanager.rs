//! The Alertmanager example (`configs/alertmanager/alertmanager.yml`) with
//! the real amtool: the file is a valid config, and every alert of the
//! shipped rules, with the labels it carries, reaches the receiver the file
//! promises (critical in production pages, other critical alerts go to the
//! on-call chat, warnings become tickets).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use xshell::{Shell, cmd};

#[derive(Deserialize)]
struct RulesFile {
    groups: Vec<Group>,
}
#[derive(Deserialize)]
struct Group {
    rules: Vec<Rule>,
}
#[derive(Deserialize)]
struct Rule {
    alert: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

/// The receiver amtool routes `labels` to, checked with
/// `--verify.receivers` (exit 1 on another receiver).
fn routes_to(sh: &Shell, config: &Path, labels: &[String], receiver: &str) {
    let out = cmd!(
        sh,
        "amtool config routes test --config.file={config} --verify.receivers={receiver} {labels...}"
    )
    .ignore_status()
    .output()
    .expect("amtool runs");
    assert!(
        out.status.success(),
        "{labels:?} should reach {receiver}, amtool says:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), receiver);
}

#[test]
fn the_alertmanager_example_is_valid_and_routes_every_townlet_alert() {
    let sh = Shell::new().expect("shell");
    let config = configs().join("alertmanager/alertmanager.yml");
    let check = cmd!(sh, "amtool check-config {config}")
        .ignore_status()
        .output()
        .expect("amtool runs");
    assert!(
        check.status.success(),
        "amtool check-config:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let rules_path = configs().join("prometheus/townlet.rules.yml");
    let rules: RulesFile = rollout_config::parse_yaml(
        &std::fs::read_to_string(&rules_path).expect("rules"),
        &rules_path,
    )
    .expect("rules yaml");
    let mut routed = 0;
    for rule in rules.groups.iter().flat_map(|g| &g.rules) {
        let Some(alert) = &rule.alert else { continue };
        for env in ["prod", "staging"] {
            let mut labels = vec![format!("alertname={alert}"), format!("env={env}")];
            labels.extend(rule.labels.iter().map(|(k, v)| format!("{k}={v}")));
            let receiver = match (rule.labels["severity"].as_str(), env) {
                ("critical", "prod") => "townlet-page",
                ("critical", _) => "townlet-oncall-chat",
                _ => "townlet-ticket",
            };
            routes_to(&sh, &config, &labels, receiver);
            routed += 1;
        }
    }
    assert!(routed >= 18, "{routed} routes tested");
    // An alert of another team is not Townlet's to route.
    routes_to(
        &sh,
        &config,
        &["alertname=Other".into(), "severity=critical".into()],
        "default",
    );
}
