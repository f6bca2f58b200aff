//! Provisioning: creating the target's Python environment when a step
//! needs it, with each command in its own process group under a deadline.

use std::path::Path;
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

/// Creates the target's Python environment when its interpreter is missing.
pub(crate) fn provision(
    ctx: &Context,
    root: &Path,
    python: &Path,
    no_provision: bool,
    cancel: &AtomicBool,
    progress: &Progress,
) -> Result<()> {
    let exists = if python.components().count() > 1 {
        python.is_file()
    } else {
        true
    };
    if exists {
        return Ok(());
    }
    let cfg = &ctx.settings.config;
    let commands = cfg.target.provision_for(&ctx.settings.target);
    if no_provision || commands.is_empty() {
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
    for c in commands {
        progress.note(&format!("provisioning `{}`: {c}", root.display()));
        // Progress is visible on stderr; stdout carries only the result.
        let command = plumbing::process::command_in(root, &c.argv, &[])
            .with_context(|| format!("cannot start provisioning command `{c}`"))?;
        let exit = plumbing::process::run_streamed(command, PROVISION_TIMEOUT, cancel)
            .with_context(|| format!("cannot start provisioning command `{c}`"))?;
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
    Ok(())
}
