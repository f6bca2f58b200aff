//! The tooling living in Townlet's repository: adopted into a Townlet-shaped
//! checkout, every command run from inside it without `--root` reports on
//! that checkout (its root and HEAD); the binary run from a checkout without
//! a workspace never reports the sample; two roots keep their own outputs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use test_support::git;

fn tooling() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The xtask binary run from `cwd`, with nothing naming a root.
fn xtask_in(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("xtask").expect("xtask binary");
    cmd.current_dir(cwd)
        .env_remove("TOWNLET_ROOT")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("GITHUB_ACTIONS")
        .env("NO_COLOR", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid");
    cmd
}

/// A telemetry stream of three ticks, all `facade`.
const STREAM: &str = concat!(
    "{\"payload_type\":\"snapshot\",\"tick\":1,\"runtime_variant\":\"facade\",\"queue_metrics\":{\"cooldown_events\":0}}\n",
    "{\"payload_type\":\"diff\",\"tick\":2,\"changes\":{\"queue_metrics\":{\"cooldown_events\":0}},\"removed\":[]}\n",
    "{\"payload_type\":\"diff\",\"tick\":3,\"changes\":{\"queue_metrics\":{\"cooldown_events\":0}},\"removed\":[]}\n",
);

/// A small rollout definition, as a Townlet maintainer might trim the
/// adopted one: no root (the checkout gates itself), one quick step, and a
/// capture that copies a stream the checkout holds.
const CONFIG: &str = "runtime_variant: facade\ntarget:\n  python: python3\ngate:\n  steps:\n    - id: hello\n      command: [sh, -c, 'echo hello from $PWD']\ncapture:\n  commands:\n    - \"cp {root}/run.jsonl {capture_dir}/telemetry.jsonl\"\n";

/// A committed, Townlet-shaped git checkout.
fn townlet_checkout(dir: &Path) -> PathBuf {
    let root = dir.join("townlet");
    for (path, text) in [
        ("pyproject.toml", "[project]\nname = \"townlet\"\n"),
        ("scripts/run_simulation.py", "print('tick')\n"),
        ("src/townlet/__init__.py", ""),
        (
            "configs/demo/poc_demo_tls.yaml",
            "telemetry:\n  transport:\n    type: tcp\n    endpoint: localhost:8765\n    enable_tls: false\n    allow_plaintext: true\n    dev_allow_plaintext: true\n",
        ),
        ("run.jsonl", STREAM),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "townlet"]);
    root
}

fn json_of(cmd: &mut Command, codes: &[i32]) -> serde_json::Value {
    let out = cmd.output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.code().is_some_and(|c| codes.contains(&c)),
        "{cmd:?}: exit {:?}\n{stderr}",
        out.status.code()
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{cmd:?}: {e}: {stderr}"))
}

#[test]
fn every_command_run_inside_an_adopted_checkout_reports_on_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = townlet_checkout(dir.path());
    let shown = root.canonicalize().expect("canonical");
    Command::cargo_bin("xtask")
        .expect("bin")
        .current_dir(tooling())
        .env_remove("TOWNLET_ROOT")
        .args(["adopt"])
        .arg(&root)
        .assert()
        .success();
    std::fs::write(root.join("configs/rollout.yaml"), CONFIG).expect("write config");
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "adopt the rollout tooling"]);
    let head = git(&root, &["rev-parse", "HEAD"]);
    let inside = root.join("src/townlet");

    let config = json_of(xtask_in(&inside).args(["config", "--format", "json"]), &[0]);
    assert_eq!(config["root"]["source"], "workspace");
    assert_eq!(
        Path::new(config["root"]["value"].as_str().expect("root")),
        root
    );

    let gate = json_of(xtask_in(&inside).args(["gate", "--format", "json"]), &[0]);
    assert_eq!(Path::new(gate["root"].as_str().expect("root")), root);
    assert_eq!(gate["git"]["commit"], head.as_str());
    assert_eq!(gate["verdict"], "pass");

    xtask_in(&inside)
        .args(["baseline-diff", "--bless"])
        .assert()
        .success();
    let diff = json_of(
        xtask_in(&inside).args(["baseline-diff", "--format", "json"]),
        &[0],
    );
    assert_eq!(diff["verdict"], "pass");
    let relation = diff["baseline_relation"].as_str().unwrap_or_default();
    assert!(relation.contains("(HEAD)"), "{diff}");
    let candidate = diff["candidate"].as_str().expect("candidate");
    assert!(
        candidate.starts_with(&root.join("target/rollout/townlet-").display().to_string())
            || candidate.starts_with(&shown.join("target/rollout/townlet-").display().to_string()),
        "{candidate}"
    );

    // The monitor checks the root's last capture when no input is named.
    let monitor = json_of(
        xtask_in(&inside).args(["monitor", "--format", "json"]),
        &[0],
    );
    let text = monitor.to_string();
    assert!(text.contains("telemetry.jsonl"), "{text}");

    let status = json_of(
        xtask_in(&inside).args(["signoff", "--status", "HEAD", "--format", "json"]),
        &[0, 1],
    );
    assert_eq!(status["commit"], head.as_str(), "{status}");

    let tag = json_of(xtask_in(&inside).args(["tag", "--format", "json"]), &[0, 1]);
    assert_eq!(tag["commit"], head.as_str(), "{tag}");
    assert_eq!(
        Path::new(tag["root"].as_str().expect("root")),
        root,
        "{tag}"
    );
}

#[test]
fn the_binary_in_a_checkout_without_a_workspace_never_reports_the_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = townlet_checkout(dir.path());
    let config = json_of(
        xtask_in(&root.join("src")).args(["config", "--format", "json"]),
        &[0],
    );
    assert_eq!(config["root"]["source"], "checkout");
    assert_eq!(
        Path::new(config["root"]["value"].as_str().expect("root")),
        root
    );

    // A git checkout that is not Townlet: exit 2 with a hint, nothing gated.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    git(&other, &["init", "-q"]);
    let out = xtask_in(&other)
        .args(["gate", "--steps", "ruff,mypy"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("is not a Townlet checkout") && stderr.contains("hint:"),
        "{stderr}"
    );
    assert!(!other.join(".venv").exists(), "nothing is created there");
}

#[test]
fn two_roots_gated_one_after_the_other_keep_their_own_outputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = townlet_checkout(&dir.path().join("a"));
    let second = townlet_checkout(&dir.path().join("b"));
    let config = dir.path().join("rollout.yaml");
    std::fs::write(&config, CONFIG).expect("write");
    let target = dir.path().join("target");
    let gate = |root: &Path| {
        json_of(
            xtask_in(&tooling())
                .env("CARGO_TARGET_DIR", &target)
                .args(["gate", "--format", "json", "--config"])
                .arg(&config)
                .arg("--root")
                .arg(root),
            &[0],
        )
    };
    gate(&first);
    gate(&second);
    for root in [&first, &second] {
        let out = rollout_config::resolve::rollout_dir_for(&target, root);
        let text = std::fs::read_to_string(out.join("gate-report.json")).expect("report");
        let report: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            Path::new(report["root"].as_str().expect("root")),
            root.as_path()
        );
        let log = std::fs::read_to_string(out.join("gate/hello.log")).expect("log");
        assert!(
            log.contains(&format!("hello from {}", root.display())),
            "{log}"
        );
    }
    assert_ne!(
        rollout_config::resolve::rollout_dir_for(&target, &first),
        rollout_config::resolve::rollout_dir_for(&target, &second)
    );
}
