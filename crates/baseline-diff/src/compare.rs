//! Comparing two paths: a file of a known kind, or two directories whose files
//! are matched by relative path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use rollout_config::model::{AddedPaths, BaselineSection, NanPolicy, Tolerance, ToleranceRule};

use crate::jsondoc::{ValueCmp, compare_documents};
use crate::npz::{MAX_ARRAY_BYTES, NpzFile, read_npy};
use crate::report::{Check, FileKind, FileReport, Report, Status};
use crate::stream_cmp::{StreamSettings, compare_streams};
use crate::tensor::{Side, TensorSettings, compare_archives, compare_npz_files};
use crate::tolerance::{NumRule, Overrides};

/// The name of the bless manifest inside a baseline directory; never compared.
pub(crate) const MANIFEST: &str = "manifest.json";

/// Everything a comparison needs, resolved from the config and the flags.
#[derive(Debug, Clone)]
pub struct CompareSettings {
    pub tolerance: Tolerance,
    pub rule: ToleranceRule,
    pub nan: NanPolicy,
    pub overrides: std::collections::BTreeMap<String, Tolerance>,
    pub fields: Vec<String>,
    pub runtime_variant: String,
    pub added_paths: AddedPaths,
    pub examples: usize,
    pub max_missing_ticks: u64,
    /// Field patterns not compared (`baseline.ignore`).
    pub ignore: Vec<String>,
}

impl CompareSettings {
    /// From the `baseline` section and the top-level `runtime_variant`.
    pub fn from_config(b: &BaselineSection, runtime_variant: &str) -> Self {
        Self {
            tolerance: b.tolerance,
            rule: b.rule,
            nan: b.nan,
            overrides: b.overrides.clone(),
            fields: b.fields.clone(),
            runtime_variant: runtime_variant.to_string(),
            added_paths: b.added_paths,
            examples: b.examples,
            max_missing_ticks: b.max_missing_ticks,
            ignore: b.ignore.clone(),
        }
    }

    pub fn num_rule(&self) -> NumRule {
        NumRule::new(self.tolerance, self.rule, self.nan)
    }
}

/// Compares `baseline` with `candidate` (two files or two directories).
/// `Err` when an input cannot be read or is invalid.
pub fn compare_paths(s: &CompareSettings, baseline: &Path, candidate: &Path) -> Result<Report> {
    let started = std::time::Instant::now();
    let overrides = Overrides::new(&s.overrides);
    let files = match (baseline.is_dir(), candidate.is_dir()) {
        (true, true) => compare_dirs(s, &overrides, baseline, candidate)?,
        (false, false) => {
            for p in [baseline, candidate] {
                input::check_regular(p)?;
            }
            let name = baseline
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let kb = kind_of(baseline);
            let kc = kind_of(candidate);
            if kb != kc {
                bail!(
                    "cannot compare `{}` ({}) with `{}` ({}): the files are of different kinds\nhint: pass two `.jsonl`, two `.npz`, two `.npy` or two `.json` files, or two directories",
                    baseline.display(),
                    kind_name(kb),
                    candidate.display(),
                    kind_name(kc)
                );
            }
            vec![compare_file(s, &overrides, &name, baseline, candidate)?]
        }
        (true, false) => bail!(
            "`{}` is a directory but `{}` is not: compare two files or two directories",
            baseline.display(),
            candidate.display()
        ),
        (false, true) => bail!(
            "`{}` is a directory but `{}` is not: compare two files or two directories",
            candidate.display(),
            baseline.display()
        ),
    };
    let mut report = Report::new(
        baseline.to_path_buf(),
        candidate.to_path_buf(),
        s.num_rule().describe(),
        s.runtime_variant.clone(),
        files,
    );
    report.duration_ms = millis(started.elapsed());
    Ok(report)
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn kind_name(k: FileKind) -> &'static str {
    match k {
        FileKind::Telemetry => "telemetry JSONL",
        FileKind::Npz => "npz archive",
        FileKind::Npy => "npy array",
        FileKind::Json => "JSON document",
        FileKind::Bytes => "other file",
    }
}

/// The kind of a file, by extension.
pub(crate) fn kind_of(p: &Path) -> FileKind {
    match p.extension().and_then(|e| e.to_str()) {
        Some("jsonl") => FileKind::Telemetry,
        Some("npz") => FileKind::Npz,
        Some("npy") => FileKind::Npy,
        Some("json") => FileKind::Json,
        _ => FileKind::Bytes,
    }
}

fn compare_dirs(
    s: &CompareSettings,
    overrides: &Overrides,
    base: &Path,
    cand: &Path,
) -> Result<Vec<FileReport>> {
    let b = list_files(base)?;
    let c = list_files(cand)?;
    let mut out = Vec::new();
    for (rel, bp) in &b {
        let kind = kind_of(bp);
        match c.get(rel) {
            Some(cp) => out.push(compare_file(s, overrides, rel, bp, cp)?),
            None => out.push(FileReport::new(
                rel.clone(),
                kind,
                vec![Check::new("present", Status::Fail, absent(&cand.join(rel)))],
            )),
        }
    }
    for (rel, cp) in &c {
        if !b.contains_key(rel) {
            out.push(FileReport::new(
                rel.clone(),
                kind_of(cp),
                vec![Check::new(
                    "present",
                    Status::Warn,
                    "only in the candidate, not in the baseline",
                )],
            ));
        }
    }
    if b.is_empty() && c.is_empty() {
        bail!(
            "`{}` and `{}` hold no files to compare",
            base.display(),
            cand.display()
        );
    }
    Ok(out)
}

/// Why a baseline file has no counterpart at `path` in the candidate.
fn absent(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => "a directory in the candidate, a file in the baseline".to_string(),
        _ => "missing in the candidate".to_string(),
    }
}

/// Files below `root` by relative path (with `/`), without the manifest and
/// hidden files. Symlinks to directories are followed, each directory once:
/// a symlink back to a directory already listed (a loop) is an error.
pub(crate) fn list_files(root: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let mut listed = std::collections::HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let real = std::fs::canonicalize(&dir)
            .with_context(|| format!("cannot resolve directory `{}`", dir.display()))?;
        if !listed.insert(real.clone()) {
            bail!(
                "`{}` leads to `{}` again (a symlink loop or a second link to one directory)\nhint: replace the symlink by the files it stands for",
                dir.display(),
                real.display()
            );
        }
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list directory `{}`", dir.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("cannot list directory `{}`", dir.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = e.path();
            let ft = e
                .file_type()
                .with_context(|| format!("cannot stat `{}`", path.display()))?;
            if ft.is_dir() || (ft.is_symlink() && path.is_dir()) {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if rel == MANIFEST {
                continue;
            }
            out.insert(rel, path);
        }
    }
    Ok(out)
}

/// Compares one pair of files of the same kind.
pub(crate) fn compare_file(
    s: &CompareSettings,
    overrides: &Overrides,
    rel: &str,
    b: &Path,
    c: &Path,
) -> Result<FileReport> {
    let started = std::time::Instant::now();
    let kind = kind_of(b);
    let rule = s.num_rule();
    let checks = match kind {
        FileKind::Telemetry => {
            let ss = StreamSettings {
                cmp: ValueCmp {
                    rule,
                    overrides,
                    ignore: &s.ignore,
                },
                fields: s.fields.clone(),
                runtime_variant: s.runtime_variant.clone(),
                added: s.added_paths,
                examples: s.examples,
                max_missing_ticks: s.max_missing_ticks,
            };
            compare_streams(&ss, b, c)?
        }
        FileKind::Npz | FileKind::Npy => {
            let ts = TensorSettings {
                rule,
                overrides: overrides.clone(),
                examples: s.examples,
            };
            compare_tensor_files(&ts, kind, rel, b, c)?
        }
        FileKind::Json => vec![compare_json_files(s, overrides, b, c)?],
        FileKind::Bytes => vec![compare_bytes(b, c)?],
    };
    let mut report = FileReport::new(rel.to_string(), kind, checks);
    report.duration_ms = millis(started.elapsed());
    Ok(report)
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// A `.npy` file is one array, held in memory whole.
const NPY_FILE: input::Kind = input::Kind {
    what: ".npy array",
    max_bytes: MAX_ARRAY_BYTES,
};

/// Two `.npz` archives (or `.npy` arrays), array by array.
fn compare_tensor_files(
    ts: &TensorSettings,
    kind: FileKind,
    rel: &str,
    b: &Path,
    c: &Path,
) -> Result<Vec<Check>> {
    // A single array is named after the baseline file on both sides.
    let npy_name = Path::new(rel)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let checks = if kind == FileKind::Npy {
        let read = |path: &Path| -> Result<crate::npz::Array> {
            let bytes = input::read(path, NPY_FILE)?;
            read_npy(&npy_name, &bytes).map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))
        };
        let (baseline_array, candidate_array) = rayon::join(|| read(b), || read(c));
        compare_archives(ts, &[baseline_array?], &[candidate_array?])
    } else {
        let open = |path: &Path| -> Result<NpzFile<std::fs::File>> {
            let file = input::open(path, input::Kind::NPZ)?;
            NpzFile::new(file).map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))
        };
        let (mut baseline_archive, mut candidate_archive) = (open(b)?, open(c)?);
        compare_npz_files(ts, &mut baseline_archive, &mut candidate_archive).map_err(
            |(side, error)| {
                let path = if side == Side::Baseline { b } else { c };
                anyhow::anyhow!("`{}`: {error}", path.display())
            },
        )?
    };
    Ok(if checks.is_empty() {
        vec![Check::new(
            "arrays",
            Status::Pass,
            "both archives hold no arrays",
        )]
    } else {
        checks
    })
}

/// Two JSON documents: numbers under the tolerance rule, the rest exactly.
fn compare_json_files(
    s: &CompareSettings,
    overrides: &Overrides,
    b: &Path,
    c: &Path,
) -> Result<Check> {
    let read = |p: &Path| -> Result<serde_json::Value> {
        let bytes = input::read(p, input::Kind::DOCUMENT)?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        serde_json::from_slice(bytes).map_err(|e| {
            let line_start: usize = bytes
                .split(|&byte| byte == b'\n')
                .take(e.line().saturating_sub(1))
                .map(|line| line.len() + 1)
                .sum();
            let at = line_start + e.column().saturating_sub(1);
            match telemetry::python_float_literal(bytes, at) {
                Some((literal, _)) => anyhow::anyhow!(
                    "`{}`:{}:{}: invalid JSON: `{literal}` is not a JSON number (Python's `json.dumps` writes it for a non-finite float unless `allow_nan=False`)\nhint: the comparison cannot tell which value was meant; write finite numbers (or null)",
                    p.display(),
                    e.line(),
                    e.column(),
                ),
                None => anyhow::anyhow!(
                    "`{}`:{}:{}: invalid JSON: {}",
                    p.display(),
                    e.line(),
                    e.column(),
                    strip_position(&e.to_string())
                ),
            }
        })
    };
    let (bv, cv) = (read(b)?, read(c)?);
    Ok(compare_documents(
        &ValueCmp {
            rule: s.num_rule(),
            overrides,
            ignore: &s.ignore,
        },
        s.added_paths,
        s.examples,
        &bv,
        &cv,
    ))
}

/// Two other files, byte for byte.
fn compare_bytes(b: &Path, c: &Path) -> Result<Check> {
    use std::io::Read;
    let open = |path: &Path| -> Result<(std::fs::File, u64)> {
        let file = input::open(path, input::Kind::COPIED)?;
        let length = file.metadata().map_or(0, |meta| meta.len());
        Ok((file, length))
    };
    let ((mut baseline_file, baseline_len), (mut candidate_file, candidate_len)) =
        (open(b)?, open(c)?);
    let mut first_difference = None;
    let mut offset = 0u64;
    let (mut baseline_buf, mut candidate_buf) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let read_full = |file: &mut std::fs::File, buf: &mut [u8], path: &Path| -> Result<usize> {
            let mut filled = 0;
            while filled < buf.len() {
                let n = file
                    .read(&mut buf[filled..])
                    .with_context(|| format!("cannot read `{}`", path.display()))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            Ok(filled)
        };
        let baseline_n = read_full(&mut baseline_file, &mut baseline_buf, b)?;
        let candidate_n = read_full(&mut candidate_file, &mut candidate_buf, c)?;
        let common = baseline_n.min(candidate_n);
        if let Some(index) = baseline_buf[..common]
            .iter()
            .zip(&candidate_buf[..common])
            .position(|(x, y)| x != y)
        {
            first_difference = Some(offset + index as u64);
            break;
        }
        if baseline_n != candidate_n {
            first_difference = Some(offset + common as u64);
            break;
        }
        if baseline_n == 0 {
            break;
        }
        offset += baseline_n as u64;
    }
    let Some(first) = first_difference else {
        return Ok(Check::new(
            "bytes",
            Status::Pass,
            format!("{offset} bytes, identical"),
        ));
    };
    Ok(Check::new(
        "bytes",
        Status::Fail,
        format!(
            "contents differ from byte offset {first} (baseline {baseline_len} bytes, candidate {candidate_len} bytes; compared byte for byte: not a .jsonl, .npz, .npy or .json file)"
        ),
    ))
}
