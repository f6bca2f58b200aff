//! Any bytes through the telemetry reader and reconstruction: never a panic,
//! line numbers and ticks increase (the stream refuses others), errors
//! stay inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    // Half the inputs keep only some fields, with the schema listed.
    let options = if data.first().is_some_and(|b| b & 1 == 1) {
        let pats = ["queue_metrics.*", "runtime_variant", "h.0.t"]
            .map(|p| telemetry::FieldPattern::new(p).expect("pattern"));
        telemetry::Options::default()
            .keep(telemetry::Keep::fields(pats))
            .schema(true)
    } else {
        telemetry::Options::default()
    };
    let stream =
        telemetry::Stream::inline_with(std::io::Cursor::new(data.to_vec()), "fuzz".into(), options);
    let mut last_line = 0;
    let mut last_tick: Option<u64> = None;
    for item in stream {
        match item {
            Ok(state) => {
                assert!(state.line > last_line);
                assert!(last_tick.is_none_or(|t| state.tick > t), "tick order");
                last_tick = Some(state.tick);
                assert!(state.offset < len);
                last_line = state.line;
                for key in state.set_keys.iter() {
                    assert!(state.is_known(key));
                }
                let _ = state.known_keys();
                let _ = state.field("queue_metrics.cooldown_events");
                let _ = state.field("h.0.t.x");
            }
            Err(e) => {
                assert!(e.offset <= len, "{e}");
                let _ = e.to_string();
                break;
            }
        }
    }
});
