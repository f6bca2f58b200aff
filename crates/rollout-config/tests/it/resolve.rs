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

/// A Townlet checkout at `dir`: a pyproject naming it and its run script.
fn townlet_at(dir: &Path) {
    super::write(dir, "pyproject.toml", "[project]\nname = \"townlet\"\n");
    super::write(dir, "scripts/run_simulation.py", "");
}

#[test]
fn a_workspace_that_is_a_townlet_checkout_gates_itself() {
    let (dir, ws) = setup();
    super::write(&ws, "configs/rollout.yaml", "runtime_variant: facade\n");
    townlet_at(&ws);
    let s = resolve(&ws, dir.path(), None, None);
    assert_eq!(
        (s.root.value.as_path(), s.root.source),
        (ws.as_path(), Source::Workspace)
    );
    assert!(s.townlet_checkout().is_ok());
    // Outputs are kept per root.
    assert!(
        s.rollout_dir().to_string_lossy().starts_with(
            &ws.join("target/rollout/townlet-")
                .to_string_lossy()
                .into_owned()
        ),
        "{}",
        s.rollout_dir().display()
    );
    let other = resolve(&ws, dir.path(), Some("flag-root"), None);
    assert_ne!(other.rollout_dir(), s.rollout_dir());
}

#[test]
fn run_outside_any_workspace_the_current_checkout_is_the_root_or_nothing_is() {
    let (dir, ws) = setup();
    super::write(&ws, "configs/rollout.yaml", "runtime_variant: facade\n");
    let outside = |cwd: &Path| {
        Settings::resolve_from(
            &ws,
            rollout_config::resolve::WorkspaceFrom::Build,
            cwd,
            &Overrides::default(),
            &|_| None,
        )
    };
    // Inside a Townlet checkout (from a subdirectory): that checkout.
    let town = dir.path().join("town");
    townlet_at(&town);
    std::fs::create_dir_all(town.join(".git")).expect("mkdir");
    std::fs::create_dir_all(town.join("src/townlet")).expect("mkdir");
    let s = outside(&town.join("src/townlet")).expect("resolves");
    assert_eq!(
        (s.root.value, s.root.source),
        (town.clone(), Source::Checkout)
    );
    // Inside another git checkout: refused, never the sample.
    let other = dir.path().join("other");
    std::fs::create_dir_all(other.join(".git")).expect("mkdir");
    let err = format!("{:#}", outside(&other).expect_err("refused"));
    assert!(
        err.contains("is not a Townlet checkout (no `pyproject.toml` with a `[project] name`, no `scripts/run_simulation.py`) and no root was named")
            && err.contains("hint: run from a Townlet checkout, or pass `--root PATH`"),
        "{err}"
    );
    // Outside any checkout: refused too.
    let err = format!("{:#}", outside(dir.path()).expect_err("refused"));
    assert!(err.contains("is not inside one"), "{err}");
    // A named root still wins.
    let s = Settings::resolve_from(
        &ws,
        rollout_config::resolve::WorkspaceFrom::Build,
        &other,
        &Overrides {
            config: None,
            root: Some(town.clone()),
        },
        &|_| None,
    )
    .expect("resolves");
    assert_eq!(s.root.source, Source::Flag);
}

#[test]
fn a_root_that_is_not_townlet_is_refused_naming_what_it_lacks() {
    let (dir, ws) = setup();
    super::write(&ws, "configs/rollout.yaml", "");
    let s = resolve(&ws, dir.path(), Some("flag-root"), None);
    let err = format!("{:#}", s.townlet_checkout().expect_err("not townlet"));
    assert!(
        err.contains("flag-root` (from --root) is not a Townlet checkout: no `pyproject.toml` with a `[project] name`, no `scripts/run_simulation.py`"),
        "{err}"
    );
    townlet_at(&dir.path().join("flag-root"));
    assert!(s.townlet_checkout().is_ok());
}
