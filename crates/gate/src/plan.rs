//! Which steps run, in what order, with which arguments: the configured steps
//! filtered by `--steps`/`--skip`, their needs pulled in, placeholders filled.
//! Pure: data in, data out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Result, bail};
use rollout_config::model::{Step, StepKind};
use rollout_core::Selection;

/// Values of the placeholders in step commands: those every command line
/// may use (from [`rollout_config::Settings::placeholders`]) plus the gate's
/// `{suite...}`.
#[derive(Debug, Clone)]
pub(crate) struct Vars {
    common: BTreeMap<String, Vec<String>>,
    /// Arguments for `{suite...}`: empty for the full suite.
    suite: Vec<String>,
}

impl Vars {
    pub(crate) fn new(common: BTreeMap<String, Vec<String>>, suite: Vec<String>) -> Self {
        Self { common, suite }
    }

    fn get(&self, name: &str) -> Option<Vec<String>> {
        match name {
            "suite" => Some(self.suite.clone()),
            _ => self.common.get(name).cloned(),
        }
    }

    /// A path-valued placeholder (`root`, `python`, `capture_dir`, …).
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.common
            .get(name)
            .and_then(|v| v.first())
            .map(PathBuf::from)
            .unwrap_or_default()
    }

    /// Fills placeholders in a single string (cwd, env values).
    pub(crate) fn fill(&self, text: &str) -> Result<String, rollout_config::error::InvalidValue> {
        let line = rollout_config::model::CommandLine {
            raw: text.to_string(),
            argv: vec![text.to_string()],
        };
        Ok(line.expand(&|n| self.get(n))?.join(" "))
    }
}

/// A step ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub step: Step,
    /// Program and arguments, placeholders filled (command kinds only).
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    /// Files a built-in step reads, placeholders filled, relative to the
    /// Townlet root: the candidate of `baseline-diff`, the inputs of
    /// `monitor`.
    pub inputs: Vec<PathBuf>,
    /// Needs that are part of this run.
    pub needs: Vec<String>,
    /// Pulled in because a selected step needs it.
    pub implied: bool,
}

/// A step left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Left {
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub run: Vec<Planned>,
    pub left_out: Vec<Left>,
}

pub(crate) fn plan(steps: &[Step], sel: &Selection, vars: &Vars) -> Result<Plan> {
    let ids: BTreeSet<&str> = steps.iter().map(|s| s.id.as_str()).collect();
    for id in sel.steps.iter().chain(&sel.skip) {
        if !ids.contains(id.as_str()) {
            let mut msg = format!("no gate step '{id}'");
            if let Some(best) = rollout_config::error::closest(id, ids.iter().copied()) {
                msg.push_str(&format!(", did you mean '{best}'?"));
            }
            bail!(
                "{msg}\nhint: the steps are: {}",
                ids.iter().copied().collect::<Vec<_>>().join(", ")
            );
        }
    }
    let by_id: BTreeMap<&str, &Step> = steps.iter().map(|s| (s.id.as_str(), s)).collect();

    // Selected steps and, transitively, what they need.
    let mut chosen: BTreeSet<&str> = if sel.steps.is_empty() {
        ids.clone()
    } else {
        sel.steps.iter().map(String::as_str).collect()
    };
    let explicitly: BTreeSet<&str> = chosen.clone();
    let mut stack: Vec<&str> = chosen.iter().copied().collect();
    while let Some(id) = stack.pop() {
        for need in &by_id[id].needs {
            if chosen.insert(need.as_str()) {
                stack.push(need.as_str());
            }
        }
    }
    // Skipped steps, and everything that needs them.
    let mut skipped: BTreeMap<&str, String> = BTreeMap::new();
    for s in &sel.skip {
        skipped.insert(s.as_str(), "skipped with --skip".to_string());
    }
    loop {
        let before = skipped.len();
        for step in steps {
            if skipped.contains_key(step.id.as_str()) {
                continue;
            }
            if let Some(need) = step.needs.iter().find(|n| skipped.contains_key(n.as_str())) {
                skipped.insert(
                    step.id.as_str(),
                    format!("needs '{need}', which is skipped"),
                );
            }
        }
        if skipped.len() == before {
            break;
        }
    }

    let mut run = Vec::new();
    let mut left_out = Vec::new();
    for step in steps {
        let id = step.id.as_str();
        if let Some(reason) = skipped.get(id) {
            left_out.push(Left {
                id: id.to_string(),
                reason: reason.clone(),
            });
            continue;
        }
        if !chosen.contains(id) {
            left_out.push(Left {
                id: id.to_string(),
                reason: "not selected with --steps".to_string(),
            });
            continue;
        }
        run.push(planned(step, vars, !explicitly.contains(id))?);
    }
    Ok(Plan { run, left_out })
}

/// One selected step with its placeholders filled.
fn planned(step: &Step, vars: &Vars, implied: bool) -> Result<Planned> {
    let id = step.id.as_str();
    let argv = match (&step.command, step.kind) {
        (Some(c), StepKind::Command | StepKind::TerminalSmoke) => c
            .expand(&|n| vars.get(n))
            .map_err(|e| anyhow::anyhow!("gate step '{id}': {e}"))?,
        _ => Vec::new(),
    };
    let cwd = match &step.cwd {
        Some(c) => vars.path("root").join(
            vars.fill(c)
                .map_err(|e| anyhow::anyhow!("gate step '{id}' cwd: {e}"))?,
        ),
        None => vars.path("root"),
    };
    let mut env = BTreeMap::new();
    for (k, v) in &step.env {
        env.insert(
            k.clone(),
            vars.fill(v)
                .map_err(|e| anyhow::anyhow!("gate step '{id}' env {k}: {e}"))?,
        );
    }
    let fill_path = |text: &str| -> Result<PathBuf> {
        let filled = vars
            .fill(text)
            .map_err(|e| anyhow::anyhow!("gate step '{id}': {e}"))?;
        Ok(rollout_config::model::normalize(
            &vars.path("root").join(filled),
        ))
    };
    let inputs = match step.kind {
        StepKind::BaselineDiff => vec![match &step.candidate {
            Some(c) => fill_path(c)?,
            None => vars.path("capture_dir"),
        }],
        StepKind::Monitor => step
            .inputs
            .iter()
            .map(|i| fill_path(i))
            .collect::<Result<_>>()?,
        _ => Vec::new(),
    };
    Ok(Planned {
        step: step.clone(),
        argv,
        inputs,
        cwd,
        env,
        needs: step.needs.clone(),
        implied,
    })
}

/// Describes a planned step for people: its command or its built-in kind.
pub(crate) fn describe(p: &Planned) -> String {
    match p.step.kind {
        StepKind::Command | StepKind::TerminalSmoke => p.argv.join(" "),
        kind => format!("built-in {}", kind.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn steps(yaml: &str) -> Vec<Step> {
        let cfg = rollout_config::RolloutConfig::parse(yaml, Path::new("/w/configs/rollout.yaml"))
            .expect("config");
        cfg.file.gate.steps.clone()
    }

    fn vars() -> Vars {
        let common = [
            ("python", "/t/.venv/bin/python"),
            ("root", "/t"),
            ("workspace", "/w"),
            ("capture_dir", "/w/target/rollout/capture"),
            ("log_dir", "/w/target/rollout/gate"),
        ];
        Vars::new(
            common
                .iter()
                .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                .collect(),
            vec![],
        )
    }

    const STEPS: &str = "gate:\n  steps:\n    - id: capture\n      command: \"{python} run.py --out {capture_dir}/t.jsonl\"\n    - id: diff\n      kind: baseline-diff\n      needs: [capture]\n    - id: pytest\n      command: \"{python} -m pytest {suite...}\"\n      env: {PYTHONPATH: \"{root}/src\"}\n      cwd: sub\n";

    #[test]
    fn fills_placeholders_everywhere() {
        let p = plan(&steps(STEPS), &Selection::default(), &vars()).expect("plan");
        assert_eq!(
            p.run[0].argv,
            [
                "/t/.venv/bin/python",
                "run.py",
                "--out",
                "/w/target/rollout/capture/t.jsonl"
            ]
        );
        assert_eq!(p.run[2].argv, ["/t/.venv/bin/python", "-m", "pytest"]);
        assert_eq!(p.run[2].env["PYTHONPATH"], "/t/src");
        assert_eq!(p.run[2].cwd, PathBuf::from("/t/sub"));
        let mut v = vars();
        v.suite = vec!["tests/test_a.py".into()];
        let p = plan(&steps(STEPS), &Selection::default(), &v).expect("plan");
        assert_eq!(
            p.run[2].argv.last().map(String::as_str),
            Some("tests/test_a.py")
        );
    }

    #[test]
    fn selecting_a_step_pulls_in_what_it_needs() {
        let sel = Selection {
            steps: vec!["diff".into()],
            skip: vec![],
            ..Selection::default()
        };
        let p = plan(&steps(STEPS), &sel, &vars()).expect("plan");
        let ids: Vec<_> = p
            .run
            .iter()
            .map(|s| (s.step.id.as_str(), s.implied))
            .collect();
        assert_eq!(ids, [("capture", true), ("diff", false)]);
        assert_eq!(
            p.left_out,
            [Left {
                id: "pytest".into(),
                reason: "not selected with --steps".into()
            }]
        );
    }

    #[test]
    fn skipping_a_step_skips_its_dependents() {
        let sel = Selection {
            steps: vec![],
            skip: vec!["capture".into()],
            ..Selection::default()
        };
        let p = plan(&steps(STEPS), &sel, &vars()).expect("plan");
        assert_eq!(p.run.len(), 1);
        assert_eq!(
            p.left_out[1],
            Left {
                id: "diff".into(),
                reason: "needs 'capture', which is skipped".into()
            }
        );
    }

    #[test]
    fn unknown_step_names_suggest_the_closest() {
        let sel = Selection {
            steps: vec!["pytset".into()],
            skip: vec![],
            ..Selection::default()
        };
        let err = plan(&steps(STEPS), &sel, &vars())
            .expect_err("unknown")
            .to_string();
        assert!(
            err.starts_with("no gate step 'pytset', did you mean 'pytest'?"),
            "{err}"
        );
    }
}
