use baseline_diff::compare_paths;
use baseline_diff::report::{FileKind, Status};
use rollout_core::Verdict;
use serde_json::json;

use crate::fixtures::*;

fn write_json(path: &std::path::Path, v: &serde_json::Value) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, serde_json::to_vec_pretty(v).expect("json")).expect("write");
}

#[test]
fn directories_are_matched_by_relative_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (b, c) = (dir.path().join("base"), dir.path().join("cand"));
    for root in [&b, &c] {
        std::fs::create_dir_all(root.join("observations")).expect("mkdir");
        jsonl(&root.join("telemetry.jsonl"), &stream(&[2, 3]));
        observation_npz(&root.join("observations/agent.npz"), &base_map(), false);
        write_json(
            &root.join("metrics/rollout.json"),
            &json!({"ticks": 500, "reward": 1.25}),
        );
    }
    jsonl(&b.join("only-baseline.jsonl"), &stream(&[2]));
    std::fs::write(c.join("notes.txt"), "extra").expect("write");
    std::fs::write(b.join("manifest.json"), "{}").expect("manifest is never compared");
    let r = compare_paths(&settings(), &b, &c).expect("compare");
    let paths: Vec<(&str, Status, FileKind)> = r
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.status, f.kind))
        .collect();
    assert_eq!(
        paths,
        [
            ("metrics/rollout.json", Status::Pass, FileKind::Json),
            ("observations/agent.npz", Status::Pass, FileKind::Npz),
            ("only-baseline.jsonl", Status::Fail, FileKind::Telemetry),
            ("telemetry.jsonl", Status::Pass, FileKind::Telemetry),
            ("notes.txt", Status::Warn, FileKind::Bytes),
        ]
    );
    assert_eq!(r.files[2].checks[0].summary, "missing in the candidate");
    assert_eq!(r.verdict, Verdict::Fail);
}

#[test]
fn json_documents_compare_numbers_with_tolerance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (b, c) = (dir.path().join("b.json"), dir.path().join("c.json"));
    write_json(&b, &json!({"runs": [{"reward": 1.0, "name": "a"}]}));
    write_json(&c, &json!({"runs": [{"reward": 1.0000001, "name": "a"}]}));
    assert_eq!(
        compare_paths(&settings(), &b, &c).expect("compare").verdict,
        Verdict::Pass
    );
    write_json(&c, &json!({"runs": [{"reward": 1.5, "name": "b"}]}));
    let r = compare_paths(&settings(), &b, &c).expect("compare");
    let ch = &r.files[0].checks[0];
    assert_eq!(ch.status, Status::Fail);
    assert_eq!(
        ch.details,
        [
            "runs.0.name: baseline \"a\", candidate \"b\"",
            "runs.0.reward: baseline 1.0, candidate 1.5"
        ]
    );
    std::fs::write(&c, "{\"runs\": [}").expect("write");
    let e = compare_paths(&settings(), &b, &c).expect_err("invalid");
    assert!(
        format!("{e:#}").contains("c.json`:1:11: invalid JSON"),
        "{e:#}"
    );
}

#[test]
fn a_file_and_a_directory_do_not_compare() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = jsonl(&dir.path().join("t.jsonl"), &stream(&[2]));
    let e = compare_paths(&settings(), dir.path(), &f).expect_err("mixed");
    assert!(format!("{e:#}").contains("is a directory but"), "{e:#}");
    let n = dir.path().join("x.npz");
    observation_npz(&n, &base_map(), false);
    let e = compare_paths(&settings(), &f, &n).expect_err("kinds");
    assert!(format!("{e:#}").contains("different kinds"), "{e:#}");
}

/// A baseline and a candidate directory in `dir`, each with the same stream.
fn twin_roots(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (b, c) = (dir.join("base"), dir.join("cand"));
    for root in [&b, &c] {
        std::fs::create_dir_all(root).expect("mkdir");
        jsonl(&root.join("telemetry.jsonl"), &stream(&[2, 3]));
    }
    (b, c)
}

#[test]
fn a_symlink_loop_in_a_candidate_is_refused_not_followed_for_ever() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (b, c) = twin_roots(dir.path());
    // Two links back to the directory: followed, they would make 2^40 paths.
    std::os::unix::fs::symlink(".", c.join("again")).expect("symlink");
    std::os::unix::fs::symlink("..", c.join("up")).expect("symlink");
    let e = compare_paths(&settings(), &b, &c).expect_err("a loop");
    let msg = format!("{e:#}");
    assert!(msg.contains("a symlink loop"), "{msg}");
    assert!(msg.contains(&c.display().to_string()), "{msg}");
}

#[test]
fn a_directory_where_the_baseline_has_a_file_is_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (b, c) = twin_roots(dir.path());
    jsonl(&b.join("second.jsonl"), &stream(&[2]));
    std::fs::create_dir_all(c.join("second.jsonl")).expect("mkdir");
    let r = compare_paths(&settings(), &b, &c).expect("compare");
    let second = r
        .files
        .iter()
        .find(|f| f.path == "second.jsonl")
        .expect("reported");
    assert_eq!(second.status, Status::Fail);
    assert_eq!(
        second.checks[0].summary,
        "a directory in the candidate, a file in the baseline"
    );
}

/// A baseline directory `dir` holding one stream.
fn baseline_at(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    jsonl(&dir.join("telemetry.jsonl"), &stream(&[2, 3]));
    dir.to_path_buf()
}

/// Why no baseline could be chosen from `dir`.
fn choose_error(dir: &std::path::Path, root: &std::path::Path) -> String {
    format!(
        "{:#}",
        baseline_diff::baselines::choose(dir, root).expect_err("no baseline chosen")
    )
}

#[test]
fn a_baseline_manifest_that_cannot_be_read_is_an_error_not_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = baseline_at(&dir.path().join("phase3"));
    // Without a manifest (a baseline made by hand) the directory is used.
    let chosen = baseline_diff::baselines::choose(&base, dir.path()).expect("no manifest");
    assert_eq!(chosen.path, base);
    for (target, reason) in [
        ("/dev/zero", "is a character device"),
        ("gone.json", "does not exist"),
    ] {
        let manifest = base.join("manifest.json");
        let _gone = std::fs::remove_file(&manifest);
        std::os::unix::fs::symlink(target, &manifest).expect("symlink");
        let msg = choose_error(&base, dir.path());
        assert!(
            msg.contains("baseline manifest") && msg.contains(reason),
            "{target}: {msg}"
        );
    }
}

#[test]
fn an_unreadable_manifest_of_one_blessed_commit_is_an_error_not_a_layout_change() {
    // Before, a broken `<commit>/manifest.json` made the directory look like
    // one hand-made baseline, and its subdirectories were compared as files.
    let dir = tempfile::tempdir().expect("tempdir");
    let blessed = baseline_at(&dir.path().join("phase3/69e30cd205a7"));
    std::os::unix::fs::symlink("/dev/zero", blessed.join("manifest.json")).expect("symlink");
    let msg = choose_error(&dir.path().join("phase3"), dir.path());
    assert!(
        msg.contains("69e30cd205a7/manifest.json") && msg.contains("is a character device"),
        "{msg}"
    );
}
