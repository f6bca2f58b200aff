//! Differential: a line decoded keeping only some fields agrees with the same
//! line decoded in full and with plain `serde_json::Value` parsing: the same
//! error or the same payload, the same selected values, the same schema.
//! Keeping some fields goes through telemetry's own scanner (serde_json
//! builds the kept parts and decides every line the scanner gives up on);
//! decoding in full is serde_json alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use telemetry::{FieldPattern, Keep, Options, Reconstructor, Selection, ShapePaths, Stream};

const PATTERNS: [&str; 6] = [
    "queue_metrics.*",
    "conflict.queues.*",
    "employment.pending_count",
    "runtime_variant",
    "h.1.t",
    "*",
];

fuzz_target!(|data: &[u8]| {
    // Lines of the input, each decoded three ways.
    for (i, line) in data.split(|b| *b == b'\n').enumerate() {
        let n = i as u64 + 1;
        let full = telemetry::parse_line("f", n, 0, line, true);
        let oracle = serde_json::from_slice::<Value>(line);
        match (&full, &oracle) {
            (Ok(p), Ok(Value::Object(o))) => {
                // Every set value is the object's (or its `changes`'s) value.
                let src = match (p.payload_type, o.get("changes")) {
                    (telemetry::PayloadType::Diff, Some(Value::Object(c))) => c,
                    _ => o,
                };
                for (k, v) in &p.set {
                    assert_eq!(src.get(k), Some(v), "key {k}");
                }
            }
            (Ok(_), other) => panic!("decoded a line serde_json reads as {other:?}"),
            (Err(_), _) => {}
        }
        // Just one pattern at a time, and all of them.
        for chosen in PATTERNS.iter().map(|p| vec![*p]).chain([PATTERNS.to_vec()]) {
            let pats: Vec<FieldPattern> = chosen
                .iter()
                .map(|p| FieldPattern::new(p).expect("pattern"))
                .collect();
            let keep = Keep::fields(pats.iter().cloned());
            let part = telemetry::parse_line_keeping(
                &keep,
                telemetry::SourceLine { source: "f", number: n, offset: 0, bytes: line, terminated: true },
            );
            match (&full, part) {
                (Err(a), Err(b)) => assert_eq!(a, &b),
                (Ok(a), Ok(b)) => {
                    assert_eq!((a.tick, a.payload_type, &a.removed), (b.tick, b.payload_type, &b.removed));
                    let keys = |p: &telemetry::Payload| p.set.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
                    assert_eq!(keys(a), keys(&b));
                    let sa = Reconstructor::new().apply(a.clone());
                    let sb = Reconstructor::keeping(keep.clone()).apply(b);
                    for p in &pats {
                        let x = sa.select(p);
                        let y = sb.select(p);
                        assert!(!matches!(y, Selection::NotDecoded), "{p} not decoded");
                        assert_eq!(x, y, "pattern {p}");
                    }
                }
                (a, b) => panic!("full {a:?} vs kept {b:?}"),
            }
            // The same shapes, fingerprints and key paths both ways.
            let schema_of = |keep: Keep| -> Vec<ShapePaths> {
                let options = Options::default().keep(keep).schema(true);
                Stream::inline_with(std::io::Cursor::new(line.to_vec()), "f".into(), options)
                    .filter_map(Result::ok)
                    .flat_map(|s| s.new_shapes)
                    .collect()
            };
            assert_eq!(schema_of(Keep::All), schema_of(keep.clone()));
        }
    }
});
