//! Resolution of settings that can come from several places, in this order:
//! command-line flag, then environment variable, then `rollout.yaml`, then the
//! built-in default. Relative paths from a flag or the environment resolve
//! against the current directory (as any command-line path does); relative
//! paths in `rollout.yaml` against the config file's directory; paths inside
//! Townlet configs against the Townlet root.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::model::{RolloutConfig, normalize};

/// Environment variable naming the Townlet checkout.
pub const ENV_TOWNLET_ROOT: &str = "TOWNLET_ROOT";

/// The bundled sample target, relative to the workspace root.
pub const SAMPLE_TARGET: &str = "examples/townlet-sample";

/// The placeholders every command line may use (see [`Settings::placeholder`]).
pub const PLACEHOLDERS: [&str; 7] = [
    "python",
    "bin",
    "root",
    "workspace",
    "capture_dir",
    "log_dir",
    "townlet_log",
];

/// Cargo's variable naming the target directory; honoured for `target/rollout`.
pub const ENV_CARGO_TARGET_DIR: &str = "CARGO_TARGET_DIR";

/// The rollout definition, relative to the workspace root.
pub const DEFAULT_CONFIG: &str = "configs/rollout.yaml";

/// Where a resolved setting came from. For the Townlet root, in the order
/// they are tried: `--root`, `TOWNLET_ROOT`, `target.root`, then the
/// workspace itself when it is a Townlet checkout (the tooling adopted into
/// Townlet's repository), then the Townlet checkout the command is run
/// from (the binary run outside any workspace), and the bundled sample only
/// in this tooling's own repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Flag,
    Env,
    File,
    /// The bundled sample, in this tooling's own repository.
    Default,
    /// The workspace's own root, a Townlet checkout.
    Workspace,
    /// The Townlet checkout the command was run from.
    Checkout,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Flag => "--root",
            Source::Env => ENV_TOWNLET_ROOT,
            Source::File => "target.root in the config",
            Source::Default => "default: the bundled sample of this tooling's repository",
            Source::Workspace => "the workspace, which is a Townlet checkout",
            Source::Checkout => "the Townlet checkout this is run from",
        })
    }
}

/// A value with its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Resolved<T> {
    pub value: T,
    pub source: Source,
}

/// What the command line said, before resolution.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--root`.
    pub root: Option<PathBuf>,
}

/// What every command receives: where things are, how to print, and where
/// its result goes (stdout, or a step's log when the gate runs it).
#[derive(Debug, Clone)]
pub struct Context {
    pub settings: Settings,
    pub format: rollout_core::Format,
    pub verbosity: rollout_core::Verbosity,
    pub out: rollout_core::Out,
}

/// Everything a command needs to know about where things are.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// The root of this Cargo workspace (where `target/` and `baselines/` are).
    pub workspace: PathBuf,
    /// The rollout definition.
    pub config: RolloutConfig,
    /// The Townlet checkout.
    pub root: Resolved<PathBuf>,
    /// The target's name (`[project] name` in its `pyproject.toml`, else the
    /// root directory's name); fills `{target}` in baseline paths, so each
    /// target keeps its own baselines and debt.
    pub target: String,
    /// Cargo's target directory (`CARGO_TARGET_DIR`, else `target/` in the
    /// workspace); the tooling writes its outputs under `rollout/` there.
    pub target_dir: PathBuf,
}

impl Settings {
    /// Resolves the config and the Townlet root for a workspace found from
    /// the current directory `cwd`. `env` reads an environment variable
    /// (injected for tests); `cwd` anchors relative flag values.
    pub fn resolve(
        workspace: &Path,
        cwd: &Path,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        Self::resolve_from(
            workspace,
            WorkspaceFrom::CurrentDirectory,
            cwd,
            overrides,
            env,
        )
    }

    /// [`Settings::resolve`] for a workspace found as `found` says: when it
    /// was not found from `cwd` and nothing names a root, the Townlet
    /// checkout `cwd` is in is the root.
    pub fn resolve_from(
        workspace: &Path,
        found: WorkspaceFrom,
        cwd: &Path,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let config_path = match &overrides.config {
            Some(p) => normalize(&cwd.join(p)),
            None => workspace.join(DEFAULT_CONFIG),
        };
        let config = RolloutConfig::load(&config_path)?;
        let root = if let Some(p) = &overrides.root {
            Resolved {
                value: normalize(&cwd.join(p)),
                source: Source::Flag,
            }
        } else if let Some(p) = env(ENV_TOWNLET_ROOT).filter(|v| !v.is_empty()) {
            Resolved {
                value: normalize(&cwd.join(p)),
                source: Source::Env,
            }
        } else if let Some(p) = &config.target.root {
            Resolved {
                value: p.clone(),
                source: Source::File,
            }
        } else {
            default_root(workspace, found, cwd, &config.target.requires)?
        };
        let mut config = config;
        let target = target_name(&root.value);
        config.fill_target(&target);
        let target_dir = match env(ENV_CARGO_TARGET_DIR).filter(|v| !v.is_empty()) {
            Some(dir) => normalize(&cwd.join(dir)),
            None => workspace.join("target"),
        };
        Ok(Self {
            workspace: workspace.to_path_buf(),
            config,
            root,
            target,
            target_dir,
        })
    }

    /// The Townlet checkout, which must hold what a Townlet checkout holds
    /// (`target.requires`): for commands that create or install something
    /// there (provisioning, the capture) or read Townlet's own files. Fails
    /// before anything is created, naming what is missing.
    pub fn townlet_checkout(&self) -> Result<&Path> {
        let root = self.checkout()?;
        let missing = townlet_shape(root, &self.config.target.requires);
        if !missing.is_empty() {
            bail!(
                "`{}` (from {}) is not a Townlet checkout: {}\nhint: pass `--root PATH` or set {ENV_TOWNLET_ROOT} to a Townlet checkout; `target.requires` lists what one must hold",
                root.display(),
                self.root.source,
                missing.join(", ")
            );
        }
        Ok(root)
    }

    /// The Townlet checkout, which must exist for commands that read it.
    pub fn checkout(&self) -> Result<&Path> {
        if !self.root.value.is_dir() {
            bail!(
                "Townlet checkout `{}` (from {}) is not a directory\nhint: pass `--root PATH` or set {ENV_TOWNLET_ROOT} to a Townlet checkout",
                self.root.value.display(),
                self.root.source
            );
        }
        Ok(&self.root.value)
    }

    /// A path relative to the Townlet root (absolute paths stay as they are).
    pub fn in_root(&self, path: impl AsRef<Path>) -> PathBuf {
        normalize(&self.root.value.join(path))
    }

    /// Where the tooling writes reports, logs and captures for this root:
    /// `target/rollout/<target>-<root id>` (under `CARGO_TARGET_DIR` when
    /// that is set), so that two roots gated from one workspace never share
    /// a capture, a log or a report. The id is the first 8 hex digits of the
    /// SHA-256 of the root's absolute path.
    pub fn rollout_dir(&self) -> PathBuf {
        rollout_dir_for(&self.target_dir, &self.root.value)
    }

    /// Where captures are written (`{capture_dir}`): `target/rollout/capture`.
    pub fn capture_dir(&self) -> PathBuf {
        self.rollout_dir().join("capture")
    }

    /// Townlet's own Python log of the capture (`{townlet_log}`), written at
    /// `capture.log_level`: `target/rollout/townlet.log`.
    pub fn townlet_log(&self) -> PathBuf {
        self.rollout_dir().join("townlet.log")
    }

    /// The value of a placeholder that every command line may use:
    /// `{python}`, `{bin}` (the interpreter's directory), `{root}`,
    /// `{workspace}`, `{capture_dir}`, `{log_dir}`, `{townlet_log}`.
    /// Commands add their own (the gate's `{suite...}`, the capture's
    /// `{sim_config}`).
    pub fn placeholder(&self, name: &str) -> Option<Vec<String>> {
        let one = |p: PathBuf| Some(vec![p.display().to_string()]);
        match name {
            "python" => one(self.python()),
            "bin" => one(self
                .python()
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()),
            "root" => one(self.root.value.clone()),
            "workspace" => one(self.workspace.clone()),
            "capture_dir" => one(self.capture_dir()),
            "log_dir" => one(self.gate_log_dir()),
            "townlet_log" => one(self.townlet_log()),
            _ => None,
        }
    }

    /// Every placeholder of [`Settings::placeholder`] with its value.
    pub fn placeholders(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        PLACEHOLDERS
            .iter()
            .filter_map(|n| Some((n.to_string(), self.placeholder(n)?)))
            .collect()
    }

    /// Where the gate writes step logs (`{log_dir}`): `target/rollout/gate`.
    pub fn gate_log_dir(&self) -> PathBuf {
        self.rollout_dir().join("gate")
    }

    /// The target's interpreter: relative to the root when it has a `/`,
    /// else a program name looked up on `PATH`.
    pub fn python(&self) -> PathBuf {
        let p = &self.config.target.python;
        if p.contains('/') {
            self.in_root(p)
        } else {
            PathBuf::from(p)
        }
    }

    /// The Townlet simulation config checked by tls-smoke, unless overridden.
    pub fn sim_config(&self, flag: Option<&Path>) -> PathBuf {
        match flag {
            Some(p) => self.in_root(p),
            None => self.in_root(&self.config.tls_smoke.sim_config),
        }
    }
}

/// Where the outputs for `root` go under the target directory
/// `target_dir`: `rollout/<target>-<root id>` (see [`Settings::rollout_dir`]).
pub fn rollout_dir_for(target_dir: &Path, root: &Path) -> PathBuf {
    target_dir
        .join("rollout")
        .join(format!("{}-{}", target_name(root), root_id(root)))
}

/// The short id of a root in output paths: 8 hex digits of the SHA-256 of
/// its absolute path (symlinks resolved when it exists).
pub fn root_id(root: &Path) -> String {
    use sha2::Digest as _;
    let path = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let digest = sha2::Sha256::digest(path.as_os_str().as_encoded_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// What a Townlet checkout at `root` lacks: a `pyproject.toml` naming the
/// project, and each of `requires` (relative to the root). Empty when it
/// has everything.
pub fn townlet_shape(root: &Path, requires: &[String]) -> Vec<String> {
    let mut missing = Vec::new();
    if pyproject_name(root).is_none() {
        missing.push("no `pyproject.toml` with a `[project] name`".to_string());
    }
    for path in requires {
        if !root.join(path).exists() {
            missing.push(format!("no `{path}`"));
        }
    }
    missing
}

/// The root when nothing names one: the workspace when it is a Townlet
/// checkout; in this tooling's own repository (found from the current
/// directory, holding the sample) the bundled sample; run from outside any
/// workspace, the Townlet checkout the current directory is in. Anything
/// else is an error: a command never reports on what the user did not name.
fn default_root(
    workspace: &Path,
    found: WorkspaceFrom,
    cwd: &Path,
    requires: &[String],
) -> Result<Resolved<PathBuf>> {
    let resolved = |value: PathBuf, source| Resolved { value, source };
    if townlet_shape(workspace, requires).is_empty() {
        return Ok(resolved(workspace.to_path_buf(), Source::Workspace));
    }
    if found == WorkspaceFrom::CurrentDirectory {
        let sample = workspace.join(SAMPLE_TARGET);
        if sample.is_dir() {
            return Ok(resolved(sample, Source::Default));
        }
        bail!(
            "no Townlet checkout named: the workspace `{}` is not one and sets no `target.root`\nhint: pass `--root PATH`, set {ENV_TOWNLET_ROOT}, or set `target.root` in the config",
            workspace.display()
        );
    }
    // The binary run from outside any workspace: the checkout it runs in.
    let checkout = cwd
        .ancestors()
        .find(|dir| dir.join(".git").exists() || townlet_shape(dir, requires).is_empty());
    match checkout {
        Some(dir) if townlet_shape(dir, requires).is_empty() => {
            Ok(resolved(dir.to_path_buf(), Source::Checkout))
        }
        Some(dir) => bail!(
            "`{}` is not a Townlet checkout ({}) and no root was named\nhint: run from a Townlet checkout, or pass `--root PATH` (or set {ENV_TOWNLET_ROOT})",
            dir.display(),
            townlet_shape(dir, requires).join(", ")
        ),
        None => bail!(
            "no Townlet checkout named, and `{}` is not inside one\nhint: run from a Townlet checkout, or pass `--root PATH` (or set {ENV_TOWNLET_ROOT})",
            cwd.display()
        ),
    }
}

/// `[project] name` of the `pyproject.toml` at `root`, when it has one
/// that can name a directory.
fn pyproject_name(root: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Pyproject {
        project: Option<Project>,
    }
    #[derive(serde::Deserialize)]
    struct Project {
        name: Option<String>,
    }
    input::read_to_string(&root.join("pyproject.toml"), input::Kind::DOCUMENT)
        .ok()
        .and_then(|t| toml::from_str::<Pyproject>(&t).ok())
        .and_then(|p| p.project?.name)
        .filter(|n| !n.is_empty() && !n.contains(['/', '\\']) && n != "." && n != "..")
}

/// The name of the target at `root`: `[project] name` from its
/// `pyproject.toml`, else the directory's name.
pub fn target_name(root: &Path) -> String {
    pyproject_name(root).unwrap_or_else(|| {
        root.file_name().map_or_else(
            || "target".to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    })
}

/// How the workspace was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceFrom {
    /// The nearest directory above the current one holding both
    /// `Cargo.toml` and `configs/rollout.yaml`.
    CurrentDirectory,
    /// The workspace the binary was built from (run from elsewhere).
    Build,
}

impl std::fmt::Display for WorkspaceFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WorkspaceFrom::CurrentDirectory => "the checkout this is run from",
            WorkspaceFrom::Build => {
                "the checkout this binary was built from (none above the current directory)"
            }
        })
    }
}

/// Finds the workspace root: the checkout the command is run from (the
/// nearest directory above `cwd` holding both `Cargo.toml` and
/// `configs/rollout.yaml`), so that a copied tree or a shared target
/// directory never gates another checkout; else the parent of the `xtask`
/// crate it was built from, when that still holds the rollout config.
pub fn find_workspace(xtask_manifest_dir: &Path, cwd: &Path) -> Result<(PathBuf, WorkspaceFrom)> {
    let mut dir = Some(cwd);
    while let Some(d) = dir {
        if d.join("Cargo.toml").is_file() && d.join(DEFAULT_CONFIG).is_file() {
            return Ok((d.to_path_buf(), WorkspaceFrom::CurrentDirectory));
        }
        dir = d.parent();
    }
    if let Some(ws) = xtask_manifest_dir.parent()
        && ws.join(DEFAULT_CONFIG).is_file()
    {
        return Ok((ws.to_path_buf(), WorkspaceFrom::Build));
    }
    None.with_context(|| {
        format!(
            "no rollout workspace (with `{DEFAULT_CONFIG}`) above `{}`",
            cwd.display()
        )
    })
}
