//! What adopt did (or, in a dry run, would do), file by file: printed one
//! line per file it touched or kept, then one verdict line; `--format json`
//! prints the whole document.

use std::path::PathBuf;

use rollout_core::{Report, Style, printable};
use serde::Serialize;

/// The schema version of the JSON document.
const SCHEMA: u32 = 1;

/// What became of one file of the adopted tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The checkout lacked it.
    Wrote,
    /// It differed and `--force` replaced it.
    Replaced,
    /// It already held the same bytes and mode.
    Unchanged,
    /// It differed and was kept (no `--force`).
    Kept,
    /// `.gitignore`: the block of entries was added at its end.
    Appended,
    /// `.gitignore`: the block gained entries.
    Updated,
}

impl Action {
    /// The word the JSON writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Wrote => "wrote",
            Action::Replaced => "replaced",
            Action::Unchanged => "unchanged",
            Action::Kept => "kept",
            Action::Appended => "appended",
            Action::Updated => "updated",
        }
    }
}

/// One file and what became of it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FileEntry {
    /// Relative to the checkout, with `/` between parts.
    pub path: String,
    pub action: Action,
}

/// The result of `cargo xtask adopt`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AdoptReport {
    pub schema: u32,
    /// The tooling's workspace the files came from.
    pub source: PathBuf,
    /// The Townlet checkout written into.
    pub target: PathBuf,
    /// Nothing was written; the actions say what would have been.
    pub dry_run: bool,
    pub files: Vec<FileEntry>,
}

impl AdoptReport {
    pub(crate) fn new(source: PathBuf, target: PathBuf, dry_run: bool) -> Self {
        Self {
            schema: SCHEMA,
            source,
            target,
            dry_run,
            files: Vec::new(),
        }
    }

    /// How many files ended with `action`.
    pub fn count(&self, action: Action) -> usize {
        self.files
            .iter()
            .filter(|file| file.action == action)
            .count()
    }

    /// The files that were kept because they differ.
    pub fn kept(&self) -> Vec<&str> {
        self.files
            .iter()
            .filter(|file| file.action == Action::Kept)
            .map(|file| file.path.as_str())
            .collect()
    }

    /// The line for one file, or `None` for an unchanged one.
    fn line(&self, file: &FileEntry) -> Option<String> {
        let path = printable(&file.path);
        let (done, planned) = match file.action {
            Action::Unchanged => return None,
            Action::Wrote => ("wrote", "would write"),
            Action::Replaced => ("replaced", "would replace"),
            Action::Appended => ("appended", "would append to"),
            Action::Updated => ("updated", "would update"),
            Action::Kept => {
                return Some(format!("kept `{path}` (exists; --force to replace)"));
            }
        };
        let verb = if self.dry_run { planned } else { done };
        Some(format!("{verb} `{path}`"))
    }

    /// The closing line: what was done, in counts.
    fn verdict(&self) -> String {
        let target = printable(&self.target.display().to_string()).into_owned();
        let unchanged = self.count(Action::Unchanged);
        let changed = self.files.len() - unchanged - self.count(Action::Kept);
        if changed == 0 && self.kept().is_empty() {
            return format!("`{target}` is up to date: {unchanged} files unchanged");
        }
        let written = if self.dry_run {
            "would be written"
        } else {
            "written"
        };
        let part = if self.kept().is_empty() {
            ""
        } else {
            " in part"
        };
        let mut line = format!(
            "adopted the rollout tooling into `{target}`{part}: {changed} files {written}, {unchanged} unchanged"
        );
        if !self.kept().is_empty() {
            line.push_str(&format!(", {} kept", self.kept().len()));
        }
        line
    }
}

impl Report for AdoptReport {
    fn human(&self, _style: &Style, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
        for file in &self.files {
            if let Some(line) = self.line(file) {
                writeln!(out, "{line}")?;
            }
        }
        writeln!(out, "{}", self.verdict())?;
        Ok(())
    }
}
