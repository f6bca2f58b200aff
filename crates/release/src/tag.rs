//! `cargo xtask tag`: plan the release tag and its checks (dry run), or with
//! `--execute` create it, and with `--push REMOTE` push it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use plumbing::report::{GateReport, GateVerdict, report_path};
use rollout_config::Context;
use rollout_config::model::ReleaseSection;
use rollout_config::model::valid_ref_name;
use rollout_core::{Style, Verbosity, Verdict};
use serde::Serialize;
use xshell::{Shell, cmd};

use crate::message::{self, MARKER, Override, RollbackCommit};
use crate::naming;
use crate::signoff::{self, TeamState, short};
use plumbing::git::{Git, LocalTag};

/// Version of the JSON document's shape.
pub const SCHEMA: u32 = 1;

/// Arguments of `cargo xtask tag`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = "Example:\n  cargo xtask tag --execute --push origin")]
pub struct Args {
    /// How to print the result on stdout
    #[arg(
        help_heading = "Output",
        long,
        value_enum,
        default_value_t,
        value_name = "FORMAT"
    )]
    pub format: rollout_config::TextFormat,
    /// Create the tag; without it, only print the plan and the checks
    #[arg(long)]
    pub execute: bool,
    /// The tag name [default: `release.base_tag`, else the next free one]; an existing tag is never moved or replaced
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Push the tag, and only it, to REMOTE (never forced)
    #[arg(long, value_name = "REMOTE")]
    pub push: Option<String>,
    /// Sign the tag (`git tag -s`, with git's signing config: user.signingkey, gpg.format)
    #[arg(long)]
    pub sign: bool,
    /// Tag although the working tree has uncommitted changes (written into the tag message)
    #[arg(long)]
    pub allow_dirty: bool,
    /// Tag although HEAD is detached or not on a tag branch (written into the tag message)
    #[arg(long)]
    pub allow_branch: bool,
    /// Tag without a gate report that passed for HEAD (written into the tag message)
    #[arg(long)]
    pub allow_gate: bool,
    /// Tag without a valid sign-off of every team (written into the tag message)
    #[arg(long)]
    pub allow_signoff: bool,
    /// Tag from a shallow clone lacking the previous release tag (written into the tag message)
    #[arg(long)]
    pub allow_shallow: bool,
}

impl Args {
    /// The override flag of a check, when it is set.
    fn allowed(&self, check: &str) -> Option<&'static str> {
        match check {
            "clean" if self.allow_dirty => Some("--allow-dirty"),
            "branch" if self.allow_branch => Some("--allow-branch"),
            "gate" if self.allow_gate => Some("--allow-gate"),
            "signoff" if self.allow_signoff => Some("--allow-signoff"),
            "history" if self.allow_shallow => Some("--allow-shallow"),
            _ => None,
        }
    }
}

/// The flag that overrides a check, if any can.
fn override_flag(check: &str) -> Option<&'static str> {
    match check {
        "clean" => Some("--allow-dirty"),
        "branch" => Some("--allow-branch"),
        "gate" => Some("--allow-gate"),
        "signoff" => Some("--allow-signoff"),
        "history" => Some("--allow-shallow"),
        _ => None,
    }
}

/// A check's status: the workspace's shared vocabulary.
pub use rollout_core::Status;

/// One check and its result.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Check {
    /// `clean`, `branch`, `gate`, `signoff`, `tag-name`, `history`.
    pub id: &'static str,
    pub status: Status,
    pub summary: String,
    /// Lines explaining a failure.
    pub details: Vec<String>,
    pub hint: Option<String>,
    /// The flag that can override a failure of this check (none for `tag-name`).
    pub override_flag: Option<&'static str>,
    /// The flag that let `--execute` go past this failure.
    pub overridden_by: Option<String>,
}

impl Check {
    fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Self {
        Self {
            id,
            status,
            summary: summary.into(),
            details: Vec::new(),
            hint: None,
            override_flag: override_flag(id),
            overridden_by: None,
        }
    }
    fn pass(id: &'static str, summary: impl Into<String>) -> Self {
        Self::new(id, Status::Pass, summary)
    }
    fn fail(id: &'static str, summary: impl Into<String>, hint: impl Into<String>) -> Self {
        let mut c = Self::new(id, Status::Fail, summary);
        c.hint = Some(hint.into());
        c
    }
    fn details(mut self, d: Vec<String>) -> Self {
        self.details = d;
        self
    }
    /// Failed and not overridden.
    pub fn blocks(&self) -> bool {
        self.status == Status::Fail && self.overridden_by.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Create a new tag.
    Create,
    /// Reuse the tag an earlier run created at HEAD.
    Reuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// The configured base name was free.
    Base,
    /// The next free name after the highest taken one.
    Next,
    /// `--name`.
    Explicit,
    /// An earlier run's tag at HEAD.
    Rerun,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TagPlan {
    pub name: String,
    pub action: Action,
    pub reason: Reason,
    /// Taken names of the base's series (locally or on the remote), in order.
    pub taken: Vec<String>,
    pub sign: bool,
    /// The local tag object when reusing.
    pub local_object: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RemotePlan {
    pub name: String,
    /// Whether the tag is pushed there (`--push`) or its tags only count as taken.
    pub push: bool,
    /// The remote's tags could be listed.
    pub listed: bool,
    /// What the remote's tag of the chosen name points at, when it has one.
    pub object: Option<String>,
}

/// What `tag` would do and why.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Plan {
    pub root: PathBuf,
    pub commit: String,
    pub tree: String,
    pub branch: Option<String>,
    pub tag: TagPlan,
    pub remote: Option<RemotePlan>,
    pub checks: Vec<Check>,
    pub overrides: Vec<Override>,
    pub previous_tag: Option<String>,
    pub shallow: bool,
    pub rollback: Vec<RollbackCommit>,
    /// The annotated tag's message.
    pub message: String,
    /// Every check passed or was overridden.
    pub ready: bool,
}

impl Plan {
    /// The checks that failed and were not overridden: what stops `--execute`.
    fn blocking(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.blocks())
    }

    /// The ids of [`Plan::blocking`].
    fn blocking_ids(&self) -> Vec<&'static str> {
        self.blocking().map(|c| c.id).collect()
    }
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct PushResult {
    pub remote: String,
    pub pushed: bool,
    /// The remote had this very tag already (a rerun after a push that landed).
    pub already_there: bool,
    /// After a failure: whether the remote has the tag (None: could not tell).
    pub remote_has_tag: Option<bool>,
    pub error: Option<String>,
    /// What git said when the push failed.
    pub git_stderr: Option<String>,
}

/// What `--execute` did.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Execution {
    /// Not attempted because a check failed.
    pub refused: bool,
    pub created: bool,
    pub reused: bool,
    /// The tag object.
    pub tag_object: Option<String>,
    pub push: Option<PushResult>,
    pub error: Option<String>,
    /// What git said when it refused to create the tag.
    pub git_stderr: Option<String>,
    pub hint: Option<String>,
    /// The exact command that finishes the job.
    pub retry: Option<String>,
}

impl Execution {
    pub fn ok(&self) -> bool {
        !self.refused
            && self.error.is_none()
            && self.push.as_ref().is_none_or(|p| p.error.is_none())
    }
}

/// What a usable gate report must have gated: this root, with this
/// rollout definition.
#[derive(Debug, Clone, Copy)]
pub struct Gated<'a> {
    pub root: &'a Path,
    pub config: &'a Path,
    pub config_sha256: &'a str,
}

/// Whether two paths name the same file or directory.
fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Reads the gate report and checks that it passed for exactly `commit` and
/// `tree`, on the same root and with the same rollout definition.
pub fn gate_check(
    path: &Path,
    commit: &str,
    tree: &str,
    expected: Gated<'_>,
) -> (Check, Option<GateReport>) {
    let shown = path.display();
    let rerun = "run the gate on this commit: cargo xtask gate (or pass --allow-gate)";
    if !path.exists() {
        return (
            Check::fail("gate", format!("no gate report at `{shown}`"), rerun),
            None,
        );
    }
    let report = match GateReport::load(path) {
        Ok(r) => r,
        Err(e) => {
            return (Check::fail("gate", format!("{e:#}"), rerun), None);
        }
    };
    let Some(g) = report.git.clone() else {
        return (
            Check::fail(
                "gate",
                format!(
                    "gate report `{shown}` has no git state (the gated root was not a git repository)"
                ),
                rerun,
            ),
            Some(report),
        );
    };
    let check = provenance_mismatch(&report, &g, commit, tree, expected)
        .unwrap_or_else(|| verdict_check(&report, commit, tree));
    (check, Some(report))
}

/// Why the report did not gate exactly this commit as it is, on this root
/// with this rollout config, if it did not.
fn provenance_mismatch(
    report: &GateReport,
    g: &plumbing::report::GitState,
    commit: &str,
    tree: &str,
    expected: Gated<'_>,
) -> Option<Check> {
    let rerun = "run the gate on this commit: cargo xtask gate (or pass --allow-gate)";
    let check = if !same_path(&report.root, expected.root) {
        Check::fail(
            "gate",
            format!(
                "gate report is for the checkout `{}`, not `{}`",
                report.root.display(),
                expected.root.display()
            ),
            "run the gate on this checkout: cargo xtask gate --root <this checkout> (or pass --allow-gate)",
        )
    } else if let Some(msg) = config_mismatch(report, expected) {
        Check::fail(
            "gate",
            msg,
            "run the gate again with this rollout config: cargo xtask gate (or pass --allow-gate)",
        )
    } else if g.commit != commit {
        Check::fail(
            "gate",
            format!(
                "gate report is for commit {}, HEAD is {}",
                short(&g.commit),
                short(commit)
            ),
            rerun,
        )
    } else if g.tree != tree {
        Check::fail(
            "gate",
            format!(
                "gate report is for tree {}, HEAD's tree is {}",
                short(&g.tree),
                short(tree)
            ),
            rerun,
        )
    } else if g.dirty {
        Check::fail(
            "gate",
            format!(
                "gate ran on {} with uncommitted changes, so it did not test this commit as is",
                short(commit)
            ),
            "commit or stash the changes, then run cargo xtask gate again (or pass --allow-gate)",
        )
    } else {
        return None;
    };
    Some(check)
}

/// The `gate` check of a report made for this very commit: its verdict,
/// and whether the whole gate ran.
fn verdict_check(report: &GateReport, commit: &str, tree: &str) -> Check {
    if let Some(what) = report
        .partial_selection()
        .filter(|_| report.verdict == GateVerdict::Pass)
    {
        Check::fail(
            "gate",
            format!(
                "gate for {} passed, but only a selection ran ({what})",
                short(commit)
            ),
            "run the whole gate on this commit: cargo xtask gate (or pass --allow-gate)",
        )
    } else if report.verdict != GateVerdict::Pass {
        let failed: Vec<String> = report
            .steps
            .iter()
            .filter(|s| s.status.fails_the_gate())
            .map(|s| format!("{}: {}", s.id, s.summary))
            .collect();
        Check::fail(
            "gate",
            format!(
                "gate verdict for {} is {}",
                short(commit),
                format!("{:?}", report.verdict).to_lowercase()
            ),
            "fix the failing steps and run cargo xtask gate again (or pass --allow-gate)",
        )
        .details(failed)
    } else {
        Check::pass(
            "gate",
            format!(
                "gate passed for {} (tree {}): {} steps, started {}",
                short(commit),
                short(tree),
                report.ran(),
                report.started_at
            ),
        )
    }
}

/// Why the report's rollout definition is not the one in use, if it is not.
fn config_mismatch(report: &GateReport, expected: Gated<'_>) -> Option<String> {
    let Some(used) = &report.config else {
        return Some(
            "gate report does not record which rollout config it ran with (made by an older version)"
                .into(),
        );
    };
    if !same_path(&used.path, expected.config) {
        return Some(format!(
            "gate ran with the rollout config `{}`, this uses `{}`",
            used.path.display(),
            expected.config.display()
        ));
    }
    if used.sha256 != expected.config_sha256 {
        return Some(format!(
            "gate ran with another version of `{}` (sha256 {}, now {})",
            expected.config.display(),
            short(&used.sha256),
            short(expected.config_sha256)
        ));
    }
    None
}

/// Makes the plan: resolves the name, runs every check, builds the message.
pub fn plan(sh: &Shell, ctx: &Context, args: &Args) -> Result<Plan> {
    let s = &ctx.settings;
    let rel = &s.config.release;
    let root = s.checkout()?;
    let git = Git::open(sh, root)?
        .with_network_timeout(rel.network_timeout.0)
        .with_local_timeout(rel.git_timeout.0);
    let commit = git.commit("HEAD")?;
    let tree = git.tree(&commit)?;
    let branch = git.branch()?;
    let mut checks = vec![
        clean_check(&git, rel)?,
        branch_check(branch.as_deref(), &commit, rel),
    ];
    let (gate, report) = gate_check(
        &report_path(&s.rollout_dir()),
        &commit,
        &tree,
        Gated {
            root: &s.root.value,
            config: &s.config.path,
            config_sha256: &s.config.sha256,
        },
    );
    checks.push(gate);
    let teams = signoff::evaluate(&git, rel, &commit)?;
    checks.push(signoff_check(&git, rel, &teams, &commit)?);
    let named = choose_name(&git, rel, args, &commit)?;
    checks.push(named.check);
    let history = history(&git, rel, &commit, &named.at_head)?;
    checks.push(history.check);
    let overrides = apply_overrides(&mut checks, args);
    let ready = !checks.iter().any(Check::blocks);

    let message = message::build(&message::Input {
        name: &named.tag.name,
        commit: &commit,
        branch: branch.as_deref(),
        gate: report.as_ref(),
        signoffs: &teams,
        overrides: &overrides,
        previous: history.previous.as_deref(),
        facade_paths: &rel.facade_paths,
        rollback: &history.rollback,
    });

    Ok(Plan {
        root: root.to_path_buf(),
        commit,
        tree,
        branch,
        tag: TagPlan {
            sign: args.sign,
            ..named.tag
        },
        remote: named.remote,
        checks,
        overrides,
        previous_tag: history.previous,
        shallow: history.shallow,
        rollback: history.rollback,
        message,
        ready,
    })
}

/// Whether the working tree is clean.
fn clean_check(git: &Git<'_>, rel: &ReleaseSection) -> Result<Check> {
    let dirty = git.status(rel.untracked_dirty)?;
    if dirty.is_empty() {
        return Ok(Check::pass(
            "clean",
            if rel.untracked_dirty {
                "no uncommitted changes or untracked files"
            } else {
                "no uncommitted changes to tracked files"
            },
        ));
    }
    let count = dirty.len();
    Ok(Check::fail(
        "clean",
        format!(
            "{count} uncommitted change{} in the working tree",
            if count == 1 { "" } else { "s" }
        ),
        "commit or stash them (git stash), or pass --allow-dirty",
    )
    .details(limit(dirty, 10)))
}

/// Whether HEAD is on a branch releases are tagged from.
fn branch_check(branch: Option<&str>, commit: &str, rel: &ReleaseSection) -> Check {
    match branch {
        Some(name) if rel.tag_branches.iter().any(|t| t == name) => {
            Check::pass("branch", format!("HEAD is on {name}"))
        }
        Some(name) => Check::fail(
            "branch",
            format!(
                "HEAD is on {name}, not on a tag branch ({})",
                rel.tag_branches.join(", ")
            ),
            format!(
                "git switch {} and merge the release there, or pass --allow-branch",
                rel.main_branch
            ),
        ),
        None => Check::fail(
            "branch",
            format!("HEAD is detached at {}", short(commit)),
            format!(
                "check out a tag branch ({}): git switch {}, or pass --allow-branch",
                rel.tag_branches.join(", "),
                rel.main_branch
            ),
        ),
    }
}

/// Whether every team signed off this commit.
fn signoff_check(
    git: &Git<'_>,
    rel: &ReleaseSection,
    teams: &[signoff::TeamStatus],
    commit: &str,
) -> Result<Check> {
    let missing: Vec<&signoff::TeamStatus> = teams
        .iter()
        .filter(|t| t.state != TeamState::Valid)
        .collect();
    if missing.is_empty() {
        return Ok(Check::pass(
            "signoff",
            format!(
                "all {} teams signed off ({})",
                teams.len(),
                teams
                    .iter()
                    .map(|t| t.team.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let ids: Vec<&str> = missing.iter().map(|t| t.team.as_str()).collect();
    let fetch = if git.ref_exists(&rel.signoff_ref)? {
        String::new()
    } else {
        format!(
            "this checkout has no sign-offs at all (`{r}` is absent): fetch them with `git fetch {remote} {r}:{r}`, or ",
            r = rel.signoff_ref,
            remote = rel.remote
        )
    };
    Ok(Check::fail(
        "signoff",
        format!(
            "{} of {} teams have no valid sign-off: {}",
            missing.len(),
            teams.len(),
            ids.join(", ")
        ),
        format!(
            "{fetch}each team confirms its checklist and runs: cargo xtask signoff TEAM --commit {} (for example cargo xtask signoff {}), or pass --allow-signoff",
            short(commit),
            ids[0]
        ),
    )
    .details(missing.iter().map(|t| signoff::describe(t, commit)).collect()))
}

/// The tag name chosen, where it may be pushed, and the `tag-name` check.
struct Named {
    tag: TagPlan,
    remote: Option<RemotePlan>,
    check: Check,
    /// Tags at HEAD, the chosen name included: the history skips them.
    at_head: Vec<String>,
}

/// The local and remote tags a name must not collide with.
struct Taken<'a> {
    git: &'a Git<'a>,
    commit: &'a str,
    locals: Vec<LocalTag>,
    remote: Option<&'a BTreeMap<String, String>>,
    remote_name: Option<&'a str>,
    /// The next free name of the base's series.
    next: String,
}

impl Taken<'_> {
    /// A tag an earlier run of `tag` made at HEAD, which a rerun reuses.
    fn ours_at_head(&self, tag: &LocalTag) -> Result<bool> {
        Ok(tag.annotated
            && tag.commit == self.commit
            && self.git.tag_message(&tag.name)?.contains(MARKER))
    }
}

/// Resolves the tag name: `--name`, an earlier run's tag at HEAD, the base
/// name, or the next free one; then checks it against the remote.
fn choose_name(git: &Git<'_>, rel: &ReleaseSection, args: &Args, commit: &str) -> Result<Named> {
    if let Some(remote) = &args.push {
        // Before anything reaches git: `--push=--upload-pack=CMD` would run CMD.
        plumbing::git::operand(remote, "`--push`")?;
    }
    let locals = git.local_tags()?;
    let known_remotes = git.remotes()?;
    let remote_name = match &args.push {
        Some(remote) => Some(remote.clone()),
        None => known_remotes.iter().find(|r| **r == rel.remote).cloned(),
    };
    let remote_tags: Option<Result<BTreeMap<String, String>, String>> =
        remote_name.as_ref().map(|remote| git.remote_tags(remote));
    let remote_map = remote_tags.as_ref().and_then(|listed| listed.as_ref().ok());
    let mut taken_names: Vec<&str> = locals.iter().map(|t| t.name.as_str()).collect();
    if let Some(map) = remote_map {
        taken_names.extend(map.keys().map(String::as_str));
    }
    let (next, taken) = naming::next_free(&rel.base_tag, taken_names.iter().copied());
    let known = Taken {
        git,
        commit,
        locals,
        remote: remote_map,
        remote_name: remote_name.as_deref(),
        next,
    };
    let (name, action, reason, local_object) = match &args.name {
        Some(name) => explicit_name(&known, name)?,
        None => automatic_name(&known, rel)?,
    };
    let remote = remote_name.as_ref().map(|remote| RemotePlan {
        name: remote.clone(),
        push: args.push.is_some(),
        listed: remote_map.is_some(),
        object: remote_map.and_then(|map| map.get(&name).cloned()),
    });
    let mut check = name_check(
        &name,
        action,
        local_object.as_deref(),
        &taken,
        remote.as_ref(),
        &remote_tags,
        &rel.remote,
    );
    if let (Some(pushed_to), Some(Err(_))) = (&args.push, &remote_tags)
        && !known_remotes.contains(pushed_to)
    {
        check.hint = check
            .hint
            .take()
            .map(|hint| hint + &unknown_remote(pushed_to, &known_remotes));
    }
    let mut at_head: Vec<String> = known
        .locals
        .iter()
        .filter(|t| t.commit == commit)
        .map(|t| t.name.clone())
        .collect();
    at_head.push(name.clone());
    Ok(Named {
        tag: TagPlan {
            name,
            action,
            reason,
            taken,
            sign: false,
            local_object,
        },
        remote,
        check,
        at_head,
    })
}

type Choice = (String, Action, Reason, Option<String>);

/// `--name NAME`: a valid, free tag name, or the tag an earlier run made at HEAD.
fn explicit_name(known: &Taken<'_>, name: &str) -> Result<Choice> {
    let next = &known.next;
    refuse_shadowing_name(known.git, name, next)?;
    match known.locals.iter().find(|t| t.name == name) {
        Some(tag) if known.ours_at_head(tag)? => Ok((
            name.to_string(),
            Action::Reuse,
            Reason::Rerun,
            Some(tag.object.clone()),
        )),
        Some(tag) => bail!(
            "tag `{name}` already exists locally on {}{}; an existing tag is never moved or replaced\nhint: leave out `--name` to take the next free name ({next}), or choose another name",
            short(&tag.commit),
            if tag.commit == known.commit {
                " (HEAD)"
            } else {
                ""
            }
        ),
        None => {
            if let (Some(map), Some(remote)) = (known.remote, known.remote_name)
                && map.contains_key(name)
            {
                bail!(
                    "tag `{name}` already exists on `{remote}`; an existing tag is never moved or replaced\nhint: leave out `--name` to take the next free name ({next}), or choose another name"
                );
            }
            Ok((name.to_string(), Action::Create, Reason::Explicit, None))
        }
    }
}

/// Refuses a `--name` that git rejects, or that would make another ref
/// ambiguous: `HEAD` and its kin, a full ref path, or a branch's name.
fn refuse_shadowing_name(git: &Git<'_>, name: &str, next: &str) -> Result<()> {
    let hint = format!("hint: use a name such as {next}");
    if !valid_ref_name(name) || !git.tag_name_is_valid(name)? {
        bail!(
            "`--name {name}` is not a valid tag name (git check-ref-format refuses `refs/tags/{name}`)\n{hint}"
        );
    }
    const SPECIAL: [&str; 7] = [
        "HEAD",
        "FETCH_HEAD",
        "ORIG_HEAD",
        "MERGE_HEAD",
        "CHERRY_PICK_HEAD",
        "REVERT_HEAD",
        "BISECT_HEAD",
    ];
    if SPECIAL.contains(&name) || name == "@" {
        bail!(
            "`--name {name}` would shadow git's `{name}`: `git rev-parse {name}` would become ambiguous\n{hint}"
        );
    }
    if name.starts_with("refs/") {
        bail!(
            "`--name {name}` is a full ref path; the tag would be `refs/tags/{name}` and shadow `{name}`\nhint: give the tag's short name, such as {next}"
        );
    }
    if let Some(branch) = git.branches()?.into_iter().find(|b| b == name) {
        bail!(
            "`--name {name}` is the name of the branch `{branch}`: the tag would make `{name}` ambiguous\n{hint}"
        );
    }
    Ok(())
}

/// No `--name`: the newest series tag an earlier run made at HEAD, else the
/// base name when free, else the next free one.
fn automatic_name(known: &Taken<'_>, rel: &ReleaseSection) -> Result<Choice> {
    let series = |tag: &LocalTag| naming::series_index(&rel.base_tag, &tag.name);
    let mut rerun: Option<&LocalTag> = None;
    for tag in &known.locals {
        if series(tag).is_some()
            && known.ours_at_head(tag)?
            && rerun.is_none_or(|best| series(tag) > series(best))
        {
            rerun = Some(tag);
        }
    }
    Ok(match rerun {
        Some(tag) => (
            tag.name.clone(),
            Action::Reuse,
            Reason::Rerun,
            Some(tag.object.clone()),
        ),
        None => {
            let reason = if known.next == rel.base_tag {
                Reason::Base
            } else {
                Reason::Next
            };
            (known.next.clone(), Action::Create, reason, None)
        }
    })
}

/// The hint's tail when `--push` names a remote that is not configured.
fn unknown_remote(remote: &str, known_remotes: &[String]) -> String {
    let mut extra = format!(
        "; `{remote}` is not a configured remote (known: {})",
        if known_remotes.is_empty() {
            "none".to_string()
        } else {
            known_remotes.join(", ")
        }
    );
    if let Some(best) =
        rollout_config::error::closest(remote, known_remotes.iter().map(String::as_str))
    {
        extra.push_str(&format!(", did you mean '{best}'?"));
    }
    extra
}

/// The previous release and the facade commits since it, with the
/// `history` check.
struct History {
    previous: Option<String>,
    shallow: bool,
    rollback: Vec<RollbackCommit>,
    check: Check,
}

fn history(
    git: &Git<'_>,
    rel: &ReleaseSection,
    commit: &str,
    at_head: &[String],
) -> Result<History> {
    let previous = git.previous_tag(commit, &rel.release_tags, at_head)?;
    let shallow = git.is_shallow()?;
    let rollback: Vec<RollbackCommit> = git
        .commits_touching(commit, previous.as_deref(), &rel.facade_paths)?
        .into_iter()
        .map(|(c, subject)| RollbackCommit::new(c, subject))
        .collect();
    let count = rollback.len();
    let counted = format!(
        "{count} facade commit{} to list for rollback",
        if count == 1 { "" } else { "s" }
    );
    let check = match (&previous, shallow) {
        (None, true) => Check::fail(
            "history",
            format!(
                "shallow clone without an earlier release tag ({}) in its history, so the rollback section would miss facade commits",
                rel.release_tags
            ),
            "fetch the full history: git fetch --unshallow --tags, or pass --allow-shallow",
        ),
        (Some(p), true) => Check::pass(
            "history",
            format!("shallow clone, but the previous release {p} is in its history; {counted}"),
        ),
        (Some(p), false) => Check::pass("history", format!("previous release {p}; {counted}")),
        (None, false) => Check::pass(
            "history",
            format!(
                "no earlier release tag ({}); {counted} since the first commit",
                rel.release_tags
            ),
        ),
    };
    Ok(History {
        previous,
        shallow,
        rollback,
        check,
    })
}

/// Marks the failed checks an `--allow-*` flag overrides, and lists them
/// for the tag message.
fn apply_overrides(checks: &mut [Check], args: &Args) -> Vec<Override> {
    let mut overrides = Vec::new();
    for check in checks {
        if check.status == Status::Fail
            && let Some(flag) = args.allowed(check.id)
        {
            check.overridden_by = Some(flag.to_string());
            overrides.push(Override {
                flag: flag.to_string(),
                check: check.id.to_string(),
                summary: check.summary.clone(),
            });
        }
    }
    overrides
}

fn limit(mut lines: Vec<String>, n: usize) -> Vec<String> {
    if lines.len() > n {
        let more = lines.len() - n;
        lines.truncate(n);
        lines.push(format!("… and {more} more"));
    }
    lines
}

fn name_check(
    name: &str,
    action: Action,
    local_object: Option<&str>,
    taken: &[String],
    remote: Option<&RemotePlan>,
    listing: &Option<Result<BTreeMap<String, String>, String>>,
    default_remote: &str,
) -> Check {
    let taken_note = if taken.is_empty() {
        String::new()
    } else {
        format!(" (taken: {})", signoff::list(taken, 4))
    };
    let Some(remote) = remote else {
        let what = match action {
            Action::Create => format!("{name} is free locally{taken_note}"),
            Action::Reuse => format!("reusing {name} at HEAD from an earlier run"),
        };
        return Check::pass(
            "tag-name",
            format!("{what}; no remote `{default_remote}`, so only local tags count"),
        );
    };
    let r = &remote.name;
    if let Some(Err(e)) = listing {
        let summary = format!("cannot list the tags on `{r}`: {e}");
        return if remote.push {
            Check::fail(
                "tag-name",
                summary,
                format!("check the remote's address and access: git ls-remote --tags {r}"),
            )
        } else {
            Check::new(
                "tag-name",
                Status::Warn,
                format!("{name} chosen from local tags only; {summary}"),
            )
        };
    }
    match (action, remote.object.as_deref()) {
        (Action::Create, _) => Check::pass(
            "tag-name",
            format!("{name} is free locally and on `{r}`{taken_note}"),
        ),
        (Action::Reuse, None) => Check::pass(
            "tag-name",
            format!("reusing {name} at HEAD from an earlier run; `{r}` does not have it yet"),
        ),
        (Action::Reuse, Some(o)) if Some(o) == local_object => Check::pass(
            "tag-name",
            format!("{name} at HEAD from an earlier run is already on `{r}`"),
        ),
        (Action::Reuse, Some(o)) => Check::fail(
            "tag-name",
            format!(
                "`{r}` has a different {name} (object {}) than the local one from an earlier run",
                short(o)
            ),
            format!(
                "someone else took {name}: delete the local tag with `git tag -d {name}` and run again to cut the next free name"
            ),
        ),
    }
}

/// Creates (or reuses) the tag and pushes it when asked. Never moves,
/// replaces or force-pushes a tag.
pub fn execute(sh: &Shell, ctx: &Context, plan: &Plan) -> Result<Execution> {
    let mut ex = Execution::default();
    if !plan.ready {
        ex.refused = true;
        let failed = plan.blocking_ids();
        ex.error = Some(format!(
            "refused: check{} failed: {}",
            if failed.len() == 1 { "" } else { "s" },
            failed.join(", ")
        ));
        ex.hint = Some("fix what the checks report, or pass the named --allow-* flag to record an override in the tag message".into());
        return Ok(ex);
    }
    let git = Git::open(sh, &plan.root)?
        .with_network_timeout(ctx.settings.config.release.network_timeout.0)
        .with_local_timeout(ctx.settings.config.release.git_timeout.0);
    let say = |m: String| {
        if ctx.verbosity > Verbosity::Quiet {
            eprintln!("{m}");
        }
    };
    if !create_or_reuse(&git, plan, &mut ex, &say)? {
        return Ok(ex);
    }

    if let Some(remote) = plan.remote.as_ref().filter(|r| r.push) {
        ex.push = Some(push_tag(&git, sh, plan, remote, &mut ex, &say)?);
    }
    Ok(ex)
}

/// Creates the planned tag, or takes the one an earlier run made; false when
/// git refused (the reason is in `ex`).
fn create_or_reuse(
    git: &Git<'_>,
    plan: &Plan,
    ex: &mut Execution,
    say: &dyn Fn(String),
) -> Result<bool> {
    let name = &plan.tag.name;
    match plan.tag.action {
        Action::Reuse => {
            ex.reused = true;
            ex.tag_object = plan.tag.local_object.clone();
        }
        Action::Create => {
            say(format!("creating tag {name} on {}", short(&plan.commit)));
            let kind = if plan.tag.sign { "-s" } else { "-a" };
            let args: Vec<String> = [
                "tag",
                kind,
                "--cleanup=verbatim",
                "-F",
                "-",
                "--end-of-options",
                plumbing::git::operand(name, "the tag name")?,
                plumbing::git::operand(&plan.commit, "the commit")?,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let r = git.act(&args, Some(&plan.message))?;
            if !r.ok {
                ex.error = Some(format!("git refused to create tag `{name}`"));
                ex.git_stderr = Some(r.stderr.clone());
                ex.hint = Some(if r.stderr.contains("already exists") {
                    format!(
                        "{name} was created by someone else after the plan was made; nothing was changed; run the command again to take the next free name"
                    )
                } else if plan.tag.sign {
                    "signing failed: set up a key for git (`git config user.signingkey KEY`, `gpg.format`), or leave out --sign".into()
                } else {
                    "nothing was changed; fix what git reports and run the command again".into()
                });
                return Ok(false);
            }
            ex.created = true;
            ex.tag_object = git.tag_object(name)?;
        }
    }
    Ok(true)
}

/// Pushes the tag, and only it, never forced; after a failure, looks at the
/// remote to say whether it has the tag and how to finish.
fn push_tag(
    git: &Git<'_>,
    git_sh: &Shell,
    plan: &Plan,
    remote: &RemotePlan,
    ex: &mut Execution,
    say: &dyn Fn(String),
) -> Result<PushResult> {
    let name = &plan.tag.name;
    let r = &remote.name;
    let mut push = PushResult {
        remote: r.clone(),
        ..Default::default()
    };
    if remote.object.is_some() && remote.object == ex.tag_object {
        push.already_there = true;
        push.remote_has_tag = Some(true);
        return Ok(push);
    }
    say(format!("pushing tag {name} to {r}"));
    let refspec = format!("refs/tags/{name}:refs/tags/{name}");
    // Only this tag: no `+` (never forced), and no annotated tags that
    // `push.followTags` would add.
    plumbing::git::operand(r, "`--push`")?;
    let out = git.network(cmd!(
        git_sh,
        "git -c protocol.ext.allow=never push --no-follow-tags --end-of-options {r} {refspec}"
    ))?;
    if out.ok {
        push.pushed = true;
        push.remote_has_tag = Some(true);
        return Ok(push);
    }
    let retry = format!("git push {r} refs/tags/{name}");
    push.error = Some(format!("pushing {name} to `{r}` failed"));
    push.git_stderr = Some(out.stderr.clone());
    match git.remote_tags(r) {
        Ok(m) => match m.get(name.as_str()) {
            Some(o) if Some(o) == ex.tag_object.as_ref() => {
                // The push landed although git reported an error.
                push.error = None;
                push.pushed = true;
                push.remote_has_tag = Some(true);
            }
            Some(o) => {
                push.remote_has_tag = Some(true);
                ex.hint = Some(format!(
                    "someone else pushed {name} (object {}); the local tag cannot be pushed under this name: delete it with `git tag -d {name}` and run again to cut the next free name",
                    short(o)
                ));
            }
            None => {
                push.remote_has_tag = Some(false);
                ex.hint = Some(format!(
                    "retry with `{retry}`, or run `cargo xtask tag --execute --push {r}` again (it reuses the local tag)"
                ));
                ex.retry = Some(retry);
            }
        },
        Err(e) => {
            push.git_stderr = Some(format!("{}\n{e}", out.stderr));
            ex.hint = Some(format!(
                "check with `git ls-remote --tags {r} {name}`, then retry with `{retry}` if it is missing"
            ));
            ex.retry = Some(retry);
        }
    }
    Ok(push)
}

#[derive(Serialize, schemars::JsonSchema)]
struct Report<'a> {
    schema: u32,
    /// `dry-run` or `execute`.
    mode: &'a str,
    #[serde(flatten)]
    plan: &'a Plan,
    execution: Option<&'a Execution>,
    verdict: Verdict,
}

/// The JSON Schema of `tag --format json`.
pub fn json_schema() -> schemars::Schema {
    rollout_core::output::json_schema::<Report<'static>>()
}

impl rollout_core::Report for Report<'_> {
    fn human(&self, style: &Style, out: &mut dyn Write) -> Result<()> {
        render(self.plan, self.execution, style, out)
    }
}

/// Plans, executes with `--execute`, and prints the plan and the outcome.
pub fn run(sh: &Shell, ctx: &Context, args: Args, out: &mut dyn Write) -> Result<Verdict> {
    let plan = plan(sh, ctx, &args)?;
    let exec = if args.execute {
        Some(execute(sh, ctx, &plan)?)
    } else {
        None
    };
    let verdict = Verdict::from_ok(match &exec {
        Some(e) => e.ok(),
        None => plan.ready,
    });
    let report = Report {
        schema: SCHEMA,
        mode: if args.execute { "execute" } else { "dry-run" },
        plan: &plan,
        execution: exec.as_ref(),
        verdict,
    };
    rollout_core::emit(&report, ctx.format, &Style::stdout(), out)?;
    Ok(verdict)
}

/// The human report.
pub fn render(
    plan: &Plan,
    exec: Option<&Execution>,
    style: &Style,
    out: &mut dyn Write,
) -> Result<()> {
    let t = &plan.tag;
    writeln!(
        out,
        "tag {} on {} ({}) in {}",
        p(&t.name),
        short(&plan.commit),
        p(plan.branch.as_deref().unwrap_or("detached HEAD")),
        p(&plan.root.display().to_string())
    )?;
    render_checks(&plan.checks, style, out)?;
    let failed = plan.blocking_ids();
    let Some(ex) = exec else {
        return render_dry_run(plan, &failed, out);
    };
    if ex.refused {
        let flags: Vec<&str> = plan.blocking().filter_map(|c| c.override_flag).collect();
        let or = if flags.is_empty() {
            String::new()
        } else {
            format!(", or override with {}", flags.join(" "))
        };
        writeln!(
            out,
            "verdict: FAIL (refused to tag: {} failed; follow the hints above{or})",
            p(&failed.join(", "))
        )?;
        return Ok(());
    }
    render_created(plan, ex, style, out)?;
    if let Some(push) = &ex.push {
        render_push(&t.name, push, style, out)?;
    }
    if let Some(h) = &ex.hint {
        writeln!(out, "     hint: {}", p(h))?;
    }
    if ex.ok() {
        let pushed = match &ex.push {
            Some(push) => format!(" and on `{}`", p(&push.remote)),
            None => String::new(),
        };
        writeln!(
            out,
            "verdict: pass ({} is in place locally{pushed})",
            p(&t.name)
        )?;
    } else {
        writeln!(out, "verdict: FAIL ({} not completed)", p(&t.name))?;
    }
    Ok(())
}

/// `signed` or `annotated`.
fn tag_kind(tag: &TagPlan) -> &'static str {
    if tag.sign { "signed" } else { "annotated" }
}

/// One line per check, with its details and hint when it failed.
fn render_checks(checks: &[Check], style: &Style, out: &mut dyn Write) -> Result<()> {
    for c in checks {
        let word = match (c.status, &c.overridden_by) {
            (Status::Fail, Some(_)) => style.warn(),
            (status, _) => status.word(style),
        };
        let over = c
            .overridden_by
            .as_ref()
            .map(|f| format!(" (overridden by {f})"))
            .unwrap_or_default();
        writeln!(out, "{word} {:<9} {}{over}", c.id, p(&c.summary))?;
        if c.status == Status::Fail {
            for d in &c.details {
                writeln!(out, "     {}", p(d))?;
            }
            if let (Some(h), None) = (&c.hint, &c.overridden_by) {
                writeln!(out, "     hint: {}", p(h))?;
            }
        }
    }
    Ok(())
}

/// A dry run: what `--execute` would do, the message, and the verdict.
fn render_dry_run(plan: &Plan, failed: &[&str], out: &mut dyn Write) -> Result<()> {
    let t = &plan.tag;
    let kind = tag_kind(t);
    let push = match &plan.remote {
        Some(r) if r.push => format!(", then push it to `{}`", p(&r.name)),
        _ => String::new(),
    };
    let act = match t.action {
        Action::Create => format!(
            "create {kind} tag {} on {}{push}",
            p(&t.name),
            short(&plan.commit)
        ),
        Action::Reuse => format!("reuse tag {} from an earlier run{push}", p(&t.name)),
    };
    writeln!(out, "plan: {act}")?;
    writeln!(out, "message:")?;
    for l in plan.message.lines() {
        writeln!(out, "  | {}", p(l))?;
    }
    if plan.ready {
        writeln!(out, "verdict: pass (ready; add --execute to {act})")?;
    } else {
        writeln!(
            out,
            "verdict: FAIL ({} check{} failed: {}; --execute would refuse)",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            p(&failed.join(", "))
        )?;
    }
    Ok(())
}

/// The `create` line of an execution.
fn render_created(plan: &Plan, ex: &Execution, style: &Style, out: &mut dyn Write) -> Result<()> {
    let t = &plan.tag;
    if ex.created {
        writeln!(
            out,
            "{} create    created {} tag {} on {}",
            style.pass(),
            tag_kind(t),
            p(&t.name),
            short(&plan.commit)
        )?;
    } else if ex.reused {
        writeln!(
            out,
            "{} create    reused tag {} from an earlier run",
            style.pass(),
            p(&t.name)
        )?;
    } else if let Some(e) = &ex.error {
        writeln!(
            out,
            "{} create    {}; nothing was changed",
            style.fail(),
            p(e)
        )?;
        quote_git(ex.git_stderr.as_deref(), out)?;
    }
    Ok(())
}

/// The `push` line of an execution.
fn render_push(name: &str, push: &PushResult, style: &Style, out: &mut dyn Write) -> Result<()> {
    let name = p(name);
    let remote = p(&push.remote);
    if push.already_there {
        writeln!(
            out,
            "{} push      `{remote}` already has {name}",
            style.pass(),
        )?;
    } else if push.pushed {
        writeln!(
            out,
            "{} push      pushed {name} to `{remote}`",
            style.pass(),
        )?;
    } else if let Some(e) = &push.error {
        let has = match push.remote_has_tag {
            Some(true) => format!("`{remote}` has a different {name}"),
            Some(false) => format!("`{remote}` does not have {name}"),
            None => format!("cannot tell whether `{remote}` has {name}"),
        };
        writeln!(
            out,
            "{} push      {}; {has}; the local tag is kept",
            style.fail(),
            p(e)
        )?;
        quote_git(push.git_stderr.as_deref(), out)?;
    }
    Ok(())
}

/// Git's own words, one indented line each.
fn quote_git(stderr: Option<&str>, out: &mut dyn Write) -> Result<()> {
    for l in stderr.unwrap_or("").lines() {
        let l = l.trim_end();
        if !l.is_empty() {
            writeln!(out, "     git: {}", p(l))?;
        }
    }
    Ok(())
}

/// Text from data (names, subjects, git's words) made safe for a terminal.
fn p(text: &str) -> std::borrow::Cow<'_, str> {
    rollout_core::printable(text)
}
