//! Shared fixtures: workspaces in temp dirs, the cached tool environment,
//! running the gate as a library.

use std::path::{Path, PathBuf};

use plumbing::report::GateReport;
use rollout_config::{Context, Overrides, Settings};
use rollout_core::{Format, Verbosity, Verdict};

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace")
}

/// A scratch rollout workspace with its own config and `target/`.
pub(crate) struct Ws {
    pub dir: tempfile::TempDir,
}

impl Ws {
    /// A workspace whose `townlet/` holds what a Townlet checkout holds
    /// (`target.requires`), so that the gate may provision it.
    pub(crate) fn new() -> Self {
        let ws = Ws {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        ws.write("townlet/pyproject.toml", "[project]\nname = \"townlet\"\n");
        ws.write("townlet/scripts/run_simulation.py", "");
        ws
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Where the gate writes its outputs for this workspace's root.
    pub(crate) fn out(&self) -> PathBuf {
        self.settings().rollout_dir()
    }

    fn settings(&self) -> Settings {
        Settings::resolve(
            self.path(),
            self.path(),
            &Overrides {
                config: Some(self.path().join("configs/rollout.yaml")),
                root: None,
            },
            &|_| None,
        )
        .expect("settings")
    }

    /// Runs the gate with `configs/rollout.yaml` of this workspace.
    pub(crate) fn gate(&self, args: Args) -> (anyhow::Result<Verdict>, Option<GateReport>) {
        self.gate_output(args).0
    }

    /// As [`Ws::gate`], also returning the human result.
    pub(crate) fn gate_output(
        &self,
        args: Args,
    ) -> ((anyhow::Result<Verdict>, Option<GateReport>), String) {
        let settings = Settings::resolve(
            self.path(),
            self.path(),
            &Overrides {
                config: Some(self.path().join("configs/rollout.yaml")),
                root: None,
            },
            &|_| None,
        )
        .expect("settings");
        let ctx = Context {
            out: rollout_core::Out::stdout(),
            settings,
            format: Format::Human,
            // Not `-q`: the human result lists every step (progress goes
            // to stderr, which the test harness captures).
            verbosity: Verbosity::Normal,
        };
        let (out, captured) = rollout_core::Out::memory();
        let ctx = Context { out, ..ctx };
        let outcome = args
            .settings(&ctx)
            .and_then(|settings| gate::run(&ctx, settings))
            .map(|o| o.verdict);
        let report = GateReport::load(&self.out().join("gate-report.json")).ok();
        ((outcome, report), captured.text())
    }
}

/// What a test asks of the gate, as the command line's flags would
/// (resolved as `cargo xtask gate` resolves them: `--suite` from
/// `gate.suites`, `--jobs` over `gate.jobs` over 2).
#[derive(Debug, Clone, Default)]
pub(crate) struct Args {
    pub(crate) steps: Vec<String>,
    pub(crate) skip: Vec<String>,
    pub(crate) suite: Option<String>,
    pub(crate) jobs: Option<usize>,
    pub(crate) fail_fast: bool,
    pub(crate) update_debt: bool,
    pub(crate) allow_debt_growth: bool,
    pub(crate) no_provision: bool,
    pub(crate) junit: Option<PathBuf>,
    pub(crate) summary: Option<PathBuf>,
}

impl Args {
    fn settings(self, ctx: &Context) -> anyhow::Result<gate::Settings> {
        let cfg = &ctx.settings.config;
        let suite_args = gate::suite_args(cfg, self.suite.as_deref())?;
        Ok(gate::Settings {
            selection: rollout_core::Selection {
                steps: self.steps,
                skip: self.skip,
                suite: self.suite,
            },
            suite_args,
            jobs: self.jobs.or(cfg.gate.jobs).unwrap_or(2),
            fail_fast: self.fail_fast,
            update_debt: self.update_debt,
            allow_debt_growth: self.allow_debt_growth,
            no_provision: self.no_provision,
            junit: self.junit,
            summary: self.summary,
            wait: false,
        })
    }
}

pub(crate) fn step<'a>(report: &'a GateReport, id: &str) -> &'a plumbing::report::StepReport {
    report
        .steps
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no step {id} in {report:#?}"))
}

/// The interpreter of the sample's tool environment (see
/// [`test_support::sample_python`]).
pub(crate) fn tool_python() -> PathBuf {
    test_support::sample_python()
}

/// Copies the sample target into `dest` (without environments, caches and
/// build output: `pip install` of the sample writes `build/` while other
/// tests may be copying it).
pub(crate) fn copy_sample(dest: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir") {
            let entry = entry.expect("entry");
            let name = entry.file_name();
            let name_s = name.to_string_lossy();
            if [
                ".venv",
                ".mypy_cache",
                ".pytest_cache",
                ".ruff_cache",
                "__pycache__",
                "certs",
                "build",
            ]
            .contains(&name_s.as_ref())
                || name_s.ends_with(".egg-info")
            {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                copy(&path, &to.join(&name));
            } else {
                std::fs::copy(&path, to.join(&name)).expect("copy");
            }
        }
    }
    copy(&repo_root().join("examples/townlet-sample"), dest);
}

pub(crate) use test_support::git;
