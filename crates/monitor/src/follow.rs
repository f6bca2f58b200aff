//! `--follow`: tail files as they grow, surviving rotation (the path now
//! names a new file: the old one is read to its end first) and truncation
//! (the file shrank: read again from the start). Memory stays flat: lines
//! are fed to the incremental rules one at a time, and a partial line longer
//! than [`MAX_LINE`] is dropped.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rollout_config::model::Severity;
use rollout_config::{Context, Format, Style};

use crate::input::{self, Input, InputSummary};
use crate::rules::{Kind, RuleSettings, SourceEval};
use crate::{CheckArgs, Report};

/// Longest line kept; longer lines are skipped.
pub const MAX_LINE: usize = 1 << 20;
/// How often the files are polled.
pub const POLL: Duration = Duration::from_millis(100);
/// How often the textfile is rewritten while following.
const TEXTFILE_EVERY: Duration = Duration::from_secs(5);

/// One followed file.
pub struct Tail {
    pub path: PathBuf,
    file: Option<File>,
    id: Option<(u64, u64)>,
    pos: u64,
    partial: Vec<u8>,
    skipping: bool,
    line_no: u64,
    chunk: Vec<u8>,
    /// Rotations and truncations seen.
    pub reopened: u64,
    recon: telemetry::Reconstructor,
}

impl Tail {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            id: None,
            pos: 0,
            partial: Vec::new(),
            skipping: false,
            line_no: 0,
            chunk: vec![0; 1 << 16],
            reopened: 0,
            recon: telemetry::Reconstructor::new(),
        }
    }

    /// Reads what is new; calls `line` with each complete line. Returns the
    /// bytes read.
    pub fn poll(&mut self, line: &mut dyn FnMut(u64, &[u8]) -> Result<()>) -> Result<u64> {
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
        self.skipping = false;
        self.line_no = 0;
        self.recon = telemetry::Reconstructor::new();
    }

    fn read_new(&mut self, line: &mut dyn FnMut(u64, &[u8]) -> Result<()>) -> Result<u64> {
        let Some(f) = &mut self.file else {
            return Ok(0);
        };
        let mut total = 0;
        loop {
            let n = f
                .read(&mut self.chunk)
                .with_context(|| format!("cannot read `{}`", self.path.display()))?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
            self.pos += n as u64;
            let mut rest = &self.chunk[..n];
            while let Some(i) = memchr::memchr(b'\n', rest) {
                self.line_no += 1;
                if self.skipping {
                    self.skipping = false;
                } else if self.partial.is_empty() {
                    line(self.line_no, input::trim_newline(&rest[..i]))?;
                } else {
                    self.partial.extend_from_slice(&rest[..i]);
                    let whole = std::mem::take(&mut self.partial);
                    line(self.line_no, input::trim_newline(&whole))?;
                    self.partial = whole;
                    self.partial.clear();
                }
                rest = &rest[i + 1..];
            }
            if !self.skipping {
                if self.partial.len() + rest.len() > MAX_LINE {
                    self.partial.clear();
                    self.partial.shrink_to(4096);
                    self.skipping = true;
                } else {
                    self.partial.extend_from_slice(rest);
                }
            }
        }
    }
}

/// Feeds one followed line to its evaluator.
fn feed(
    eval: &mut SourceEval,
    recon: &mut telemetry::Reconstructor,
    name: &str,
    line_no: u64,
    bytes: &[u8],
    summary: &mut InputSummary,
) -> Result<()> {
    summary.records += 1;
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

/// Follows the inputs; prints each alert when it is first raised or gets
/// worse, rewrites the textfile as figures change, and returns the final
/// report when every input has been idle for `--stop-after-idle`.
pub fn run(
    ctx: &Context,
    rules: &RuleSettings,
    fail_on: Severity,
    inputs: &[Input],
    args: &CheckArgs,
    out: &mut dyn Write,
) -> Result<Report> {
    input::check_inputs(inputs)?;
    if let Some(i) = inputs.iter().find(|i| i.is_stdin()) {
        bail!(
            "`{}` cannot be followed: stdin is read to its end without `--follow`",
            i.name()
        );
    }
    let mut tails = Vec::new();
    for i in inputs {
        let mut reader = input::open(i)?;
        let kind = input::kind_of(i, &mut *reader)?;
        let eval = SourceEval::new(&i.env, &i.name(), kind, rules.clone());
        let summary = InputSummary {
            env: i.env.clone(),
            path: i.name(),
            kind,
            records: 0,
            ticks: 0,
            first_tick: None,
            last_tick: None,
            problem: None,
            warnings: Vec::new(),
        };
        tails.push((Tail::new(i.path.clone()), eval, summary));
    }
    let style = Style::stdout();
    let mut announced: Vec<(String, String, crate::Rule, Severity)> = Vec::new();
    let mut last_data = Instant::now();
    let mut last_textfile: Option<Instant> = None;
    loop {
        let mut grew = false;
        for (tail, eval, summary) in &mut tails {
            let name = tail.path.display().to_string();
            let mut recon = std::mem::take(&mut tail.recon);
            let n =
                tail.poll(&mut |no, bytes| feed(eval, &mut recon, &name, no, bytes, summary))?;
            tail.recon = recon;
            grew |= n > 0;
        }
        if grew {
            last_data = Instant::now();
            for (_, eval, _) in &tails {
                for a in eval.alerts() {
                    let key = (a.env.clone(), eval.file().to_string(), a.rule, a.severity);
                    if announced.contains(&key) {
                        continue;
                    }
                    announced.push(key);
                    match ctx.format {
                        Format::Json => {
                            serde_json::to_writer(&mut *out, &a)?;
                            writeln!(out)?;
                        }
                        _ => {
                            let word = if a.severity >= fail_on {
                                style.fail()
                            } else {
                                style.warn()
                            };
                            writeln!(
                                out,
                                "{word} {} [{}] {}: {}",
                                a.rule,
                                a.env,
                                a.severity.as_str(),
                                a.message
                            )?;
                        }
                    }
                    out.flush()?;
                }
            }
        }
        if let Some(path) = &args.prom_textfile
            && (last_textfile.is_none_or(|t| t.elapsed() >= TEXTFILE_EVERY) && grew)
        {
            let evals: Vec<SourceEval> = tails.iter().map(|(_, e, _)| e.clone()).collect();
            crate::prom::write_textfile(path, &crate::env_metrics(&evals))?;
            last_textfile = Some(Instant::now());
        }
        if args
            .stop_after_idle
            .is_some_and(|idle| last_data.elapsed() >= idle)
        {
            break;
        }
        std::thread::sleep(POLL);
    }
    let evals: Vec<SourceEval> = tails.iter().map(|(_, e, _)| e.clone()).collect();
    let summaries = tails.into_iter().map(|(_, _, s)| s).collect();
    if let Some(path) = &args.prom_textfile {
        crate::prom::write_textfile(path, &crate::env_metrics(&evals))?;
    }
    Ok(crate::report(rules, fail_on, &evals, summaries))
}
