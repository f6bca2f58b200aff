//! `cargo xtask tag`: plan the release tag and its checks (dry run), or with
//! `--execute` create it, and with `--push REMOTE` push it.
//!
//! By concern: `checks` (the checks' ids and the flags that override them,
//! the clean, branch, gate and sign-off checks), `name` (the choice of the
//! name and the `tag-name` check), `history` (the rollback section and the
//! `history` check), `plan` (what would be done), `execute` (creating and
//! pushing) and `render` (the human report). This file holds the settings,
//! [`run`] and the report with its [`Outcome`].

mod checks;
mod execute;
mod history;
mod name;
mod plan;
mod render;

use anyhow::Result;
use rollout_config::Context;
use rollout_core::{Outcome, Style, Verdict};
use serde::Serialize;
use xshell::Shell;

pub use checks::{Check, CheckId, Gated, gate_check};
pub use execute::{Execution, PushResult, execute};
pub use plan::{Action, Plan, Reason, RemotePlan, TagPlan, plan};
pub use render::render;
/// A check's status: the workspace's shared vocabulary.
pub use rollout_core::Status;

/// Version of the JSON document's shape.
pub const SCHEMA: u32 = 1;

/// What `tag` runs with, every value resolved (the command line's
/// `--execute`, `--name`, `--push`, `--sign` and `--allow-*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Create the tag; without it, only plan and check.
    pub execute: bool,
    /// The tag name; `None`: `release.base_tag`, else the next free one.
    pub name: Option<String>,
    /// Push the tag, and only it, to this remote (never forced).
    pub push: Option<String>,
    /// Sign the tag (`git tag -s`).
    pub sign: bool,
    /// The checks whose failure `--execute` goes past, each written into
    /// the tag message with its [`CheckId::override_flag`].
    pub allowed: Vec<CheckId>,
}

impl Settings {
    /// The flag that lets a failure of `check` pass, when it was given.
    pub fn allows(&self, check: CheckId) -> Option<&'static str> {
        check
            .override_flag()
            .filter(|_| self.allowed.contains(&check))
    }
}

/// Plans, executes with `--execute`, prints the plan and what was done on
/// `ctx.out`, and returns the outcome: one check per release check, then
/// `create` and `push` when they ran.
pub fn run(ctx: &Context, settings: Settings) -> Result<Outcome> {
    run_with(&Shell::new()?, ctx, settings)
}

/// [`run`] with git started from `sh`, whose environment it gets (tests
/// give git an isolated configuration this way).
pub fn run_with(sh: &Shell, ctx: &Context, settings: Settings) -> Result<Outcome> {
    let plan = plan(sh, ctx, &settings)?;
    let exec = if settings.execute {
        Some(execute(sh, ctx, &plan)?)
    } else {
        None
    };
    let report = Report::new(&plan, exec.as_ref());
    let style = ctx.out.style();
    rollout_core::emit(&report, ctx.format, &style, &mut *ctx.out.lock())?;
    Ok(report.outcome())
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
    fn human(&self, style: &Style, out: &mut dyn std::io::Write) -> Result<()> {
        render(self.plan, self.execution, style, out)
    }
}

impl<'a> Report<'a> {
    fn new(plan: &'a Plan, execution: Option<&'a Execution>) -> Self {
        let verdict = Verdict::from_ok(match execution {
            Some(e) => e.ok(),
            None => plan.ready,
        });
        Self {
            schema: SCHEMA,
            mode: if execution.is_some() {
                "execute"
            } else {
                "dry-run"
            },
            plan,
            execution,
            verdict,
        }
    }

    /// The outcome: the verdict, the verdict line's reason as summary, the
    /// release checks (an overridden failure warns), then `create` and
    /// `push` when `--execute` got that far.
    fn outcome(&self) -> Outcome {
        let mut checks: Vec<rollout_core::Check> =
            self.plan.checks.iter().map(Check::to_check).collect();
        if let Some(ex) = self.execution.filter(|ex| !ex.refused) {
            checks.extend(execution_checks(self.plan, ex));
        }
        let summary = render::verdict_reason(self.plan, self.execution, render::raw);
        Outcome::new(self.verdict, summary).with_checks(checks)
    }
}

/// The `create` and `push` checks of an execution that was not refused;
/// git's words and the hint go to the one that failed.
fn execution_checks(plan: &Plan, ex: &Execution) -> Vec<rollout_core::Check> {
    let git_lines = |stderr: Option<&str>| -> Vec<String> {
        stderr
            .unwrap_or("")
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .map(|l| format!("git: {l}"))
            .collect()
    };
    let mut checks = Vec::new();
    if let Some((status, line)) = render::create_line(plan, ex, render::raw) {
        let details = if status == Status::Fail {
            git_lines(ex.git_stderr.as_deref())
        } else {
            Vec::new()
        };
        checks.push(rollout_core::Check::new("create", status, line).with_details(details));
    }
    if let Some(push) = &ex.push
        && let (status, Some(line)) = render::push_line(&plan.tag.name, push, render::raw)
    {
        let details = if status == Status::Fail {
            git_lines(push.git_stderr.as_deref())
        } else {
            Vec::new()
        };
        checks.push(rollout_core::Check::new("push", status, line).with_details(details));
    }
    if let (Some(hint), Some(last)) = (&ex.hint, checks.last_mut())
        && last.status == Status::Fail
    {
        last.details.push(format!("hint: {hint}"));
    }
    checks
}
