//! `--execute`: creating the planned tag (or taking the one an earlier run
//! made) and, with `--push`, pushing it and only it. Never moves, replaces
//! or force-pushes a tag; every value reaches git as an operand.

use anyhow::Result;
use plumbing::git::Git;
use rollout_config::Context;
use rollout_core::Verbosity;
use serde::Serialize;
use xshell::{Shell, cmd};

use super::plan::{Action, Plan, RemotePlan};
use crate::signoff::short;

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
            plan.blocking_list()
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
    let tagger = Tagger {
        git,
        sh,
        plan,
        say: &say,
    };
    if !tagger.create_or_reuse(&mut ex)? {
        return Ok(ex);
    }
    if let Some(remote) = plan.remote.as_ref().filter(|r| r.push) {
        ex.push = Some(tagger.push_tag(remote, &mut ex)?);
    }
    Ok(ex)
}

/// What executing a plan works with: git on the plan's root, the shell its
/// network commands are built in, and where progress goes.
struct Tagger<'a> {
    git: Git<'a>,
    sh: &'a Shell,
    plan: &'a Plan,
    say: &'a dyn Fn(String),
}

impl Tagger<'_> {
    /// Creates the planned tag, or takes the one an earlier run made; false
    /// when git refused (the reason is in `ex`).
    fn create_or_reuse(&self, ex: &mut Execution) -> Result<bool> {
        let plan = self.plan;
        let name = &plan.tag.name;
        match plan.tag.action {
            Action::Reuse => {
                ex.reused = true;
                ex.tag_object = plan.tag.local_object.clone();
            }
            Action::Create => {
                (self.say)(format!("creating tag {name} on {}", short(&plan.commit)));
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
                let r = self.git.act(&args, Some(&plan.message))?;
                if !r.ok {
                    ex.error = Some(format!("git refused to create tag `{name}`"));
                    ex.git_stderr = Some(r.stderr.clone());
                    ex.hint = Some(refused_hint(plan, &r.stderr));
                    return Ok(false);
                }
                ex.created = true;
                ex.tag_object = self.git.tag_object(name)?;
            }
        }
        Ok(true)
    }

    /// Pushes the tag, and only it, never forced; after a failure, looks at
    /// the remote to say whether it has the tag and how to finish.
    fn push_tag(&self, remote: &RemotePlan, ex: &mut Execution) -> Result<PushResult> {
        let name = &self.plan.tag.name;
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
        (self.say)(format!("pushing tag {name} to {r}"));
        let refspec = format!("refs/tags/{name}:refs/tags/{name}");
        // Only this tag: no `+` (never forced), and no annotated tags that
        // `push.followTags` would add.
        plumbing::git::operand(r, "`--push`")?;
        let sh = self.sh;
        let out = self.git.network(cmd!(
            sh,
            "git -c protocol.ext.allow=never push --no-follow-tags --end-of-options {r} {refspec}"
        ))?;
        if out.ok {
            push.pushed = true;
            push.remote_has_tag = Some(true);
            return Ok(push);
        }
        push.error = Some(format!("pushing {name} to `{r}` failed"));
        push.git_stderr = Some(out.stderr.clone());
        self.after_failed_push(&mut push, &out.stderr, ex);
        Ok(push)
    }

    /// After git reported a failed push: whether the remote has the tag
    /// after all (the push landed), has another one, or lacks it, and the
    /// hint and retry command for each.
    fn after_failed_push(&self, push: &mut PushResult, stderr: &str, ex: &mut Execution) {
        let name = &self.plan.tag.name;
        let r = push.remote.clone();
        let retry = format!("git push {r} refs/tags/{name}");
        match self.git.remote_tags(&r) {
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
                push.git_stderr = Some(format!("{stderr}\n{e}"));
                ex.hint = Some(format!(
                    "check with `git ls-remote --tags {r} {name}`, then retry with `{retry}` if it is missing"
                ));
                ex.retry = Some(retry);
            }
        }
    }
}

/// The hint when git refused to create the tag.
fn refused_hint(plan: &Plan, stderr: &str) -> String {
    let name = &plan.tag.name;
    if stderr.contains("already exists") {
        format!(
            "{name} was created by someone else after the plan was made; nothing was changed; run the command again to take the next free name"
        )
    } else if plan.tag.sign {
        "signing failed: set up a key for git (`git config user.signingkey KEY`, `gpg.format`), or leave out --sign".into()
    } else {
        "nothing was changed; fix what git reports and run the command again".into()
    }
}
