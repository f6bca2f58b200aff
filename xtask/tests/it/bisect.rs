//! `baseline-diff --bisect` on a real git history of a Townlet-shaped
//! target: two differences introduced at two commits, a commit whose
//! capture cannot run, the capture cache, Ctrl-C, and hostile revisions.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use test_support::git;

/// `src/townlet/sim.py` of the fixture: five ticks of telemetry whose
/// queue metric `b` and key tree `extras` the history changes.
fn sim(queue_b: u32, extras: bool, extra_line: &str) -> String {
    format!(
        r#"import json
{extra_line}
QUEUE_B = {queue_b}
EXTRAS = {}

def run(out):
    with open(out, "w") as f:
        for t in range(1, 6):
            state = {{"queue_metrics": {{"a": 1, "b": QUEUE_B}}}}
            if EXTRAS:
                state["extras"] = {{"x": 1, "y": {{"z": 2}}}}
            if t == 1:
                payload = {{"tick": 1, "payload_type": "snapshot", "runtime_variant": "facade", **state}}
            else:
                payload = {{"tick": t, "payload_type": "diff", "changes": state}}
            f.write(json.dumps(payload) + "\n")
"#,
        if extras { "True" } else { "False" }
    )
}

/// A workspace (`ws/`) whose Townlet root `ws/townlet` is a git repository
/// with a baseline blessed at its first commit.
pub(crate) struct History {
    pub(crate) dir: tempfile::TempDir,
    /// Commit ids, oldest first; `[0]` is the blessed one.
    pub(crate) commits: Vec<String>,
}

impl History {
    pub(crate) fn ws(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    pub(crate) fn root(&self) -> PathBuf {
        self.ws().join("townlet")
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    fn commit(&mut self, rel: &str, text: &str, subject: &str) {
        self.write(rel, text);
        git(&self.root(), &["add", "-A"]);
        git(&self.root(), &["commit", "-qm", subject]);
        self.commits.push(git(&self.root(), &["rev-parse", "HEAD"]));
    }

    /// The good commit, blessed; nothing else yet.
    pub(crate) fn blessed() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut h = History {
            dir,
            commits: Vec::new(),
        };
        let ws = h.ws();
        std::fs::create_dir_all(ws.join("configs")).expect("mkdir");
        std::fs::write(ws.join("Cargo.toml"), "[workspace]\n").expect("write");
        std::fs::write(
            ws.join("configs/rollout.yaml"),
            format!(
                "runtime_variant: facade\ntarget:\n  root: ../townlet\n  python: {}\ncapture:\n  timeout: 2m\n  commands:\n    - \"{{python}} scripts/run_simulation.py {{capture_dir}}/telemetry.jsonl\"\nbaseline:\n  dir: ../baselines\n  fields: [\"queue_metrics.*\"]\n",
                test_support::sample_python().display()
            ),
        )
        .expect("write");
        std::fs::create_dir_all(h.root()).expect("mkdir");
        git(&h.root(), &["init", "-q", "-b", "main"]);
        h.write("pyproject.toml", "[project]\nname = \"townlet\"\n");
        h.write(".gitignore", ".venv/\n");
        h.write("src/townlet/__init__.py", "");
        h.write(
            "scripts/run_simulation.py",
            "import sys\nfrom townlet import sim\nsim.run(sys.argv[1])\n",
        );
        h.commit("src/townlet/sim.py", &sim(2, true, ""), "a five-tick sim");
        let out = h.xtask(&["baseline-diff", "--bless"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        h
    }

    /// The blessed commit, then: 1, 2 unrelated; 3 changes the queue
    /// metric `b`; 4 cannot capture (a syntax error); 5 fixes it; 6 drops
    /// the key tree `extras`; 7 unrelated (HEAD).
    pub(crate) fn two_differences() -> Self {
        let mut h = Self::blessed();
        h.commit("README.md", "one\n", "docs: one");
        h.commit("README.md", "two\n", "docs: two");
        h.commit("src/townlet/sim.py", &sim(5, true, ""), "queue b is five");
        h.commit(
            "src/townlet/sim.py",
            &sim(5, true, "def broken(:"),
            "break the sim",
        );
        h.commit("src/townlet/sim.py", &sim(5, true, ""), "fix the sim");
        h.commit("src/townlet/sim.py", &sim(5, false, ""), "no more extras");
        h.commit("README.md", "three\n", "docs: three");
        h
    }

    /// The binary in the workspace, with the root's sources on the import
    /// path as a provisioned (editable) environment has them.
    pub(crate) fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = plumbing::process::command(assert_cmd::cargo::cargo_bin("xtask"));
        cmd.args(args)
            .current_dir(self.ws())
            .env_remove("TOWNLET_ROOT")
            .env_remove("CARGO_TARGET_DIR")
            .env("NO_COLOR", "1")
            .env("PYTHONPATH", self.root().join("src"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        cmd
    }

    pub(crate) fn xtask(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run xtask")
    }

    /// The work trees git knows of besides the checkout, and what is left
    /// under `target/rollout/bisect/`.
    fn leftovers(&self) -> (Vec<String>, Vec<PathBuf>) {
        let trees = git(&self.root(), &["worktree", "list", "--porcelain"]);
        let trees: Vec<String> = trees
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .skip(1)
            .map(str::to_string)
            .collect();
        let dirs = std::fs::read_dir(self.ws().join("target/rollout/bisect"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        (trees, dirs)
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    })
}

#[test]
fn bisect_names_both_commits_skips_the_broken_one_and_caches_its_captures() {
    let h = History::two_differences();
    let started = Instant::now();
    let out = h.xtask(&["baseline-diff", "--bisect", "--format", "json", "-v"]);
    let first_run = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = json(&out);
    let c = &h.commits;
    let ids: Vec<&str> = r["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| d["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            "telemetry.jsonl: fields (queue_metrics.*): queue_metrics.b",
            "telemetry.jsonl: schema: removed: extras"
        ]
    );
    let d = &r["differences"];
    assert_eq!(d[0]["first"]["commit"], c[3].as_str());
    assert_eq!(d[0]["first"]["subject"], "queue b is five");
    assert_eq!(d[0]["last_without"]["commit"], c[2].as_str());
    assert_eq!(d[1]["first"]["commit"], c[6].as_str());
    assert_eq!(d[1]["last_without"]["commit"], c[5].as_str());
    assert_eq!(r["skipped"][0]["commit"]["commit"], c[4].as_str());
    let error = r["skipped"][0]["error"].as_str().expect("error");
    assert!(error.contains("SyntaxError"), "{error}");
    assert_eq!(
        (r["good"]["commit"].as_str(), r["commits"].as_u64()),
        (Some(c[0].as_str()), Some(7))
    );
    let made = r["captures"].as_u64().expect("captures");
    assert!(made <= 6, "{made} captures for 7 commits");
    assert_eq!(r["cached"], 0);
    // Each capture imported the work tree's sources, and `-v` says so.
    let err = stderr(&out);
    assert!(
        err.contains("`townlet` is imported from `") && err.contains("target/rollout/bisect/"),
        "{err}"
    );
    assert_eq!(h.leftovers(), (Vec::new(), Vec::new()));
    // The user's checkout is as it was.
    assert_eq!(git(&h.root(), &["rev-parse", "HEAD"]), c[7]);
    assert_eq!(git(&h.root(), &["status", "--porcelain"]), "");

    // A second run makes no capture: every one comes from the cache.
    let started = Instant::now();
    let again = h.xtask(&["baseline-diff", "--bisect", "--format", "json"]);
    let second_run = started.elapsed();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let r2 = json(&again);
    assert_eq!(
        (r2["captures"].as_u64(), r2["cached"].as_u64()),
        (Some(0), Some(made))
    );
    for (d2, d1) in r2["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .zip(r["differences"].as_array().expect("differences"))
    {
        assert_eq!(
            (&d2["first"], d2["captures"].as_u64()),
            (&d1["first"], Some(0))
        );
    }
    eprintln!("fixture: {made} captures in {first_run:.2?}; from the cache in {second_run:.2?}");

    // Human output: one line per difference and skipped commit.
    let human = h.xtask(&["baseline-diff", "--bisect"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains(&format!(
            "pass  telemetry.jsonl: schema: removed: extras: {}",
            &c[6][..10]
        )),
        "{text}"
    );
    assert!(text.contains(&format!("skip  {}", &c[4][..10])), "{text}");
    assert!(text.ends_with(&format!("2 of 2 differences named among 7 commits with 0 captures ({made} more from the cache), 1 commit(s) skipped\n")), "{text}");
}

#[test]
fn a_skipped_commit_next_to_a_boundary_leaves_the_difference_ambiguous() {
    let mut h = History::blessed();
    h.commit("src/townlet/sim.py", &sim(2, true, "def broken(:"), "break");
    h.commit(
        "src/townlet/sim.py",
        &sim(5, true, ""),
        "fix, and b is five",
    );
    let out = h.xtask(&["baseline-diff", "--bisect", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = json(&out);
    let d = &r["differences"][0];
    assert_eq!(d["resolution"], "ambiguous");
    assert_eq!(d["last_without"]["commit"], h.commits[0].as_str());
    let candidates: Vec<&str> = d["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| c["commit"].as_str().expect("commit"))
        .collect();
    assert_eq!(candidates, [h.commits[1].as_str(), h.commits[2].as_str()]);
    assert!(
        d["why"]
            .as_str()
            .expect("why")
            .contains("could not be captured")
    );
}

#[test]
fn an_interrupted_bisect_leaves_no_work_tree_behind() {
    let mut h = History::blessed();
    h.commit(
        "src/townlet/sim.py",
        &sim(5, true, "import time; time.sleep(120)"),
        "a slow sim",
    );
    let child = h
        .command(&["baseline-diff", "--bisect"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let until = Instant::now() + Duration::from_secs(60);
    while h.leftovers().0.is_empty() {
        assert!(Instant::now() < until, "no work tree was made");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert_eq!(h.leftovers(), (Vec::new(), Vec::new()));
}

#[test]
fn hostile_and_unrelated_revisions_are_refused() {
    let mut h = History::blessed();
    h.commit("README.md", "x\n", "docs");
    let out = h.xtask(&[
        "baseline-diff",
        "--bisect",
        "--good=--upload-pack=touch /tmp/x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`--good` `--upload-pack=touch /tmp/x` starts with `-`"),
        "{}",
        stderr(&out)
    );
    assert!(
        !h.ws().join("target/rollout/bisect").exists(),
        "something ran"
    );

    git(&h.root(), &["checkout", "-q", "-b", "side", &h.commits[0]]);
    h.commit("README.md", "side\n", "side");
    let side = h.commits[2].clone();
    git(&h.root(), &["checkout", "-q", "main"]);
    let out = h.xtask(&["baseline-diff", "--bisect", "--good", "side"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the good commit `{side}` is not an ancestor of the bad commit `{}`",
            h.commits[1]
        )),
        "{err}"
    );
    assert_eq!(h.leftovers(), (Vec::new(), Vec::new()));
}
