use std::path::PathBuf;

use telemetry::{
    ErrorKind, FieldPattern, Keep, Known, Options, PayloadType, ReadError, Selection, Stream,
    TickState,
};

fn write(dir: &tempfile::TempDir, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join("t.jsonl");
    std::fs::write(&p, bytes).expect("write");
    p
}

fn read(bytes: &[u8]) -> Result<Vec<TickState>, ReadError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(&dir, bytes);
    Stream::open(&p)?.collect()
}

fn read_err(bytes: &[u8]) -> ReadError {
    read(bytes).expect_err("should fail")
}

#[test]
fn snapshot_then_diffs_with_dropped_ticks() {
    let states = read(
        b"{\"schema_version\":\"0.9.7\",\"tick\":1,\"runtime_variant\":\"facade\",\"a\":{\"x\":1},\"b\":[1],\"payload_type\":\"snapshot\"}\n\
          {\"schema_version\":\"0.9.7\",\"tick\":2,\"payload_type\":\"diff\",\"changes\":{\"a\":{\"x\":2}}}\n\
          {\"schema_version\":\"0.9.7\",\"tick\":9,\"payload_type\":\"diff\",\"changes\":{},\"removed\":[\"b\"]}\n",
    )
    .expect("read");
    let ticks: Vec<u64> = states.iter().map(|s| s.tick).collect();
    assert_eq!(ticks, [1, 2, 9]);
    assert_eq!(states[1].field("a.x"), Known::Present(&2.into()));
    assert_eq!(
        states[1].field("runtime_variant"),
        Known::Present(&"facade".into())
    );
    assert_eq!(states[2].key("b"), Known::Absent);
    assert_eq!(states[2].line, 3);
    assert_eq!(states[2].payload_type, PayloadType::Diff);
    assert_eq!(states[0].schema_version.as_deref(), Some("0.9.7"));
}

#[test]
fn legacy_full_states_bom_crlf_and_blank_lines() {
    let states = read(b"\xEF\xBB\xBF{\"schema_version\":\"0.9.0\",\"tick\":1,\"a\":1}\r\n\n  \n{\"tick\":2,\"a\":2}\n").expect("read");
    assert_eq!(states.len(), 2);
    assert_eq!(states[0].payload_type, PayloadType::FullState);
    assert_eq!(states[1].line, 4);
    assert_eq!(states[1].key("missing"), Known::Absent);
}

#[test]
fn a_stream_starting_with_diffs_marks_the_rest_unknown() {
    let states = read(b"{\"tick\":4,\"payload_type\":\"diff\",\"changes\":{\"a\":1}}\n{\"tick\":5,\"payload_type\":\"diff\",\"changes\":{\"b\":1},\"removed\":[\"a\"]}\n").expect("read");
    assert!(!states[1].complete);
    assert_eq!(states[1].key("a"), Known::Absent);
    assert_eq!(states[1].key("zzz"), Known::Unknown);
    assert_eq!(states[1].field("b"), Known::Present(&1.into()));
}

#[test]
fn errors_name_line_and_byte_offset() {
    let e = read_err(b"{\"tick\":1}\n{\"tick\":2,,}\n");
    assert_eq!((e.line, e.offset), (2, 11 + 10));
    assert!(
        e.to_string()
            .contains(":2:11: invalid JSON at byte offset 21"),
        "{e}"
    );

    let e = read_err(b"{\"tick\":1}\n{\"tick\":2,\"a\":[1,");
    assert_eq!(e.kind, ErrorKind::TruncatedLastLine);
    assert_eq!(e.line, 2);

    let e = read_err(b"{\"tick\":1}\n[1,2]\n");
    assert_eq!(e.kind, ErrorKind::NotAnObject { found: "an array" });

    let e = read_err(b"{\"tick\":1}\n{\"tick\":2,\"s\":\"\xc3\x28\"}\n");
    assert_eq!(
        (e.kind.clone(), e.line, e.offset),
        (ErrorKind::InvalidUtf8, 2, 11 + 15)
    );

    assert_eq!(read_err(b"").kind, ErrorKind::Empty);
    assert_eq!(read_err(b"\n \n").kind, ErrorKind::OnlyBlank);
    assert_eq!(read_err(b"\xEF\xBB\xBF").kind, ErrorKind::OnlyBlank);
}

#[test]
fn a_last_line_without_newline_is_fine_when_complete() {
    let states = read(b"{\"tick\":1}\n{\"tick\":2}").expect("read");
    assert_eq!(states.len(), 2);
}

#[test]
fn many_batches_keep_order_and_line_numbers() {
    let mut text = String::from("{\"tick\":0,\"payload_type\":\"snapshot\",\"n\":0}\n");
    for i in 1..60_000u64 {
        text.push_str(&format!(
            "{{\"tick\":{i},\"payload_type\":\"diff\",\"changes\":{{\"n\":{i},\"pad\":\"{}\"}}}}\n",
            "x".repeat(20)
        ));
    }
    let states = read(text.as_bytes()).expect("read");
    assert_eq!(states.len(), 60_000);
    for (i, s) in states.iter().enumerate() {
        assert_eq!(s.tick, i as u64);
        assert_eq!(s.line, i as u64 + 1);
        assert_eq!(s.field("n"), Known::Present(&(i as u64).into()));
    }
}

#[test]
fn inline_and_threaded_agree() {
    let text = b"{\"tick\":1,\"a\":1}\n{\"tick\":2,\"payload_type\":\"diff\",\"changes\":{\"a\":3}}\n{bad\n";
    let inline: Vec<_> = Stream::inline(std::io::Cursor::new(text.to_vec()), "m".into()).collect();
    let threaded: Vec<_> =
        Stream::threaded(std::io::Cursor::new(text.to_vec()), "m".into()).collect();
    assert_eq!(inline.len(), 3);
    assert_eq!(threaded.len(), 3);
    let e1 = inline[2].as_ref().expect_err("bad");
    let e2 = threaded[2].as_ref().expect_err("bad");
    assert_eq!(e1, e2);
    assert_eq!(e1.line, 3);
}

fn keep(patterns: &[&str]) -> Options {
    let patterns = patterns
        .iter()
        .map(|p| FieldPattern::new(p).expect("pattern"));
    Options::default().keep(Keep::fields(patterns)).schema(true)
}

fn read_with(bytes: &[u8], options: Options) -> Vec<TickState> {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(&dir, bytes);
    Stream::open_with(&p, options)
        .expect("open")
        .collect::<Result<_, _>>()
        .expect("read")
}

const KEPT: &[u8] = b"{\"tick\":1,\"payload_type\":\"snapshot\",\"queue_metrics\":{\"a\":1,\"b\":[2]},\"conflict\":{\"queues\":{\"q\":3},\"queue_history\":[{\"t\":1},{\"t\":2}]},\"world\":{\"agents\":{\"x\":{\"hp\":5}}}}\n\
{\"tick\":2,\"payload_type\":\"diff\",\"changes\":{\"queue_metrics\":{\"a\":4,\"b\":[2]},\"world\":{\"agents\":{\"y\":{\"hp\":1}}}}}\n\
{\"changes\":{\"conflict\":{\"queues\":{\"q\":9}}},\"payload_type\":\"diff\",\"tick\":3,\"removed\":[\"world\"]}\n";

#[test]
fn keeping_some_fields_answers_them_and_says_what_was_not_decoded() {
    let states = read_with(KEPT, keep(&["queue_metrics.*", "conflict.queues.*"]));
    let pattern = |p: &str| FieldPattern::new(p).expect("pattern");
    assert_eq!(
        states[1].select(&pattern("queue_metrics.*")),
        Selection::Values(vec![
            ("queue_metrics.a".into(), &4.into()),
            ("queue_metrics.b".into(), &serde_json::json!([2])),
        ])
    );
    // The diff of tick 3, written with `changes` before `payload_type`,
    // changes conflict and keeps the queue metrics of tick 2.
    assert_eq!(
        states[2].field("conflict.queues.q"),
        Known::Present(&9.into())
    );
    assert_eq!(
        states[2].field("queue_metrics.a"),
        Known::Present(&4.into())
    );
    // Not kept: present, but not decoded; removed keys are still absent.
    assert_eq!(states[0].field("conflict.queue_history"), Known::NotDecoded);
    assert_eq!(states[0].key("conflict"), Known::NotDecoded);
    assert_eq!(states[1].field("world.agents.y.hp"), Known::NotDecoded);
    assert_eq!(states[2].key("world"), Known::Absent);
    assert_eq!(states[0].select(&pattern("world.*")), Selection::NotDecoded);
    assert_eq!(
        states[0].keys().collect::<Vec<_>>(),
        ["conflict", "queue_metrics", "world"]
    );
}

#[test]
fn schema_paths_are_listed_once_per_new_shape() {
    let kept = read_with(KEPT, keep(&["queue_metrics.*"]));
    let all = read_with(KEPT, Options::default().schema(true));
    let paths = |states: &[TickState]| -> Vec<Vec<String>> {
        states
            .iter()
            .map(|s| {
                let mut all: Vec<String> =
                    s.new_shapes.iter().flat_map(|n| n.paths.clone()).collect();
                all.sort();
                all
            })
            .collect()
    };
    assert_eq!(
        paths(&kept),
        paths(&all),
        "what is kept does not change the schema"
    );
    let listed = paths(&kept);
    assert!(
        listed[0].contains(&"conflict.queue_history[].t".to_string()),
        "{listed:?}"
    );
    assert!(listed[0].contains(&"world.agents.x.hp".to_string()));
    // Tick 2: queue_metrics has its old shape; world has a new agent.
    assert_eq!(
        listed[1],
        [
            "world",
            "world.agents",
            "world.agents.y",
            "world.agents.y.hp"
        ]
    );
    // Without the option nothing is listed.
    assert!(
        read_with(KEPT, Options::default())
            .iter()
            .all(|s| s.new_shapes.is_empty())
    );
}

#[test]
fn keeping_some_fields_reports_the_same_errors() {
    let bad: &[&[u8]] = &[
        b"{\"tick\":1,\"world\":{\"x\":1e999}}\n",
        b"{\"tick\":1,\"world\":{\"x\":}}\n",
        b"{\"tick\":1,\"payload_type\":\"diff\",\"changes\":[1]}\n",
        b"{\"tick\":1,\"payload_type\":\"diff\",\"other\":tru}\n",
        b"[1,2]\n",
    ];
    for bytes in bad {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(&dir, bytes);
        let full = Stream::open(&p)
            .expect("open")
            .collect::<Result<Vec<_>, _>>();
        let kept = Stream::open_with(&p, keep(&["queue_metrics.*"]))
            .expect("open")
            .collect::<Result<Vec<_>, _>>();
        let full = full.expect_err("bad input");
        assert_eq!(full, kept.expect_err("bad input"));
    }
}

#[test]
fn a_gap_makes_what_the_lost_payloads_may_have_changed_unknown() {
    let states = read(
        b"{\"tick\":1,\"payload_type\":\"snapshot\",\"a\":1,\"b\":{\"x\":1},\"c\":3}\n\
          {\"tick\":2,\"payload_type\":\"diff\",\"changes\":{\"a\":2}}\n\
          {\"tick\":5,\"payload_type\":\"diff\",\"changes\":{\"b\":{\"x\":5}},\"removed\":[\"c\"]}\n\
          {\"tick\":6,\"payload_type\":\"diff\",\"changes\":{\"a\":6}}\n\
          {\"tick\":8,\"payload_type\":\"snapshot\",\"a\":8}\n",
    )
    .expect("read");
    let missing: Vec<_> = states.iter().map(|s| s.missing_before).collect();
    assert_eq!(missing, [None, None, Some((3, 4)), None, Some((7, 7))]);
    // Tick 2 follows tick 1: nothing lost, everything known.
    assert!(states[1].complete);
    assert_eq!(states[1].key("c"), Known::Present(&3.into()));
    // Ticks 3-4 were lost: `a` may have changed there, so it is unknown
    // until tick 6 sets it; what tick 5 says is known.
    assert!(!states[2].complete);
    assert_eq!(states[2].key("a"), Known::Unknown);
    assert_eq!(states[2].field("b.x"), Known::Present(&5.into()));
    assert_eq!(states[2].key("c"), Known::Absent);
    assert_eq!(states[3].key("a"), Known::Present(&6.into()));
    assert_eq!(states[3].field("b.x"), Known::Present(&5.into()));
    // A snapshot after a gap knows everything again.
    assert!(states[4].complete);
    assert_eq!(states[4].key("b"), Known::Absent);
}

#[test]
fn equal_shapes_have_equal_fingerprints_and_paths_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        &dir,
        b"{\"tick\":1,\"payload_type\":\"snapshot\",\"a\":{\"x\":1},\"b\":{\"x\":1}}\n\
          {\"tick\":2,\"payload_type\":\"diff\",\"changes\":{\"a\":{\"x\":7}}}\n\
          {\"tick\":3,\"payload_type\":\"diff\",\"changes\":{\"a\":{\"y\":7}}}\n",
    );
    let states: Vec<TickState> = Stream::open_with(&p, Options::default().schema(true))
        .expect("open")
        .collect::<Result<_, _>>()
        .expect("read");
    let shape = |s: &TickState, k: &str| s.shapes().find(|(key, _)| *key == k).map(|(_, f)| f);
    // Same value shape, same key: same fingerprint; another key: another.
    assert_eq!(shape(&states[0], "a"), shape(&states[1], "a"));
    assert_ne!(shape(&states[0], "a"), shape(&states[0], "b"));
    assert_ne!(shape(&states[1], "a"), shape(&states[2], "a"));
    assert!(
        states[1].new_shapes.is_empty(),
        "a's shape was seen at tick 1"
    );
    assert_eq!(states[2].new_shapes.len(), 1);
    assert_eq!(states[2].new_shapes[0].paths, ["a", "a.y"]);
    assert_eq!(Some(states[2].new_shapes[0].shape), shape(&states[2], "a"));
}
