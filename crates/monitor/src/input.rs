//! Inputs: which file is which environment, telling logs from telemetry by
//! content, and reading a whole input into a [`SourceEval`].

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::rules::{Kind, SourceEval};

/// The environment name of inputs given without `--env`.
pub const DEFAULT_ENV: &str = "default";

/// One input: a log or telemetry file (`-` is stdin) of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Input {
    pub env: String,
    pub path: PathBuf,
    /// Declared by `--log`/`--telemetry`; `None` (`--env`) is told by content.
    pub kind: Option<Kind>,
}

impl Input {
    pub fn is_stdin(&self) -> bool {
        self.path.as_os_str() == "-"
    }

    pub fn name(&self) -> String {
        if self.is_stdin() {
            "<stdin>".into()
        } else {
            self.path.display().to_string()
        }
    }
}

/// Parses `NAME=PATH` of `--env`: a name of letters, digits, `-`, `_` or
/// `.`, and a path.
pub fn parse_env(s: &str) -> Result<(String, PathBuf)> {
    let Some((name, path)) = s.split_once('=') else {
        bail!("expected NAME=PATH, found '{s}'");
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("environment name '{name}' must be letters, digits, '-', '_' or '.'");
    }
    if path.is_empty() {
        bail!("expected a path after '{name}='");
    }
    Ok((name.to_string(), PathBuf::from(path)))
}

/// What the first meaningful byte says: `{` starts a telemetry payload;
/// anything else is a log.
pub fn sniff(head: &[u8]) -> Kind {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Kind::Telemetry,
        _ => Kind::Log,
    }
}

/// A buffered reader over the input.
pub fn open(input: &Input) -> Result<Box<dyn BufRead + Send>> {
    if input.is_stdin() {
        return Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            std::io::stdin(),
        )));
    }
    let file = input::open(&input.path, input::Kind::STREAM)?;
    Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
}

/// Decides the kind of an input from its first bytes, checking a declared
/// kind against them.
pub fn kind_of(input: &Input, reader: &mut dyn BufRead) -> Result<Kind> {
    let head = reader
        .fill_buf()
        .with_context(|| format!("cannot read `{}`", input.name()))?;
    let found = sniff(head);
    match (input.kind, found) {
        (Some(Kind::Log), Kind::Telemetry) => bail!(
            "`{}` was given as a log, but it starts with a JSON object (a telemetry stream)\nhint: pass it with `--telemetry`, or as `--env NAME=PATH` to tell by content",
            input.name()
        ),
        (Some(k), _) => Ok(k),
        (None, k) => Ok(k),
    }
}

/// What was read from an input.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct InputSummary {
    pub env: String,
    pub path: String,
    pub kind: Kind,
    /// Lines of a log, payloads of a telemetry stream.
    pub records: u64,
    /// `tick_health` lines or telemetry ticks seen.
    pub ticks: u64,
    pub first_tick: Option<u64>,
    pub last_tick: Option<u64>,
    /// Why nothing could be read from this input (a log without
    /// `tick_health` lines): its own failed check, while the other inputs
    /// are still judged.
    pub problem: Option<String>,
    /// Lines read with a reservation: `tick_health` values that are not
    /// numbers (`dropped=abc`) or lines without a usable tick (`tick=-1`),
    /// each with its place; the first few, then how many more.
    pub warnings: Vec<String>,
}

impl InputSummary {
    /// The summary of `input`, read as `kind`, before anything is read.
    pub fn empty(input: &Input, kind: Kind) -> Self {
        Self {
            env: input.env.clone(),
            path: input.name(),
            kind,
            records: 0,
            ticks: 0,
            first_tick: None,
            last_tick: None,
            problem: None,
            warnings: Vec::new(),
        }
    }
}

/// Reads a whole input into `eval`.
pub fn read_all(
    input: &Input,
    reader: Box<dyn BufRead + Send>,
    kind: Kind,
    eval: &mut SourceEval,
) -> Result<InputSummary> {
    read_all_with(input, (reader, kind), eval, &mut |_| Ok(()))
}

/// [`read_all`], calling `progress` with the evaluator after each tick (a
/// pipe read to its end writes the textfile as it goes).
pub fn read_all_with(
    input: &Input,
    (mut reader, kind): (Box<dyn BufRead + Send>, Kind),
    eval: &mut SourceEval,
    progress: &mut dyn FnMut(&SourceEval) -> Result<()>,
) -> Result<InputSummary> {
    let name = input.name();
    let mut summary = InputSummary::empty(input, kind);
    let note = |tick: u64, s: &mut InputSummary| {
        s.ticks += 1;
        s.first_tick.get_or_insert(tick);
        s.last_tick = Some(tick);
    };
    match kind {
        Kind::Log => {
            let line_no = read_log(&name, &mut reader, eval, &mut |tick, eval| {
                note(tick, &mut summary);
                progress(eval)
            })?;
            summary.records = line_no;
            summary.warnings = eval.take_warnings();
            if summary.ticks == 0 {
                summary.problem = Some(format!(
                    "`{name}`: no `tick_health` lines in {line_no} lines: expected a Townlet log at INFO level (hint: run the simulation with Python logging at INFO, as `capture.log_level` does, or pass a telemetry stream with `--telemetry`)"
                ));
            }
        }
        Kind::Telemetry => {
            let stream = telemetry::Stream::threaded(ReadAdapter(reader), name.clone());
            for state in stream {
                // The error names the file, line and byte offset.
                let state = state.map_err(|e| anyhow::anyhow!("{e}"))?;
                summary.records += 1;
                note(state.tick, &mut summary);
                eval.telemetry_state(&state);
                progress(eval)?;
            }
        }
    }
    Ok(summary)
}

/// Feeds every line of a log to `eval`, calling `ticked` with the tick of
/// each `tick_health` line and the evaluator; returns the number of lines. Over-long lines go
/// through [`over_long_line`], as in `--follow`.
fn read_log(
    name: &str,
    reader: &mut Box<dyn BufRead + Send>,
    eval: &mut SourceEval,
    ticked: &mut dyn FnMut(u64, &SourceEval) -> Result<()>,
) -> Result<u64> {
    let cap = line_cap(Kind::Log);
    let mut buf = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let read = input::read_line_capped(reader, &mut buf, cap)
            .with_context(|| format!("cannot read `{name}` after line {line_no}"))?;
        line_no += 1;
        match read {
            input::Line::End => return Ok(line_no - 1),
            input::Line::Read(_) => {}
            input::Line::TooLong => {
                over_long_line(name, line_no, Kind::Log, &buf, eval)?;
                skip_rest(reader, name, line_no, cap as u64)?;
                continue;
            }
        }
        let text = String::from_utf8_lossy(trim_newline(&buf));
        if let Some(tick) = eval.log_line(line_no, &text) {
            ticked(tick, eval)?;
        }
    }
}

/// The longest line of an input kept whole; a longer one is over-long and
/// [`over_long_line`] decides what becomes of it.
pub fn line_cap(kind: Kind) -> usize {
    match kind {
        Kind::Log => input::MAX_LOG_LINE,
        Kind::Telemetry => input::MAX_TELEMETRY_LINE,
    }
}

/// The longest over-long log line skipped: a line still without a newline
/// after this many bytes is not a log record at all ([`endless_line`]).
pub const MAX_SKIPPED_LINE: u64 = 64 << 20;

/// The one rule for a line longer than [`line_cap`], in whole reads and in
/// `--follow` alike, decided from its first [`line_cap`] bytes (`head`):
///
/// - a log line that is not a record the rules read is skipped and counted
///   (the input's warnings name the first one's place and the count);
/// - a record the rules read (`tick_health`, the plaintext-transport and
///   buffer warnings) is refused, the stricter of the two behaviours the
///   modes had: it carries the figures the alerts judge, so skipping it
///   would hide a tick's drops, exit queue or an unencrypted endpoint from
///   them. Townlet prints these records in about 200 bytes; one of a
///   megabyte is a corrupt or forged log, which is not judged;
/// - a telemetry payload is refused, as the telemetry reader refuses it:
///   a lost payload would corrupt the states that follow.
pub fn over_long_line(
    name: &str,
    line_no: u64,
    kind: Kind,
    head: &[u8],
    eval: &mut SourceEval,
) -> Result<()> {
    let cap = cap_text(kind);
    if kind == Kind::Telemetry {
        bail!(
            "`{name}`:{line_no}: line longer than {cap}: expected a Townlet telemetry stream, one JSON payload per line"
        );
    }
    let text = String::from_utf8_lossy(head);
    if let Some(event) = telemetry::log::parse(&text) {
        let what = match event {
            telemetry::log::LogEvent::TickHealth(_) | telemetry::log::LogEvent::BadTick { .. } => {
                "a `tick_health` record"
            }
            telemetry::log::LogEvent::Plaintext { .. } => {
                "a `telemetry_tcp_plaintext_enabled` warning"
            }
            telemetry::log::LogEvent::BufferExceeded { .. } => "a telemetry buffer warning",
        };
        bail!(
            "`{name}`:{line_no}: {what} longer than {cap}: the alert rules read it, so it is not skipped\nhint: Townlet prints these records in about 200 bytes; check how this log was written"
        );
    }
    eval.skip_long_line(line_no, &cap);
    Ok(())
}

/// The error for a line still without a newline after
/// [`MAX_SKIPPED_LINE`] bytes.
pub fn endless_line(name: &str, line_no: u64) -> anyhow::Error {
    anyhow::anyhow!(
        "`{name}`:{line_no}: line longer than {} without a newline after {}: expected a Townlet log, one record per line\nhint: is this a log? (`/dev/zero` and binary files have no newlines)",
        cap_text(Kind::Log),
        human_bytes(MAX_SKIPPED_LINE)
    )
}

/// Skips the rest of an over-long line, `taken` bytes of which were read,
/// up to [`MAX_SKIPPED_LINE`] in all.
fn skip_rest(reader: &mut dyn BufRead, name: &str, line_no: u64, taken: u64) -> Result<()> {
    let mut skipped = taken;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot read `{name}` at line {line_no}"));
            }
        };
        if available.is_empty() {
            return Ok(());
        }
        let (used, done) = match memchr::memchr(b'\n', available) {
            Some(index) => (index + 1, true),
            None => (available.len(), false),
        };
        reader.consume(used);
        skipped += used as u64;
        if done {
            return Ok(());
        }
        if skipped > MAX_SKIPPED_LINE {
            return Err(endless_line(name, line_no));
        }
    }
}

/// The line cap of `kind` for messages (`1 MiB`).
pub fn cap_text(kind: Kind) -> String {
    human_bytes(line_cap(kind) as u64)
}

fn human_bytes(bytes: u64) -> String {
    // `1 MiB`, not `1.0 MiB`: the caps are whole MiB.
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        rollout_core::output::human_bytes(bytes)
    }
}

/// `Box<dyn BufRead + Send>` as an owned `Read + 'static`.
struct ReadAdapter(Box<dyn BufRead + Send>);

impl Read for ReadAdapter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

pub fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Checks that no path is read twice from stdin and that files exist.
pub fn check_inputs(inputs: &[Input]) -> Result<()> {
    if inputs.is_empty() {
        bail!(
            "no inputs: pass `--log PATH`, `--telemetry PATH` or `--env NAME=PATH`; the root has no capture to check either\nhint: cargo xtask monitor --log run.log --telemetry run.jsonl, or capture first with cargo xtask baseline-diff"
        );
    }
    if inputs.iter().filter(|i| i.is_stdin()).count() > 1 {
        bail!("`-` (stdin) is given more than once: stdin can be read only once");
    }
    for given in inputs.iter().filter(|given| !given.is_stdin()) {
        input::open(&given.path, input::Kind::STREAM)
            .map_err(|error| anyhow::anyhow!("input {error}"))?;
    }
    Ok(())
}
