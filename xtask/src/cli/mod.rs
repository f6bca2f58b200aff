//! Each command's arguments (clap lives here and nowhere else) and their
//! resolution into the settings the command's crate runs with: flags over
//! the environment over the config file over defaults. A relative path on
//! the command line is anchored at the working directory
//! (`rollout_core::path::on_command_line`).

pub(crate) mod adopt;
pub(crate) mod baseline_diff;
pub(crate) mod config;
pub(crate) mod format;
pub(crate) mod gate;
pub(crate) mod monitor;
pub(crate) mod signoff;
pub(crate) mod tag;
pub(crate) mod tls_smoke;

/// `--sim-config PATH`, anchored at the working directory like every path
/// on the command line. A relative path that names nothing there but does
/// name a file under the Townlet root is refused with a hint: the config
/// files live in the checkout, and a user running from elsewhere may have
/// meant that one.
pub(crate) fn sim_config_arg(
    ctx: &rollout_config::Context,
    path: Option<&std::path::Path>,
) -> anyhow::Result<Option<std::path::PathBuf>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let cwd = std::env::current_dir()?;
    let anchored = rollout_core::path::on_command_line(&cwd, path);
    let under_root = ctx.settings.root.value.join(path);
    if path.is_relative() && !anchored.exists() && under_root.is_file() {
        anyhow::bail!(
            "`--sim-config {}`: no such file in the working directory `{}`\nhint: paths on the command line are relative to the working directory; the Townlet checkout's file is `--sim-config {}`",
            rollout_core::printable(&path.display().to_string()),
            rollout_core::printable(&cwd.display().to_string()),
            rollout_core::printable(&under_root.display().to_string())
        );
    }
    Ok(Some(anchored))
}
