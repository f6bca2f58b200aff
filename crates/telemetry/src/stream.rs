//! The streaming reader: an iterator of reconstructed tick states whose memory
//! does not grow with the stream. A reader thread splits and parses batches of
//! lines (in parallel on rayon's pool) while the caller reconstructs and uses
//! the states; a bounded channel keeps at most a few batches in flight.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use rayon::prelude::*;

use crate::error::{ErrorKind, ReadError};
use crate::pattern::Keep;
use crate::payload::{Batch, Payload, Splitter, parse_raw};
use crate::schema::Seen;
use crate::state::{Reconstructor, TickState};

/// How a stream is read.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The values decoded; the default keeps all.
    pub keep: Keep,
    /// Fill in [`TickState::new_shapes`].
    pub schema: bool,
}

impl Options {
    pub fn keep(mut self, keep: Keep) -> Self {
        self.keep = keep;
        self
    }

    pub fn schema(mut self, on: bool) -> Self {
        self.schema = on;
        self
    }
}

/// What the threads parsing a stream's lines share.
#[derive(Debug, Default)]
struct Decoding {
    options: Options,
    seen: Seen,
}

impl Decoding {
    fn parse(
        &self,
        name: &str,
        batch: &Batch,
        raw: &crate::payload::RawLine,
    ) -> Result<Payload, ReadError> {
        let mut p = parse_raw(&self.options.keep, name, batch, raw)?;
        if self.options.schema {
            self.seen.describe(&mut p, &batch.buf[raw.range.clone()]);
        }
        Ok(p)
    }
}

/// Bytes of lines parsed together. A batch and what is parsed from it stay
/// in a core's L2 cache: 256 KiB batches read two 110 MB captures 28%
/// faster than 1 MiB batches, and 11% faster than 128 KiB ones.
const BATCH_BYTES: usize = 1 << 18;
/// Parsed batches waiting for the consumer.
const IN_FLIGHT: usize = 3;
/// Below this many lines a batch is parsed on the reader thread alone.
const PARALLEL_MIN_LINES: usize = 16;

type Parsed = Result<Vec<Payload>, ReadError>;

enum Source {
    Threaded {
        rx: Receiver<Parsed>,
        handle: Option<JoinHandle<()>>,
    },
    Inline {
        splitter: Splitter<Box<dyn BufRead + Send>>,
        name: String,
        decoding: Decoding,
        batch: Batch,
    },
}

/// Reconstructed states, one per line, in stream order. After the first
/// error the iterator ends.
pub struct Stream {
    source: Source,
    /// The source as given, for errors.
    name: String,
    pending: std::vec::IntoIter<Payload>,
    /// Inline: the error of the line after `pending`.
    deferred: Option<ReadError>,
    recon: Reconstructor,
    /// The previous state's tick and line: ticks must increase.
    last: Option<(u64, u64)>,
    done: bool,
}

impl Stream {
    /// Opens a file and reads it on a background thread.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        Self::open_with(path, Options::default())
    }

    /// [`Stream::open`] with options.
    pub fn open_with(path: &Path, options: Options) -> Result<Self, ReadError> {
        let name = path.display().to_string();
        let file = input::open(path, input::Kind::STREAM).map_err(|e| ReadError {
            source_name: name.clone(),
            line: 0,
            offset: 0,
            kind: ErrorKind::Open(e.reason()),
        })?;
        Ok(Self::threaded_with(file, name, options))
    }

    /// Reads `reader` on a background thread; `name` appears in errors.
    pub fn threaded<R: Read + Send + 'static>(reader: R, name: String) -> Self {
        Self::threaded_with(reader, name, Options::default())
    }

    /// [`Stream::threaded`] with options.
    pub fn threaded_with<R: Read + Send + 'static>(
        reader: R,
        name: String,
        options: Options,
    ) -> Self {
        let keep = options.keep.clone();
        let decoding = Arc::new(Decoding {
            options,
            seen: Seen::default(),
        });
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let shown = name.clone();
        let handle = std::thread::Builder::new()
            .name("telemetry-reader".into())
            .spawn(move || {
                produce(
                    BufReader::with_capacity(1 << 16, reader),
                    name,
                    &decoding,
                    tx,
                )
            })
            .ok();
        Self::with_source(Source::Threaded { rx, handle }, shown, keep)
    }

    /// Reads `reader` on the calling thread, one line at a time (for small
    /// inputs and fuzzing).
    pub fn inline<R: BufRead + Send + 'static>(reader: R, name: String) -> Self {
        Self::inline_with(reader, name, Options::default())
    }

    /// [`Stream::inline`] with options.
    pub fn inline_with<R: BufRead + Send + 'static>(
        reader: R,
        name: String,
        options: Options,
    ) -> Self {
        let keep = options.keep.clone();
        let shown = name.clone();
        Self::with_source(
            Source::Inline {
                splitter: Splitter::new(Box::new(reader), name.clone()),
                batch: Batch::default(),
                name,
                decoding: Decoding {
                    options,
                    seen: Seen::default(),
                },
            },
            shown,
            keep,
        )
    }

    fn with_source(source: Source, name: String, keep: Keep) -> Self {
        Self {
            source,
            name,
            pending: Vec::new().into_iter(),
            deferred: None,
            recon: Reconstructor::keeping(keep),
            last: None,
            done: false,
        }
    }

    /// The state, or an error when its tick does not follow the previous
    /// one: a repeated tick, or a stream that went back (another run
    /// appended to the same file) cannot be judged tick by tick.
    fn in_order(&mut self, state: TickState) -> Result<TickState, ReadError> {
        if let Some((previous, previous_line)) = self.last
            && state.tick <= previous
        {
            return Err(ReadError {
                source_name: self.name.clone(),
                line: state.line,
                offset: state.offset,
                kind: ErrorKind::TickOrder {
                    tick: state.tick,
                    previous,
                    previous_line,
                },
            });
        }
        self.last = Some((state.tick, state.line));
        Ok(state)
    }

    fn refill(&mut self) -> Option<Result<(), ReadError>> {
        match &mut self.source {
            Source::Threaded { rx, handle } => match rx.recv() {
                Ok(Ok(payloads)) => {
                    self.pending = payloads.into_iter();
                    Some(Ok(()))
                }
                Ok(Err(e)) => Some(Err(e)),
                Err(_) => {
                    if let Some(h) = handle.take() {
                        let _finished = h.join();
                    }
                    None
                }
            },
            Source::Inline {
                splitter,
                name,
                decoding,
                batch,
            } => {
                if let Some(e) = self.deferred.take() {
                    return Some(Err(e));
                }
                match splitter.next_batch(batch, 1) {
                    Ok(true) => {
                        let (payloads, error) = parse_batch(decoding, name, batch, false);
                        self.pending = payloads.into_iter();
                        self.deferred = error;
                        Some(Ok(()))
                    }
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                }
            }
        }
    }
}

impl Iterator for Stream {
    type Item = Result<TickState, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if let Some(p) = self.pending.next() {
                let state = self.recon.apply(p);
                let state = self.in_order(state);
                self.done = state.is_err();
                return Some(state);
            }
            match self.refill() {
                Some(Ok(())) => continue,
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                None => {
                    self.done = true;
                    return None;
                }
            }
        }
    }
}

/// Threaded readers running in this process.
static READERS: AtomicUsize = AtomicUsize::new(0);

/// Counts a reader thread while it runs.
struct Reading;

impl Reading {
    fn start() -> Self {
        READERS.fetch_add(1, Ordering::Relaxed);
        Reading
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        READERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether a reader spreads its batch's lines over rayon's pool: only while
/// the readers running leave a core idle. Otherwise each reader parses on its
/// own thread, next to the buffer it has just read (still in its core's
/// cache): two captures read at once on two cores take 18% less time than
/// when every batch goes to the pool. A reader left alone (one stream, or the
/// other stream has ended) spreads again: a 105 MB capture compared with a
/// 10 MB one is 24% slower without.
fn spread() -> bool {
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    READERS.load(Ordering::Relaxed) < cores
}

fn produce<R: BufRead>(reader: R, name: String, decoding: &Decoding, tx: SyncSender<Parsed>) {
    let _reading = Reading::start();
    let mut splitter = Splitter::new(reader, name.clone());
    // One buffer for every batch: a fresh megabyte each time costs page
    // faults.
    let mut batch = Batch::default();
    loop {
        match splitter.next_batch(&mut batch, BATCH_BYTES) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let _closed = tx.send(Err(e));
                return;
            }
        }
        let (payloads, error) = parse_batch(decoding, &name, &batch, spread());
        if !payloads.is_empty() && tx.send(Ok(payloads)).is_err() {
            return;
        }
        if let Some(e) = error {
            let _closed = tx.send(Err(e));
            return;
        }
    }
}

/// Parses a batch (its lines in parallel when `parallel` and there are
/// enough); returns the payloads before the first bad line and that line's
/// error.
fn parse_batch(
    decoding: &Decoding,
    name: &str,
    batch: &Batch,
    parallel: bool,
) -> (Vec<Payload>, Option<ReadError>) {
    let results: Vec<Result<Payload, ReadError>> =
        if parallel && batch.lines.len() >= PARALLEL_MIN_LINES {
            batch
                .lines
                .par_iter()
                .map(|raw| decoding.parse(name, batch, raw))
                .collect()
        } else {
            batch
                .lines
                .iter()
                .map(|raw| decoding.parse(name, batch, raw))
                .collect()
        };
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(p) => out.push(p),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// Reads a whole stream and calls `f` with each state; stops at the first
/// error. A convenience for callers that do not need to interleave streams.
pub fn for_each_state(path: &Path, mut f: impl FnMut(&TickState)) -> Result<u64, ReadError> {
    let mut n = 0;
    for s in Stream::open(path)? {
        f(&s?);
        n += 1;
    }
    Ok(n)
}
