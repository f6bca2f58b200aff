//! What adopt writes: every file with its bytes and mode, compared with what
//! the checkout already has, then written (each atomically) unless the run
//! is a dry run.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::report::{Action, FileEntry};
use crate::select::{Extras, Role};

/// Where the adopted workflow goes, relative to the checkout.
pub(crate) const WORKFLOW: &str = ".github/workflows/rollout.yml";

/// The config that adopt rewrites, relative to both trees.
const CONFIG: &str = "configs/rollout.yaml";

/// One file of the adopted tree.
#[derive(Debug)]
pub(crate) struct Planned {
    /// Relative to the checkout.
    pub(crate) path: PathBuf,
    pub(crate) contents: Vec<u8>,
    pub(crate) executable: bool,
}

/// Where the files come from and go to.
pub(crate) struct Trees<'a> {
    /// The tooling's workspace.
    pub(crate) workspace: &'a Path,
    /// The Townlet checkout.
    pub(crate) root: &'a Path,
}

/// The files of the adopted tree, in the order they are written: the
/// selected files of `listed` (the workspace's), then the workflow.
pub(crate) fn files(
    trees: &Trees<'_>,
    listed: &[PathBuf],
    selection: &Extras,
) -> Result<Vec<Planned>> {
    let selected: Vec<(&PathBuf, Role)> = listed
        .iter()
        .filter_map(|path| Some((path, crate::select::classify(&slashed(path), selection)?)))
        .collect();
    let copied: HashSet<String> = selected.iter().map(|(path, _)| slashed(path)).collect();
    let mut planned = Vec::new();
    for (path, role) in selected {
        let Some((bytes, executable)) = crate::source::read(trees.workspace, path)? else {
            continue;
        };
        let contents = match role {
            Role::Copy => bytes,
            Role::Manifest => manifest(trees.workspace, path, &bytes, &copied)?,
            Role::Config => config(trees, &bytes)?,
        };
        planned.push(Planned {
            path: path.clone(),
            contents,
            executable,
        });
    }
    if !planned.iter().any(|file| file.path == Path::new(CONFIG)) {
        bail!(
            "the workspace `{}` has no `{CONFIG}` to adopt",
            trees.workspace.display()
        );
    }
    let python = crate::checkout::python_version(trees.root);
    planned.push(Planned {
        path: PathBuf::from(WORKFLOW),
        contents: crate::workflow::workflow(&python).into_bytes(),
        executable: false,
    });
    Ok(planned)
}

/// `path` with `/` between its parts, as the selection rules read it.
fn slashed(path: &Path) -> String {
    path.components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A crate manifest without the targets whose files were not copied.
fn manifest(
    workspace: &Path,
    path: &Path,
    bytes: &[u8],
    copied: &HashSet<String>,
) -> Result<Vec<u8>> {
    let shown = workspace.join(path);
    let text = std::str::from_utf8(bytes)
        .with_context(|| format!("`{}` is not UTF-8", shown.display()))?;
    let dir = slashed(path.parent().unwrap_or(Path::new("")));
    let is_copied = |relative: &str| {
        let full = if dir.is_empty() {
            relative.to_string()
        } else {
            format!("{dir}/{relative}")
        };
        copied.contains(&full)
    };
    let edited = crate::manifest::without_missing_targets(text, &is_copied)
        .with_context(|| format!("cannot adopt `{}`", shown.display()))?;
    Ok(edited.into_bytes())
}

/// The tooling's rollout config with the checkout itself as its target,
/// checked to load as the adopted tree's config.
fn config(trees: &Trees<'_>, bytes: &[u8]) -> Result<Vec<u8>> {
    let source = trees.workspace.join(CONFIG);
    let text = std::str::from_utf8(bytes)
        .with_context(|| format!("`{}` is not UTF-8", source.display()))?;
    let adopted = crate::config::adopted(text)
        .with_context(|| format!("cannot adopt `{}`", source.display()))?;
    let destination = trees.root.join(CONFIG);
    let loaded = rollout_config::RolloutConfig::parse(&adopted, &destination)
        .with_context(|| format!("the adopted `{CONFIG}` does not load"))?;
    if loaded.target.root.is_some() {
        bail!(
            "the adopted `{CONFIG}` still sets `target.root`\nhint: write `root: PATH` on its own line under `target:` in `{}`",
            source.display()
        );
    }
    Ok(adopted.into_bytes())
}

/// What becomes of each planned file: `wrote` when the checkout lacks it,
/// `unchanged` when it holds the same, else `replaced` with `force` and
/// `kept` without. Refuses, before anything is written, a path that is not
/// a regular file and a `configs/rollout.yaml` that is not a rollout config.
pub(crate) fn actions(root: &Path, planned: &[Planned], force: bool) -> Result<Vec<Action>> {
    planned
        .iter()
        .map(|file| {
            let destination = root.join(&file.path);
            let metadata = match std::fs::symlink_metadata(&destination) {
                Ok(metadata) => metadata,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Action::Wrote);
                }
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("cannot read `{}`", destination.display()));
                }
            };
            if !metadata.is_file() {
                bail!(
                    "`{}` exists and is not a regular file, so adopt cannot write it\nhint: move it away and run adopt again",
                    destination.display()
                );
            }
            let existing = std::fs::read(&destination)
                .with_context(|| format!("cannot read `{}`", destination.display()))?;
            if existing == file.contents && crate::source::is_executable(&metadata) == file.executable
            {
                return Ok(Action::Unchanged);
            }
            if file.path == Path::new(CONFIG) && !force {
                refuse_foreign_config(&destination, &existing)?;
            }
            Ok(if force { Action::Replaced } else { Action::Kept })
        })
        .collect()
}

/// Refuses a `configs/rollout.yaml` of the checkout that is not a rollout
/// config of this tooling (Townlet's own file of that name).
fn refuse_foreign_config(destination: &Path, existing: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(existing);
    if rollout_config::RolloutConfig::parse(&text, destination).is_err() {
        bail!(
            "`{}` exists and is not a rollout config of this tooling; nothing was written\nhint: move it away, or pass `--force` to replace it",
            destination.display()
        );
    }
    Ok(())
}

/// Writes the files whose action is `wrote` or `replaced`, each
/// atomically, executable when the source was.
pub(crate) fn write(root: &Path, planned: &[Planned], actions: &[Action]) -> Result<()> {
    for (file, action) in planned.iter().zip(actions) {
        if matches!(action, Action::Wrote | Action::Replaced) {
            let mode = if file.executable { 0o777 } else { 0o666 };
            rollout_core::fs::write_atomic_with_mode(&root.join(&file.path), &file.contents, mode)?;
        }
    }
    Ok(())
}

/// The `.gitignore` entries of the adopted tree.
pub(crate) fn ignored(certs: Option<&str>, selection: &Extras) -> Vec<String> {
    let mut entries = vec!["/target/".to_string()];
    entries.extend(certs.map(str::to_string));
    if selection.tests {
        for dir in ["target", "corpus", "artifacts", "coverage"] {
            entries.push(format!("/fuzz/{dir}/"));
        }
    }
    if selection.sample {
        for dir in [".venv", "certs"] {
            entries.push(format!("/examples/{}/{dir}/", selection.sample_dir));
        }
    }
    entries
}

/// Adds the entries to the checkout's `.gitignore` (unless `dry_run`) and
/// says what that did.
pub(crate) fn gitignore(root: &Path, entries: &[String], dry_run: bool) -> Result<FileEntry> {
    let path = root.join(".gitignore");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read `{}`", path.display()));
        }
    };
    let had_block = existing.as_deref().is_some_and(|text| {
        text.lines()
            .any(|line| line.trim_end() == crate::gitignore::BEGIN)
    });
    let action = match crate::gitignore::with_block(existing.as_deref(), entries) {
        None => Action::Unchanged,
        Some(text) => {
            if !dry_run {
                rollout_core::fs::write_atomic(&path, text.as_bytes())?;
            }
            match (&existing, had_block) {
                (None, _) => Action::Wrote,
                (Some(_), false) => Action::Appended,
                (Some(_), true) => Action::Updated,
            }
        }
    };
    Ok(FileEntry {
        path: ".gitignore".into(),
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(path: &str, contents: &str, executable: bool) -> Planned {
        Planned {
            path: PathBuf::from(path),
            contents: contents.as_bytes().to_vec(),
            executable,
        }
    }

    #[test]
    fn files_are_written_with_their_executable_bits_and_compared_by_them() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let files = [
            planned(".ci/run", "#!/bin/sh\n", true),
            planned("Cargo.toml", "[workspace]\n", false),
        ];
        let first = actions(dir.path(), &files, false).expect("plan");
        assert_eq!(first, [Action::Wrote, Action::Wrote]);
        write(dir.path(), &files, &first).expect("write");
        let mode = |path: &str| {
            std::fs::metadata(dir.path().join(path))
                .expect("metadata")
                .permissions()
                .mode()
        };
        assert_ne!(mode(".ci/run") & 0o100, 0);
        assert_eq!(mode("Cargo.toml") & 0o111, 0);
        let again = actions(dir.path(), &files, false).expect("plan");
        assert_eq!(again, [Action::Unchanged, Action::Unchanged]);

        // Same bytes but no longer executable: differs, kept without --force.
        std::fs::set_permissions(
            dir.path().join(".ci/run"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        assert_eq!(
            actions(dir.path(), &files, false).expect("plan"),
            [Action::Kept, Action::Unchanged]
        );
        assert_eq!(
            actions(dir.path(), &files, true).expect("plan"),
            [Action::Replaced, Action::Unchanged]
        );
    }

    #[test]
    fn a_directory_in_the_way_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("Cargo.toml")).expect("mkdir");
        let err =
            actions(dir.path(), &[planned("Cargo.toml", "", false)], true).expect_err("directory");
        assert!(
            format!("{err:#}").contains("is not a regular file"),
            "{err:#}"
        );
    }
}
