//! Any text as lines of a Townlet log: `telemetry::log::parse` never
//! panics, and what it returns comes from the line itself (malformed
//! values are quoted, not invented).
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry::log::{LogEvent, parse};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        match parse(line) {
            Some(LogEvent::TickHealth(t)) => {
                for (key, value) in &t.malformed {
                    assert!(line.contains(&format!("{key}={value}")), "{line}");
                }
                if let Some(variant) = t.runtime_variant {
                    assert!(line.contains(variant));
                }
            }
            Some(LogEvent::BadTick { value: Some(v) }) => assert!(line.contains(v)),
            Some(LogEvent::Plaintext { endpoint }) => assert!(line.contains(endpoint)),
            Some(LogEvent::BufferExceeded { .. } | LogEvent::BadTick { value: None }) | None => {}
        }
    }
});
