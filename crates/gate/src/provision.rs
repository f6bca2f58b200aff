//! Provisioning: creating the target's Python environment when a step
//! needs it, with each command in its own process group under a deadline.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use plumbing::process::Exit;
use rollout_config::Context;
use rollout_config::model::StepKind;

use crate::plan::{Planned, Vars};
use crate::progress::Progress;
use crate::step::humantime;

/// Whether a step of the plan needs the target's environment: it runs its
/// interpreter or a tool installed next to it (`{bin}/ruff`), or is the
/// capture.
pub(crate) fn needs_env(run: &[Planned], vars: &Vars) -> bool {
    let python = vars.path("python");
    let bin = vars.path("bin");
    run.iter().any(|p| {
        p.step.kind == StepKind::Capture
            || p.argv.iter().take(1).any(|a| {
                let program = Path::new(a);
                program == python
                    || (!bin.as_os_str().is_empty() && program.parent() == Some(bin.as_path()))
            })
    })
}

/// Longest one provisioning command may take (a `pip install` of torch).
pub(crate) const PROVISION_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// The file, in the environment's directory, that a completed provisioning
/// leaves: the commands it ran and the `pyproject.toml` it installed. An
/// environment without it (provisioning failed half-way, or it was made by
/// hand) or with another one is provisioned again.
pub(crate) const MARKER: &str = ".rollout-provisioned.json";

#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Marker {
    commands: Vec<String>,
    /// SHA-256 of the target's `pyproject.toml`; empty when it has none.
    pyproject_sha256: String,
}

impl Marker {
    fn expected(root: &Path, commands: &[rollout_config::model::CommandLine]) -> Result<Self> {
        let pyproject = root.join("pyproject.toml");
        let pyproject_sha256 = match input::read(&pyproject, input::Kind::CONFIG) {
            Ok(bytes) => rollout_core::fs::sha256_hex(&bytes),
            Err(input::InputError::Missing { .. }) => String::new(),
            Err(e) => return Err(anyhow::Error::new(e)),
        };
        Ok(Self {
            commands: commands.iter().map(ToString::to_string).collect(),
            pyproject_sha256,
        })
    }

    /// Why the environment must be provisioned again, if it must.
    fn stale(&self, path: &Path) -> Option<String> {
        let shown = path.display();
        let text = match input::read_to_string(path, input::Kind::CONFIG) {
            Ok(text) => text,
            Err(input::InputError::Missing { .. }) => {
                return Some(format!(
                    "it has no record of a completed provisioning (`{shown}` is missing: provisioning failed half-way, or the environment was made by hand)"
                ));
            }
            Err(e) => return Some(format!("its provisioning record cannot be read: {e}")),
        };
        let Ok(found) = serde_json::from_str::<Marker>(&text) else {
            return Some(format!("its provisioning record `{shown}` is unreadable"));
        };
        if found.commands != self.commands {
            Some("the provisioning commands changed since it was provisioned".into())
        } else if found.pyproject_sha256 != self.pyproject_sha256 {
            Some("pyproject.toml changed since it was provisioned".into())
        } else {
            None
        }
    }
}

/// Where an interpreter's environment keeps its provisioning marker: the
/// environment's directory (`.venv` for `.venv/bin/python`), when the
/// interpreter belongs to the target. A system interpreter has none.
fn marker_path(root: &Path, python: &Path) -> Option<PathBuf> {
    if python.components().count() <= 1 || !python.starts_with(root) {
        return None;
    }
    let dir = python.parent()?;
    let env = match dir.file_name().and_then(|n| n.to_str()) {
        Some("bin" | "Scripts") => dir.parent()?,
        _ => dir,
    };
    (env != root).then(|| env.join(MARKER))
}

/// What provisioning needs besides the context: the checkout, its
/// interpreter, whether creating it is allowed, and where to report.
pub(crate) struct Provisioning<'a> {
    pub(crate) root: &'a Path,
    pub(crate) python: &'a Path,
    pub(crate) no_provision: bool,
    pub(crate) cancel: &'a AtomicBool,
    pub(crate) progress: &'a Progress,
}

/// Creates the target's Python environment when its interpreter is missing,
/// or when it was not provisioned to completion with the configured
/// commands and the current `pyproject.toml`.
pub(crate) fn provision(ctx: &Context, env: &Provisioning<'_>) -> Result<()> {
    let Provisioning {
        root,
        python,
        progress,
        ..
    } = *env;
    let cfg = &ctx.settings.config;
    let commands = cfg.target.provision_for(&ctx.settings.target);
    let marker = marker_path(root, python);
    let expected = Marker::expected(root, commands)?;
    if !needs_provisioning(env, commands, marker.as_deref(), &expected)? {
        return Ok(());
    }
    // Nothing is created or installed in a directory that is not Townlet.
    ctx.settings.townlet_checkout()?;
    if let Some(path) = &marker {
        // A provisioning that stops half-way must not leave an old record.
        let _absent = std::fs::remove_file(path);
    }
    for c in commands {
        progress.note(&format!("provisioning `{}`: {c}", root.display()));
        // Progress is visible on stderr; stdout carries only the result.
        let command = plumbing::process::command_in(root, &c.argv, &[])
            .with_context(|| format!("cannot start provisioning command `{c}`"))?;
        // In GitHub Actions each command's output folds into a group.
        let grouped = crate::run::in_github_actions();
        if grouped {
            eprintln!("::group::provisioning `{c}`");
        }
        let exit = plumbing::process::run_streamed(command, PROVISION_TIMEOUT, env.cancel);
        if grouped {
            eprintln!("::endgroup::");
        }
        let exit = exit.with_context(|| format!("cannot start provisioning command `{c}`"))?;
        match exit {
            Exit::Code(0) => {}
            Exit::Interrupted => bail!("interrupted while provisioning: `{c}` was stopped"),
            Exit::TimedOut => bail!(
                "provisioning command `{c}` ran longer than {} and was stopped",
                humantime(PROVISION_TIMEOUT)
            ),
            Exit::Code(code) => bail!(
                "provisioning command `{c}` failed (exit {code}) in `{}`\nhint: fix the environment by hand, then rerun the gate",
                root.display()
            ),
            Exit::Signal(sig) => bail!(
                "provisioning command `{c}` was killed by signal {sig} in `{}`",
                root.display()
            ),
        }
    }
    if !python.is_file() {
        bail!(
            "provisioning finished but `{}` still does not exist\nhint: check target.python and target.provision in `{}`",
            python.display(),
            cfg.path.display()
        );
    }
    if let Some(path) = &marker {
        let record = serde_json::to_vec_pretty(&expected)?;
        rollout_core::fs::write_atomic(path, &record)
            .context("cannot record the completed provisioning")?;
    }
    Ok(())
}

/// Whether the environment must be (re)created: false when it exists and
/// its record is current (or `--no-provision` keeps it as it is); an error
/// when it is missing and may not or cannot be created.
fn needs_provisioning(
    env: &Provisioning<'_>,
    commands: &[rollout_config::model::CommandLine],
    marker: Option<&Path>,
    expected: &Marker,
) -> Result<bool> {
    let Provisioning {
        root,
        python,
        no_provision,
        progress,
        ..
    } = *env;
    let exists = if python.components().count() > 1 {
        python.is_file()
    } else {
        true
    };
    if exists {
        let stale = match marker {
            Some(path) if !commands.is_empty() => expected.stale(path),
            _ => None,
        };
        let Some(why) = stale else {
            return Ok(false);
        };
        if no_provision {
            progress.note(&format!(
                "warning: using `{}` as it is (--no-provision), although {why}",
                python.display()
            ));
            return Ok(false);
        }
        progress.note(&format!("provisioning `{}` again: {why}", root.display()));
    } else if no_provision || commands.is_empty() {
        let how = if commands.is_empty() {
            "add commands under target.provision".to_string()
        } else {
            format!(
                "run without --no-provision, or by hand: {}",
                commands
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(" then ")
            )
        };
        bail!(
            "the target's Python environment is missing: `{}` does not exist\nhint: {how}",
            python.display()
        );
    }
    Ok(true)
}
