//! The Townlet checkout adopt writes into: checked before anything is
//! written (a directory, the top of a git work tree, Townlet-shaped, not
//! the tooling's own workspace), and what it says about itself (where the
//! dev certificates go, which Python it asks for).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// Files every Townlet checkout has; a directory without them is refused.
const TOWNLET_FILES: [&str; 2] = ["pyproject.toml", "scripts/run_simulation.py"];

/// Checks that `path` can be adopted into from `workspace`; returns it
/// (absolute, as given).
pub(crate) fn check(sh: &xshell::Shell, path: &Path, workspace: &Path) -> Result<PathBuf> {
    let shown = path.display();
    if !path.is_dir() {
        bail!(
            "`{shown}` is not a directory\nhint: pass the root of a Townlet checkout: `cargo xtask adopt ../townlet`"
        );
    }
    if same_file(path, workspace) {
        bail!(
            "`{shown}` is the workspace this runs from: adopt copies the tooling into another checkout\nhint: run `cargo xtask adopt PATH` with the root of a Townlet checkout"
        );
    }
    let git = plumbing::git::Git::discover(sh, path);
    let top = match &git {
        Some(git) => git.top_level()?,
        None => None,
    };
    let Some(top) = top else {
        bail!(
            "`{shown}` is not a git checkout: adopt writes files for its repository to commit\nhint: pass the root of a git clone of Townlet"
        );
    };
    if !same_file(&top, path) {
        bail!(
            "`{shown}` is not the top of its git checkout, which is `{}`\nhint: pass the root of the Townlet checkout",
            top.display()
        );
    }
    let missing: Vec<String> = TOWNLET_FILES
        .iter()
        .filter(|file| !path.join(file).is_file())
        .map(|file| format!("`{file}`"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "`{shown}` does not look like a Townlet checkout: it has no {}\nhint: pass the root of a Townlet checkout",
            missing.join(" and no ")
        );
    }
    Ok(path.to_path_buf())
}

/// Whether `a` and `b` name the same directory.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The `.gitignore` entry of the directory `tls-smoke certs` writes the dev
/// certificates to for the checkout at `root`: the directory of `ca_file`
/// in its simulation config `sim_config` (relative to `root`). `Err` says
/// why there is none.
pub(crate) fn certs_entry(root: &Path, sim_config: &str) -> Result<String, String> {
    let transport = rollout_config::load_transport(&root.join(sim_config), root)
        .map_err(|error| error.to_string())?;
    let ca_file = transport
        .tls
        .and_then(|tls| tls.ca_file)
        .ok_or_else(|| format!("`{sim_config}` sets no `ca_file`"))?;
    let dir = rollout_config::model::normalize(ca_file.parent().unwrap_or(Path::new("")));
    let relative = dir
        .strip_prefix(rollout_config::model::normalize(root))
        .map_err(|_| {
            format!(
                "its `ca_file` lies outside the checkout: `{}`",
                dir.display()
            )
        })?;
    if relative.as_os_str().is_empty() {
        return Err(format!(
            "its `ca_file` lies at the root of the checkout: `{}`",
            ca_file.display()
        ));
    }
    let parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok(format!("/{}/", parts.join("/")))
}

/// The Python version CI sets up for the checkout at `root`: the lowest
/// its `pyproject.toml` allows, else the default.
pub(crate) fn python_version(root: &Path) -> String {
    std::fs::read_to_string(root.join("pyproject.toml"))
        .ok()
        .and_then(|text| crate::workflow::python_version(&text))
        .unwrap_or_else(|| crate::workflow::DEFAULT_PYTHON.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificates_go_beside_ca_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("configs/demo/tls.yaml");
        std::fs::create_dir_all(config.parent().expect("parent")).expect("mkdir");
        std::fs::write(
            &config,
            "telemetry:\n  transport:\n    type: tcp\n    endpoint: demo.local:8765\n    ca_file: certs/dev/demo_ca.pem\n    cert_file: certs/dev/c.pem\n    key_file: certs/dev/c.key\n",
        )
        .expect("write");
        assert_eq!(
            certs_entry(dir.path(), "configs/demo/tls.yaml"),
            Ok("/certs/dev/".to_string())
        );
        let err = certs_entry(dir.path(), "configs/missing.yaml").expect_err("missing");
        assert!(err.contains("missing.yaml"), "{err}");
    }
}
