//! `--bless`: the candidate becomes the baseline. Files are copied into a
//! temporary directory next to the baseline directory, hashed, described in
//! `manifest.json`, flushed, and only then swapped in by one rename. A failure
//! at any point removes the temporary directory and leaves the old baseline
//! as it was.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compare::{MANIFEST, list_files};

/// `manifest.json` of a blessed baseline directory. Fields are added, never
/// renamed; an older manifest reads with the new ones absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    /// RFC 3339 UTC time of blessing.
    pub blessed_at: String,
    /// The candidate that was blessed.
    pub source: PathBuf,
    /// The capture commands that produced it, when it was captured.
    #[serde(default)]
    pub capture_commands: Vec<String>,
    /// `git rev-parse HEAD` of the Townlet checkout, when known.
    #[serde(default)]
    pub townlet_commit: Option<String>,
    /// Uncommitted changes to tracked files were present when blessed.
    #[serde(default)]
    pub townlet_dirty: Option<bool>,
    /// What the capture ran and wrote (commands, sim config and the keys
    /// set in it, ticks written and lost, drops Townlet reported), when the
    /// candidate is the capture made by the tooling.
    #[serde(default)]
    pub capture: Option<capture::Record>,
    /// Ticks written and lost per telemetry stream of the candidate.
    #[serde(default)]
    pub streams: Vec<capture::StreamCount>,
    /// No stream lost a tick and Townlet reported no drop.
    #[serde(default)]
    pub lossless: Option<bool>,
    /// Blessed with `--allow-lossy` although it lost ticks.
    #[serde(default)]
    pub allowed_lossy: bool,
    /// Relative path -> sha256 and size.
    pub files: BTreeMap<String, ManifestFile>,
}

impl Manifest {
    /// Reads a `manifest.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = input::read_to_string(path, input::Kind::DOCUMENT)
            .map_err(|error| anyhow::anyhow!("baseline manifest {error}"))?;
        serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not a baseline manifest", path.display()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub sha256: String,
    pub bytes: u64,
}

/// What the manifest records besides the files.
#[derive(Debug, Clone, Default)]
pub struct BlessInfo {
    pub capture_commands: Vec<String>,
    pub townlet_commit: Option<String>,
    pub townlet_dirty: Option<bool>,
    pub capture: Option<capture::Record>,
    pub streams: Vec<capture::StreamCount>,
    pub lossless: Option<bool>,
    pub allowed_lossy: bool,
    /// Directories of this machine and what the manifest writes for them
    /// (`/home/ana/townlet` as `{root}`), so that a baseline committed on
    /// one machine reads the same on another: the manifest keeps no path of
    /// the machine that blessed it.
    pub anchors: Vec<(PathBuf, &'static str)>,
}

/// Makes `candidate` (a file or a directory) the content of the directory
/// `baseline`, atomically.
pub fn bless(candidate: &Path, baseline: &Path, info: &BlessInfo) -> Result<Manifest> {
    if baseline.is_file() {
        bail!(
            "cannot bless into `{}`: it is a file, and a blessed baseline is a directory with a `{MANIFEST}`\nhint: pass the baseline directory with `--baseline DIR`",
            baseline.display()
        );
    }
    let name = baseline
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("`{}` has no directory name", baseline.display()))?;
    let parent = match baseline.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create directory `{}`", parent.display()))?;
    remove_stale_temporaries(&parent, &name);
    let tmp = parent.join(format!(".{name}.bless-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .with_context(|| format!("cannot remove stale `{}`", tmp.display()))?;
    }
    std::fs::create_dir(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
    let result = fill(candidate, &tmp, info).and_then(|m| {
        swap_in(&tmp, baseline, &parent, &name)?;
        Ok(m)
    });
    if result.is_err() && tmp.exists() {
        let _cleanup = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Removes the temporary directories of blesses that were killed (their
/// process is gone), so they do not pile up next to the baseline.
fn remove_stale_temporaries(parent: &Path, name: &str) {
    let prefix = format!(".{name}.bless-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name
            .strip_prefix(&prefix)
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() as i32
            || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _stale = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A baseline holds regular files only: a symlink could copy anything on
/// the machine into it (`/etc/hostname`), a FIFO would hang the copy.
fn refuse_special(candidate: &Path, rel: &str, path: &Path) -> Result<()> {
    // Every directory on the way counts: a symlinked directory leads out too.
    let mut prefix = candidate.to_path_buf();
    for (depth, component) in rel.split('/').enumerate() {
        prefix.push(component);
        let metadata = std::fs::symlink_metadata(&prefix)
            .with_context(|| format!("cannot stat `{}`", prefix.display()))?;
        if metadata.file_type().is_symlink() {
            let target = std::fs::read_link(&prefix).unwrap_or_default();
            let shown: Vec<&str> = rel.split('/').take(depth + 1).collect();
            bail!(
                "refusing to bless `{}`: `{}` is a symlink to `{}`; a baseline holds regular files only\nhint: copy the file into the candidate, or remove the link",
                candidate.display(),
                shown.join("/"),
                target.display()
            );
        }
    }
    let metadata = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot stat `{}`", path.display()))?;
    if !metadata.is_file() {
        bail!(
            "refusing to bless `{}`: `{rel}` is not a regular file (a FIFO, socket or device); a baseline holds regular files only",
            candidate.display()
        );
    }
    Ok(())
}

fn fill(candidate: &Path, tmp: &Path, info: &BlessInfo) -> Result<Manifest> {
    let sources: BTreeMap<String, PathBuf> = if candidate.is_dir() {
        list_files(candidate)?
    } else if candidate.is_file() {
        let name = candidate
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        BTreeMap::from([(name, candidate.to_path_buf())])
    } else {
        bail!("candidate `{}` does not exist", candidate.display());
    };
    if sources.is_empty() {
        bail!(
            "candidate `{}` holds no files: refusing to bless an empty baseline",
            candidate.display()
        );
    }
    if candidate.is_dir() {
        for (rel, src) in &sources {
            refuse_special(candidate, rel, src)?;
        }
    }
    let mut files = BTreeMap::new();
    for (rel, src) in &sources {
        let dst = tmp.join(rel);
        if let Some(d) = dst.parent() {
            std::fs::create_dir_all(d)
                .with_context(|| format!("cannot create `{}`", d.display()))?;
        }
        let entry = copy_hashed(src, &dst)?;
        files.insert(rel.clone(), entry);
    }
    let manifest = Manifest {
        schema: 1,
        blessed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        source: candidate.to_path_buf(),
        capture_commands: info.capture_commands.clone(),
        townlet_commit: info.townlet_commit.clone(),
        townlet_dirty: info.townlet_dirty,
        capture: info.capture.clone(),
        streams: info.streams.clone(),
        lossless: info.lossless,
        allowed_lossy: info.allowed_lossy,
        files,
    };
    let mut value = serde_json::to_value(&manifest)?;
    portable(&mut value, &info.anchors);
    let mut json = serde_json::to_vec_pretty(&value)?;
    json.push(b'\n');
    rollout_core::fs::write_atomic(&tmp.join(MANIFEST), &json)?;
    Ok(manifest)
}

/// Rewrites every string of `value` that names a path under one of
/// `anchors` with the anchor's placeholder (`{root}/scripts/x.py`), the
/// longest anchor first; a path that merely starts with the same letters
/// (`/work/main2` for `/work/main`) is left alone.
pub(crate) fn portable(value: &mut serde_json::Value, anchors: &[(PathBuf, &'static str)]) {
    let mut anchors: Vec<(String, &str)> = anchors
        .iter()
        .flat_map(|(path, name)| {
            let canonical = path.canonicalize().ok();
            std::iter::once(path.clone())
                .chain(canonical)
                .map(move |p| (p.display().to_string(), *name))
        })
        .filter(|(path, _)| path.len() > 1)
        .collect();
    anchors.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
    rewrite_strings(value, &|text| anchored(text, &anchors));
}

fn rewrite_strings(value: &mut serde_json::Value, rewrite: &dyn Fn(&str) -> String) {
    match value {
        serde_json::Value::String(text) => *text = rewrite(text),
        serde_json::Value::Array(items) => {
            for item in items {
                rewrite_strings(item, rewrite);
            }
        }
        serde_json::Value::Object(map) => {
            for item in map.values_mut() {
                rewrite_strings(item, rewrite);
            }
        }
        _ => {}
    }
}

/// `text` with each occurrence of an anchor's path, ending at a path
/// boundary, replaced by its placeholder.
fn anchored(text: &str, anchors: &[(String, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for (path, name) in anchors {
            if let Some(after) = rest.strip_prefix(path.as_str())
                && after
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
            {
                out.push_str(name);
                rest = after;
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

fn copy_hashed(src: &Path, dst: &Path) -> Result<ManifestFile> {
    let mut input = input::open(src, input::Kind::COPIED)?;
    let mut out = File::create(dst).with_context(|| format!("cannot write `{}`", dst.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = input
            .read(&mut buf)
            .with_context(|| format!("cannot read `{}`", src.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("cannot write `{}`", dst.display()))?;
        bytes += n as u64;
    }
    out.sync_all()
        .with_context(|| format!("cannot flush `{}`", dst.display()))?;
    let digest = hasher.finalize();
    let sha256 = rollout_core::fs::hex(&digest);
    Ok(ManifestFile { sha256, bytes })
}

/// Puts `tmp` at `baseline`: one atomic exchange when the old baseline
/// exists (Linux `renameat2(RENAME_EXCHANGE)`), else a rename.
fn swap_in(tmp: &Path, baseline: &Path, parent: &Path, name: &str) -> Result<()> {
    if !baseline.exists() {
        return std::fs::rename(tmp, baseline).with_context(|| {
            format!(
                "cannot move `{}` to `{}`",
                tmp.display(),
                baseline.display()
            )
        });
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        if renameat_with(CWD, tmp, CWD, baseline, RenameFlags::EXCHANGE).is_ok() {
            // `tmp` now holds the old baseline.
            return std::fs::remove_dir_all(tmp).with_context(|| {
                format!(
                    "blessed, but cannot remove the old baseline at `{}`",
                    tmp.display()
                )
            });
        }
    }
    // Two renames; if the second fails the old baseline is put back.
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    std::fs::rename(baseline, &old).with_context(|| {
        format!(
            "cannot move the old baseline `{}` aside",
            baseline.display()
        )
    })?;
    if let Err(e) = std::fs::rename(tmp, baseline) {
        let _restore = std::fs::rename(&old, baseline);
        return Err(e).with_context(|| {
            format!(
                "cannot move `{}` to `{}`",
                tmp.display(),
                baseline.display()
            )
        });
    }
    std::fs::remove_dir_all(&old).with_context(|| {
        format!(
            "blessed, but cannot remove the old baseline at `{}`",
            old.display()
        )
    })
}
