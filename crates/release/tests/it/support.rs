//! A Townlet-shaped git repository in a temp dir, isolated from the machine's
//! git config, with helpers to gate, sign off and tag it.

use std::path::{Path, PathBuf};

use plumbing::report::{GateReport, GateVerdict, GitState, StepReport, StepStatus};

use release::signoff::{self, Signing};
use release::tag::{self, Execution, Plan, Settings};
use rollout_config::{Context, Resolved, RolloutConfig, Source};
use rollout_core::{Format, Out, Outcome, Verbosity, Verdict};
use tempfile::TempDir;
use xshell::{Shell, cmd};

pub(crate) struct Fixture {
    pub dir: TempDir,
    pub sh: Shell,
    pub repo: PathBuf,
    pub workspace: PathBuf,
    pub config: String,
}

/// A shell whose git sees only the fixture's identity and config.
pub(crate) fn shell(home: &Path) -> Shell {
    let sh = Shell::new().expect("shell");
    let global = home.join("gitconfig");
    std::fs::write(
        &global,
        "[user]\n\tname = Release Tester\n\temail = tester@example.org\n[init]\n\tdefaultBranch = main\n",
    )
    .expect("write gitconfig");
    sh.set_var("HOME", home);
    sh.set_var("GIT_CONFIG_NOSYSTEM", "1");
    sh.set_var("GIT_CONFIG_GLOBAL", &global);
    sh.set_var("GIT_AUTHOR_NAME", "Release Tester");
    sh.set_var("GIT_AUTHOR_EMAIL", "tester@example.org");
    sh.set_var("GIT_COMMITTER_NAME", "Release Tester");
    sh.set_var("GIT_COMMITTER_EMAIL", "tester@example.org");
    sh.set_var("GNUPGHOME", home.join("gnupg"));
    // Fixed dates make commit and tag ids the same on every run.
    sh.set_var("GIT_AUTHOR_DATE", "2026-11-27T12:00:00Z");
    sh.set_var("GIT_COMMITTER_DATE", "2026-11-27T12:00:00Z");
    sh
}

impl Fixture {
    /// A repository on `main` with one commit touching the facade paths.
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let sh = shell(dir.path());
        let repo = dir.path().join("townlet");
        let workspace = dir.path().join("workspace");
        std::fs::create_dir_all(&repo).expect("mkdir");
        std::fs::create_dir_all(&workspace).expect("mkdir");
        let f = Self {
            dir,
            sh,
            repo,
            workspace,
            config: "release: {}\n".into(),
        };
        f.git(&["init", "-q", "-b", "main"]);
        f.write("src/townlet/world/grid.py", "GRID = 1\n");
        f.write("src/townlet/telemetry/publisher.py", "PUB = 1\n");
        f.write("README.md", "townlet\n");
        f.git(&["add", "-A"]);
        f.git(&["commit", "-q", "-m", "initial import"]);
        f
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.repo.join(rel)
    }

    pub(crate) fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// Runs git in `dir` and returns its stdout; panics with git's stderr.
    pub(crate) fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let _d = self.sh.push_dir(dir);
        let out = cmd!(self.sh, "git {args...}")
            .quiet()
            .ignore_status()
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    pub(crate) fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.repo, args)
    }

    /// Writes a file and commits it; returns the commit id.
    pub(crate) fn commit(&self, rel: &str, text: &str, msg: &str) -> String {
        self.write(rel, text);
        self.git(&["add", rel]);
        self.git(&["commit", "-q", "-m", msg]);
        self.head()
    }

    pub(crate) fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// A bare repository added as remote `name`.
    pub(crate) fn bare_remote(&self, name: &str) -> PathBuf {
        let bare = self.dir.path().join(format!("{name}.git"));
        self.git_in(
            self.dir.path(),
            &["init", "-q", "--bare", bare.to_str().expect("utf-8")],
        );
        self.git(&["remote", "add", name, bare.to_str().expect("utf-8")]);
        bare
    }

    pub(crate) fn context_for(&self, root: &Path) -> Context {
        let path = self.workspace.join("configs/rollout.yaml");
        let config = RolloutConfig::parse(&self.config, &path).expect("config parses");
        Context {
            // Tests read what a command prints from their own memory Out.
            out: Out::memory().0,
            settings: rollout_config::Settings {
                workspace: self.workspace.clone(),
                config,
                root: Resolved {
                    value: root.to_path_buf(),
                    source: Source::Flag,
                },
                target: "townlet".into(),
                target_dir: self.workspace.join("target"),
            },
            format: Format::Human,
            verbosity: Verbosity::Quiet,
        }
    }

    pub(crate) fn ctx(&self) -> Context {
        self.context_for(&self.repo)
    }

    /// Where the gate writes its report for `root` (no CARGO_TARGET_DIR in
    /// these tests).
    pub(crate) fn report_path(&self, root: &Path) -> PathBuf {
        rollout_config::resolve::rollout_dir_for(&self.workspace.join("target"), root)
            .join("gate-report.json")
    }

    /// Writes a gate report for `root`'s HEAD.
    pub(crate) fn gate_in(&self, root: &Path, verdict: GateVerdict, dirty: bool) {
        let commit = self.git_in(root, &["rev-parse", "HEAD"]);
        let tree = self.git_in(root, &["rev-parse", "HEAD^{tree}"]);
        let passed = verdict == GateVerdict::Pass;
        let step = |id: &str, kind: &str, ms: u64, summary: &str| StepReport {
            id: id.into(),
            kind: serde_json::from_value(serde_json::Value::from(kind)).expect("a step kind"),
            status: if passed || id != "pytest" {
                StepStatus::Pass
            } else {
                StepStatus::Fail
            },
            duration_ms: ms,
            exit_code: Some(0),
            log: None,
            summary: summary.into(),
            diagnostics: Vec::new(),
        };
        let report = GateReport {
            schema: plumbing::report::SCHEMA,
            tool_version: "0.1.0".into(),
            started_at: "2026-11-28T08:00:00Z".into(),
            duration_ms: 15_400,
            root: root.to_path_buf(),
            git: Some(GitState {
                commit,
                tree,
                dirty,
                branch: Some("main".into()),
            }),
            verdict,
            steps: vec![
                step("pytest", "command", 12_000, "812 passed"),
                step(
                    "baseline-diff",
                    "baseline-diff",
                    3_400,
                    "500 ticks match the Phase 3 baselines",
                ),
            ],
            tools: Default::default(),
            complete: true,
            selection: Default::default(),
            config: {
                let c = &self.ctx().settings.config;
                Some(plumbing::report::ConfigUsed {
                    path: c.path.clone(),
                    sha256: c.sha256.clone(),
                })
            },
        };
        report.write(&self.report_path(root)).expect("write report");
    }

    pub(crate) fn gate(&self) {
        self.gate_in(&self.repo, GateVerdict::Pass, false);
    }

    /// Every default team signs `rev` in `root`.
    pub(crate) fn sign_all_in(&self, root: &Path, rev: &str) {
        for team in ["ui", "telemetry", "training"] {
            self.sign_in(root, team, rev);
        }
    }

    pub(crate) fn sign_in(&self, root: &Path, team: &str, rev: &str) {
        let settings = signoff::Settings::Record(Signing {
            team: team.into(),
            commit: Some(rev.into()),
            ..Default::default()
        });
        let o = signoff::run_with(&self.sh, &self.context_for(root), settings)
            .expect("sign-off recorded");
        assert_eq!(o.verdict, Verdict::Pass);
        assert_eq!(o.checks.len(), 1);
        assert_eq!(o.checks[0].id, team);
    }

    pub(crate) fn sign_all(&self) {
        self.sign_all_in(&self.repo, "HEAD");
    }

    /// Gate passed and every team signed HEAD.
    pub(crate) fn ready(&self) {
        self.gate();
        self.sign_all();
    }

    pub(crate) fn plan(&self, settings: &Settings) -> Plan {
        self.plan_in(&self.repo, settings)
    }

    pub(crate) fn plan_in(&self, root: &Path, settings: &Settings) -> Plan {
        tag::plan(&self.sh, &self.context_for(root), settings).expect("plan")
    }

    pub(crate) fn execute(&self, plan: &Plan) -> Execution {
        tag::execute(&self.sh, &self.ctx(), plan).expect("execute")
    }

    /// `tag` as the CLI runs it, with its human output.
    pub(crate) fn run(&self, settings: Settings) -> (Verdict, String) {
        self.run_in(&self.repo, settings, Format::Human)
    }

    pub(crate) fn run_in(
        &self,
        root: &Path,
        settings: Settings,
        format: Format,
    ) -> (Verdict, String) {
        let (outcome, text) = self.run_outcome(root, settings, format);
        (outcome.verdict, text)
    }

    /// `tag` as the CLI runs it: its outcome and what it printed. The
    /// outcome agrees with the report: one check per release check, and
    /// its summary is the human verdict line's reason.
    pub(crate) fn run_outcome(
        &self,
        root: &Path,
        settings: Settings,
        format: Format,
    ) -> (Outcome, String) {
        let mut ctx = self.context_for(root);
        ctx.format = format;
        let (out, captured) = Out::memory();
        ctx.out = out;
        let o = tag::run_with(&self.sh, &ctx, settings).expect("tag runs");
        let text = captured.text();
        let ids: Vec<&str> = o.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids[..6],
            ["clean", "branch", "gate", "signoff", "tag-name", "history"]
        );
        assert_eq!(o.exit_code(), o.verdict.exit_code());
        if format == Format::Human && rollout_core::printable(&o.summary) == o.summary {
            assert!(
                text.contains(&format!(" ({})\n", o.summary)),
                "the summary {:?} is the verdict line's reason:\n{text}",
                o.summary
            );
        }
        (o, text)
    }

    /// `tag` expected to stop with an error (exit 2).
    pub(crate) fn run_err(&self, settings: Settings) -> String {
        let e = tag::run_with(&self.sh, &self.ctx(), settings).expect_err("tag must refuse");
        format!("{e:#}")
    }

    pub(crate) fn execute_args() -> Settings {
        Settings {
            execute: true,
            ..Default::default()
        }
    }

    /// Local tags of the repository.
    pub(crate) fn tags(&self) -> Vec<String> {
        self.git(&["tag", "--list"])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Status of check `id` in a plan, as the JSON spells it.
pub(crate) fn status(plan: &Plan, id: &str) -> String {
    let c = plan
        .checks
        .iter()
        .find(|c| c.id.as_str() == id)
        .unwrap_or_else(|| panic!("no check {id}"));
    serde_json::to_value(c.status)
        .expect("json")
        .as_str()
        .expect("string")
        .to_string()
}

/// The ids of the checks that failed.
pub(crate) fn failed(plan: &Plan) -> Vec<&'static str> {
    plan.checks
        .iter()
        .filter(|c| c.status == tag::Status::Fail)
        .map(|c| c.id.as_str())
        .collect()
}
