use baseline_diff::report::{Check, Report, Status};
use baseline_diff::{compare_paths, render};
use rollout_core::Verdict;
use rollout_core::{Format, Style};
use serde_json::json;

use crate::fixtures::*;

fn check<'a>(r: &'a Report, name: &str) -> &'a Check {
    r.files[0]
        .checks
        .iter()
        .find(|c| c.name.starts_with(name))
        .unwrap_or_else(|| panic!("no check {name} in {r:#?}"))
}

fn compare(base: &[serde_json::Value], cand: &[serde_json::Value]) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = jsonl(&dir.path().join("b.jsonl"), base);
    let c = jsonl(&dir.path().join("c.jsonl"), cand);
    compare_paths(&settings(), &b, &c).expect("compare")
}

#[test]
fn identical_streams_pass() {
    let s = stream(&[2, 3, 5, 8]);
    let r = compare(&s, &s);
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    assert_eq!(check(&r, "runtime_variant").status, Status::Pass);
    assert_eq!(check(&r, "ticks").ticks, None);
    let f = check(&r, "fields");
    assert_eq!(f.ticks.as_ref().map(|t| t.aligned), Some(5));
}

#[test]
fn a_changed_queue_value_is_reported_at_its_tick_and_line() {
    let base = stream(&[2, 3, 4]);
    let mut cand = base.clone();
    cand[2]["changes"]["queue_metrics"]["cooldown_events"] = json!(7);
    let r = compare(&base, &cand);
    assert_eq!(r.verdict, Verdict::Fail);
    let f = check(&r, "fields");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.mismatches.len(), 1);
    assert_eq!(f.mismatches[0].tick, Some(3));
    assert_eq!(f.mismatches[0].candidate_line, Some(3));
    assert_eq!(
        f.mismatches[0].path.as_deref(),
        Some("queue_metrics.cooldown_events")
    );
    assert!(
        f.details[0]
            == "queue_metrics.cooldown_events: differs at 1 tick (3); first at tick 3 (candidate line 3): baseline 0.0, candidate 7",
        "{:?}",
        f.details
    );
}

#[test]
fn a_float_just_inside_and_just_outside_tolerance() {
    // default tolerance: abs 1e-6, rel 1e-7, numpy rule: |c - b| <= 1e-6 + 1e-7 * 100
    let base = vec![snapshot(1, "facade", 100.0)];
    let inside = vec![snapshot(1, "facade", 100.0 + 1.05e-5 * 0.9)];
    let outside = vec![snapshot(1, "facade", 100.0 + 1.1e-5 * 1.1)];
    assert_eq!(compare(&base, &inside).verdict, Verdict::Pass);
    assert_eq!(compare(&base, &outside).verdict, Verdict::Fail);
}

#[test]
fn runtime_variant_changed_on_one_tick() {
    let base = stream(&[2, 3, 4]);
    let mut cand = base.clone();
    cand[2]["changes"]["runtime_variant"] = json!("legacy");
    cand[3]["changes"]["runtime_variant"] = json!("facade");
    let r = compare(&base, &cand);
    let v = check(&r, "runtime_variant");
    assert_eq!(v.status, Status::Fail);
    assert_eq!(
        v.summary,
        "1 payload reports another value than 'facade' (tick 3)"
    );
    assert_eq!(v.mismatches[0].tick, Some(3));
    assert_eq!(
        v.details[0],
        "tick 3 (candidate line 3): runtime_variant \"legacy\", expected 'facade'"
    );
}

#[test]
fn runtime_variant_removed_after_being_present() {
    let base = stream(&[2, 3]);
    let mut cand = base.clone();
    cand[2] = diff(3, 0.0, json!({}), &["runtime_variant"]);
    let r = compare(&base, &cand);
    let v = check(&r, "runtime_variant");
    assert_eq!(v.status, Status::Fail);
    assert!(
        v.summary
            .contains("disappears after being present at tick 3"),
        "{}",
        v.summary
    );
}

#[test]
fn ticks_missing_from_the_candidate_fail_with_their_count_and_ranges() {
    let base = stream(&[2, 3, 4, 5, 9]);
    let cand = stream(&[2, 5, 6, 7, 9]);
    let r = compare(&base, &cand);
    let t = check(&r, "ticks");
    assert_eq!(t.status, Status::Fail);
    assert_eq!(
        t.summary,
        "2 ticks are missing from the candidate (3-4; none may be); 4 of 6 baseline ticks aligned; 2 only in the candidate (6-7)"
    );
    let a = check(&r, "fields").ticks.clone().expect("alignment");
    assert_eq!(a.baseline_only_ranges, [(3, 4)]);
    assert_eq!(a.candidate_only_ranges, [(6, 7)]);
    assert_eq!((a.missing, a.missing_ranges.clone()), (2, vec![(3, 4)]));
    assert_eq!(r.verdict, Verdict::Fail);

    // Within a configured budget the loss is a warning.
    let mut s = settings();
    s.max_missing_ticks = 2;
    let dir = tempfile::tempdir().expect("tempdir");
    let b = jsonl(&dir.path().join("b.jsonl"), &base);
    let c = jsonl(&dir.path().join("c.jsonl"), &cand);
    let r = compare_paths(&s, &b, &c).expect("compare");
    let t = check(&r, "ticks");
    assert_eq!(t.status, Status::Warn);
    assert!(t.summary.contains("at most 2 may be"), "{}", t.summary);
    assert_eq!(r.verdict, Verdict::Pass);
}

#[test]
fn a_lost_diff_does_not_invent_removed_keys() {
    // The diff of tick 2 is the only payload carrying `events` with items;
    // the candidate lost it (and tick 3).
    let mut base = stream(&[2, 3, 4, 5]);
    base[1]["changes"]["events"] = json!([{"actor": "alice", "kind": "wait"}]);
    base[2]["changes"]["events"] = json!([]);
    let cand: Vec<_> = [&base[0], &base[3], &base[4]]
        .into_iter()
        .cloned()
        .collect();
    let r = compare(&base, &cand);
    let s = check(&r, "schema");
    assert_eq!(s.status, Status::Pass, "{s:#?}");
    assert!(
        s.summary.contains("at the 3 ticks both have; 4 not judged"),
        "{}",
        s.summary
    );
    // The loss itself fails the ticks check, with the ticks named.
    let t = check(&r, "ticks");
    assert_eq!(t.status, Status::Fail);
    assert!(
        t.summary
            .starts_with("2 ticks are missing from the candidate (2-3;"),
        "{}",
        t.summary
    );
    // After the gap, keys that no payload set again are not compared with
    // stale values: they are unknown.
    let f = check(&r, "fields");
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    assert!(f.ticks.as_ref().is_some_and(|a| a.unknown > 0));
}

#[test]
fn a_key_dropped_by_the_candidate_is_still_a_removed_path() {
    let base = stream(&[2, 3]);
    let mut cand = base.clone();
    cand[0]["embedding_metrics"] = json!({"allocations_total": 2.0});
    let r = compare(&base, &cand);
    let s = check(&r, "schema");
    assert_eq!(s.status, Status::Fail);
    assert_eq!(s.details[0], "removed: embedding_metrics.forced_reuse_rate");
}

#[test]
fn runtime_variant_reasons_name_the_missing_snapshot() {
    // Both streams begin with diffs: nothing carries runtime_variant, and
    // the reason is the lost snapshot, not the schema.
    let all_diffs: Vec<_> = stream(&[2, 3, 4])[1..].to_vec();
    let r = compare(&all_diffs, &all_diffs);
    let v = check(&r, "runtime_variant");
    assert_eq!(v.status, Status::Skip);
    assert_eq!(
        v.summary,
        "not checked: it has no snapshot: it begins with a diff at tick 2 (the snapshot was lost), and no diff sets runtime_variant"
    );
    // Against a baseline that had it, the same candidate fails.
    let r = compare(&stream(&[2, 3, 4]), &all_diffs);
    let v = check(&r, "runtime_variant");
    assert_eq!(v.status, Status::Fail);
    assert!(v.summary.contains("it has no snapshot"), "{}", v.summary);
    assert!(
        v.summary.contains("but 1 baseline payloads do"),
        "{}",
        v.summary
    );
    // Full states of schema 0.9.0 never carry it.
    let line = |t: u64| json!({"schema_version": "0.9.0", "tick": t, "queue_metrics": {"cooldown_events": 0}});
    let legacy = vec![line(1), line(2)];
    let v = check(&compare(&legacy, &legacy), "runtime_variant").clone();
    assert_eq!(
        v.summary,
        "not checked: its full states of schema 0.9.0 have no runtime_variant key"
    );
}

#[test]
fn a_stream_starting_with_diffs_compares_what_is_known() {
    let base = stream(&[2, 3, 4]);
    // The candidate lost its snapshot: it begins with the diff of tick 2.
    let cand: Vec<_> = base[1..].to_vec();
    let r = compare(&base, &cand);
    let f = check(&r, "fields");
    assert_eq!(
        f.status,
        Status::Pass,
        "{}",
        render(&r, Format::Human, Style::new(false)).expect("render")
    );
    let a = f.ticks.as_ref().expect("alignment");
    assert_eq!(a.aligned, 3);
    // queue_metrics is known from the diffs; employment, conflict and
    // embedding_metrics are not.
    assert_eq!(a.unknown, 3 * 4);
    assert!(
        f.details.iter().any(|d| d.contains("state was not known")),
        "{:?}",
        f.details
    );
    let s = check(&r, "schema");
    assert!(
        s.details.iter().any(|d| d.contains("not judged")),
        "{:?}",
        s.details
    );
    // runtime_variant came with the dropped snapshot: it cannot be
    // confirmed, while the baseline carried it.
    let v = check(&r, "runtime_variant");
    assert_eq!(v.status, Status::Fail);
    assert!(
        v.summary.contains("cannot confirm 'facade'"),
        "{}",
        v.summary
    );
}

#[test]
fn removed_keys_change_the_schema() {
    let base = stream(&[2, 3]);
    let mut cand = base.clone();
    cand[2] = diff(3, 0.0, json!({}), &["jobs"]);
    let r = compare(&base, &cand);
    // jobs was present at ticks 1-2 in the candidate too, so the schema
    // (union of paths) is the same; the removal shows in the fields only if
    // they are compared. Compare jobs explicitly:
    let mut s = settings();
    s.fields = vec!["jobs.*.wallet".into()];
    let dir = tempfile::tempdir().expect("tempdir");
    let b = jsonl(&dir.path().join("b.jsonl"), &base);
    let c = jsonl(&dir.path().join("c.jsonl"), &cand);
    let r2 = compare_paths(&s, &b, &c).expect("compare");
    let f = check(&r2, "fields");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.mismatches[0].tick, Some(3));
    assert!(
        f.details[0].contains("jobs.alice.wallet: differs at 1 tick (3)"),
        "{:?}",
        f.details
    );
    assert!(
        f.details[0].contains("missing in the candidate (baseline 2.0)"),
        "{:?}",
        f.details
    );
    assert_eq!(r.verdict, Verdict::Pass);
}

#[test]
fn schema_removed_fails_added_warns() {
    let base = stream(&[2]);
    let mut cand = base.clone();
    cand[0].as_object_mut().expect("object").remove("jobs");
    cand[0]["new_section"] = json!({"x": 1});
    let r = compare(&base, &cand);
    let s = check(&r, "schema");
    assert_eq!(s.status, Status::Fail);
    assert!(
        s.details
            .contains(&"removed: jobs (and 2 paths below it)".to_string()),
        "{:?}",
        s.details
    );
    assert!(
        s.details
            .contains(&"added: new_section (and 1 path below it)".to_string()),
        "{:?}",
        s.details
    );
    let mut only_added = base.clone();
    only_added[0]["new_section"] = json!(1);
    assert_eq!(
        check(&compare(&base, &only_added), "schema").status,
        Status::Warn
    );
}

#[test]
fn legacy_full_state_streams_compare() {
    let line = |t: u64, c: u64| json!({"schema_version": "0.9.0", "tick": t, "queue_metrics": {"cooldown_events": c}});
    let base = vec![line(1, 0), line(2, 1)];
    let r = compare(&base, &base);
    assert_eq!(r.verdict, Verdict::Pass);
    assert_eq!(check(&r, "runtime_variant").status, Status::Skip);
    let r = compare(&base, &[line(1, 0), line(2, 2)]);
    assert_eq!(check(&r, "fields").mismatches[0].tick, Some(2));
}

#[test]
fn bad_telemetry_is_an_error_naming_file_line_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = jsonl(&dir.path().join("good.jsonl"), &stream(&[2]));
    let cases: [(&str, &[u8], &str); 6] = [
        (
            "json.jsonl",
            b"{\"tick\":1}\n{\"tick\":2,}\n",
            "json.jsonl`:2:11: invalid JSON at byte offset 21",
        ),
        (
            "trunc.jsonl",
            b"{\"tick\":1}\n{\"tick\":2,\"a\":[",
            "trunc.jsonl`:2: truncated last line",
        ),
        (
            "array.jsonl",
            b"{\"tick\":1}\n[]\n",
            "array.jsonl`:2: expected a JSON object",
        ),
        (
            "utf8.jsonl",
            b"{\"tick\":1,\"a\":\"\xff\"}\n",
            "utf8.jsonl`:1: invalid UTF-8 at byte offset 15",
        ),
        ("empty.jsonl", b"", "empty.jsonl` is empty"),
        (
            "order.jsonl",
            b"{\"tick\":2}\n{\"tick\":1}\n",
            "order.jsonl`:2: tick 1 does not follow tick 2",
        ),
    ];
    for (name, bytes, expected) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        let e = compare_paths(&settings(), &good, &p).expect_err(name);
        assert!(format!("{e:#}").contains(expected), "{name}: {e:#}");
    }
    // BOM and blank lines are fine.
    let p = dir.path().join("bom.jsonl");
    std::fs::write(&p, b"\xEF\xBB\xBF{\"tick\":1}\n\n{\"tick\":2}\n").expect("write");
    assert!(compare_paths(&settings(), &p, &p).is_ok());
}

#[test]
fn human_report_reads_well() {
    let base = stream(&[2, 3, 4]);
    let mut cand = base.clone();
    cand[2]["changes"]["queue_metrics"]["cooldown_events"] = json!(7);
    cand[3]["changes"]["runtime_variant"] = json!("legacy");
    let mut r = compare(&base, &cand);
    r.baseline = "baselines/telemetry.jsonl".into();
    r.candidate = "capture/telemetry.jsonl".into();
    r.files[0].path = "telemetry.jsonl".into();
    insta::assert_snapshot!(render(&r, Format::Human, Style::new(false)).expect("render"));
}

#[test]
fn a_stream_whose_keys_are_ids_is_not_judged_on_its_schema() {
    // Each tick brings new agents: a new key path per agent and field.
    let per_tick = 50;
    let ticks = baseline_diff::stream_cmp::MAX_SCHEMA_PATHS / per_tick + 10;
    let lines: Vec<serde_json::Value> = (1..=ticks)
        .map(|t| {
            let agents: serde_json::Map<String, serde_json::Value> = (0..per_tick)
                .map(|i| (format!("a{t}_{i}"), json!(i)))
                .collect();
            json!({"tick": t, "runtime_variant": "facade", "agents": agents})
        })
        .collect();
    let r = compare(&lines, &lines);
    let schema = check(&r, "schema");
    assert_eq!(schema.status, Status::Warn, "{schema:?}");
    assert_eq!(
        schema.summary,
        "not judged: the baseline has more than 100000 distinct key paths, more than are kept"
    );
    assert!(
        schema.details[0].ends_with(
            "directly below `agents`: its keys look like ids (each one makes new paths)"
        ),
        "{:?}",
        schema.details
    );
    assert_eq!(check(&r, "fields").status, Status::Pass);
}
