use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn xtask() -> Command {
    let mut cmd = Command::cargo_bin("xtask").expect("xtask binary");
    cmd.env_remove("TOWNLET_ROOT").env("NO_COLOR", "1");
    cmd
}

/// Makes `dir` hold what a Townlet checkout holds (`target.requires`).
fn townlet_shaped(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("scripts")).expect("mkdir");
    std::fs::write(
        dir.join("pyproject.toml"),
        "[project]\nname = \"townlet\"\n",
    )
    .expect("write");
    std::fs::write(dir.join("scripts/run_simulation.py"), "").expect("write");
}

#[test]
fn help_lists_every_command_with_one_line() {
    xtask().arg("--help").assert().success().stdout(
        // Column width follows the longest command name.
        predicate::str::is_match(r"\n  config +Validate the rollout config")
            .expect("regex")
            .and(predicate::str::is_match(r"\n  signoff +Record a team's sign-off").expect("regex"))
            .and(predicate::str::is_match(r"\n  tag +Plan the release tag").expect("regex")),
    );
}

#[test]
fn tag_outside_a_git_checkout_exits_2_with_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    xtask()
        .args(["tag", "--root"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("is not a git repository").and(predicate::str::contains(
                "hint: pass `--root PATH` with a git checkout of Townlet",
            )),
        );
}

#[test]
fn usage_errors_exit_2() {
    xtask().arg("no-such-command").assert().code(2);
    xtask()
        .args(["config", "--format", "yaml"])
        .assert()
        .code(2);
}

#[test]
fn each_command_accepts_only_its_own_formats() {
    for (args, allowed) in [
        (&["tag", "--format", "junit"][..], "human, json"),
        (&["monitor", "--format", "markdown"][..], "human, json"),
        (
            &["tls-smoke", "certs", "--format", "junit"][..],
            "human, json",
        ),
        (
            &["gate", "--format", "yaml"][..],
            "human, json, junit, markdown",
        ),
    ] {
        xtask()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "[possible values: {allowed}]"
            )));
    }
    // A subcommand without a report of its own takes no --format at all.
    xtask()
        .args(["monitor", "rules", "--format", "json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unexpected argument '--format'"));
}

#[test]
fn config_passes_on_the_bundled_sample_from_any_directory() {
    xtask()
        .current_dir(workspace().join("crates"))
        .arg("config")
        .assert()
        .success()
        .stdout(predicate::str::contains("tcp demo.local:8765"))
        .stdout(predicate::str::contains(
            "(from default: the bundled sample of this tooling's repository)",
        ))
        .stdout(predicate::str::contains("config ok"));
}

#[test]
fn config_prints_json_with_the_resolved_transport() {
    let out = xtask()
        .args(["config", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("stdout is json");
    assert_eq!(v["transport"]["type"], "tcp");
    assert_eq!(v["transport"]["endpoint"]["host"], "demo.local");
    assert_eq!(v["root"]["source"], "default");
    assert_eq!(v["runtime_variant"], "facade");
}

#[test]
fn root_flag_and_env_pick_another_checkout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = dir.path().join("configs/demo/poc_demo_tls.yaml");
    std::fs::create_dir_all(sim.parent().expect("parent")).expect("mkdir");
    std::fs::write(
        &sim,
        "telemetry:\n  transport:\n    type: tcp\n    endpoint: collector.staging:9100\n",
    )
    .expect("write");
    townlet_shaped(dir.path());

    xtask()
        .args(["config", "--root"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("tcp collector.staging:9100"))
        .stdout(predicate::str::contains("(from --root)"));
    // The global option is accepted before the command too.
    xtask()
        .arg("--root")
        .arg(dir.path())
        .arg("config")
        .assert()
        .success();
    xtask()
        .arg("config")
        .env("TOWNLET_ROOT", dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("(from TOWNLET_ROOT)"));
}

#[test]
fn a_typo_in_the_rollout_config_is_one_line_with_a_suggestion_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("rollout.yaml");
    let shipped = std::fs::read_to_string(workspace().join("configs/rollout.yaml")).expect("read");
    std::fs::write(&cfg, shipped.replace("  tolerance:", "  tolerence:")).expect("write");
    let out = xtask()
        .arg("config")
        .arg("--config")
        .arg(&cfg)
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).expect("utf8");
    let line = stderr.lines().next().expect("a line");
    assert!(
        line.starts_with(&format!("error: {}:", cfg.display())),
        "{stderr}"
    );
    assert!(
        line.ends_with("unknown key 'tolerence' in `baseline`, did you mean 'tolerance'?"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn an_invalid_townlet_transport_exits_2_naming_file_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("sim.yaml"),
        "telemetry:\n  transport:\n    type: tcp\n    endpoint: collector.internal:9100\n    enable_tls: false\n    allow_plaintext: true\n    dev_allow_plaintext: true\n",
    )
    .expect("write");
    townlet_shaped(dir.path());
    xtask()
        .args(["config", "--sim-config"])
        .arg(dir.path().join("sim.yaml"))
        .arg("--root")
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("sim.yaml:4:15: `telemetry.transport.endpoint`: plaintext tcp is only permitted for localhost"));
}

/// A relative path on the command line is relative to the working
/// directory; one that is only under the Townlet root is refused with the
/// path that would have worked.
#[test]
fn a_sim_config_relative_to_the_root_instead_of_the_working_directory_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("sim.yaml"),
        "telemetry:\n  transport:\n    type: stdout\n",
    )
    .expect("write");
    townlet_shaped(dir.path());
    let cwd = tempfile::tempdir().expect("cwd");
    xtask()
        .current_dir(cwd.path())
        .args(["config", "--sim-config", "sim.yaml", "--root"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no such file in the working directory",
        ))
        .stderr(predicate::str::contains(format!(
            "`--sim-config {}`",
            dir.path().join("sim.yaml").display()
        )));
    xtask()
        .current_dir(dir.path())
        .args(["config", "--sim-config", "sim.yaml", "--root", "."])
        .assert()
        .code(0);
}

#[test]
fn a_missing_checkout_exits_2_with_a_hint() {
    xtask()
        .args(["config", "--root", "/nonexistent/townlet"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`/nonexistent/townlet` (from --root) is not a directory",
        ))
        .stderr(predicate::str::contains("hint:"));
}

fn monitor_log(plaintext: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(endpoint) = plaintext {
        s.push_str(&format!("2026-01-05 10:00:00,200 WARNING townlet.telemetry.transport telemetry_tcp_plaintext_enabled endpoint={endpoint}\n"));
    }
    for t in 1..=5 {
        s.push_str(&format!("2026-01-05 10:00:00,987 INFO townlet.core.sim_loop tick_health tick={t} duration_ms=1.91 queue=0 dropped=0 flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue=0\n"));
    }
    s
}

#[test]
fn monitor_exit_codes_follow_the_alerts() {
    xtask()
        .args(["monitor", "--log", "-"])
        .write_stdin(monitor_log(None))
        .assert()
        .code(0)
        .stdout(
            // A log alone states no runtime_variant: a warning, not a failure.
            predicate::str::contains("pass telemetry-drops [default]\n")
                .and(predicate::str::contains(
                    "\nwarn runtime-variant-missing [default] warning: no input reports runtime_variant (ticks up to 5)",
                ))
                .and(predicate::str::contains(
                    "\npass: 0 critical, 1 warning alerts",
                )),
        );
    xtask()
        .args(["monitor", "--log", "-"])
        .write_stdin(monitor_log(Some("localhost:8765")))
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "warn plaintext-transport [default] warning",
        ));
    xtask()
        .args(["monitor", "--fail-on", "warning", "--log", "-"])
        .write_stdin(monitor_log(Some("localhost:8765")))
        .assert()
        .code(1);
    xtask()
        .args(["monitor", "--log", "-"])
        .write_stdin(monitor_log(Some("demo.local:8765")))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL plaintext-transport [default] critical: telemetry_tcp_plaintext_enabled endpoint=demo.local:8765"));
    xtask()
        .args(["monitor", "--log", "-"])
        .write_stdin("{\"tick\": 1}\n")
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("was given as a log").and(predicate::str::contains("hint:")),
        );
}

#[test]
fn a_copied_checkout_is_used_where_it_is_run_not_the_one_built() {
    let copy = tempfile::tempdir().expect("tempdir");
    std::fs::write(copy.path().join("Cargo.toml"), "[workspace]\n").expect("write");
    std::fs::create_dir_all(copy.path().join("configs")).expect("mkdir");
    townlet_shaped(&copy.path().join("copied-townlet"));
    std::fs::write(
        copy.path().join("configs/rollout.yaml"),
        "target:\n  root: ../copied-townlet\n",
    )
    .expect("write");
    let out = xtask()
        .current_dir(copy.path())
        .args(["-v", "config", "--format", "json"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = copy.path().canonicalize().expect("canonical");
    assert!(
        stderr.contains(&format!(
            "xtask: workspace `{}`: the checkout this is run from",
            shown.display()
        )) || stderr.contains(&format!(
            "xtask: workspace `{}`: the checkout this is run from",
            copy.path().display()
        )),
        "{stderr}"
    );
    // Its config, and the Townlet root that config names, are the copy's.
    assert!(
        stderr.contains("/copied-townlet/configs/demo/poc_demo_tls.yaml"),
        "{stderr}"
    );

    // Run from outside any workspace, the built one is used, and -v says
    // so; but its sample is not gated behind the user's back: nothing was
    // named and no Townlet checkout is here.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = xtask()
        .current_dir(elsewhere.path())
        .args(["-v", "config", "--format", "json"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "xtask: workspace `{}`: the checkout this binary was built from",
            workspace().display()
        )),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is not inside one") && stderr.contains("pass `--root PATH`"),
        "{stderr}"
    );
}

#[test]
fn color_follows_the_flag_then_clicolor_force_then_no_color() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("t.log");
    std::fs::write(
        &log,
        "2026-01-05 10:00:01,001 INFO townlet.core.sim_loop tick_health tick=1 duration_ms=1.0 queue=0 dropped=0 exit_queue=0\n",
    )
    .expect("write");
    let colored = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::cargo_bin("xtask").expect("xtask binary");
        cmd.env_remove("TOWNLET_ROOT")
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CI")
            .args(args)
            .args(["monitor", "--log"])
            .arg(&log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        out.stdout.contains(&0x1b)
    };
    // Piped stdout: no colour unless asked.
    assert!(!colored(&[], &[]));
    assert!(colored(&["--color", "always"], &[]));
    assert!(colored(&[], &[("CLICOLOR_FORCE", "1")]));
    // `CLICOLOR_FORCE=0` does not force (it did: any value counted).
    assert!(!colored(&[], &[("CLICOLOR_FORCE", "0")]));
    assert!(!colored(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    assert!(colored(&["--color", "always"], &[("NO_COLOR", "1")]));
    assert!(!colored(&[], &[("NO_COLOR", "1"), ("TERM", "dumb")]));
}

#[test]
fn baseline_diff_names_a_missing_path_and_its_flag_before_anything_runs() {
    // The root is not Townlet: had anything run first, it would say so.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    for flag in ["--candidate", "--baseline"] {
        xtask()
            .args(["baseline-diff", flag, "/nonexistent/capture", "--root"])
            .arg(elsewhere.path())
            .assert()
            .code(2)
            .stdout("")
            .stderr(
                predicate::str::starts_with(format!(
                    "error: `/nonexistent/capture` (from {flag}) does not exist\nhint: pass `{flag} PATH`"
                )),
            );
    }
}

#[test]
fn monitor_chart_refuses_an_out_that_is_not_svg_before_reading_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let png = dir.path().join("x.png");
    // The input does not exist: had it been read, that would be the error.
    xtask()
        .args(["monitor", "chart", "--log", "/nonexistent/t.log", "--out"])
        .arg(&png)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::starts_with(format!(
            "error: `--out` must name an `.svg` file: the chart is SVG\nhint: pass `--out {}`",
            dir.path().join("x.svg").display()
        )));
    assert!(!png.exists());
}

#[test]
fn monitor_quiet_prints_only_what_failed_and_the_verdict() {
    let out = xtask()
        .args(["monitor", "-q", "--log", "-"])
        .write_stdin(monitor_log(Some("demo.local:8765")))
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8(out).expect("utf8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "FAIL plaintext-transport [default] critical: telemetry_tcp_plaintext_enabled endpoint=demo.local:8765 (logged 1 time): a non-loopback endpoint receives telemetry unencrypted",
            "     at <stdin>:1",
            "FAIL: 1 critical, 1 warning alerts in 1 environment (fail on critical)",
        ],
        "{stdout}"
    );
    // A warning below --fail-on and the passing rules are left out.
    xtask()
        .args(["monitor", "-q", "--log", "-"])
        .write_stdin(monitor_log(Some("localhost:8765")))
        .assert()
        .code(0)
        .stdout("pass: 0 critical, 2 warning alerts in 1 environment (fail on critical)\n");
    // JSON is the whole report either way.
    xtask()
        .args(["monitor", "-q", "--format", "json", "--log", "-"])
        .write_stdin(monitor_log(None))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"environments\""));
}

#[test]
fn version_names_the_crate_version_and_the_commit() {
    let out = xtask()
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8(out).expect("utf8");
    // Built in a git checkout (this one), the commit is known.
    let commit = if workspace().join(".git").exists() {
        r"[0-9a-f]{12} \d{4}-\d{2}-\d{2}"
    } else {
        r"([0-9a-f]{12}|unknown) (\d{4}-\d{2}-\d{2}|unknown)"
    };
    let expected = format!(
        r"^xtask {} \({commit}\)\n$",
        regex_escape(env!("CARGO_PKG_VERSION"))
    );
    assert!(
        predicate::str::is_match(expected)
            .expect("regex")
            .eval(&stdout),
        "{stdout}"
    );
}

fn regex_escape(text: &str) -> String {
    text.replace('.', r"\.")
}

#[test]
fn completions_print_a_script_for_each_shell_that_bash_accepts() {
    // No workspace and no Townlet here: completions read no config.
    let dir = tempfile::tempdir().expect("tempdir");
    for shell in ["bash", "zsh", "fish"] {
        let out = xtask()
            .current_dir(dir.path())
            .args(["completions", shell])
            .assert()
            .success()
            .stderr("")
            .get_output()
            .stdout
            .clone();
        let script = String::from_utf8(out).expect("utf8");
        assert!(
            script.contains("gate") && script.contains("baseline-diff"),
            "{shell}: {script}"
        );
        if shell == "bash" {
            let file = dir.path().join("xtask.bash");
            std::fs::write(&file, &script).expect("write");
            Command::new("bash").arg("-n").arg(&file).assert().success();
        }
    }
    xtask().args(["completions", "powershell"]).assert().code(2);
}

#[test]
fn help_groups_options_under_headings() {
    let out = xtask()
        .args(["gate", "--help"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).expect("utf8");
    let at = |text: &str| help.find(text).unwrap_or_else(|| panic!("{text}: {help}"));
    // Selection, then output, then the options every command takes.
    assert!(at("\nSelection:\n") < at("\nOutput:\n"), "{help}");
    assert!(at("\nOutput:\n") < at("\nGlobal options:\n"), "{help}");
    // The heading an option is listed under: the last unindented line
    // ending in `:` above it.
    let heading_of = |option: &str| {
        let above = &help[..at(option)];
        above
            .lines()
            .rev()
            .find(|line| line.ends_with(':') && !line.starts_with(' '))
            .unwrap_or_default()
            .to_owned()
    };
    for (heading, option) in [
        ("Selection:", "--steps <IDS>"),
        ("Selection:", "--suite <NAME>"),
        ("Output:", "--format <FORMAT>"),
        ("Output:", "--junit <FILE>"),
        ("Output:", "-q, --quiet"),
        ("Output:", "--color <WHEN>"),
        ("Global options:", "--root <PATH>"),
        ("Global options:", "--config <PATH>"),
    ] {
        assert_eq!(heading_of(option), heading, "{option}: {help}");
    }
}
