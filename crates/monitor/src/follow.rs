//! `--follow`: tail files as they grow, surviving rotation (the path now
//! names a new file: the old one is read to its end first) and truncation
//! (the file shrank: read again from the start), and stdin (`-`) until the
//! pipe ends ([`stdin`]). Memory stays flat: lines
//! are fed to the incremental rules one at a time, and a line longer than
//! the cap of its kind ([`input::line_cap`]) is kept only to that cap and
//! handed to [`input::over_long_line`], the rule whole reads follow too.
//! The run ends when every input has been idle for `--stop-after-idle`,
//! when stdin (the only input) ends, or on SIGINT or SIGTERM; each time
//! with the final report and textfile.

mod stdin;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use rollout_config::Context;
use rollout_core::{Format, Severity};
use serde::Serialize;

use crate::input::{self, Input, InputSummary};
use crate::rules::{Alert, Kind, Rule, SourceEval};
use crate::{Report, Settings};

/// How often the files are polled.
pub const POLL: Duration = Duration::from_millis(100);

/// What a followed file yields: a whole line, or the first
/// [`input::line_cap`] bytes of a line longer than that (the rest of it is
/// skipped), each with its 1-based line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    Line(u64, &'a [u8]),
    OverLong(u64, &'a [u8]),
}

/// One followed file.
pub struct Tail {
    pub path: PathBuf,
    file: Option<File>,
    id: Option<(u64, u64)>,
    pos: u64,
    partial: Vec<u8>,
    /// The longest line kept ([`input::line_cap`] of the file's kind).
    cap: usize,
    /// Bytes of the over-long line being skipped, when one is.
    skipping: Option<u64>,
    line_no: u64,
    chunk: Vec<u8>,
    /// Rotations and truncations seen.
    pub reopened: u64,
    recon: telemetry::Reconstructor,
}

impl Tail {
    pub fn new(path: PathBuf, kind: Kind) -> Self {
        Self {
            path,
            file: None,
            id: None,
            pos: 0,
            partial: Vec::new(),
            cap: input::line_cap(kind),
            skipping: None,
            line_no: 0,
            chunk: vec![0; 1 << 16],
            reopened: 0,
            recon: telemetry::Reconstructor::new(),
        }
    }

    /// Reads what is new; calls `line` with each complete line and each
    /// over-long one. Returns the bytes read.
    pub fn poll(&mut self, line: &mut dyn FnMut(Record<'_>) -> Result<()>) -> Result<u64> {
        let mut total = 0;
        let current = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if self.file.is_some() && current.is_some() && current != self.id {
            // Rotated: finish the old file, then start on the new one.
            total += self.read_new(line)?;
            self.file = None;
            self.reopened += 1;
        }
        if self.file.is_none() {
            let f = match ::input::open(&self.path, ::input::Kind::STREAM) {
                Ok(file) => file,
                // Not there yet (or rotated away): wait for it.
                Err(::input::InputError::Missing { .. }) => return Ok(total),
                Err(error) => return Err(error.into()),
            };
            let m = f.metadata()?;
            self.id = Some((m.dev(), m.ino()));
            self.file = Some(f);
            self.reset();
        }
        if let Some(f) = &self.file {
            let len = f.metadata()?.len();
            if len < self.pos {
                // Truncated in place: start again.
                self.reopened += 1;
                self.reset();
                if let Some(f) = &mut self.file {
                    f.seek(SeekFrom::Start(0))?;
                }
            }
        }
        total += self.read_new(line)?;
        Ok(total)
    }

    fn reset(&mut self) {
        self.pos = 0;
        self.partial.clear();
        self.skipping = None;
        self.line_no = 0;
        self.recon = telemetry::Reconstructor::new();
    }

    fn read_new(&mut self, line: &mut dyn FnMut(Record<'_>) -> Result<()>) -> Result<u64> {
        let mut total = 0;
        loop {
            let Some(f) = &mut self.file else {
                return Ok(total);
            };
            let n = f
                .read(&mut self.chunk)
                .with_context(|| format!("cannot read `{}`", self.path.display()))?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
            self.pos += n as u64;
            let chunk = std::mem::take(&mut self.chunk);
            let fed = self.split_lines(&chunk[..n], line);
            self.chunk = chunk;
            fed?;
        }
    }

    /// Cuts `bytes` into lines, joined to the partial line before them.
    fn split_lines(
        &mut self,
        mut bytes: &[u8],
        line: &mut dyn FnMut(Record<'_>) -> Result<()>,
    ) -> Result<()> {
        while let Some(i) = memchr::memchr(b'\n', bytes) {
            self.line_no += 1;
            if self.skipping.take().is_none() {
                if self.partial.is_empty() && i < self.cap {
                    line(Record::Line(self.line_no, input::trim_newline(&bytes[..i])))?;
                } else if self.keep(&bytes[..i], self.line_no, line)? {
                    // Over-long, and already at its end.
                    self.skipping = None;
                } else {
                    let whole = std::mem::take(&mut self.partial);
                    let fed = line(Record::Line(self.line_no, input::trim_newline(&whole)));
                    self.partial = whole;
                    self.partial.clear();
                    fed?;
                }
            }
            bytes = &bytes[i + 1..];
        }
        match &mut self.skipping {
            Some(skipped) => {
                *skipped += bytes.len() as u64;
                if *skipped > input::MAX_SKIPPED_LINE {
                    return Err(input::endless_line(
                        &self.path.display().to_string(),
                        self.line_no + 1,
                    ));
                }
            }
            None => {
                self.keep(bytes, self.line_no + 1, line)?;
            }
        }
        Ok(())
    }

    /// At the end of a stream (stdin closed): hands on its last line when
    /// it has no newline, as a whole read does. Nothing more to do after.
    fn finish(&mut self, line: &mut dyn FnMut(Record<'_>) -> Result<()>) -> Result<()> {
        if self.skipping.take().is_some() || self.partial.is_empty() {
            return Ok(());
        }
        self.line_no += 1;
        let last = std::mem::take(&mut self.partial);
        line(Record::Line(self.line_no, input::trim_newline(&last)))
    }

    /// Adds `piece` to the partial line `line_no`; when that makes it
    /// over-long, hands its first `cap` bytes to `line` and starts skipping
    /// the rest (true).
    fn keep(
        &mut self,
        piece: &[u8],
        line_no: u64,
        line: &mut dyn FnMut(Record<'_>) -> Result<()>,
    ) -> Result<bool> {
        if self.partial.len() + piece.len() < self.cap {
            self.partial.extend_from_slice(piece);
            return Ok(false);
        }
        let room = self.cap - self.partial.len();
        self.partial.extend_from_slice(&piece[..room]);
        self.skipping = Some(self.partial.len() as u64 + (piece.len() - room) as u64);
        let head = std::mem::take(&mut self.partial);
        let fed = line(Record::OverLong(line_no, &head));
        self.partial = head;
        self.partial.clear();
        self.partial.shrink_to(4096);
        fed?;
        Ok(true)
    }
}

/// One followed input: its file (or stdin), its rules' state and what was
/// read.
struct Followed {
    input: Input,
    tail: Tail,
    /// stdin's reading thread; `None` for a file.
    stdin: Option<stdin::StdinFeed>,
    /// Whether stdin's first bytes were checked against its declared kind.
    head_checked: bool,
    eval: SourceEval,
    summary: InputSummary,
}

impl Followed {
    /// Reads what is new in the file (or has come through the pipe) into
    /// the rules; returns the bytes read.
    fn poll(&mut self, quiet: bool) -> Result<u64> {
        let name = self.input.name();
        let mut recon = std::mem::take(&mut self.tail.recon);
        let (eval, summary) = (&mut self.eval, &mut self.summary);
        let mut line = |record: Record<'_>| {
            let fed = Fed {
                eval: &mut *eval,
                recon: &mut recon,
                name: &name,
                summary: &mut *summary,
            };
            fed.feed(record, quiet)
        };
        let read = match &mut self.stdin {
            None => self.tail.poll(&mut line),
            Some(feed) => {
                let (tail, input) = (&mut self.tail, &self.input);
                let head_checked = &mut self.head_checked;
                feed.drain(&mut |bytes| {
                    if !std::mem::replace(head_checked, true) {
                        // `--log -` fed a telemetry stream: refused as a
                        // whole read refuses it.
                        input::kind_of(input, &mut &bytes[..])?;
                    }
                    tail.split_lines(bytes, &mut line)
                })
                .and_then(|read| {
                    if feed.ended() {
                        tail.finish(&mut line)?;
                    }
                    Ok(read)
                })
            }
        };
        self.tail.recon = recon;
        read
    }

    /// Whether this is stdin and the pipe has ended.
    fn ended(&self) -> bool {
        self.stdin.as_ref().is_some_and(stdin::StdinFeed::ended)
    }
}

/// Where one followed line goes.
struct Fed<'a> {
    eval: &'a mut SourceEval,
    recon: &'a mut telemetry::Reconstructor,
    name: &'a str,
    summary: &'a mut InputSummary,
}

impl Fed<'_> {
    /// Feeds one followed line to its evaluator; a skipped over-long line
    /// is also told on stderr as it happens, unless `quiet`.
    fn feed(self, record: Record<'_>, quiet: bool) -> Result<()> {
        let Fed {
            eval,
            recon,
            name,
            summary,
        } = self;
        summary.records += 1;
        let (line_no, bytes) = match record {
            Record::Line(line_no, bytes) => (line_no, bytes),
            Record::OverLong(line_no, head) => {
                let kind = eval.kind();
                input::over_long_line(name, line_no, kind, head, eval)?;
                if quiet {
                    return Ok(());
                }
                eprintln!(
                    "warning: `{}`:{line_no}: line longer than {} skipped ({} skipped so far): not a record the alert rules read",
                    rollout_core::printable(name),
                    input::cap_text(kind),
                    eval.long_lines_skipped()
                );
                return Ok(());
            }
        };
        let tick = match eval.kind() {
            Kind::Log => eval.log_line(line_no, &String::from_utf8_lossy(bytes)),
            Kind::Telemetry => {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(());
                }
                let p = telemetry::parse_line(name, line_no, 0, bytes, true)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let state = recon.apply(p);
                eval.telemetry_state(&state);
                Some(state.tick)
            }
        };
        if let Some(t) = tick {
            summary.ticks += 1;
            summary.first_tick.get_or_insert(t);
            summary.last_tick = Some(t);
        }
        Ok(())
    }
}

/// One line of `monitor --follow --format json`: an alert as it is raised
/// (or gets worse). The report follows on the last line.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FollowAlert<'a> {
    /// Version of this line's shape.
    pub schema: u32,
    #[serde(flatten)]
    pub alert: &'a Alert,
}

/// Version of a [`FollowAlert`] line's shape.
pub const FOLLOW_SCHEMA: u32 = 1;

/// Prints one alert as it is raised: a JSON line, or a human line whose
/// data is escaped.
fn announce(ctx: &Context, a: &Alert, fail_on: Severity) -> Result<()> {
    let style = ctx.out.style();
    let mut out = ctx.out.lock();
    if ctx.format == Format::Json {
        let line = FollowAlert {
            schema: FOLLOW_SCHEMA,
            alert: a,
        };
        serde_json::to_writer(&mut *out, &line)?;
        writeln!(out)?;
    } else {
        let word = if a.severity >= fail_on {
            style.fail()
        } else {
            style.warn()
        };
        writeln!(
            out,
            "{word} {} [{}] {}: {}",
            a.rule,
            rollout_core::printable(&a.env),
            a.severity.as_str(),
            rollout_core::printable(&a.message)
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Opens each input to follow: a file is tailed, stdin read by its own
/// thread until the pipe ends.
fn open_all(settings: &Settings) -> Result<Vec<Followed>> {
    let inputs = &settings.inputs;
    input::check_inputs(inputs)?;
    let mut followed = Vec::new();
    for i in inputs {
        let mut reader = input::open(i)?;
        // A declared stdin is checked against its first bytes as they come
        // (a quiet pipe must not hold up the textfile); an undeclared one
        // (`--env NAME=-`) is told by them, so it waits for them.
        let (kind, head_checked) = match (i.is_stdin(), i.kind) {
            (true, Some(kind)) => (kind, false),
            _ => (input::kind_of(i, &mut *reader)?, true),
        };
        let (tail, stdin) = if i.is_stdin() {
            // The tail only cuts the pipe's chunks into lines; its path
            // names stdin in messages.
            let tail = Tail::new(PathBuf::from(i.name()), kind);
            (tail, Some(stdin::StdinFeed::spawn(reader)?))
        } else {
            (Tail::new(i.path.clone(), kind), None)
        };
        followed.push(Followed {
            input: i.clone(),
            tail,
            stdin,
            head_checked,
            eval: SourceEval::new(&i.env, &i.name(), kind, settings.rules.clone()),
            summary: InputSummary::empty(i, kind),
        });
    }
    Ok(followed)
}

/// The alerts already printed: environment, file, rule and severity.
type Announced = Vec<(String, String, Rule, Severity)>;

/// Prints the alerts not printed before (new, or worse than before).
fn announce_new(
    ctx: &Context,
    followed: &[Followed],
    fail_on: Severity,
    announced: &mut Announced,
) -> Result<()> {
    for f in followed {
        for a in f.eval.alerts() {
            let key = (a.env.clone(), f.eval.file().to_string(), a.rule, a.severity);
            if !announced.contains(&key) {
                announced.push(key);
                announce(ctx, &a, fail_on)?;
            }
        }
    }
    Ok(())
}

fn evals(followed: &[Followed]) -> Vec<SourceEval> {
    followed.iter().map(|f| f.eval.clone()).collect()
}

/// SIGINT and SIGTERM, caught while following: the run ends with its
/// report and textfile (Ctrl-C, `systemctl stop`). A second one ends the
/// process at once (exit 130).
struct Stop {
    asked: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl Stop {
    fn catch() -> Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let asked = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for signal in [SIGINT, SIGTERM] {
            // The shutdown is registered first: it sees the flag as the
            // previous signal left it.
            ids.push(signal_hook::flag::register_conditional_shutdown(
                signal,
                130,
                Arc::clone(&asked),
            )?);
            ids.push(signal_hook::flag::register(signal, Arc::clone(&asked))?);
        }
        Ok(Self { asked, ids })
    }

    fn asked(&self) -> bool {
        self.asked.load(Ordering::Relaxed)
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// When the textfile is written while following: at the first data, then
/// every interval whether or not anything arrived (its mtime says the
/// monitor is alive), and once more at the end.
struct Textfile<'a> {
    path: Option<&'a std::path::Path>,
    every: Duration,
    last: Instant,
    written: bool,
}

impl Textfile<'_> {
    fn tick(&mut self, followed: &[Followed], grew: bool) -> Result<()> {
        let Some(path) = self.path else {
            return Ok(());
        };
        if (grew && !self.written) || self.last.elapsed() >= self.every {
            crate::prom::write_textfile(path, &crate::env_metrics(&evals(followed)))?;
            self.last = Instant::now();
            self.written = true;
        }
        Ok(())
    }
}

/// Follows the inputs; prints each alert when it is first raised or gets
/// worse, rewrites the textfile at its interval, and returns the final
/// report when every input has been idle for `--stop-after-idle`, when
/// stdin (the only input) ends, or on SIGINT or SIGTERM.
pub fn run(ctx: &Context, settings: &Settings) -> Result<Report> {
    let stop_after_idle = settings.follow.and_then(|f| f.stop_after_idle);
    let mut followed = open_all(settings)?;
    let stop = Stop::catch()?;
    let quiet = ctx.verbosity == rollout_core::Verbosity::Quiet;
    let mut announced = Announced::new();
    let mut last_data = Instant::now();
    let mut textfile = Textfile {
        path: settings.prom_textfile.as_deref(),
        every: settings.textfile_interval,
        last: Instant::now(),
        written: false,
    };
    let only_stdin = followed.len() == 1 && followed[0].stdin.is_some();
    loop {
        let mut grew = false;
        for f in &mut followed {
            grew |= f.poll(quiet)? > 0;
        }
        if grew {
            last_data = Instant::now();
            announce_new(ctx, &followed, settings.fail_on, &mut announced)?;
        }
        textfile.tick(&followed, grew)?;
        let idle = stop_after_idle.is_some_and(|idle| last_data.elapsed() >= idle);
        if idle || (only_stdin && followed[0].ended()) || stop.asked() {
            break;
        }
        if !grew {
            // A pipe ends the pause as soon as it brings more.
            match followed.iter_mut().find_map(|f| f.stdin.as_mut()) {
                Some(feed) => feed.wait(POLL),
                None => std::thread::sleep(POLL),
            }
        }
    }
    drop(stop);
    // An alert raised by the last line of a pipe is printed too.
    announce_new(ctx, &followed, settings.fail_on, &mut announced)?;
    let evals = evals(&followed);
    let summaries = followed
        .into_iter()
        .map(|mut f| {
            f.summary.warnings = f.eval.take_warnings();
            f.summary
        })
        .collect();
    if let Some(path) = &settings.prom_textfile {
        crate::prom::write_textfile(path, &crate::env_metrics(&evals))?;
    }
    Ok(crate::report(
        &settings.rules,
        settings.fail_on,
        &evals,
        summaries,
    ))
}
