//! Machine-readable output as the tools that define it read it: every
//! command's `--format json` through `jq` and through its JSON Schema in
//! `docs/schemas/`, in GitHub Actions
//! (`GITHUB_ACTIONS=true`, where workflow commands must stay off stdout),
//! and every `--format junit` through the junit-10 schema.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use assert_cmd::Command;

fn workspace() -> PathBuf {
    test_support::workspace()
}

/// The binary as CI runs it: in GitHub Actions, no colour.
fn xtask(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("xtask").expect("xtask binary");
    cmd.env_remove("TOWNLET_ROOT")
        .env("GITHUB_ACTIONS", "true")
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("GITHUB_STEP_SUMMARY", dir.join("step-summary.md"))
        .current_dir(workspace());
    cmd
}

/// Runs the command line `args` as CI would, in `dir`.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    xtask(dir).args(args).output().expect("run the command")
}

/// Asserts the exit code, showing the command's stderr when it differs.
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Pipes `stdout` into `jq --slurp`, which fails on anything that is not
/// JSON, and checks that it held one JSON object and nothing else; returns
/// that object as jq read it.
fn jq(what: &str, out: &Output) -> serde_json::Value {
    let mut child = plumbing::process::command("jq")
        .args(["--slurp", "--compact-output", "."])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jq (install it with .ci/install-deps)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&out.stdout)
        .expect("feed jq");
    let parsed = child.wait_with_output().expect("jq");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        parsed.status.success(),
        "{what}: jq rejected stdout ({}):\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&parsed.stderr),
        String::from_utf8_lossy(&out.stderr)
    );
    let documents: Vec<serde_json::Value> =
        serde_json::from_slice(&parsed.stdout).expect("jq prints an array");
    assert_eq!(documents.len(), 1, "{what}: not one document:\n{stdout}");
    let value = documents.into_iter().next().expect("one");
    assert!(value.is_object(), "{what}: not an object:\n{stdout}");
    assert!(
        !stdout.contains("::error") && !stdout.contains("::warning") && !stdout.contains("::group"),
        "{what}: workflow commands on stdout:\n{stdout}"
    );
    value
}

/// Validates `value`, a document printed by a command, against the schema
/// checked in as `docs/schemas/{name}.schema.json`, and checks that it says
/// which version of that shape it is.
pub(crate) fn assert_matches_schema(name: &str, value: &serde_json::Value) {
    let path = workspace().join(format!("docs/schemas/{name}.schema.json"));
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("a schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name}: the document does not match its schema:\n{}\n{value:#}",
        errors.join("\n")
    );
    assert!(value["schema"].is_u64(), "{name}: no `schema` version");
}

/// A Townlet root with a ruff that finds two problems (in ruff's JSON
/// output, which the gate asks for) and a pytest-like step that fails.
fn failing_gate(dir: &Path) -> PathBuf {
    let root = dir.join("townlet");
    std::fs::create_dir_all(&root).expect("mkdir");
    let ruff = root.join("ruff");
    std::fs::write(
        &ruff,
        format!(
            "#!/bin/sh\ncat <<'EOF'\n[{{\"code\": \"F401\", \"message\": \"`os` imported but unused\", \"filename\": \"{root}/src/a.py\", \"location\": {{\"row\": 1, \"column\": 8}}}},\n {{\"code\": \"E402\", \"message\": \"Module level import not at top of file\", \"filename\": \"{root}/src/a.py\", \"location\": {{\"row\": 4, \"column\": 1}}}}]\nEOF\nexit 1\n",
            root = root.display()
        ),
    )
    .expect("write ruff");
    std::fs::set_permissions(&ruff, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let config = dir.join("rollout.yaml");
    std::fs::write(
        &config,
        "target:\n  root: townlet\n  python: python3\ngate:\n  steps:\n    - id: ruff\n      command: ./ruff check src\n    - id: broken\n      command: [sh, -c, 'echo src/b.py:3:1 broken; exit 4']\n",
    )
    .expect("write config");
    config
}

#[test]
fn the_gate_json_and_junit_validate_while_annotations_go_to_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = failing_gate(dir.path());
    let out = xtask(dir.path())
        .args(["gate", "--format", "json", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert_exit(&out, 1);
    let report = jq("gate --format json", &out);
    assert_matches_schema("gate-report", &report);
    assert_eq!(report["verdict"], "fail");
    // The file the gate wrote is the same document.
    let written = rollout_config::resolve::rollout_dir_for(
        &dir.path().join("target"),
        &dir.path().join("townlet"),
    )
    .join("gate-report.json");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written).expect("gate-report.json"))
            .expect("JSON");
    assert_matches_schema("gate-report", &written);
    let ruff = &report["steps"][0];
    assert_eq!(ruff["diagnostics"][0]["file"], "src/a.py");
    assert_eq!(ruff["diagnostics"][1]["line"], 4);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("::error file=src/a.py,line=1,col=8,title=gate step ruff%3A F401::`os` imported but unused"),
        "{stderr}"
    );
    assert!(
        stderr.contains("::error file=src/b.py,line=3,col=1,title=gate step broken::"),
        "{stderr}"
    );

    let out = xtask(dir.path())
        .args(["gate", "--format", "junit", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert_exit(&out, 1);
    test_support::assert_valid_junit10(&String::from_utf8_lossy(&out.stdout));
}

#[test]
fn every_other_command_prints_json_that_jq_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| run_in(dir.path(), args);

    let out = run(&["config", "--format", "json"]);
    assert_exit(&out, 0);
    assert_matches_schema("config", &jq("config", &out));

    let phase3 = workspace().join("baselines/townlet-sample/phase3");
    let phase3 = phase3.to_str().expect("utf-8");
    let diff = |format: &str| {
        run(&[
            "baseline-diff",
            "--baseline",
            phase3,
            "--candidate",
            phase3,
            "--format",
            format,
        ])
    };
    let out = diff("json");
    assert_exit(&out, 0);
    let report = jq("baseline-diff", &out);
    assert_matches_schema("baseline-diff", &report);
    assert_eq!(report["verdict"], "pass");
    let out = diff("junit");
    assert_exit(&out, 0);
    test_support::assert_valid_junit10(&String::from_utf8_lossy(&out.stdout));

    let log = dir.path().join("townlet.log");
    std::fs::write(
        &log,
        "2026-01-05 10:00:00,200 WARNING townlet.telemetry.transport telemetry_tcp_plaintext_enabled endpoint=demo.local:8765\n2026-01-05 10:00:00,987 INFO townlet.core.sim_loop tick_health tick=1 duration_ms=1.91 queue=0 dropped=0 flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue=0\n",
    )
    .expect("write log");
    let log = log.to_str().expect("utf-8");
    let out = run(&["monitor", "--log", log, "--format", "json"]);
    assert_exit(&out, 1);
    let report = jq("monitor", &out);
    assert_matches_schema("monitor", &report);
    assert_eq!(report["verdict"], "fail");
    let follow = ["--follow", "--stop-after-idle", "1s"];
    let out = run(&[
        &["monitor"],
        &follow[..],
        &["--log", log, "--format", "json"],
    ]
    .concat());
    assert_exit(&out, 1);
    // JSON Lines: each alert as raised, then the report.
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (i, line) in lines.iter().enumerate() {
        let one = Output {
            status: out.status,
            stdout: format!("{line}\n").into_bytes(),
            stderr: Vec::new(),
        };
        let value = jq("monitor --follow line", &one);
        let expected = if i == 0 { "rule" } else { "verdict" };
        assert!(value.get(expected).is_some(), "{line}");
        let schema = if i == 0 {
            "monitor-follow-alert"
        } else {
            "monitor"
        };
        assert_matches_schema(schema, &value);
    }
}

#[test]
fn tls_smoke_and_its_subcommands_print_json_that_jq_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| run_in(dir.path(), args);

    // Its own Townlet root with the sample's TLS config: the dev
    // certificates are made here, not shared with other tests.
    let root = dir.path().join("townlet");
    std::fs::create_dir_all(root.join("configs/demo")).expect("mkdir");
    std::fs::copy(
        workspace().join("examples/townlet-sample/configs/demo/poc_demo_tls.yaml"),
        root.join("configs/demo/poc_demo_tls.yaml"),
    )
    .expect("copy the TLS config");
    let root_arg = root.to_str().expect("utf-8");
    let out = run(&["tls-smoke", "certs", "--root", root_arg, "--format", "json"]);
    assert_exit(&out, 0);
    assert_matches_schema("tls-smoke-certs", &jq("tls-smoke certs", &out));
    let certs = root.join("certs");

    let out = run(&[
        "tls-smoke",
        "--root",
        root_arg,
        "--loopback",
        "--format",
        "json",
    ]);
    assert_exit(&out, 0);
    let report = jq("tls-smoke", &out);
    assert_matches_schema("tls-smoke", &report);
    assert_eq!(report["verdict"], "pass");

    let cert = certs.join("demo_server.pem");
    let key = certs.join("demo_server.key");
    let out = run(&[
        "tls-smoke",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--duration",
        "1s",
        "--cert",
        cert.to_str().expect("utf-8"),
        "--key",
        key.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    // Nothing arrived in the second it listened: a finding, exit 1.
    assert_exit(&out, 1);
    let report = jq("tls-smoke serve", &out);
    assert_matches_schema("tls-smoke-serve", &report);
    assert_eq!(report["payloads"], 0);
}

/// `tag` and `signoff` read the Townlet checkout's git repository.
#[test]
fn tag_and_signoff_print_json_that_jq_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("townlet");
    std::fs::create_dir_all(&root).expect("mkdir");
    let git = |args: &[&str]| {
        let status = plumbing::process::command("git")
            .args(args)
            .current_dir(&root)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&[
        "-c",
        "user.name=Release",
        "-c",
        "user.email=release@example.invalid",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "init",
    ]);
    let root_arg = root.to_str().expect("utf-8");
    let run = |args: &[&str]| {
        xtask(dir.path())
            .args(["--root", root_arg])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Release")
            .env("GIT_AUTHOR_EMAIL", "release@example.invalid")
            .env("GIT_COMMITTER_NAME", "Release")
            .env("GIT_COMMITTER_EMAIL", "release@example.invalid")
            .output()
            .expect("run the command")
    };

    // No gate report for this commit: the plan's checks fail, exit 1.
    let out = run(&["tag", "--format", "json"]);
    assert_exit(&out, 1);
    let report = jq("tag", &out);
    assert_matches_schema("tag", &report);
    assert_eq!(report["mode"], "dry-run");

    let out = run(&[
        "signoff",
        "telemetry",
        "--note",
        "TLS smoke checked",
        "--by",
        "Release",
        "--format",
        "json",
    ]);
    assert_exit(&out, 0);
    assert_matches_schema("signoff", &jq("signoff", &out));

    let out = run(&["signoff", "--status", "--format", "json"]);
    assert_exit(&out, 1);
    let status = jq("signoff --status", &out);
    assert_matches_schema("signoff-status", &status);
    assert_eq!(status["verdict"], "fail");
}

#[test]
fn a_bisect_prints_json_that_jq_reads_and_its_schema_accepts() {
    let h = crate::bisect::History::two_differences();
    let out = h.xtask(&["baseline-diff", "--bisect", "--format", "json"]);
    assert_exit(&out, 0);
    let report = jq("baseline-diff --bisect", &out);
    assert_matches_schema("baseline-diff-bisect", &report);
    assert_eq!(report["differences"].as_array().map(Vec::len), Some(2));
}
