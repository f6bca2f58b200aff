//! The files of the tooling's workspace (the checkout the command runs
//! from): what git has in its work tree, or, outside git, what a walk of
//! the directory finds (without `target/`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// Every file of the workspace at `workspace`, relative to it.
pub(crate) fn files(sh: &xshell::Shell, workspace: &Path) -> Result<Vec<PathBuf>> {
    match plumbing::git::Git::discover(sh, workspace) {
        Some(git) => git.work_tree_files(),
        None => {
            let mut found = Vec::new();
            walk(workspace, Path::new(""), &mut found)?;
            found.sort();
            Ok(found)
        }
    }
}

/// Adds the files below `root/relative` to `found`, skipping `target/` at
/// the top, symbolic links, and what the tooling's `.gitignore` ignores.
fn walk(root: &Path, relative: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let dir = root.join(relative);
    let entries =
        std::fs::read_dir(&dir).with_context(|| format!("cannot list `{}`", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list `{}`", dir.display()))?;
        let name = entry.file_name();
        let shown = name.to_string_lossy();
        if crate::select::is_litter(&shown)
            || (relative.as_os_str().is_empty() && shown == "target")
        {
            continue;
        }
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read `{}`", entry.path().display()))?;
        let path = relative.join(&name);
        if kind.is_dir() {
            walk(root, &path, found)?;
        } else if kind.is_file() {
            found.push(path);
        }
    }
    Ok(())
}

/// A file of the workspace as it will be written: its bytes and whether it
/// is executable. `None` when git lists it but the work tree lost it.
pub(crate) fn read(workspace: &Path, relative: &Path) -> Result<Option<(Vec<u8>, bool)>> {
    let path = workspace.join(relative);
    let metadata = match std::fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read `{}`", path.display()));
        }
    };
    if !metadata.is_file() {
        return Ok(None);
    }
    let bytes =
        std::fs::read(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(Some((bytes, is_executable(&metadata))))
}

/// Whether anyone may execute the file.
pub(crate) fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    metadata.permissions().mode() & 0o111 != 0
}
