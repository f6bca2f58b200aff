//! Tidy checks of the workspace itself, in the spirit of rust-analyzer's
//! `xtask/src/tidy.rs`: every crate says what it owns, every config key is
//! documented, and every command the README shows exists.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[test]
fn every_crate_has_a_crate_level_doc() {
    let mut missing = Vec::new();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(workspace().join("crates"))
        .expect("crates/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    crates.push(workspace().join("xtask"));
    for krate in crates {
        let root = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|f| krate.join(f))
            .find(|p| p.is_file());
        let Some(root) = root else { continue };
        if !read(&root).trim_start().starts_with("//!") {
            missing.push(root.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "crate roots without a `//!` doc: {missing:?}"
    );
}

/// Maps whose keys are the user's own names (not documented one by one).
const FREE_FORM: &[&str] = &[
    "gate.suites",
    "baseline.overrides",
    "gate.steps[].env",
    "capture.set",
    "target.provision_by_target",
];

fn key_paths(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push(path.clone());
                if !FREE_FORM.contains(&path.as_str()) {
                    key_paths(v, &path, out);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items.iter().filter(|i| i.is_object()) {
                key_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_config_key_is_documented() {
    let cfg = rollout_config::RolloutConfig::load(&workspace().join("configs/rollout.yaml"))
        .expect("shipped config");
    let value = serde_json::to_value(&cfg.file).expect("serialise");
    let mut paths = Vec::new();
    key_paths(&value, "", &mut paths);
    paths.sort();
    paths.dedup();
    let docs = read(&workspace().join("docs/config.md"));
    let undocumented: Vec<_> = paths
        .iter()
        .filter(|p| !docs.contains(&format!("`{p}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "keys missing from docs/config.md: {undocumented:?}"
    );
    let yaml = read(&workspace().join("configs/rollout.yaml"));
    for path in &paths {
        let leaf = path.rsplit(['.', ']']).next().unwrap_or(path);
        assert!(
            yaml.contains(&format!("{leaf}:")) || yaml.contains(&format!("`{leaf}`")),
            "configs/rollout.yaml neither sets nor mentions `{path}`"
        );
    }
}

#[test]
fn readme_commands_exist() {
    let readme = read(&workspace().join("README.md"));
    let cli = super::Cli::command();
    let mut unknown = Vec::new();
    for (i, _) in readme.match_indices("cargo xtask ") {
        let word: String = readme[i + "cargo xtask ".len()..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        if word.is_empty() {
            continue;
        }
        if cli.find_subcommand(&word).is_none() {
            unknown.push(word);
        }
    }
    assert!(
        unknown.is_empty(),
        "README shows commands the CLI lacks: {unknown:?}"
    );
}
