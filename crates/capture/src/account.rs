//! Counting what a capture wrote: the ticks of each telemetry stream and the
//! ticks it lost, and what Townlet's log says about its runs and drops.

use std::io::BufReader;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use telemetry::log::{LogEvent, parse};
use telemetry::{Keep, Options, Stream};

/// Ranges of lost ticks kept in a record.
const MAX_RANGES: usize = 20;

/// One telemetry stream of the capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCount {
    /// Relative to the capture directory.
    pub path: String,
    /// Payloads (lines) written.
    pub payloads: u64,
    pub first_tick: Option<u64>,
    pub last_tick: Option<u64>,
    /// The last tick Townlet ran, from its log (the longest run), when known.
    pub ticks_run: Option<u64>,
    /// Ticks with no payload: gaps, a missing start (the stream begins with
    /// a diff), and ticks run after the last payload.
    pub lost: u64,
    /// The first ranges of lost ticks, inclusive.
    pub lost_ranges: Vec<(u64, u64)>,
    /// The stream could not be read to its end.
    pub error: Option<String>,
}

impl StreamCount {
    pub fn summary(&self) -> String {
        if let Some(e) = &self.error {
            return format!("{}: not a valid stream: {e}", self.path);
        }
        let total = self.ticks_run.or(self.last_tick).unwrap_or(0);
        if self.lost == 0 {
            return format!(
                "{}: {} of {total} ticks written, none lost",
                self.path, self.payloads
            );
        }
        format!(
            "{}: {} of {total} ticks written, {} lost ({})",
            self.path,
            self.payloads,
            self.lost,
            ranges_text(&self.lost_ranges, self.lost)
        )
    }
}

/// `3-5, 9, ...`.
pub(crate) fn ranges_text(ranges: &[(u64, u64)], total: u64) -> String {
    let mut shown = 0;
    let mut parts: Vec<String> = Vec::new();
    for &(a, b) in ranges.iter().take(8) {
        shown += b - a + 1;
        parts.push(if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        });
    }
    if shown < total {
        parts.push("...".into());
    }
    parts.join(", ")
}

/// What Townlet's log of the capture says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCount {
    pub path: String,
    pub lines: u64,
    pub tick_health: u64,
    /// The last tick of each run (a run restarts when the tick goes back).
    pub runs: Vec<u64>,
    /// The sum over runs of the last cumulative `dropped` of `tick_health`,
    /// when any line reported it.
    pub dropped: Option<u64>,
    /// `Telemetry buffer exceeded ...; dropped N payloads` warnings.
    pub drop_warnings: u64,
    /// The payloads those warnings say were dropped.
    pub dropped_in_warnings: u64,
    /// `telemetry_tcp_plaintext_enabled endpoint=...` endpoints.
    pub plaintext_endpoints: Vec<String>,
}

impl LogCount {
    pub fn summary(&self) -> String {
        if self.tick_health == 0 {
            return format!(
                "Townlet's log has no tick_health lines in {} lines (not logged at INFO?)",
                self.lines
            );
        }
        let runs = if self.runs.len() == 1 {
            String::new()
        } else {
            format!(" over {} runs", self.runs.len())
        };
        let dropped = match self.dropped {
            Some(0) if self.dropped_in_warnings == 0 => "dropped=0".to_string(),
            Some(n) => format!("dropped={n}"),
            None if self.dropped_in_warnings > 0 => {
                format!("{} payloads dropped (warnings)", self.dropped_in_warnings)
            }
            None => "drops not reported".to_string(),
        };
        format!(
            "Townlet logged {} tick_health lines{runs}, {dropped}",
            self.tick_health
        )
    }
}

/// The streams (`*.jsonl`, counted) and the other files of the capture
/// directory, by relative path.
pub(crate) fn streams(dir: &Path) -> Result<(Vec<StreamCount>, Vec<String>)> {
    let mut streams = Vec::new();
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut found = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot list `{}`", d.display()))?
        {
            let entry = entry.with_context(|| format!("cannot list `{}`", d.display()))?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    for path in found {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        if path.extension().is_some_and(|e| e == "jsonl") {
            streams.push(count_stream(&path, rel));
        } else {
            files.push(rel);
        }
    }
    Ok((streams, files))
}

pub(crate) fn count_stream(path: &Path, rel: String) -> StreamCount {
    let mut count = StreamCount {
        path: rel,
        payloads: 0,
        first_tick: None,
        last_tick: None,
        ticks_run: None,
        lost: 0,
        lost_ranges: Vec::new(),
        error: None,
    };
    let options = Options::default().keep(Keep::fields(std::iter::empty()));
    let stream = match Stream::open_with(path, options) {
        Ok(s) => s,
        Err(e) => {
            count.error = Some(e.to_string());
            return count;
        }
    };
    for state in stream {
        match state {
            Ok(s) => {
                count.payloads += 1;
                count.first_tick.get_or_insert(s.tick);
                count.last_tick = Some(s.tick);
                if let Some((a, b)) = s.missing_before {
                    add_lost(&mut count, a, b);
                }
            }
            Err(e) => {
                count.error = Some(e.to_string());
                break;
            }
        }
    }
    count
}

fn add_lost(count: &mut StreamCount, first: u64, last: u64) {
    count.lost += last - first + 1;
    if count.lost_ranges.len() < MAX_RANGES {
        count.lost_ranges.push((first, last));
    }
}

/// Adds the ticks Townlet ran after each stream's last payload: the
/// longest run of the log is the run that wrote the streams.
pub(crate) fn with_expected_ticks(
    mut streams: Vec<StreamCount>,
    log: &LogCount,
) -> Vec<StreamCount> {
    let Some(&ran) = log.runs.iter().max() else {
        return streams;
    };
    for s in &mut streams {
        s.ticks_run = Some(ran);
        if s.error.is_none()
            && let Some(last) = s.last_tick
            && ran > last
        {
            add_lost(s, last + 1, ran);
        }
        if s.payloads == 0 && s.error.is_none() {
            add_lost(s, 1, ran);
        }
    }
    streams
}

/// Reads Townlet's log of the capture (absent: nothing logged).
pub(crate) fn log(path: &Path) -> Result<LogCount> {
    let mut count = LogCount {
        path: path.display().to_string(),
        ..LogCount::default()
    };
    let file = match input::open(path, input::Kind::STREAM) {
        Ok(file) => file,
        Err(input::InputError::Missing { .. }) => return Ok(count),
        Err(error) => return Err(anyhow::anyhow!("Townlet's log {error}")),
    };
    let mut run_dropped: Option<u64> = None;
    let mut last_tick: Option<u64> = None;
    let mut buf = Vec::new();
    let mut reader = BufReader::new(file);
    loop {
        buf.clear();
        let read = input::read_line_capped(&mut reader, &mut buf, input::MAX_LOG_LINE)
            .with_context(|| format!("cannot read Townlet's log `{}`", path.display()))?;
        match read {
            input::Line::End => break,
            input::Line::Read(_) => {}
            input::Line::TooLong => {
                // Not a line Townlet's logging writes; count it and go on.
                input::skip_rest_of_line(&mut reader)
                    .with_context(|| format!("cannot read Townlet's log `{}`", path.display()))?;
            }
        }
        count.lines += 1;
        let text = String::from_utf8_lossy(&buf);
        match parse(text.trim_end()) {
            Some(LogEvent::TickHealth(t)) => {
                count.tick_health += 1;
                if last_tick.is_some_and(|l| t.tick < l) {
                    // A new run: close the last one.
                    if let Some(d) = run_dropped.take() {
                        let total = count.dropped.get_or_insert(0);
                        *total = total.saturating_add(d);
                    }
                    count.runs.push(t.tick);
                } else if let Some(r) = count.runs.last_mut() {
                    *r = t.tick;
                } else {
                    count.runs.push(t.tick);
                }
                last_tick = Some(t.tick);
                if let Some(d) = t.dropped {
                    run_dropped = Some(d);
                }
            }
            Some(LogEvent::BufferExceeded { dropped, .. }) => {
                count.drop_warnings += 1;
                // Counts of any size are read (up to u64::MAX): add
                // without overflowing.
                count.dropped_in_warnings = count.dropped_in_warnings.saturating_add(dropped);
            }
            Some(LogEvent::Plaintext { endpoint })
                if !count.plaintext_endpoints.iter().any(|e| e == endpoint) =>
            {
                count.plaintext_endpoints.push(endpoint.to_string());
            }
            Some(LogEvent::Plaintext { .. } | LogEvent::BadTick { .. }) | None => {}
        }
    }
    if let Some(d) = run_dropped {
        let total = count.dropped.get_or_insert(0);
        *total = total.saturating_add(d);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(tick: u64, dropped: &str) -> String {
        format!(
            "2026-01-05 10:00:01,123 INFO townlet.core.sim_loop tick_health tick={tick} duration_ms=1.0 queue=0 dropped={dropped} exit_queue=0\n"
        )
    }

    /// Counts as large as Python prints them (issue 20, item 14) add up
    /// without overflowing.
    #[test]
    fn the_largest_counts_saturate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("townlet.log");
        let huge = "18446744073709551615";
        let mut text = line(1, huge) + &line(2, huge) + &line(1, huge);
        for _ in 0..2 {
            text += &format!(
                "2026-01-05 10:00:01,123 WARNING townlet.telemetry.worker Telemetry buffer exceeded 1024 bytes; dropped {huge} payloads\n"
            );
        }
        std::fs::write(&p, text).expect("write");
        let c = log(&p).expect("log");
        assert_eq!(c.dropped, Some(u64::MAX));
        assert_eq!(c.dropped_in_warnings, u64::MAX);
    }

    #[test]
    fn runs_and_drops_from_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("townlet.log");
        let mut text = String::new();
        for t in 1..=5 {
            text += &line(t, if t < 4 { "0" } else { "3" });
        }
        text += "2026-01-05 10:00:01,123 WARNING townlet.telemetry.worker Telemetry buffer exceeded 1024 bytes; dropped 3 payloads\n";
        for t in 1..=2 {
            text += &line(t, "None");
        }
        std::fs::write(&p, text).expect("write");
        let c = log(&p).expect("log");
        assert_eq!(c.runs, [5, 2]);
        assert_eq!(c.tick_health, 7);
        assert_eq!(c.dropped, Some(3));
        assert_eq!((c.drop_warnings, c.dropped_in_warnings), (1, 3));
        assert_eq!(
            c.summary(),
            "Townlet logged 7 tick_health lines over 2 runs, dropped=3"
        );
        let none = log(&dir.path().join("absent.log")).expect("absent");
        assert_eq!(
            none.summary(),
            "Townlet's log has no tick_health lines in 0 lines (not logged at INFO?)"
        );
    }

    #[test]
    fn lost_ticks_include_gaps_start_and_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t.jsonl");
        std::fs::write(
            &p,
            "{\"tick\":2,\"payload_type\":\"diff\",\"changes\":{}}\n{\"tick\":3,\"payload_type\":\"diff\",\"changes\":{}}\n{\"tick\":7,\"payload_type\":\"diff\",\"changes\":{}}\n",
        )
        .expect("write");
        let (streams, files) = streams(dir.path()).expect("streams");
        assert!(files.is_empty());
        let log = LogCount {
            runs: vec![9],
            tick_health: 9,
            dropped: Some(6),
            ..LogCount::default()
        };
        let s = &with_expected_ticks(streams, &log)[0];
        assert_eq!((s.payloads, s.lost), (3, 6));
        assert_eq!(s.lost_ranges, [(1, 1), (4, 6), (8, 9)]);
        assert_eq!(
            s.summary(),
            "t.jsonl: 3 of 9 ticks written, 6 lost (1, 4-6, 8-9)"
        );
    }
}
