//! Writing files that matter (reports, baselines, metrics, debt lists) so that
//! a reader never sees a half-written file: write a temporary file in the same
//! directory (tempfile's `NamedTempFile`), flush it to disk, then rename it
//! over the target (`persist`). A target that exists and is not a regular
//! file (a device such as `/dev/stdout` or `/dev/null`, a FIFO) is written in
//! place instead: renaming over it would replace the device node or the FIFO
//! with a regular file (as root, `/dev/full` itself).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// SHA-256 of `bytes` as lower-case hex, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Atomically replaces `path` with `contents`, creating parent directories;
/// a device or a FIFO is written in place, a directory is refused.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    write_atomic_mode(path, contents, None)
}

/// As [`write_atomic`], for secrets such as private keys: the file is
/// created with mode 0600 (on Unix) before any byte is written, so it is
/// never readable by others, not even while being written.
pub fn write_atomic_private(path: &Path, contents: &[u8]) -> Result<()> {
    write_atomic_mode(path, contents, Some(0o600))
}

/// As [`write_atomic`], with the file created with `mode` (on Unix, less
/// the umask, as git checks files out): how copied files keep their
/// executable bits.
pub fn write_atomic_with_mode(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    write_atomic_mode(path, contents, Some(mode))
}

fn write_atomic_mode(path: &Path, contents: &[u8], mode: Option<u32>) -> Result<()> {
    // Follows symlinks: `/dev/stdout` is a link to the process's descriptor.
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_dir() {
            anyhow::bail!("cannot write `{}`: it is a directory", path.display());
        }
        if !meta.is_file() {
            return write_in_place(path, contents);
        }
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot write `{}`: cannot create directory `{}`",
            path.display(),
            dir.display()
        )
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let result = (|| -> std::io::Result<()> {
        // tempfile's NamedTempFile: created with `mode` from the start (0600
        // for secrets), removed if anything fails before the rename.
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(mode.unwrap_or(0o666)));
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = builder.tempfile_in(dir)?;
        file.write_all(contents)?;
        file.as_file().sync_all()?;
        file.persist(path).map(drop).map_err(|e| e.error)
    })();
    result.with_context(|| format!("cannot write `{}`", path.display()))
}

/// Writes `contents` into an existing file that is not a regular file (a
/// device, a FIFO), as a shell redirection would, without replacing it.
fn write_in_place(path: &Path, contents: &[u8]) -> Result<()> {
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.write_all(contents)?;
        file.flush()
    })();
    result.with_context(|| format!("cannot write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("sub/report.json");
        write_atomic(&target, b"one").expect("first write");
        write_atomic(&target, b"two").expect("second write");
        assert_eq!(std::fs::read(&target).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .expect("ls")
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("key.pem");
        write_atomic_private(&target, b"secret").expect("write");
        let mode = std::fs::metadata(&target)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn failure_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("file"), "x").expect("write");
        let err = write_atomic(&dir.path().join("file/child"), b"x").expect_err("parent is a file");
        assert!(format!("{err:#}").contains("`"), "{err:#}");
        assert!(format!("{err:#}").contains("/file"), "{err:#}");
    }
}
