//! `cargo xtask adopt PATH`: writes this tooling into a Townlet checkout, so
//! that the checkout gates itself with `cargo xtask gate` and CI runs the
//! gate on its repository.
//!
//! Owns: which files of the tooling's workspace an adopted tree gets (the
//! workspace manifests, `.cargo/`, `clippy.toml`, `xtask/`, `crates/`,
//! `baselines/`; tests, benches, fuzz targets and the sample only when
//! asked), the edits that keep the copy loading without what was left
//! behind (crate manifests, the `target` of `configs/rollout.yaml`), the
//! checkout's `.gitignore` block and its `.github/workflows/rollout.yml`,
//! and writing all of it without overwriting what differs.
//!
//! Does not own: how the adopted tree resolves its target (the config
//! crate: no `target.root` in a Townlet checkout means the checkout
//! itself), or what the gate and `tag` do there.

mod checkout;
mod config;
mod gitignore;
mod manifest;
mod plan;
mod report;
mod select;
mod source;
mod workflow;

use std::path::PathBuf;

use anyhow::Result;
use rollout_config::Context;
use rollout_core::{Check, Outcome, Status, Verdict};

pub use report::{Action, AdoptReport, FileEntry};

/// What `cargo xtask adopt` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct AdoptSettings {
    /// The Townlet checkout to write into (absolute, or relative to the
    /// current directory).
    pub path: PathBuf,
    /// Replace files that exist and differ.
    pub force: bool,
    /// Also copy the tooling's tests, benches and fuzz targets.
    pub with_tests: bool,
    /// Also copy the bundled sample target and its baselines.
    pub with_sample: bool,
    /// Say what would be written; write nothing.
    pub dry_run: bool,
}

/// Adopts the tooling of `ctx.settings.workspace` into the checkout at
/// `settings.path` and prints what it wrote on `out`. `Pass` when the
/// checkout holds the whole tooling; `Error` when a file that differs was
/// kept (without `--force`); `Err` when nothing could be done.
pub fn run(ctx: &Context, settings: AdoptSettings) -> Result<Outcome> {
    let sh = xshell::Shell::new()?;
    let workspace = &ctx.settings.workspace;
    let root = checkout::check(&sh, &settings.path, workspace)?;
    let selection = selection(workspace, &settings);
    let listed = source::files(&sh, workspace)?;
    let trees = plan::Trees {
        workspace,
        root: &root,
    };
    let planned = plan::files(&trees, &listed, &selection)?;
    let actions = plan::actions(&root, &planned, settings.force)?;
    if !settings.dry_run {
        plan::write(&root, &planned, &actions)?;
    }
    let mut report = AdoptReport::new(workspace.clone(), root.clone(), settings.dry_run);
    report.files = planned
        .iter()
        .zip(&actions)
        .map(|(file, action)| FileEntry {
            path: file
                .path
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/"),
            action: *action,
        })
        .collect();
    let certs = certs_entry(&root, &ctx.settings.config.tls_smoke.sim_config);
    let entries = plan::ignored(certs.as_deref(), &selection);
    report
        .files
        .push(plan::gitignore(&root, &entries, settings.dry_run)?);
    rollout_core::emit(&report, ctx.format, &ctx.out.style(), &mut *ctx.out.lock())?;
    Ok(outcome(&report, &root))
}

/// The selection the settings ask for.
fn selection(workspace: &std::path::Path, settings: &AdoptSettings) -> select::Extras {
    let sample = workspace.join(rollout_config::resolve::SAMPLE_TARGET);
    select::Extras {
        tests: settings.with_tests,
        sample: settings.with_sample,
        sample_dir: sample
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sample_target: rollout_config::resolve::target_name(&sample),
    }
}

/// The `.gitignore` entry of the dev certificates, or a warning on stderr
/// saying why there is none.
fn certs_entry(root: &std::path::Path, sim_config: &str) -> Option<String> {
    match checkout::certs_entry(root, sim_config) {
        Ok(entry) => Some(entry),
        Err(why) => {
            eprintln!(
                "warning: the dev certificates of `tls-smoke certs` are not git-ignored: {}\nhint: add their directory to `.gitignore` yourself",
                rollout_core::printable_lines(&why)
            );
            None
        }
    }
}

/// `Pass`, or `Error` with a message on stderr when files were kept.
fn outcome(report: &AdoptReport, root: &std::path::Path) -> Outcome {
    let kept = report.kept();
    let what = if report.dry_run {
        "would write"
    } else {
        "wrote"
    };
    let checks: Vec<Check> = report
        .files
        .iter()
        .map(|f| {
            let status = if f.action == Action::Kept {
                Status::Fail
            } else {
                Status::Pass
            };
            Check::new(f.path.clone(), status, f.action.as_str())
        })
        .collect();
    if kept.is_empty() {
        let summary = format!(
            "{what} the tooling into `{}`",
            rollout_core::printable(&root.display().to_string())
        );
        return Outcome::new(Verdict::Pass, summary).with_checks(checks);
    }
    let files: Vec<String> = kept
        .iter()
        .map(|path| format!("`{}`", rollout_core::printable(path)))
        .collect();
    let (count, them) = if kept.len() == 1 {
        (
            "1 file differs from the tooling's and was".to_string(),
            "it",
        )
    } else {
        (
            format!("{} files differ from the tooling's and were", kept.len()),
            "them",
        )
    };
    eprintln!(
        "error: {count} kept: {}\nhint: run `cargo xtask adopt {} --force` to replace {them}",
        files.join(", "),
        rollout_core::printable(&root.display().to_string())
    );
    Outcome::new(Verdict::Error, format!("{count} kept")).with_checks(checks)
}
