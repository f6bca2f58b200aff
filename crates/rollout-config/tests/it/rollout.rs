use std::path::Path;

use rollout_config::RolloutConfig;
use rollout_config::model::StepKind;

fn error_of(text: &str) -> String {
    match RolloutConfig::parse(text, Path::new("configs/rollout.yaml")) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn shipped_config_loads_with_the_plan_settings() {
    let cfg = RolloutConfig::load(&super::workspace().join("configs/rollout.yaml"))
        .expect("shipped config loads");
    assert_eq!(cfg.runtime_variant, "facade");
    assert_eq!(cfg.release.main_branch, "main");
    assert_eq!(cfg.release.staging_branch, "release/m4-rollout");
    assert_eq!(cfg.release.base_tag, "v0.9.0-m4");
    assert_eq!(cfg.release.high_risk_paths, ["src/townlet/world"]);
    let teams: Vec<_> = cfg
        .release
        .signoff_teams
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(teams, ["UI", "Telemetry", "Training/Automation"]);
    assert!(
        cfg.release
            .signoff_teams
            .iter()
            .all(|t| !t.checklist.is_empty())
    );
    assert!(cfg.gate.steps.iter().any(|s| s.kind == StepKind::Command));
    assert_eq!(cfg.tls_smoke.sim_config, "configs/demo/poc_demo_tls.yaml");
    // No root is set: the workspace decides (itself when adopted into
    // Townlet, the sample in this repository).
    assert_eq!(cfg.target.root, None);
    assert_eq!(cfg.target.requires, ["scripts/run_simulation.py"]);
    assert!(cfg.baseline.dir.ends_with("baselines/{target}/phase3"));
}

#[test]
fn empty_file_takes_every_default() {
    let cfg = RolloutConfig::parse("", Path::new("r.yaml")).expect("empty config is valid");
    assert_eq!(cfg.runtime_variant, "facade");
    assert_eq!(cfg.tls_smoke.expiry_warning_days, 30);
    let with_bom = RolloutConfig::parse("\u{feff}runtime_variant: facade\n", Path::new("r.yaml"))
        .expect("bom");
    assert_eq!(with_bom.runtime_variant, "facade");
}

#[test]
fn syntax_error_names_line_and_column() {
    insta::assert_snapshot!(error_of("target:\n  root: \"unterminated\n  python: x\n"));
}

#[test]
fn a_tab_indented_line_is_named_as_such() {
    let err = error_of("tls_smoke:\n\tsim_config: x.yaml\n");
    assert!(
        err.starts_with("configs/rollout.yaml:2:1: line 2 is indented with a tab (before `sim_config`): YAML indents with spaces only"),
        "{err}"
    );
    assert!(err.contains("hint: replace the tab with spaces"), "{err}");
    let err = error_of("tls_smoke:\n  expiry_warning_days: 3\n \tzebra: 1\n");
    assert!(
        err.starts_with("configs/rollout.yaml:3:2: line 3 is indented with a tab (before `zebra`)"),
        "{err}"
    );
    assert!(!err.contains('?'), "{err}");
    // A tab that starts a continuation line of a quoted string is text,
    // not indentation: another error keeps its own message.
    let err = error_of("runtime_variant: \"fa\n\tcade\"\ntls_smok: 1\n");
    assert!(err.contains("unknown key 'tls_smok'"), "{err}");
}

#[test]
fn unknown_key_suggests_the_closest() {
    let text = "baseline:\n  tolerence:\n    abs: 0.1\n";
    insta::assert_snapshot!(error_of(text), @"configs/rollout.yaml:2:3: unknown key 'tolerence' in `baseline`, did you mean 'tolerance'?");
}

#[test]
fn unknown_top_level_key_suggests_too() {
    insta::assert_snapshot!(error_of("tls_smok:\n  expiry_warning_days: 3\n"), @"configs/rollout.yaml:1:1: unknown key 'tls_smok', did you mean 'tls_smoke'?");
}

#[test]
fn unknown_key_without_a_close_match_lists_the_valid_ones() {
    insta::assert_snapshot!(error_of("tls_smoke:\n  zebra: 1\n"), @"configs/rollout.yaml:2:3: unknown key 'zebra' in `tls_smoke`, expected one of: sim_config, expiry_warning_days");
}

#[test]
fn wrong_type_names_key_path_expected_and_found() {
    let text = "gate:\n  steps:\n    - id: a\n      command: x\n    - id: b\n      command: y\n    - id: c\n      command: z\n      timeout: soon\n";
    insta::assert_snapshot!(error_of(text), @"configs/rollout.yaml:9:16: `gate.steps[2].timeout`: expected a duration such as `90s`, `10m` or a number of seconds, found 'soon'");
    insta::assert_snapshot!(error_of("tls_smoke:\n  expiry_warning_days: many\n"), @"configs/rollout.yaml:2:24: `tls_smoke.expiry_warning_days`: invalid type: string \"many\", expected u32");
}

#[test]
fn missing_required_key_points_at_its_parent() {
    insta::assert_snapshot!(error_of("gate:\n  steps:\n    - command: x\n"), @"configs/rollout.yaml:3:7: `gate.steps[0]`: required key 'id' is missing");
}

#[test]
fn semantic_errors_point_at_the_value() {
    insta::assert_snapshot!(error_of("gate:\n  steps:\n    - id: a\n      command: x\n    - id: a\n      command: y\n"), @"configs/rollout.yaml:5:11: `gate.steps[1].id`: step id 'a' is already used by gate.steps[0]");
    insta::assert_snapshot!(error_of("gate:\n  steps:\n    - id: pytest\n      command: x\n    - id: b\n      command: y\n      needs: [pytets]\n"), @"configs/rollout.yaml:7:15: `gate.steps[1].needs[0]`: step 'b' needs unknown step 'pytets', did you mean 'pytest'?");
    insta::assert_snapshot!(error_of("gate:\n  steps:\n    - id: a\n      command: x\n      needs: [b]\n    - id: b\n      command: y\n      needs: [a]\n"), @"configs/rollout.yaml:5:14: `gate.steps[0].needs`: steps depend on each other in a cycle: a -> b -> a");
    insta::assert_snapshot!(error_of("gate:\n  steps:\n    - id: a\n"), @"configs/rollout.yaml:3:7: `gate.steps[0]`: step 'a' of kind command needs a `command`");
    insta::assert_snapshot!(error_of("baseline:\n  tolerance:\n    rel: -0.5\n"), @"configs/rollout.yaml:3:10: `baseline.tolerance.rel`: expected a finite number >= 0, found -0.5");
    insta::assert_snapshot!(error_of("release:\n  base_tag: v0.9 m4\n"), @"configs/rollout.yaml:2:13: `release.base_tag`: 'v0.9 m4' is not a valid git ref name");
    insta::assert_snapshot!(error_of("gate:\n  jobs: 0\n"), @"configs/rollout.yaml:2:9: `gate.jobs`: expected at least 1, found 0 (leave it out to use every CPU)");
}

#[test]
fn command_lines_that_cannot_be_split_are_errors() {
    insta::assert_snapshot!(error_of("target:\n  provision:\n    - \"echo 'open\"\n"), @"configs/rollout.yaml:3:7: `target.provision[0]`: cannot split command line 'echo 'open' into arguments: missing closing quote");
}

#[test]
fn missing_file_says_so_with_a_hint() {
    let err = RolloutConfig::load(Path::new("/nonexistent/rollout.yaml")).expect_err("missing");
    let text = err.to_string();
    assert!(
        text.starts_with("/nonexistent/rollout.yaml: the rollout config does not exist"),
        "{text}"
    );
    assert!(text.contains("\nhint: pass `--config PATH`"), "{text}");
}

#[test]
fn monitor_settings_are_checked_where_written() {
    insta::assert_snapshot!(error_of("monitor:\n  exit_queue_window: 2\n"), @"configs/rollout.yaml:2:22: `monitor.exit_queue_window`: expected at least 3 ticks, found 2");
    insta::assert_snapshot!(error_of("monitor:\n  learn_critical_factor: 0.5\n"), @"configs/rollout.yaml:2:26: `monitor.learn_critical_factor`: expected a number >= 1, found 0.5");
    insta::assert_snapshot!(error_of("monitor:\n  drop_warning_per_100_ticks: -1\n"), @"configs/rollout.yaml:2:31: `monitor.drop_warning_per_100_ticks`: expected a finite number >= 0, found -1");
    insta::assert_snapshot!(error_of("monitor:\n  fail_on: sometimes\n"), @"configs/rollout.yaml:2:12: `monitor.fail_on`: unknown variant `sometimes`, expected `warning` or `critical`");
}

#[test]
fn runbook_base_and_alert_labels_are_checked_where_written() {
    for (yaml, expected) in [
        (
            "monitor:\n  runbook_base_url: docs.example.org\n",
            "configs/rollout.yaml:2:21: `monitor.runbook_base_url`: expected an absolute `http://` or `https://` URL with a host and no quotes, spaces, `#` or `?`, found \"docs.example.org\"",
        ),
        (
            "monitor:\n  runbook_base_url: https://\n",
            "configs/rollout.yaml:2:21: `monitor.runbook_base_url`: expected an absolute `http://` or `https://` URL with a host and no quotes, spaces, `#` or `?`, found \"https://\"",
        ),
        (
            "monitor:\n  runbook_base_url: https://git.example.org/t/blob/main\n  runbook_url: https://wiki.example.org/townlet\n",
            "configs/rollout.yaml:3:16: `monitor.runbook_url`: expected a relative path to resolve against `monitor.runbook_base_url`, found \"https://wiki.example.org/townlet\"\nhint: set the whole address in `runbook_url` and leave out `runbook_base_url`, or make `runbook_url` relative (`docs/runbook.md`)",
        ),
        (
            "monitor:\n  alert_labels:\n    severity: page\n",
            "configs/rollout.yaml:3:15: `monitor.alert_labels.severity`: `severity`, `rule`, `env` and `alertname` are set by the rules and the metrics, not here",
        ),
        (
            "monitor:\n  alert_labels:\n    team-name: a\n",
            "configs/rollout.yaml:3:16: `monitor.alert_labels.team-name`: expected a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`)",
        ),
    ] {
        assert_eq!(error_of(yaml), expected, "{yaml}");
    }
}

#[test]
fn unknown_tags_are_errors_not_silently_dropped() {
    // serde_yaml_ng reads `!include other.yaml` as the string `other.yaml`.
    let err = error_of("runtime_variant: !include other.yaml\n");
    assert_eq!(
        err,
        "configs/rollout.yaml:1:27: unknown YAML tag `!include`\nhint: remove the tag: this file takes plain values and includes no other file"
    );
    let err = error_of("gate:\n  steps:\n    - id: a\n      command: !shell echo hi\n");
    assert!(err.starts_with("configs/rollout.yaml:4:"), "{err}");
    // The core schema's tags mean what they say and stay allowed.
    let cfg = RolloutConfig::parse(
        "runtime_variant: !!str facade\n",
        Path::new("configs/rollout.yaml"),
    )
    .expect("core tag");
    assert_eq!(cfg.runtime_variant, "facade");
}

#[test]
fn deep_nesting_is_refused_before_it_costs_time() {
    // 100k levels under `capture.set` used to take 17-26 s (quadratic).
    let depth = 100_000;
    let text = format!(
        "capture:\n  sim_config: x.yaml\n  set:\n    a.b: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let started = std::time::Instant::now();
    let err = error_of(&text);
    assert!(
        err.starts_with("configs/rollout.yaml:4:")
            && err.contains("mappings and lists nested more than 128 deep"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn files_read_through_parse_yaml_are_screened_too() {
    let text = format!("schema: {}1{}\n", "{a: ".repeat(300), "}".repeat(300));
    let err = rollout_config::parse_yaml::<serde_json::Value>(
        &text,
        Path::new("baselines/t/monitor-thresholds.yaml"),
    )
    .expect_err("too deep");
    assert!(
        err.to_string()
            .starts_with("baselines/t/monitor-thresholds.yaml:1:")
            && err.to_string().contains("nested more than 128 deep"),
        "{err}"
    );
    let err = rollout_config::parse_yaml::<serde_json::Value>(
        "schema: !!python/object:os.system 1\n",
        Path::new("t.yaml"),
    )
    .expect_err("tag");
    assert!(
        err.to_string()
            .contains("unknown YAML tag `!!python/object:os.system`")
    );
}

#[test]
fn an_alias_bomb_is_refused_quickly_with_its_line() {
    let mut set = String::from("    a0.x: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        let items = vec![format!("*a{}", level - 1); 10].join(", ");
        set.push_str(&format!("    a{level}.x: &a{level} [{items}]\n"));
    }
    let err = error_of(&format!("capture:\n  sim_config: x.yaml\n  set:\n{set}"));
    assert!(
        err.starts_with("configs/rollout.yaml:9:")
            && err.contains("aliases (`*name`) expand the document to more than 1000000 values"),
        "{err}"
    );
}

#[test]
fn durations_beyond_seven_days_are_errors_at_their_value() {
    // `Duration::from_secs_f64` panicked (exit 101) on every one of these.
    let err = error_of("gate:\n  steps:\n    - id: a\n      command: echo\n      timeout: 1e300\n");
    assert_eq!(
        err,
        "configs/rollout.yaml:5:16: `gate.steps[0].timeout`: expected a duration of at most 7 days (`7d`, 604800 seconds), found 1e300"
    );
    for (text, key) in [
        ("capture:\n  timeout: 1e20\n", "`capture.timeout`"),
        (
            "release:\n  network_timeout: 9999999999999999999\n",
            "`release.network_timeout`",
        ),
        (
            "gate:\n  steps:\n    - id: ui\n      kind: terminal-smoke\n      command: x\n      run_for: 100000000000000000000y\n",
            "`gate.steps[0].run_for`",
        ),
    ] {
        let err = error_of(text);
        assert!(
            err.contains(&format!("{key}: expected a duration of at most 7 days")),
            "{err}"
        );
    }
    let err = error_of("capture:\n  timeout: .nan\n");
    assert_eq!(
        err,
        "configs/rollout.yaml:2:12: `capture.timeout`: expected a duration such as `90s`, `10m` or a number of seconds, found NaN"
    );
    let cfg = RolloutConfig::parse(
        "capture:\n  timeout: 7d\n",
        Path::new("configs/rollout.yaml"),
    )
    .expect("7 days is allowed");
    assert_eq!(cfg.capture.timeout.0, rollout_config::model::MAX_SPAN);
}

#[test]
fn environment_names_and_values_a_process_cannot_take_are_errors() {
    let step = |env: &str| {
        format!("gate:\n  steps:\n    - id: a\n      command: echo\n      env: {env}\n")
    };
    assert_eq!(
        error_of(&step(r#"{"A=B": x}"#)),
        "configs/rollout.yaml:5:13: `gate.steps[0].env`: expected an environment variable name without `=` or NUL, found 'A=B'\nhint: write each variable as `NAME: value` under `env`"
    );
    assert_eq!(
        error_of(&step(r#"{"": x}"#)),
        "configs/rollout.yaml:5:13: `gate.steps[0].env`: expected an environment variable name, found an empty one"
    );
    let err = error_of(&step(r#"{"A\0B": x}"#));
    assert!(
        err.starts_with("configs/rollout.yaml:5:13: `gate.steps[0].env`: expected an environment variable name without `=` or NUL, found 'A"),
        "{err}"
    );
    assert!(!err.contains('\0'), "{err:?}");
    assert_eq!(
        error_of(&step(r#"{A: "x\0y"}"#)),
        "configs/rollout.yaml:5:16: `gate.steps[0].env.A`: expected a value without NUL, found 'x\\x00y'"
    );
    let ok = RolloutConfig::parse(
        &step("{PYTHONPATH: \"{root}/src\", EMPTY: \"\"}"),
        Path::new("configs/rollout.yaml"),
    )
    .expect("ordinary env");
    assert_eq!(ok.gate.steps[0].env.len(), 2);
}
