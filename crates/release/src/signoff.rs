//! `cargo xtask signoff`: recording and listing stakeholder sign-offs.
//!
//! Storage: git notes under `release.signoff_ref` (default
//! `refs/notes/townlet-signoff`). The note on a commit holds one JSON object
//! per line, one line per sign-off (`{"team":…,"by":…,"at":…,"note":…}`),
//! so notes from several people merge with git's `cat_sort_uniq` strategy
//! and every change is a commit on the notes ref that can be reviewed with
//! `git log -p refs/notes/townlet-signoff`.

use std::io::Write;

use anyhow::{Result, bail};
use rollout_config::Context;
use rollout_config::model::{ReleaseSection, SignoffTeam};
use rollout_core::{Check, Outcome, Status, Style, Verdict, printable};
use serde::{Deserialize, Serialize};
use xshell::Shell;

use plumbing::git::Git;

/// Version of the shape of `signoff --format json` and `signoff --status
/// --format json`.
const SCHEMA: u32 = 1;

/// What `signoff` runs with, every value resolved: record a sign-off, or
/// list the sign-offs that hold for a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settings {
    /// Record a team's sign-off.
    Record(Signing),
    /// List, for each team, the sign-off that holds for `rev` (`--status`).
    Status { rev: String },
}

/// A sign-off to record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signing {
    /// The team signing off (an `id` of `release.signoff_teams`).
    pub team: String,
    /// Who signs; `None`: git's `user.name <user.email>`.
    pub by: Option<String>,
    /// A remark stored with the sign-off.
    pub note: Option<String>,
    /// The commit signed off; `None`: HEAD.
    pub commit: Option<String>,
}

/// One sign-off, one line of a note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Record {
    /// Team id.
    pub team: String,
    pub by: String,
    /// RFC 3339 UTC.
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Parses a note: one record per line; blank lines are skipped, other lines
/// that are not records are returned as (line number, problem).
pub fn parse_note(text: &str) -> (Vec<Record>, Vec<(usize, String)>) {
    let mut records = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => match r.problem() {
                None => records.push(r),
                Some(problem) => bad.push((i + 1, problem)),
            },
            Err(e) => bad.push((i + 1, e.to_string())),
        }
    }
    (records, bad)
}

impl Record {
    /// Why this record is not a usable sign-off, if it is not: every field
    /// is checked, so that `"at":"yesterday"` does not count.
    pub fn problem(&self) -> Option<String> {
        let id_ok = |id: &str| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_/.".contains(c))
        };
        if !id_ok(&self.team) {
            return Some(format!(
                "`team` is {:?}: expected a team id of the config (letters, digits, `-`, `_`)",
                self.team
            ));
        }
        if self.by.trim().is_empty() || self.by.chars().any(char::is_control) {
            return Some(format!(
                "`by` is {:?}: expected who signed, such as \"Ana <ana@example.org>\"",
                self.by
            ));
        }
        if humantime::parse_rfc3339(&self.at).is_err() {
            return Some(format!(
                "`at` is {:?}: expected an RFC 3339 UTC time such as 2026-01-02T03:04:05Z",
                self.at
            ));
        }
        if let Some(note) = &self.note
            && note.chars().any(|c| c.is_control() && c != '\t')
        {
            return Some("`note` holds control characters".into());
        }
        None
    }
}

/// The note after adding `record`: existing lines kept, lines sorted (as
/// git's `cat_sort_uniq` merge would leave them).
pub fn append_record(existing: &str, record: &Record) -> Result<String> {
    let mut lines: Vec<String> = existing
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    lines.push(serde_json::to_string(record)?);
    lines.sort();
    lines.dedup();
    Ok(lines.join("\n") + "\n")
}

/// A sign-off found on a commit.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Found {
    pub commit: String,
    /// Commits between it and the commit evaluated (0: that commit itself).
    pub distance: u64,
    #[serde(flatten)]
    pub record: Record,
}

/// Whether a team's sign-off holds for a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TeamState {
    /// Signed on the commit, or on an ancestor with no high-risk change since.
    Valid,
    /// Only signed on ancestors whose diff to the commit touches high-risk paths.
    Stale,
    Missing,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TeamStatus {
    pub team: String,
    pub name: String,
    pub state: TeamState,
    /// The sign-off that holds (valid) or the nearest one (stale).
    pub signoff: Option<Found>,
    /// For a stale sign-off: high-risk files changed since it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

/// Evaluates every configured team's sign-off for `commit`.
pub fn evaluate(git: &Git<'_>, rel: &ReleaseSection, commit: &str) -> Result<Vec<TeamStatus>> {
    // Sign-offs on the commit or its ancestors, nearest first (by
    // topological position), newest first.
    let notes = git.notes(&rel.signoff_ref)?;
    let order = if notes.is_empty() {
        Default::default()
    } else {
        git.ancestry(commit)?
    };
    let mut found: Vec<Found> = Vec::new();
    for (c, text) in notes {
        let Some(&position) = order.get(&c) else {
            continue;
        };
        let (records, bad) = parse_note(&text);
        for (line, problem) in bad {
            eprintln!(
                "warning: note on {} under `{}`, line {line}, is not a sign-off: {problem}",
                short(&c),
                rel.signoff_ref
            );
        }
        found.extend(records.into_iter().map(|record| Found {
            commit: c.clone(),
            distance: position,
            record,
        }));
    }
    found.sort_by(|a, b| {
        a.distance
            .cmp(&b.distance)
            .then(b.record.at.cmp(&a.record.at))
    });

    let mut out = Vec::new();
    for team in &rel.signoff_teams {
        let mut status = TeamStatus {
            team: team.id.clone(),
            name: team.name.clone(),
            state: TeamState::Missing,
            signoff: None,
            changed: Vec::new(),
        };
        for f in found.iter().filter(|f| f.record.team == team.id) {
            let changed = if f.commit == commit {
                Vec::new()
            } else {
                git.changed(&f.commit, commit, &rel.high_risk_paths)?
            };
            if changed.is_empty() {
                status.state = TeamState::Valid;
                status.signoff = Some(f.clone());
                status.changed.clear();
                break;
            }
            if status.signoff.is_none() {
                status.state = TeamState::Stale;
                status.signoff = Some(f.clone());
                status.changed = changed;
            }
        }
        if let Some(f) = status.signoff.as_mut() {
            // The topological position sorts; the count is what is shown.
            f.distance = if f.commit == commit {
                0
            } else {
                git.distance(&f.commit, commit)?
            };
        }
        out.push(status);
    }
    Ok(out)
}

/// The first 12 characters of a commit id.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// One line describing a team's status, without the status word.
pub fn describe(s: &TeamStatus, commit: &str) -> String {
    format!("{}: {}", s.name, detail(s, commit))
}

/// What holds for a team, without its name.
pub fn detail(s: &TeamStatus, commit: &str) -> String {
    match (&s.state, &s.signoff) {
        (TeamState::Valid, Some(f)) => {
            let place = if f.distance == 0 {
                format!("on {}", short(&f.commit))
            } else {
                format!(
                    "on ancestor {} ({} commit{} back, no high-risk change since)",
                    short(&f.commit),
                    f.distance,
                    if f.distance == 1 { "" } else { "s" }
                )
            };
            format!("{} at {} {place}", f.record.by, f.record.at)
        }
        (TeamState::Stale, Some(f)) => format!(
            "signed {} ({} at {}) but high-risk paths changed since: {}",
            short(&f.commit),
            f.record.by,
            f.record.at,
            list(&s.changed, 5)
        ),
        _ => format!("no sign-off on {} or its ancestors", short(commit)),
    }
}

/// At most `n` items joined by commas, then "and N more".
pub fn list(items: &[String], n: usize) -> String {
    let mut s = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        s.push_str(&format!(" and {} more", items.len() - n));
    }
    s
}

fn find_team<'a>(rel: &'a ReleaseSection, id: &str) -> Result<&'a SignoffTeam> {
    if let Some(t) = rel.signoff_teams.iter().find(|t| t.id == id) {
        return Ok(t);
    }
    let ids: Vec<&str> = rel.signoff_teams.iter().map(|t| t.id.as_str()).collect();
    let mut msg = format!("unknown team '{id}'");
    if let Some(best) = rollout_config::error::closest(id, ids.iter().copied()) {
        msg.push_str(&format!(", did you mean '{best}'?"));
    }
    bail!(
        "{msg}\nhint: teams are listed in `release.signoff_teams` of the rollout config: {}",
        ids.join(", ")
    )
}

#[derive(Serialize, schemars::JsonSchema)]
struct Recorded<'a> {
    /// Version of this document's shape; fields are added, never renamed.
    schema: u32,
    team: &'a str,
    name: &'a str,
    commit: &'a str,
    by: &'a str,
    at: &'a str,
    note: Option<&'a str>,
    checklist: &'a [String],
    notes_ref: &'a str,
    #[serde(skip)]
    remote: &'a str,
}

/// The JSON Schemas of `signoff --format json` and of `signoff --status
/// --format json`, in that order.
pub fn json_schemas() -> [schemars::Schema; 2] {
    [
        rollout_core::output::json_schema::<Recorded<'static>>(),
        rollout_core::output::json_schema::<StatusReport<'static>>(),
    ]
}

impl rollout_core::Report for Recorded<'_> {
    fn human(&self, style: &Style, out: &mut dyn Write) -> Result<()> {
        writeln!(
            out,
            "{} {} ({}) signed off {} by {} at {}",
            style.pass(),
            printable(self.name),
            printable(self.team),
            short(self.commit),
            printable(self.by),
            printable(self.at)
        )?;
        writeln!(out, "     checklist confirmed by this sign-off:")?;
        for item in self.checklist {
            writeln!(out, "       - {}", printable(item))?;
        }
        writeln!(
            out,
            "     stored in `{r}`; share it: git push {} {r}",
            printable(self.remote),
            r = printable(self.notes_ref)
        )?;
        Ok(())
    }
}

impl Recorded<'_> {
    /// One passing check, named after the team, that says who signed what.
    fn outcome(&self) -> Outcome {
        let summary = format!(
            "{} ({}) signed off {} by {} at {}",
            self.name,
            self.team,
            short(self.commit),
            self.by,
            self.at
        );
        let check = Check::new(self.team, Status::Pass, summary.clone());
        Outcome::new(Verdict::Pass, summary).with_checks(vec![check])
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct StatusReport<'a> {
    /// Version of this document's shape; fields are added, never renamed.
    schema: u32,
    commit: &'a str,
    notes_ref: &'a str,
    teams: &'a [TeamStatus],
    verdict: Verdict,
    /// The revision asked for, as written.
    #[serde(skip)]
    rev: &'a str,
    /// Whether the checkout has the notes ref at all.
    #[serde(skip)]
    has_ref: bool,
    #[serde(skip)]
    remote: &'a str,
}

impl rollout_core::Report for StatusReport<'_> {
    fn human(&self, style: &Style, out: &mut dyn Write) -> Result<()> {
        let commit = self.commit;
        writeln!(
            out,
            "sign-offs for {} ({})",
            short(commit),
            printable(self.rev)
        )?;
        let width = self.teams.iter().map(|t| t.team.len()).max().unwrap_or(0);
        for t in self.teams {
            let word = if t.state == TeamState::Valid {
                style.pass()
            } else {
                style.fail()
            };
            writeln!(out, "{word} {:width$}  {}", t.team, describe(t, commit))?;
            if t.state != TeamState::Valid {
                writeln!(
                    out,
                    "     hint: cargo xtask signoff {} --commit {}",
                    t.team,
                    short(commit)
                )?;
            }
        }
        if !self.has_ref {
            writeln!(
                out,
                "     hint: this checkout has no sign-offs at all (`{r}` is absent); if they were given elsewhere, fetch them: git fetch {remote} {r}:{r}",
                r = self.notes_ref,
                remote = self.remote
            )?;
        }
        let missing = self
            .teams
            .iter()
            .filter(|t| t.state != TeamState::Valid)
            .count();
        if missing == 0 {
            writeln!(
                out,
                "verdict: pass (all {} teams signed off)",
                self.teams.len()
            )?;
        } else {
            writeln!(
                out,
                "verdict: FAIL ({missing} of {} teams have no valid sign-off)",
                self.teams.len()
            )?;
        }
        Ok(())
    }
}

impl StatusReport<'_> {
    /// One check per team: passes with a valid sign-off, fails without,
    /// with the command that records one.
    fn outcome(&self) -> Outcome {
        let checks = self
            .teams
            .iter()
            .map(|t| {
                let summary = describe(t, self.commit);
                if t.state == TeamState::Valid {
                    Check::new(&t.team, Status::Pass, summary)
                } else {
                    Check::new(&t.team, Status::Fail, summary).with_details(vec![format!(
                        "hint: cargo xtask signoff {} --commit {}",
                        t.team,
                        short(self.commit)
                    )])
                }
            })
            .collect();
        let missing = self
            .teams
            .iter()
            .filter(|t| t.state != TeamState::Valid)
            .count();
        let summary = if missing == 0 {
            format!("all {} teams signed off", self.teams.len())
        } else {
            format!(
                "{missing} of {} teams have no valid sign-off",
                self.teams.len()
            )
        };
        Outcome::new(self.verdict, summary).with_checks(checks)
    }
}

/// Records a sign-off, or with `--status` lists them; prints the result
/// on `ctx.out` and returns the outcome (one check per team listed, or the
/// one recorded).
pub fn run(ctx: &Context, settings: Settings) -> Result<Outcome> {
    run_with(&Shell::new()?, ctx, settings)
}

/// [`run`] with git started from `sh`, whose environment it gets (tests
/// give git an isolated configuration this way).
pub fn run_with(sh: &Shell, ctx: &Context, settings: Settings) -> Result<Outcome> {
    let git = Git::open(sh, ctx.settings.checkout()?)?
        .with_local_timeout(ctx.settings.config.release.git_timeout.0);
    match settings {
        Settings::Status { rev } => status(&git, ctx, &rev),
        Settings::Record(signing) => record(&git, ctx, &signing),
    }
}

/// `--status REV`: which sign-offs hold for the revision.
fn status(git: &Git<'_>, ctx: &Context, rev: &str) -> Result<Outcome> {
    let rel = &ctx.settings.config.release;
    let commit = git.commit(rev)?;
    let teams = evaluate(git, rel, &commit)?;
    let ok = teams.iter().all(|t| t.state == TeamState::Valid);
    let report = StatusReport {
        schema: SCHEMA,
        commit: &commit,
        notes_ref: &rel.signoff_ref,
        teams: &teams,
        verdict: Verdict::from_ok(ok),
        rev,
        has_ref: git.ref_exists(&rel.signoff_ref)?,
        remote: &rel.remote,
    };
    rollout_core::emit(&report, ctx.format, &ctx.out.style(), &mut *ctx.out.lock())?;
    Ok(report.outcome())
}

/// Records the sign-off of one team on a commit.
fn record(git: &Git<'_>, ctx: &Context, signing: &Signing) -> Result<Outcome> {
    let rel = &ctx.settings.config.release;
    let team = find_team(rel, &signing.team)?;
    let commit = git.commit(signing.commit.as_deref().unwrap_or("HEAD"))?;
    let record = Record {
        team: team.id.clone(),
        by: signer(git, signing.by.as_deref())?,
        at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        note: signing.note.clone().filter(|n| !n.trim().is_empty()),
    };
    // What `--status` and `tag` would refuse to count is not written.
    if let Some(problem) = record.problem() {
        bail!(
            "this sign-off would not count, so it is not recorded: {problem}\nhint: pass `--by NAME` and `--note TEXT` on one line, without control characters"
        );
    }
    let existing = existing_note(git, &rel.signoff_ref, &commit)?;
    git.set_note(
        &rel.signoff_ref,
        &commit,
        &append_record(&existing, &record)?,
    )?;

    let recorded = Recorded {
        schema: SCHEMA,
        team: &team.id,
        name: &team.name,
        commit: &commit,
        by: &record.by,
        at: &record.at,
        note: record.note.as_deref(),
        checklist: &team.checklist,
        notes_ref: &rel.signoff_ref,
        remote: &rel.remote,
    };
    rollout_core::emit(
        &recorded,
        ctx.format,
        &ctx.out.style(),
        &mut *ctx.out.lock(),
    )?;
    Ok(recorded.outcome())
}

/// Who signs: `--by`, else git's `user.name <user.email>`.
fn signer(git: &Git<'_>, by: Option<&str>) -> Result<String> {
    Ok(match by {
        Some(b) if !b.trim().is_empty() => b.trim().to_string(),
        Some(_) => bail!("`--by` is empty\nhint: pass `--by \"Name <email>\"`"),
        None => match (git.config("user.name")?, git.config("user.email")?) {
            (Some(n), Some(e)) => format!("{n} <{e}>"),
            (Some(n), None) => n,
            _ => bail!(
                "cannot tell who signs: git's `user.name` is not set\nhint: pass `--by NAME` or run `git config user.name NAME`"
            ),
        },
    })
}

/// The sign-off note already on `commit`, refused when it is not UTF-8:
/// adding a line would rewrite bytes that cannot be decoded.
fn existing_note(git: &Git<'_>, notes_ref: &str, commit: &str) -> Result<String> {
    let bytes = git.note(notes_ref, commit)?.unwrap_or_default();
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        anyhow::anyhow!(
            "the sign-off note on {} under `{notes_ref}` is not UTF-8 (byte {at}): adding a sign-off would rewrite bytes that cannot be decoded, so nothing was written\nhint: look at it with `git notes --ref={notes_ref} show {commit}`, fix it with `git notes --ref={notes_ref} edit {commit}`, then sign off again",
            short(commit)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(team: &str, at: &str) -> Record {
        Record {
            team: team.into(),
            by: "Ana <ana@example.org>".into(),
            at: at.into(),
            note: None,
        }
    }

    #[test]
    fn note_round_trip_sorted_and_tolerant() {
        let a = append_record("", &rec("ui", "2026-01-02T00:00:00Z")).expect("append");
        let b = append_record(&a, &rec("telemetry", "2026-01-01T00:00:00Z")).expect("append");
        let (records, bad) = parse_note(&format!("{b}\nnot json\n"));
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].team, "telemetry");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 4);
    }

    #[test]
    fn list_truncates() {
        let items: Vec<String> = (0..7).map(|i| format!("f{i}")).collect();
        assert_eq!(list(&items, 2), "f0, f1 and 5 more");
    }
}
