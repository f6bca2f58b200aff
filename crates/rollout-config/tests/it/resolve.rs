//! Precedence of settings: flag > environment > file > default.

use std::path::Path;

use rollout_config::{Overrides, Settings, Source};

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    for d in [
        "ws/configs",
        "ws/examples/townlet-sample",
        "file-root",
        "env-root",
        "flag-root",
    ] {
        std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
    }
    (dir, ws)
}

fn resolve(ws: &Path, cwd: &Path, flag: Option<&str>, env: Option<&str>) -> Settings {
    let overrides = Overrides {
        config: None,
        root: flag.map(Into::into),
    };
    let env_value = env.map(str::to_string);
    Settings::resolve(ws, cwd, &overrides, &move |k| {
        (k == "TOWNLET_ROOT").then(|| env_value.clone()).flatten()
    })
    .expect("resolves")
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let (dir, ws) = setup();
    let top = dir.path();
    super::write(
        &ws,
        "configs/rollout.yaml",
        "target:\n  root: ../../file-root\n",
    );

    let s = resolve(&ws, top, Some("flag-root"), Some("env-root"));
    assert_eq!(
        (s.root.value, s.root.source),
        (top.join("flag-root"), Source::Flag)
    );
    let s = resolve(&ws, top, None, Some("env-root"));
    assert_eq!(
        (s.root.value, s.root.source),
        (top.join("env-root"), Source::Env)
    );
    // An empty variable counts as unset.
    let s = resolve(&ws, top, None, Some(""));
    assert_eq!(
        (s.root.value, s.root.source),
        (top.join("file-root"), Source::File)
    );
    let s = resolve(&ws, top, None, None);
    assert_eq!(
        (s.root.value, s.root.source),
        (top.join("file-root"), Source::File)
    );

    super::write(&ws, "configs/rollout.yaml", "runtime_variant: facade\n");
    let s = resolve(&ws, top, None, None);
    assert_eq!(
        (s.root.value, s.root.source),
        (ws.join("examples/townlet-sample"), Source::Default)
    );
}

#[test]
fn relative_paths_resolve_where_the_rules_say() {
    let (dir, ws) = setup();
    super::write(
        &ws,
        "configs/rollout.yaml",
        "target:\n  root: ../../file-root\n  python: .venv/bin/python\ntls_smoke:\n  sim_config: configs/demo/x.yaml\n",
    );
    // A flag is relative to the current directory, not to the config file.
    let cwd = dir.path().join("ws/configs");
    let s = resolve(&ws, &cwd, Some("../../flag-root"), None);
    assert_eq!(s.root.value, dir.path().join("flag-root"));
    // Paths of the Townlet side are relative to the Townlet root.
    assert_eq!(s.python(), dir.path().join("flag-root/.venv/bin/python"));
    assert_eq!(
        s.sim_config(None),
        dir.path().join("flag-root/configs/demo/x.yaml")
    );
    assert_eq!(
        s.sim_config(Some(Path::new("other.yaml"))),
        dir.path().join("flag-root/other.yaml")
    );
    assert_eq!(
        s.sim_config(Some(Path::new("/abs/x.yaml"))),
        Path::new("/abs/x.yaml")
    );
}

#[test]
fn a_missing_checkout_is_reported_with_its_source() {
    let (dir, ws) = setup();
    super::write(&ws, "configs/rollout.yaml", "");
    let s = resolve(&ws, dir.path(), Some("nowhere"), None);
    let err = s.checkout().expect_err("missing").to_string();
    assert!(
        err.contains("nowhere` (from --root) is not a directory"),
        "{err}"
    );
    assert!(
        err.contains("hint: pass `--root PATH` or set TOWNLET_ROOT"),
        "{err}"
    );
}

#[test]
fn python_without_a_slash_is_a_program_on_path() {
    let (dir, ws) = setup();
    super::write(&ws, "configs/rollout.yaml", "target:\n  python: python3\n");
    let s = resolve(&ws, dir.path(), None, None);
    assert_eq!(s.python(), Path::new("python3"));
}

#[test]
fn each_target_gets_its_own_baselines() {
    let (dir, ws) = setup();
    super::write(
        &ws,
        "configs/rollout.yaml",
        "gate:\n  steps:\n    - id: mypy\n      command: mypy\n      debt: ../baselines/{target}/debt.txt\n",
    );
    super::write(
        &dir.path().join("flag-root"),
        "pyproject.toml",
        "[project]\nname = \"townlet\"\nversion = \"0.9.7\"\n",
    );
    let s = resolve(&ws, dir.path(), Some("flag-root"), None);
    assert_eq!(s.target, "townlet");
    assert_eq!(s.config.baseline.dir, ws.join("baselines/townlet/phase3"));
    assert_eq!(
        s.config.gate.steps[0].debt.as_deref(),
        Some(ws.join("baselines/townlet/debt.txt").as_path())
    );
    assert_eq!(
        s.config.monitor.thresholds_file,
        ws.join("baselines/townlet/monitor-thresholds.yaml")
    );
    // Without a pyproject, the directory's name.
    let s = resolve(&ws, dir.path(), Some("env-root"), None);
    assert_eq!(s.target, "env-root");
    assert_eq!(s.config.baseline.dir, ws.join("baselines/env-root/phase3"));
}
