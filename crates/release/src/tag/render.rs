//! The human report of `tag`: one line per check, the plan or what
//! `--execute` did, and the verdict line, whose words are also the
//! outcome's summary. Text from data goes through [`p`].

use std::borrow::Cow;
use std::io::Write;

use anyhow::Result;
use rollout_core::{Status, Style};

use super::checks::Check;
use super::execute::{Execution, PushResult};
use super::plan::{Action, Plan, TagPlan};
use crate::signoff::short;

/// How text from data is shown: escaped for a terminal ([`p`]), or as it
/// is ([`raw`]) for the outcome, whose reader escapes it.
pub(super) type Shown = fn(&str) -> Cow<'_, str>;

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
    let Some(ex) = exec else {
        return render_dry_run(plan, out);
    };
    if !ex.refused {
        render_created(plan, ex, style, out)?;
        if let Some(push) = &ex.push {
            render_push(&t.name, push, style, out)?;
        }
        if let Some(h) = &ex.hint {
            writeln!(out, "     hint: {}", p(h))?;
        }
    }
    writeln!(out, "verdict: {}", verdict(plan, exec, p))?;
    Ok(())
}

/// The verdict line after `verdict: `: the word and, in parentheses, why.
pub(super) fn verdict(plan: &Plan, exec: Option<&Execution>, shown: Shown) -> String {
    let ok = match exec {
        Some(ex) => ex.ok(),
        None => plan.ready,
    };
    let word = if ok { "pass" } else { "FAIL" };
    format!("{word} ({})", verdict_reason(plan, exec, shown))
}

/// Why the verdict is what it is, in one line.
pub(super) fn verdict_reason(plan: &Plan, exec: Option<&Execution>, shown: Shown) -> String {
    let t = &plan.tag;
    let failed = plan.blocking_ids();
    let failed_list = plan.blocking_list();
    let Some(ex) = exec else {
        return if plan.ready {
            format!("ready; add --execute to {}", action(plan, shown))
        } else {
            format!(
                "{} check{} failed: {}; --execute would refuse",
                failed.len(),
                if failed.len() == 1 { "" } else { "s" },
                shown(&failed_list)
            )
        };
    };
    if ex.refused {
        let flags: Vec<&str> = plan.blocking().filter_map(|c| c.override_flag).collect();
        let or = if flags.is_empty() {
            String::new()
        } else {
            format!(", or override with {}", flags.join(" "))
        };
        return format!(
            "refused to tag: {} failed; follow the hints above{or}",
            shown(&failed_list)
        );
    }
    if ex.ok() {
        let pushed = match &ex.push {
            Some(push) => format!(" and on `{}`", shown(&push.remote)),
            None => String::new(),
        };
        format!("{} is in place locally{pushed}", shown(&t.name))
    } else {
        format!("{} not completed", shown(&t.name))
    }
}

/// What `--execute` would do.
fn action(plan: &Plan, shown: Shown) -> String {
    let t = &plan.tag;
    let push = match &plan.remote {
        Some(r) if r.push => format!(", then push it to `{}`", shown(&r.name)),
        _ => String::new(),
    };
    match t.action {
        Action::Create => format!(
            "create {} tag {} on {}{push}",
            tag_kind(t),
            shown(&t.name),
            short(&plan.commit)
        ),
        Action::Reuse => format!("reuse tag {} from an earlier run{push}", shown(&t.name)),
    }
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
        writeln!(out, "{word} {:<9} {}{over}", c.id.as_str(), p(&c.summary))?;
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
fn render_dry_run(plan: &Plan, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "plan: {}", action(plan, p))?;
    writeln!(out, "message:")?;
    for l in plan.message.lines() {
        writeln!(out, "  | {}", p(l))?;
    }
    writeln!(out, "verdict: {}", verdict(plan, None, p))?;
    Ok(())
}

/// The `create` line of an execution.
fn render_created(plan: &Plan, ex: &Execution, style: &Style, out: &mut dyn Write) -> Result<()> {
    let Some((status, line)) = create_line(plan, ex, p) else {
        return Ok(());
    };
    writeln!(out, "{} create    {line}", status.word(style))?;
    if status == Status::Fail {
        quote_git(ex.git_stderr.as_deref(), out)?;
    }
    Ok(())
}

/// The `push` line of an execution.
fn render_push(name: &str, push: &PushResult, style: &Style, out: &mut dyn Write) -> Result<()> {
    let (status, line) = push_line(name, push, p);
    let Some(line) = line else {
        return Ok(());
    };
    writeln!(out, "{} push      {line}", status.word(style))?;
    if status == Status::Fail {
        quote_git(push.git_stderr.as_deref(), out)?;
    }
    Ok(())
}

/// The status and words of the `push` step (none when nothing was tried).
pub(super) fn push_line(name: &str, push: &PushResult, shown: Shown) -> (Status, Option<String>) {
    let name = shown(name);
    let remote = shown(&push.remote);
    if push.already_there {
        (Status::Pass, Some(format!("`{remote}` already has {name}")))
    } else if push.pushed {
        (Status::Pass, Some(format!("pushed {name} to `{remote}`")))
    } else if let Some(e) = &push.error {
        let has = match push.remote_has_tag {
            Some(true) => format!("`{remote}` has a different {name}"),
            Some(false) => format!("`{remote}` does not have {name}"),
            None => format!("cannot tell whether `{remote}` has {name}"),
        };
        let line = format!("{}; {has}; the local tag is kept", shown(e));
        (Status::Fail, Some(line))
    } else {
        (Status::Skip, None)
    }
}

/// The status and words of the `create` step (none when nothing was tried).
pub(super) fn create_line(plan: &Plan, ex: &Execution, shown: Shown) -> Option<(Status, String)> {
    let t = &plan.tag;
    if ex.created {
        Some((
            Status::Pass,
            format!(
                "created {} tag {} on {}",
                tag_kind(t),
                shown(&t.name),
                short(&plan.commit)
            ),
        ))
    } else if ex.reused {
        Some((
            Status::Pass,
            format!("reused tag {} from an earlier run", shown(&t.name)),
        ))
    } else {
        ex.error
            .as_ref()
            .map(|e| (Status::Fail, format!("{}; nothing was changed", shown(e))))
    }
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
pub(super) fn p(text: &str) -> Cow<'_, str> {
    rollout_core::printable(text)
}

/// Text from data as it is: for the outcome, whose reader escapes it.
pub(super) fn raw(text: &str) -> Cow<'_, str> {
    Cow::Borrowed(text)
}
