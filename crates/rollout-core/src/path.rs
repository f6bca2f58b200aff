//! Where a relative path is anchored. One rule for the command line, as
//! every other program has it: **a relative path given on the command line
//! is relative to the directory the command was started in**, whatever the
//! flag (`--root`, `--config`, `--candidate`, `--log`, `--out`, ...). The
//! command line anchors each one with [`on_command_line`] as it parses, so
//! that no crate receives a relative path from it.
//!
//! Paths in files are anchored by the file's owner: the rollout config's
//! values by the config crate (the Townlet root for the target's files, the
//! config's directory for the tooling's), a baseline manifest's by its
//! placeholders.

use std::path::{Path, PathBuf};

/// `path` from the command line, anchored at `cwd` when relative. The
/// path is not normalised (`..` stays, symlinks are not resolved), so an
/// error message shows what the user typed, after the directory.
pub fn on_command_line(cwd: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_anchored_at_the_working_directory() {
        let cwd = Path::new("/work/here");
        assert_eq!(
            on_command_line(cwd, Path::new("a/b.yaml")),
            Path::new("/work/here/a/b.yaml")
        );
        assert_eq!(
            on_command_line(cwd, Path::new("../x")),
            Path::new("/work/here/../x")
        );
        assert_eq!(on_command_line(cwd, Path::new("/abs")), Path::new("/abs"));
    }
}
