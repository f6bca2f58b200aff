//! Figures for `tag` and `signoff`: choosing the next free name among many
//! tags (pure), and a whole dry-run plan on a repository with a long history,
//! many tags and many sign-offs (real git). Run with `cargo bench -p release`.

// A harness is one long script of scenarios, read top to bottom.
#![allow(clippy::too_many_lines)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use rollout_config::{Context, Resolved, RolloutConfig, Settings, Source};
use rollout_core::{Format, Verbosity};
use xshell::{Shell, cmd};

fn main() {
    naming();
    plan(2_000, 200, 30);
    plan(20_000, 1_000, 100);
}

fn naming() {
    let base = "v0.9.0-m4";
    for n in [100usize, 10_000, 100_000] {
        let mut tags: Vec<String> = (0..n)
            .map(|i| format!("v0.{}.{}", i / 100, i % 100))
            .collect();
        tags.extend((1..=n / 10).map(|i| format!("{base}.{i}")));
        let rounds = 20;
        let start = Instant::now();
        let mut last = String::new();
        for _ in 0..rounds {
            last = release::naming::next_free(base, tags.iter().map(String::as_str)).0;
        }
        let per = start.elapsed() / rounds;
        println!(
            "next_free over {:>7} tags: {per:>10.3?} per call (-> {last})",
            tags.len()
        );
    }
}

/// A repository of `commits` commits (every 3rd touching the facade), `tags`
/// release tags and `signed` signed-off commits, then the best of 3 plans.
fn plan(commits: usize, tags: usize, signed: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sh = Shell::new().expect("shell");
    let global = dir.path().join("gitconfig");
    std::fs::write(
        &global,
        "[user]\n\tname = Bench\n\temail = bench@example.org\n",
    )
    .expect("gitconfig");
    sh.set_var("GIT_CONFIG_NOSYSTEM", "1");
    sh.set_var("GIT_CONFIG_GLOBAL", &global);
    sh.set_var("HOME", dir.path());
    let repo = dir.path().join("townlet");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let _d = sh.push_dir(&repo);
    cmd!(sh, "git init -q -b main").quiet().run().expect("init");

    let mut stream = String::new();
    for i in 1..=commits {
        let path = match i % 3 {
            0 => format!("src/townlet/world/m{}.py", i % 50),
            1 => format!("src/townlet/policy/p{}.py", i % 50),
            _ => format!("docs/d{}.md", i % 50),
        };
        let msg = format!("change {i}");
        let body = format!("VALUE = {i}\n");
        let _ = write!(
            stream,
            "commit refs/heads/main\nmark :{i}\ncommitter Bench <bench@example.org> {} +0000\ndata {}\n{msg}\n",
            1_700_000_000 + i,
            msg.len() + 1
        );
        if i > 1 {
            let _ = writeln!(stream, "from :{}", i - 1);
        }
        let _ = write!(stream, "M 644 inline {path}\ndata {}\n{body}\n", body.len());
    }
    for t in 0..tags {
        let at = 1 + t * (commits - 1) / tags;
        let _ = write!(
            stream,
            "reset refs/tags/v0.{}.{}\nfrom :{at}\n\n",
            t / 100,
            t % 100
        );
    }
    cmd!(sh, "git fast-import --quiet")
        .stdin(stream)
        .quiet()
        .run()
        .expect("fast-import");
    cmd!(sh, "git reset -q --hard main")
        .quiet()
        .run()
        .expect("checkout");
    for k in 0..signed {
        let rev = format!("HEAD~{}", k * 7);
        let team = ["ui", "telemetry", "training"][k % 3];
        let note =
            format!("{{\"team\":\"{team}\",\"by\":\"Bench\",\"at\":\"2026-01-01T00:00:00Z\"}}\n");
        cmd!(
            sh,
            "git notes --ref=refs/notes/townlet-signoff add -f -F - {rev}"
        )
        .stdin(note)
        .quiet()
        .run()
        .expect("note");
    }

    let ws = dir.path().join("ws");
    let ctx = Context {
        out: rollout_core::Out::memory().0,
        settings: Settings {
            workspace: ws.clone(),
            config: RolloutConfig::parse("release: {}\n", &ws.join("configs/rollout.yaml"))
                .expect("config"),
            root: Resolved {
                value: repo.clone(),
                source: Source::Flag,
            },
            target: "townlet".into(),
            target_dir: ws.join("target"),
        },
        format: Format::Human,
        verbosity: Verbosity::Quiet,
    };
    let mut best = Duration::MAX;
    let mut rollback = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let p = release::tag::plan(&sh, &ctx, &release::tag::Settings::default()).expect("plan");
        best = best.min(start.elapsed());
        rollback = p.rollback.len();
    }
    println!(
        "plan: {commits:>6} commits, {tags:>5} tags, {signed:>3} signed commits: {best:>10.3?} (best of 3; {rollback} rollback commits)"
    );
}
