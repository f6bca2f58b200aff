//! What `--bisect` found: the `--format json` document, its human form and
//! its [`Outcome`].

use std::path::PathBuf;

use rollout_core::{Check, Outcome, Status, Style, Verdict, printable};
use serde::Serialize;

/// Version of the document's shape.
pub(super) const SCHEMA: u32 = 1;

/// A commit as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Commit {
    pub commit: String,
    /// The first line of its message.
    pub subject: String,
    /// Author date, ISO 8601.
    pub author_date: String,
}

impl From<plumbing::git::CommitInfo> for Commit {
    fn from(c: plumbing::git::CommitInfo) -> Self {
        Self {
            commit: c.commit,
            subject: c.subject,
            author_date: c.author_date,
        }
    }
}

/// How the search for a difference ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// The first commit that shows it is named.
    Named,
    /// Skipped commits lie between the last commit without it and the
    /// first with it.
    Ambiguous,
}

/// One difference and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Attribution {
    /// `<file>: <check>[: <subject>]`.
    pub id: String,
    /// The report's check (`<file>: <check>`).
    pub check: String,
    /// What in it differs (a key path tree, a field, a JSON key), when the
    /// check has subjects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub resolution: Resolution,
    /// The first commit that shows it (when named).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<Commit>,
    /// The last commit known to be without it (the good commit at least).
    pub last_without: Commit,
    /// When ambiguous: the commits any of which may be the first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Commit>,
    /// When ambiguous: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Captures made for this difference (not counting those it found
    /// already made, in this run or in the cache).
    pub captures: u32,
    /// Commits whose capture it consulted, made now or earlier.
    pub probed: u32,
}

/// A commit whose capture could not run (as `git bisect skip`).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Skipped {
    pub commit: Commit,
    pub error: String,
}

/// Everything `baseline-diff --bisect` found.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct BisectReport {
    pub schema: u32,
    /// The baseline every capture was compared with.
    pub baseline: PathBuf,
    pub good: Commit,
    pub bad: Commit,
    /// Commits on the first-parent path from good (excluded) to bad.
    pub commits: u32,
    pub verdict: Verdict,
    pub differences: Vec<Attribution>,
    pub skipped: Vec<Skipped>,
    /// Captures made by this run, the bad commit's included.
    pub captures: u32,
    /// Captures taken from the cache of earlier runs.
    pub cached: u32,
    pub duration_ms: u64,
}

fn short(c: &Commit) -> String {
    c.commit.chars().take(10).collect()
}

/// `abc1234567 2026-01-02 "subject"`, escaped for a terminal.
fn line(c: &Commit) -> String {
    format!(
        "{} {} \"{}\"",
        short(c),
        c.author_date.get(..10).unwrap_or(&c.author_date),
        printable(&c.subject)
    )
}

impl BisectReport {
    /// One line: how many differences were named, with how many captures.
    pub fn summary(&self) -> String {
        let named = self
            .differences
            .iter()
            .filter(|d| d.resolution == Resolution::Named)
            .count();
        let mut s = format!(
            "{named} of {} difference{} named among {} commits with {} capture{}",
            self.differences.len(),
            if self.differences.len() == 1 { "" } else { "s" },
            self.commits,
            self.captures,
            if self.captures == 1 { "" } else { "s" }
        );
        if self.cached > 0 {
            s.push_str(&format!(" ({} more from the cache)", self.cached));
        }
        if !self.skipped.is_empty() {
            s.push_str(&format!(", {} commit(s) skipped", self.skipped.len()));
        }
        s
    }

    /// The human report.
    pub fn human(&self, style: Style) -> String {
        let mut out = format!(
            "bisect {}..{} ({} commits, first parents) against `{}`\n",
            short(&self.good),
            short(&self.bad),
            self.commits,
            self.baseline.display()
        );
        for d in &self.differences {
            let (word, first) = match (&d.first, d.resolution) {
                (Some(f), Resolution::Named) => (style.pass(), line(f)),
                _ => (style.fail(), "ambiguous".to_string()),
            };
            out.push_str(&format!("{word}  {}: {first}\n", printable(&d.id)));
            out.push_str(&format!(
                "      last without: {}; {} capture(s), {} commit(s) probed\n",
                line(&d.last_without),
                d.captures,
                d.probed
            ));
            if let Some(why) = &d.why {
                out.push_str(&format!("      {}\n", printable(why)));
            }
        }
        for s in &self.skipped {
            out.push_str(&format!(
                "{}  {}: {}\n",
                style.skip(),
                line(&s.commit),
                printable(&s.error)
            ));
        }
        out.push_str(&format!("{}\n", printable(&self.summary())));
        out
    }

    /// The outcome: one check per difference (`pass` named, `fail`
    /// ambiguous), one `skip` per skipped commit.
    pub fn outcome(&self) -> Outcome {
        let mut checks: Vec<Check> = self
            .differences
            .iter()
            .map(|d| match (&d.first, d.resolution) {
                (Some(f), Resolution::Named) => {
                    Check::new(d.id.clone(), Status::Pass, format!("first at {}", line(f)))
                }
                _ => Check::new(
                    d.id.clone(),
                    Status::Fail,
                    d.why.clone().unwrap_or_else(|| "ambiguous".into()),
                ),
            })
            .collect();
        checks.extend(self.skipped.iter().map(|s| {
            Check::new(
                format!("skipped {}", short(&s.commit)),
                Status::Skip,
                s.error.clone(),
            )
        }));
        Outcome {
            verdict: self.verdict,
            summary: self.summary(),
            checks,
        }
    }
}
