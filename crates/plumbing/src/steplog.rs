//! Step logs with bounded size and bounded memory: a child's output is
//! pumped from a pipe into its log, keeping the first [`HEAD`] bytes and
//! the last [`TAIL`] with a note of how much was dropped between them; and
//! the last lines of a log are read from its end, never the whole file.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Bytes of a step's output kept from its start.
pub const HEAD: u64 = 16 * 1024 * 1024;

/// Bytes of a step's output kept from its end (whole lines).
pub const TAIL: usize = 1024 * 1024;

/// What the pump wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pumped {
    /// Bytes the child wrote.
    pub total: u64,
    /// Bytes left out of the log.
    pub dropped: u64,
}

/// Copies `reader` into `log` until end of file, keeping the first `head`
/// bytes and the last `tail` (from a line start); the bytes between are
/// replaced by one line saying how many were dropped.
pub fn pump(
    reader: &mut dyn Read,
    log: &mut dyn Write,
    head: u64,
    tail: usize,
) -> io::Result<Pumped> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut ring: VecDeque<u8> = VecDeque::new();
    let mut pumped = Pumped::default();
    loop {
        let read = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..read];
        let room = head.saturating_sub(pumped.total).min(read as u64) as usize;
        pumped.total += read as u64;
        log.write_all(&chunk[..room])?;
        ring.extend(&chunk[room..]);
        if ring.len() > tail {
            let excess = ring.len() - tail;
            ring.drain(..excess);
            pumped.dropped += excess as u64;
        }
    }
    if pumped.dropped > 0 {
        // Start the kept tail on a line of its own; a tail without any
        // line break is the end of one long line, kept as it is.
        let partial = ring.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        ring.drain(..partial);
        pumped.dropped += partial as u64;
        writeln!(
            log,
            "\n[rollout: {} of output dropped here; the log keeps the first {} and the last {}]",
            rollout_core::output::human_bytes(pumped.dropped),
            rollout_core::output::human_bytes(head),
            rollout_core::output::human_bytes(tail as u64)
        )?;
    }
    let (front, back) = ring.as_slices();
    log.write_all(front)?;
    log.write_all(back)?;
    log.flush()?;
    Ok(pumped)
}

/// The widest a line of a tail may be, in characters: a step that prints
/// megabytes without a newline shows their start and how much was cut.
pub const TAIL_LINE_CHARS: usize = 400;

/// The last `n` non-blank lines of `log`, read backwards from its end in
/// blocks (at most [`TAIL`] plus one block is read), each cut to
/// [`TAIL_LINE_CHARS`]; empty when it cannot be read. Not escaped: a
/// renderer does that.
pub fn tail(log: &Path, n: usize) -> Vec<String> {
    tail_of(log, n).unwrap_or_default()
}

fn tail_of(log: &Path, n: usize) -> io::Result<Vec<String>> {
    const BLOCK: u64 = 64 * 1024;
    let mut file = File::open(log)?;
    let mut end = file.metadata()?.len();
    let limit = end.saturating_sub(TAIL as u64 + BLOCK);
    let mut kept: Vec<u8> = Vec::new();
    loop {
        let start = end.saturating_sub(BLOCK).max(limit);
        let mut block = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&kept);
        kept = block;
        end = start;
        let lines = kept
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .count();
        // One more line than asked: the first may be cut.
        if end == limit || lines > n {
            break;
        }
    }
    let text = String::from_utf8_lossy(&kept);
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if end > 0 && lines.len() > n {
        // The first line read may have started before `end`.
        lines.remove(0);
    }
    let from = lines.len().saturating_sub(n);
    Ok(lines[from..]
        .iter()
        .map(|l| rollout_core::output::cut_line(l, TAIL_LINE_CHARS).into_owned())
        .collect())
}

/// Reads a log for a summary parser: whole when it fits in `cap` bytes (a
/// capped log always does), else its first `cap` bytes.
pub fn read_for_summary(log: &Path, cap: u64) -> String {
    let Ok(file) = File::open(log) else {
        return String::new();
    };
    let mut bytes = Vec::new();
    let _partial = file.take(cap).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pumped(input: &[u8], head: u64, tail: usize) -> (String, Pumped) {
        let mut out = Vec::new();
        let p = pump(&mut &input[..], &mut out, head, tail).expect("pump");
        (String::from_utf8(out).expect("utf8"), p)
    }

    #[test]
    fn short_output_is_kept_whole() {
        let (log, p) = pumped(b"one\ntwo\n", 100, 100);
        assert_eq!(log, "one\ntwo\n");
        assert_eq!(
            p,
            Pumped {
                total: 8,
                dropped: 0
            }
        );
    }

    #[test]
    fn long_output_keeps_its_head_and_whole_tail_lines() {
        let input: String = (0..100).map(|i| format!("line {i:03}\n")).collect();
        let (log, p) = pumped(input.as_bytes(), 18, 25);
        assert_eq!(p.total, 900);
        assert!(log.starts_with("line 000\nline 001"), "{log}");
        assert!(
            log.contains("[rollout: 864 B of output dropped here; the log keeps the first 18 B and the last 25 B]"),
            "{log}"
        );
        assert!(log.ends_with("\nline 098\nline 099\n"), "{log}");
        assert_eq!(p.dropped, 900 - 18 - 18);
    }

    #[test]
    fn tails_are_read_from_the_end() {
        let dir = std::env::temp_dir().join(format!("steplog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("big.log");
        let mut text = String::new();
        for i in 0..200_000 {
            text.push_str(&format!("line {i}\n\n"));
        }
        std::fs::write(&path, &text).expect("write");
        assert_eq!(tail(&path, 2), ["line 199998", "line 199999"]);
        std::fs::write(&path, "a\nb\n").expect("write");
        assert_eq!(tail(&path, 5), ["a", "b"]);
        std::fs::write(&path, "").expect("write");
        assert!(tail(&path, 5).is_empty());
        // One line longer than a block, cut to a width with a note.
        std::fs::write(&path, format!("first\n{}\n", "x".repeat(100_000))).expect("write");
        assert_eq!(
            tail(&path, 2),
            [
                "first".to_string(),
                format!(
                    "{} … [97.3 KiB more on this line]",
                    "x".repeat(TAIL_LINE_CHARS)
                )
            ]
        );
        std::fs::remove_dir_all(&dir).expect("rm");
    }
}
