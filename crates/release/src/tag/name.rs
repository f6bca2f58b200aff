//! The choice of the tag's name (`--name`, an earlier run's tag at HEAD,
//! the base name, or the next free one) against the local tags and the
//! remote's, and the `tag-name` check.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use plumbing::git::{Git, LocalTag};
use rollout_config::model::{ReleaseSection, valid_ref_name};
use rollout_core::Status;

use super::Settings;
use super::checks::{Check, CheckId};
use super::plan::{Action, Reason, RemotePlan, TagPlan};
use crate::message::MARKER;
use crate::naming;
use crate::signoff::{self, short};

/// A remote's tags (name to object), or why they could not be listed.
type RemoteTags = Result<BTreeMap<String, String>, plumbing::git::ListingError>;

/// The tag name chosen, where it may be pushed, and the `tag-name` check.
pub(super) struct Named {
    pub tag: TagPlan,
    pub remote: Option<RemotePlan>,
    pub check: Check,
    /// Tags at HEAD, the chosen name included: the history skips them.
    pub at_head: Vec<String>,
}

/// The tags a name is chosen among: the local ones, and the remote's (the
/// `--push` remote, else `release.remote` when it is configured).
struct Listing {
    locals: Vec<LocalTag>,
    known_remotes: Vec<String>,
    remote_name: Option<String>,
    /// `None` when there is no remote to ask.
    remote_tags: Option<RemoteTags>,
}

/// The local and remote tags a name must not collide with.
struct Taken<'a> {
    git: &'a Git<'a>,
    commit: &'a str,
    locals: &'a [LocalTag],
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

/// Lists the local tags, the remotes and the tags of the remote that
/// counts; a `--push` value is refused before anything reaches git.
fn list_tags(git: &Git<'_>, rel: &ReleaseSection, push: Option<&str>) -> Result<Listing> {
    if let Some(remote) = push {
        // Before anything reaches git: `--push=--upload-pack=CMD` would run CMD.
        plumbing::git::operand(remote, "`--push`")?;
    }
    let locals = git.local_tags()?;
    let known_remotes = git.remotes()?;
    let remote_name = match push {
        Some(remote) => Some(remote.to_string()),
        None => known_remotes.iter().find(|r| **r == rel.remote).cloned(),
    };
    let remote_tags = remote_name.as_ref().map(|remote| git.remote_tags(remote));
    Ok(Listing {
        locals,
        known_remotes,
        remote_name,
        remote_tags,
    })
}

/// Resolves the tag name: `--name`, an earlier run's tag at HEAD, the base
/// name, or the next free one; then checks it against the remote.
pub(super) fn choose_name(
    git: &Git<'_>,
    rel: &ReleaseSection,
    settings: &Settings,
    commit: &str,
) -> Result<Named> {
    let listing = list_tags(git, rel, settings.push.as_deref())?;
    let remote_map = listing
        .remote_tags
        .as_ref()
        .and_then(|listed| listed.as_ref().ok());
    let mut taken_names: Vec<&str> = listing.locals.iter().map(|t| t.name.as_str()).collect();
    if let Some(map) = remote_map {
        taken_names.extend(map.keys().map(String::as_str));
    }
    let (next, taken) = naming::next_free(&rel.base_tag, taken_names.iter().copied());
    let known = Taken {
        git,
        commit,
        locals: &listing.locals,
        remote: remote_map,
        remote_name: listing.remote_name.as_deref(),
        next,
    };
    let (name, action, reason, local_object) = match &settings.name {
        Some(name) => explicit_name(&known, name)?,
        None => automatic_name(&known, rel)?,
    };
    let remote = listing.remote_name.as_ref().map(|remote| RemotePlan {
        name: remote.clone(),
        push: settings.push.is_some(),
        listed: remote_map.is_some(),
        object: remote_map.and_then(|map| map.get(&name).cloned()),
    });
    let tag = TagPlan {
        name,
        action,
        reason,
        taken,
        sign: settings.sign,
        local_object,
    };
    let mut check = name_check(
        &tag,
        remote.as_ref(),
        listing.remote_tags.as_ref(),
        &rel.remote,
    );
    if let (Some(pushed_to), Some(Err(_))) = (&settings.push, &listing.remote_tags)
        && !listing.known_remotes.contains(pushed_to)
    {
        check.hint = check
            .hint
            .take()
            .map(|hint| hint + &unknown_remote(pushed_to, &listing.known_remotes));
    }
    let mut at_head: Vec<String> = listing
        .locals
        .iter()
        .filter(|t| t.commit == commit)
        .map(|t| t.name.clone())
        .collect();
    at_head.push(tag.name.clone());
    Ok(Named {
        tag,
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
    for tag in known.locals {
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

/// The `tag-name` check: the chosen name is free locally and on the remote
/// (or is this run's own tag from an earlier run).
fn name_check(
    tag: &TagPlan,
    remote: Option<&RemotePlan>,
    listing: Option<&RemoteTags>,
    default_remote: &str,
) -> Check {
    let name = &tag.name;
    let taken_note = if tag.taken.is_empty() {
        String::new()
    } else {
        format!(" (taken: {})", signoff::list(&tag.taken, 4))
    };
    let Some(remote) = remote else {
        let what = match tag.action {
            Action::Create => format!("{name} is free locally{taken_note}"),
            Action::Reuse => format!("reusing {name} at HEAD from an earlier run"),
        };
        return Check::pass(
            CheckId::TagName,
            format!("{what}; no remote `{default_remote}`, so only local tags count"),
        );
    };
    let r = &remote.name;
    if let Some(Err(e)) = listing {
        let summary = format!("cannot list the tags on `{r}`: {e}");
        return if remote.push {
            Check::fail(
                CheckId::TagName,
                summary,
                format!("check the remote's address and access: git ls-remote --tags {r}"),
            )
        } else {
            Check::new(
                CheckId::TagName,
                Status::Warn,
                format!("{name} chosen from local tags only; {summary}"),
            )
        };
    }
    let local_object = tag.local_object.as_deref();
    match (tag.action, remote.object.as_deref()) {
        (Action::Create, _) => Check::pass(
            CheckId::TagName,
            format!("{name} is free locally and on `{r}`{taken_note}"),
        ),
        (Action::Reuse, None) => Check::pass(
            CheckId::TagName,
            format!("reusing {name} at HEAD from an earlier run; `{r}` does not have it yet"),
        ),
        (Action::Reuse, Some(o)) if Some(o) == local_object => Check::pass(
            CheckId::TagName,
            format!("{name} at HEAD from an earlier run is already on `{r}`"),
        ),
        (Action::Reuse, Some(o)) => Check::fail(
            CheckId::TagName,
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
