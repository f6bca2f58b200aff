use std::path::PathBuf;

use telemetry::{ErrorKind, Known, PayloadType, ReadError, Stream, TickState};

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
