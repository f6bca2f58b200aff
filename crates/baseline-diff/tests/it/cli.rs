//! The command as users run it: config, flags, formats, `--output`,
//! capture and `--bless`.

use std::path::{Path, PathBuf};

use baseline_diff::{
    Action, Baseline, Candidate, CompareSettings, Manifest, Settings, ToleranceFlags, bless,
};
use rollout_config::{Context, Overrides};
use rollout_core::{Format, Verbosity, Verdict};

use crate::fixtures::*;

/// A workspace with a rollout config whose baseline dir is `baselines/` and
/// whose Townlet root is `townlet/`.
fn workspace(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().to_path_buf();
    std::fs::create_dir_all(ws.join("configs")).expect("mkdir");
    // What a Townlet checkout holds (`target.requires`).
    std::fs::create_dir_all(ws.join("townlet/scripts")).expect("mkdir");
    std::fs::write(
        ws.join("townlet/pyproject.toml"),
        "[project]\nname = \"townlet\"\n",
    )
    .expect("write");
    std::fs::write(ws.join("townlet/scripts/run_simulation.py"), "").expect("write");
    std::fs::write(ws.join("Cargo.toml"), "[workspace]\n").expect("write");
    std::fs::write(
        ws.join("configs/rollout.yaml"),
        format!("target:\n  root: ../townlet\nbaseline:\n  dir: ../baselines\n{extra}"),
    )
    .expect("write");
    (dir, ws)
}

fn ctx(ws: &Path, format: Format) -> Context {
    let settings = rollout_config::Settings::resolve(ws, ws, &Overrides::default(), &|_| None)
        .expect("settings");
    Context {
        settings,
        format,
        verbosity: Verbosity::Quiet,
        out: rollout_core::Out::memory().0,
    }
}

/// What a plain `baseline-diff` runs with: the configured baseline and
/// tolerances, a capture, a comparison, the report on the context's output.
fn settings(ctx: &Context) -> Settings {
    let cfg = &ctx.settings.config;
    Settings {
        compare: CompareSettings::from_config(&cfg.baseline, &cfg.runtime_variant),
        baseline: Baseline::Configured(cfg.baseline.dir.clone()),
        candidate: Candidate::Capture,
        action: Action::Compare,
        output: None,
        wait: false,
    }
}

/// `baseline-diff` in `ws`, its settings changed by `change`.
fn run(
    ws: &Path,
    format: Format,
    change: impl FnOnce(&mut Settings),
) -> anyhow::Result<rollout_core::Outcome> {
    let ctx = ctx(ws, format);
    let mut s = settings(&ctx);
    change(&mut s);
    baseline_diff::run(&ctx, s)
}

/// `--bless`.
fn bless_it(s: &mut Settings) {
    s.action = Action::Bless { allow_lossy: false };
}

fn shell(ws: &Path) -> xshell::Shell {
    let sh = xshell::Shell::new().expect("shell");
    sh.change_dir(ws);
    sh
}

#[test]
fn formats_and_output_file() {
    let (_d, ws) = workspace("");
    jsonl(&ws.join("b.jsonl"), &stream(&[2, 3]));
    let mut cand = stream(&[2, 3]);
    cand[1]["changes"]["queue_metrics"]["cooldown_events"] = serde_json::json!(3);
    jsonl(&ws.join("c.jsonl"), &cand);
    for (format, file, needle) in [
        (Format::Json, "r.json", "\"verdict\": \"fail\""),
        (
            Format::Junit,
            "r.xml",
            "<failure message=\"1 value differs at 1 of 3 aligned ticks (tick 2); first queue_metrics.cooldown_events at tick 2",
        ),
        (Format::Markdown, "r.md", "| **FAIL** | fields"),
        (Format::Human, "r.txt", "FAIL  fields"),
    ] {
        let out = run(&ws, format, |s| {
            s.baseline = Baseline::Named(ws.join("b.jsonl"));
            s.candidate = Candidate::Path(ws.join("c.jsonl"));
            s.output = Some(ws.join(file));
        })
        .expect("run");
        assert_eq!(out.verdict, Verdict::Fail);
        let text = std::fs::read_to_string(ws.join(file)).expect("report written");
        assert!(text.contains(needle), "{format:?}: {text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.join("r.json")).expect("read"))
            .expect("json");
    assert_eq!(json["files"][0]["checks"][3]["mismatches"][0]["tick"], 2);
    assert_eq!(json["schema"], 1);
}

#[test]
fn tolerance_flags_override_the_config() {
    let (_d, ws) = workspace("  tolerance: {abs: 0.0, rel: 0.0}\n");
    jsonl(&ws.join("b.jsonl"), &[snapshot(1, "facade", 1.0)]);
    jsonl(&ws.join("c.jsonl"), &[snapshot(1, "facade", 1.001)]);
    let with_abs = |abs: Option<f64>| {
        run(&ws, Format::Human, |s| {
            s.compare = s
                .compare
                .clone()
                .with_flags(ToleranceFlags {
                    abs,
                    ..ToleranceFlags::default()
                })
                .expect("valid tolerance");
            s.baseline = Baseline::Named(ws.join("b.jsonl"));
            s.candidate = Candidate::Path(ws.join("c.jsonl"));
            s.output = Some(ws.join("r.txt"));
        })
        .map(|o| o.verdict)
    };
    assert_eq!(with_abs(None).expect("run"), Verdict::Fail);
    assert_eq!(with_abs(Some(0.01)).expect("run"), Verdict::Pass);
    let c = ctx(&ws, Format::Human);
    let e = settings(&c)
        .compare
        .with_flags(ToleranceFlags {
            abs: Some(-1.0),
            ..ToleranceFlags::default()
        })
        .expect_err("negative");
    assert!(
        e.to_string()
            .contains("--abs-tol expects a finite number >= 0, found -1"),
        "{e}"
    );
}

#[test]
fn a_missing_baseline_says_how_to_make_one() {
    let (_d, ws) = workspace("");
    jsonl(&ws.join("c.jsonl"), &stream(&[2]));
    let e = run(&ws, Format::Human, |s| {
        s.candidate = Candidate::Path(ws.join("c.jsonl"));
    })
    .expect_err("no baseline");
    let text = format!("{e:#}");
    assert!(
        text.contains("no baseline at `") && text.contains("hint:"),
        "{text}"
    );
}

#[test]
fn without_candidate_the_capture_command_runs_then_bless_and_compare() {
    let (_d, ws) = workspace(
        "capture:\n  commands:\n    - \"cp {root}/run.jsonl {capture_dir}/telemetry.jsonl\"\n",
    );
    jsonl(&ws.join("townlet/run.jsonl"), &stream(&[2, 3]));
    let out = run(&ws, Format::Human, bless_it).expect("bless");
    assert_eq!(out.verdict, Verdict::Pass);
    assert_eq!(out.checks[0].id, "bless");
    let out = rollout_config::resolve::rollout_dir_for(&ws.join("target"), &ws.join("townlet"));
    assert!(out.join("capture/telemetry.jsonl").is_file());
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(ws.join("baselines/manifest.json")).expect("manifest"),
    )
    .expect("parse manifest");
    assert_eq!(manifest.files.len(), 1);
    assert_eq!(manifest.files["telemetry.jsonl"].sha256.len(), 64);
    assert!(
        manifest.capture_commands[0].starts_with("cp "),
        "{manifest:?}"
    );
    assert_eq!(manifest.lossless, Some(true));
    let record = manifest.capture.as_ref().expect("capture record");
    assert_eq!(record.streams[0].payloads, 3);
    // Capture again and compare with the blessed baseline.
    let out = run(&ws, Format::Human, |s| s.output = Some(ws.join("r.txt"))).expect("compare");
    assert_eq!(out.verdict, Verdict::Pass);
}

#[test]
fn a_baseline_blessed_on_one_machine_verifies_on_another() {
    let capture =
        "capture:\n  commands:\n    - \"cp {root}/run.jsonl {capture_dir}/telemetry.jsonl\"\n";
    let (_first, here) = workspace(capture);
    jsonl(&here.join("townlet/run.jsonl"), &stream(&[2, 3]));
    let out = run(&here, Format::Human, bless_it).expect("bless");
    assert_eq!(out.verdict, Verdict::Pass);
    let text = std::fs::read_to_string(here.join("baselines/manifest.json")).expect("manifest");
    let machine = here.display().to_string();
    assert!(
        !text.contains(&machine),
        "the manifest names this machine's `{machine}`: {text}"
    );
    assert!(text.contains("\"{root}\""), "{text}");
    assert!(text.contains("{target_dir}/rollout/townlet-"), "{text}");

    // Another machine: another workspace path, the baseline committed over.
    let (_second, there) = workspace(capture);
    std::fs::remove_dir_all(there.join("townlet")).expect("rm");
    copy_tree(&here.join("townlet"), &there.join("townlet"));
    copy_tree(&here.join("baselines"), &there.join("baselines"));
    let (out, captured) = rollout_core::Out::memory();
    let c = Context {
        out,
        ..ctx(&there, Format::Human)
    };
    let outcome = baseline_diff::run(&c, settings(&c)).expect("compare");
    assert_eq!(outcome.verdict, Verdict::Pass);
    assert!(
        captured.text().contains("verdict: pass"),
        "{}",
        captured.text()
    );
    assert!(
        outcome
            .summary
            .contains("checks within tolerance against `"),
        "{}",
        outcome.summary
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn a_failing_capture_command_is_an_error() {
    let (_d, ws) = workspace("capture:\n  commands:\n    - \"false\"\n");
    std::fs::create_dir_all(ws.join("baselines")).expect("mkdir");
    jsonl(&ws.join("baselines/telemetry.jsonl"), &stream(&[2]));
    let e = run(&ws, Format::Human, |_| {}).expect_err("capture fails");
    assert!(
        format!("{e:#}").contains("capture command `false` failed"),
        "{e:#}"
    );
}

#[test]
fn bless_replaces_the_baseline_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("baselines");
    let old = dir.path().join("old");
    std::fs::create_dir_all(&old).expect("mkdir");
    std::fs::write(old.join("telemetry.jsonl"), "{\"tick\":1}\n").expect("write");
    bless(&old, &base, &Default::default()).expect("first bless");

    let new = dir.path().join("new");
    std::fs::create_dir_all(new.join("obs")).expect("mkdir");
    std::fs::write(new.join("telemetry.jsonl"), "{\"tick\":2}\n").expect("write");
    observation_npz(&new.join("obs/a.npz"), &base_map(), false);
    // A file that cannot be read, sorted after the others: the copy fails
    // midway, after two files were written.
    std::os::unix::fs::symlink(dir.path().join("nowhere"), new.join("zz-broken.json"))
        .expect("symlink");
    let e = bless(&new, &base, &Default::default()).expect_err("must fail midway");
    assert!(format!("{e:#}").contains("zz-broken.json"), "{e:#}");
    // The old baseline is untouched and nothing half-written is left around.
    assert_eq!(
        std::fs::read_to_string(base.join("telemetry.jsonl")).expect("read"),
        "{\"tick\":1}\n"
    );
    assert!(!base.join("obs").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    std::fs::remove_file(new.join("zz-broken.json")).expect("rm");
    let m = bless(&new, &base, &Default::default()).expect("second bless");
    assert_eq!(
        m.files.keys().collect::<Vec<_>>(),
        ["obs/a.npz", "telemetry.jsonl"]
    );
    assert_eq!(
        std::fs::read_to_string(base.join("telemetry.jsonl")).expect("read"),
        "{\"tick\":2}\n"
    );
    assert!(base.join("manifest.json").is_file());
}

#[test]
fn the_baseline_is_looked_for_before_the_capture_runs() {
    let (_d, ws) = workspace("capture:\n  commands:\n    - \"touch {root}/captured\"\n");
    let e = run(&ws, Format::Human, |_| {}).expect_err("no baseline");
    assert!(format!("{e:#}").contains("no baseline at `"), "{e:#}");
    assert!(
        !ws.join("townlet/captured").exists(),
        "the capture ran although there is nothing to compare it with"
    );
}

#[test]
fn bless_refuses_a_lossy_capture_unless_told() {
    let (_d, ws) = workspace(
        "capture:\n  commands:\n    - \"cp {root}/run.jsonl {capture_dir}/telemetry.jsonl\"\n",
    );
    // Ticks 3 and 4 were dropped.
    jsonl(&ws.join("townlet/run.jsonl"), &stream(&[2, 5]));
    let e = run(&ws, Format::Human, bless_it).expect_err("lossy");
    let text = format!("{e:#}");
    assert!(
        text.contains("is lossy: telemetry.jsonl: 3 of 5 ticks written, 2 lost (3-4)"),
        "{text}"
    );
    assert!(text.contains("--allow-lossy"), "{text}");
    assert!(!ws.join("baselines").exists());

    let out = run(&ws, Format::Human, |s| {
        s.action = Action::Bless { allow_lossy: true };
    })
    .expect("bless");
    assert_eq!(out.verdict, Verdict::Pass);
    assert!(
        out.summary
            .ends_with(" although it is lossy (--allow-lossy)"),
        "{}",
        out.summary
    );
    let manifest = Manifest::load(&ws.join("baselines/manifest.json")).expect("manifest");
    assert_eq!(
        (manifest.lossless, manifest.allowed_lossy),
        (Some(false), true)
    );
    assert_eq!(manifest.streams[0].lost_ranges, [(3, 4)]);
}

#[test]
fn baselines_blessed_per_commit_are_chosen_by_ancestry() {
    let (_d, ws) = workspace(
        "capture:\n  commands:\n    - \"cp {root}/run.jsonl {capture_dir}/telemetry.jsonl\"\n",
    );
    let root = ws.join("townlet");
    let sh = shell(&root);
    let git = |args: &[&str]| {
        xshell::cmd!(sh, "git {args...}")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@e")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@e")
            .quiet()
            .read()
            .expect("git")
    };
    git(&["init", "-q"]);
    jsonl(&root.join("run.jsonl"), &stream(&[2, 3]));
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    let first = git(&["rev-parse", "HEAD"]);
    run(&ws, Format::Human, bless_it).expect("bless");
    let entry = ws.join("baselines").join(&first[..12]);
    assert!(
        entry.join("manifest.json").is_file(),
        "blessed under the commit"
    );

    // Two commits later the capture changed: the baseline of the first
    // commit is used, and the report says so.
    std::fs::write(root.join("a.txt"), "a").expect("write");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "second"]);
    let mut changed = stream(&[2, 3]);
    changed[2]["changes"]["queue_metrics"]["cooldown_events"] = serde_json::json!(9);
    jsonl(&root.join("run.jsonl"), &changed);
    git(&["commit", "-q", "-am", "third"]);
    let out = run(&ws, Format::Json, |s| s.output = Some(ws.join("r.json"))).expect("compare");
    assert_eq!(out.verdict, Verdict::Fail);
    assert!(
        out.summary
            .starts_with("1 check(s) differ from the baseline (blessed at "),
        "{}",
        out.summary
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.join("r.json")).expect("read")).expect("json");
    assert_eq!(
        report["baseline_relation"],
        format!("blessed at {}, 2 commits before HEAD", &first[..10])
    );
}
