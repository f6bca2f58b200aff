//! The parser of Townlet's Python log lines about its telemetry:
//! `tick_health` records, the plaintext-transport warning and the telemetry
//! buffer warning. Read by the monitor and by the capture. Pure: one
//! line in, one event (or nothing) out. Keys are read as `key=value` pairs,
//! never by position, so the key sets of older and newer Townlet builds both
//! parse; a value of `None` (or one that is not a number) is "not reported".

use memchr::memmem;

/// What a log line says about telemetry, when it says anything.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEvent<'a> {
    TickHealth(TickHealth<'a>),
    /// `telemetry_tcp_plaintext_enabled endpoint=HOST:PORT`.
    Plaintext {
        endpoint: &'a str,
    },
    /// `Telemetry buffer exceeded N bytes; dropped M payloads`.
    BufferExceeded {
        bytes: Option<u64>,
        dropped: u64,
    },
    /// A `tick_health` line whose `tick` is missing or not a tick
    /// (`tick=-1`): the line cannot be placed.
    BadTick {
        value: Option<&'a str>,
    },
}

/// One `tick_health` record. Every field but `tick` may be missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickHealth<'a> {
    pub tick: u64,
    pub duration_ms: Option<f64>,
    pub queue: Option<u64>,
    /// Cumulative dropped payloads.
    pub dropped: Option<u64>,
    pub exit_queue: Option<u64>,
    /// Printed by builds that log it; absent from current Townlet.
    pub runtime_variant: Option<&'a str>,
    /// Values of known keys that are neither a number nor `None`
    /// (`dropped=abc`): read as not reported, and worth a warning.
    pub malformed: Vec<(&'a str, &'a str)>,
}

const TICK_HEALTH: &[u8] = b"tick_health ";
const PLAINTEXT: &[u8] = b"telemetry_tcp_plaintext_enabled";
const BUFFER: &[u8] = b"Telemetry buffer exceeded ";

/// Parses one log line (without its newline).
pub fn parse(line: &str) -> Option<LogEvent<'_>> {
    let bytes = line.as_bytes();
    if let Some(i) = memmem::find(bytes, TICK_HEALTH) {
        // The marker must start a word (`... sim_loop tick_health tick=1`).
        if i == 0 || bytes[i - 1] == b' ' {
            return Some(tick_health(&line[i + TICK_HEALTH.len()..]));
        }
    }
    if let Some(i) = memmem::find(bytes, BUFFER) {
        return buffer_exceeded(&line[i + BUFFER.len()..]);
    }
    if let Some(i) = memmem::find(bytes, PLAINTEXT) {
        let rest = &line[i + PLAINTEXT.len()..];
        let endpoint = pairs(rest)
            .find(|(k, _)| *k == "endpoint")
            .map(|(_, v)| v)?;
        return Some(LogEvent::Plaintext { endpoint });
    }
    None
}

fn tick_health(rest: &str) -> LogEvent<'_> {
    let mut out = TickHealth::default();
    let mut tick: Option<Result<u64, &str>> = None;
    for (k, v) in pairs(rest) {
        match k {
            "tick" => tick = Some(tick_number(v).ok_or(v)),
            "duration_ms" => {
                out.duration_ms = v.parse::<f64>().ok().filter(|f| f.is_finite());
                if out.duration_ms.is_none() && v != "None" {
                    out.malformed.push((k, v));
                }
            }
            "queue" | "dropped" | "exit_queue" => {
                let count = number(v);
                if count.is_none() && v != "None" {
                    out.malformed.push((k, v));
                }
                match k {
                    "queue" => out.queue = count,
                    "dropped" => out.dropped = count,
                    _ => out.exit_queue = count,
                }
            }
            "runtime_variant" if v != "None" && !v.is_empty() => {
                out.runtime_variant = Some(v.trim_matches(['\'', '"']));
            }
            _ => {}
        }
    }
    match tick {
        Some(Ok(tick)) => {
            out.tick = tick;
            LogEvent::TickHealth(out)
        }
        Some(Err(value)) => LogEvent::BadTick { value: Some(value) },
        None => LogEvent::BadTick { value: None },
    }
}

fn buffer_exceeded(rest: &str) -> Option<LogEvent<'_>> {
    // `256000 bytes; dropped 2 payloads`
    let mut words = rest.split_ascii_whitespace();
    let bytes = words.next().and_then(number);
    let mut dropped = None;
    while let Some(w) = words.next() {
        if w == "dropped" {
            dropped = words.next().and_then(number);
            break;
        }
    }
    Some(LogEvent::BufferExceeded {
        bytes,
        dropped: dropped?,
    })
}

/// A count (`queue`, `dropped`, `exit_queue`, the buffer warning's
/// figures): any unsigned integer Python prints, or a float with no
/// fraction (`3.0`, `1e+20`). Counts beyond `u64::MAX` (Python's ints have
/// no bound) are read as `u64::MAX`: more than any limit, which is what the
/// rules need to know. Negative numbers, fractions, `inf` and `nan` are not
/// counts.
fn number(v: &str) -> Option<u64> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: only an overflow can fail.
        return Some(v.parse::<u64>().unwrap_or(u64::MAX));
    }
    let f = v.parse::<f64>().ok()?;
    // `as` saturates at `u64::MAX`.
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0).then_some(f as u64)
}

/// A tick: a count that fits `u64` exactly (a tick is a place, so a larger
/// one is not read as another tick).
fn tick_number(v: &str) -> Option<u64> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok();
    }
    number(v).filter(|&tick| tick < u64::MAX)
}

/// `key=value` words; words without `=` are skipped.
fn pairs(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.split_ascii_whitespace().filter_map(|w| w.split_once('='))
}

/// Whether an endpoint's host is a loopback name Townlet accepts for
/// plaintext (`localhost`, `127.0.0.1`, `::1`, also written `[::1]`).
pub fn is_loopback(endpoint: &str) -> bool {
    let host = match endpoint.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => endpoint,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    matches!(
        host.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "::1"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "2026-01-05 10:00:01,123 INFO townlet.core.sim_loop tick_health tick=71 duration_ms=1.70 queue=0 dropped=2 flush_ms=None payloads_total=0 bytes_total=0 perturbations_pending=0 perturbations_active=0 exit_queue=0";
    const OLD: &str = "2025-02-01 10:00:00,001 INFO townlet.core.sim_loop tick_health tick=9 duration_ms=2.10 queue=3 dropped=None perturbations_pending=0 perturbations_active=0 exit_queue=4";

    #[test]
    fn newer_key_set() {
        let Some(LogEvent::TickHealth(t)) = parse(NEW) else {
            panic!("not parsed")
        };
        assert_eq!(t.tick, 71);
        assert_eq!(t.dropped, Some(2));
        assert_eq!(t.queue, Some(0));
        assert_eq!(t.exit_queue, Some(0));
        assert_eq!(t.duration_ms, Some(1.7));
    }

    #[test]
    fn older_key_set_and_none_values() {
        let Some(LogEvent::TickHealth(t)) = parse(OLD) else {
            panic!("not parsed")
        };
        assert_eq!(
            (t.tick, t.queue, t.dropped, t.exit_queue),
            (9, Some(3), None, Some(4))
        );
    }

    #[test]
    fn warnings() {
        assert_eq!(
            parse(
                "2026-01-05 10:00:01,123 WARNING townlet.telemetry.worker Telemetry buffer exceeded 256000 bytes; dropped 2 payloads"
            ),
            Some(LogEvent::BufferExceeded {
                bytes: Some(256000),
                dropped: 2
            })
        );
        assert_eq!(
            parse(
                "2026-01-05 10:00:01,123 WARNING townlet.telemetry.transport telemetry_tcp_plaintext_enabled endpoint=10.0.0.5:8765"
            ),
            Some(LogEvent::Plaintext {
                endpoint: "10.0.0.5:8765"
            })
        );
    }

    #[test]
    fn tick_health_without_a_tick_is_a_bad_tick() {
        assert_eq!(
            parse("tick_health duration_ms=1 queue=0"),
            Some(LogEvent::BadTick { value: None })
        );
        assert_eq!(
            parse("tick_health tick=-1 queue=0"),
            Some(LogEvent::BadTick { value: Some("-1") })
        );
        assert_eq!(parse("Loaded affordance manifest (objects=3)"), None);
        assert_eq!(parse("not_tick_health tick=3"), None);
    }

    #[test]
    fn malformed_values_are_not_reported_and_listed() {
        let Some(LogEvent::TickHealth(t)) =
            parse("tick_health tick=4 duration_ms=fast queue=0 dropped=abc exit_queue=None")
        else {
            panic!("not parsed")
        };
        assert_eq!(
            (t.tick, t.queue, t.dropped, t.exit_queue),
            (4, Some(0), None, None)
        );
        assert_eq!(t.malformed, [("duration_ms", "fast"), ("dropped", "abc")]);
    }

    /// Issue 20, item 14: the largest counts Python prints are counts.
    #[test]
    fn counts_up_to_and_beyond_u64_are_read() {
        let Some(LogEvent::TickHealth(t)) = parse(
            "tick_health tick=18446744073709551615 duration_ms=1e308 queue=18446744073709551615 dropped=99999999999999999999999 exit_queue=18446744073709551615",
        ) else {
            panic!("not parsed")
        };
        assert_eq!(t.tick, u64::MAX);
        assert_eq!(t.exit_queue, Some(u64::MAX));
        assert_eq!(t.queue, Some(u64::MAX));
        assert_eq!(t.dropped, Some(u64::MAX), "saturated beyond u64");
        assert_eq!(t.duration_ms, Some(1e308));
        assert!(t.malformed.is_empty(), "{:?}", t.malformed);
        let Some(LogEvent::TickHealth(t)) =
            parse("tick_health tick=2 queue=3.0 dropped=1e+20 exit_queue=12345678901234567890")
        else {
            panic!("not parsed")
        };
        assert_eq!(
            (t.queue, t.dropped, t.exit_queue),
            (Some(3), Some(u64::MAX), Some(12_345_678_901_234_567_890))
        );
        // What is not a count keeps its warning; a tick beyond u64 is not
        // a tick.
        let Some(LogEvent::TickHealth(t)) =
            parse("tick_health tick=5 queue=-1 dropped=2.5 exit_queue=nan")
        else {
            panic!("not parsed")
        };
        assert_eq!(
            t.malformed,
            [("queue", "-1"), ("dropped", "2.5"), ("exit_queue", "nan")]
        );
        assert_eq!(
            parse("tick_health tick=18446744073709551616 queue=0"),
            Some(LogEvent::BadTick {
                value: Some("18446744073709551616")
            })
        );
        assert_eq!(
            parse(
                "WARNING Telemetry buffer exceeded 18446744073709551615 bytes; dropped 18446744073709551615 payloads"
            ),
            Some(LogEvent::BufferExceeded {
                bytes: Some(u64::MAX),
                dropped: u64::MAX
            })
        );
    }

    #[test]
    fn loopback_hosts() {
        for e in [
            "localhost:8765",
            "127.0.0.1:1",
            "::1:8765",
            "[::1]:8765",
            "LOCALHOST:2",
        ] {
            assert!(is_loopback(e), "{e}");
        }
        for e in [
            "demo.local:8765",
            "10.0.0.5:80",
            "127.0.0.2:1",
            "localhost.evil:1",
            "",
        ] {
            assert!(!is_loopback(e), "{e}");
        }
    }
}
