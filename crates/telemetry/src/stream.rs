//! The streaming reader: an iterator of reconstructed tick states whose memory
//! does not grow with the stream. A reader thread splits and parses batches of
//! lines (in parallel on rayon's pool) while the caller reconstructs and uses
//! the states; a bounded channel keeps at most a few batches in flight.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rayon::prelude::*;

use crate::error::{ErrorKind, ReadError};
use crate::payload::{Batch, Payload, Splitter, parse_raw};
use crate::state::{Reconstructor, TickState};

/// Bytes of lines parsed together.
const BATCH_BYTES: usize = 1 << 20;
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
    },
}

/// Reconstructed states, one per line, in stream order. After the first
/// error the iterator ends.
pub struct Stream {
    source: Source,
    pending: std::vec::IntoIter<Payload>,
    recon: Reconstructor,
    done: bool,
}

impl Stream {
    /// Opens a file and reads it on a background thread.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| ReadError {
            source_name: name.clone(),
            line: 0,
            offset: 0,
            kind: ErrorKind::Io(e.to_string()),
        })?;
        Ok(Self::threaded(file, name))
    }

    /// Reads `reader` on a background thread; `name` appears in errors.
    pub fn threaded<R: Read + Send + 'static>(reader: R, name: String) -> Self {
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let handle = std::thread::Builder::new()
            .name("telemetry-reader".into())
            .spawn(move || produce(BufReader::with_capacity(1 << 16, reader), name, tx))
            .ok();
        Self::with_source(Source::Threaded { rx, handle })
    }

    /// Reads `reader` on the calling thread, one line at a time (for small
    /// inputs and fuzzing).
    pub fn inline<R: BufRead + Send + 'static>(reader: R, name: String) -> Self {
        Self::with_source(Source::Inline {
            splitter: Splitter::new(Box::new(reader), name.clone()),
            name,
        })
    }

    fn with_source(source: Source) -> Self {
        Self {
            source,
            pending: Vec::new().into_iter(),
            recon: Reconstructor::new(),
            done: false,
        }
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
            Source::Inline { splitter, name } => match splitter.next_batch(1) {
                Ok(Some(batch)) => {
                    let mut out = Vec::with_capacity(batch.lines.len());
                    for raw in &batch.lines {
                        match parse_raw(name, &batch, raw) {
                            Ok(p) => out.push(p),
                            Err(e) => return Some(Err(e)),
                        }
                    }
                    self.pending = out.into_iter();
                    Some(Ok(()))
                }
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            },
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
                return Some(Ok(self.recon.apply(p)));
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

fn produce<R: BufRead>(reader: R, name: String, tx: SyncSender<Parsed>) {
    let mut splitter = Splitter::new(reader, name.clone());
    loop {
        let batch = match splitter.next_batch(BATCH_BYTES) {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                let _closed = tx.send(Err(e));
                return;
            }
        };
        let (payloads, error) = parse_batch(&name, &batch);
        if !payloads.is_empty() && tx.send(Ok(payloads)).is_err() {
            return;
        }
        if let Some(e) = error {
            let _closed = tx.send(Err(e));
            return;
        }
    }
}

/// Parses a batch; returns the payloads before the first bad line and that
/// line's error.
fn parse_batch(name: &str, batch: &Batch) -> (Vec<Payload>, Option<ReadError>) {
    let results: Vec<Result<Payload, ReadError>> = if batch.lines.len() >= PARALLEL_MIN_LINES {
        batch
            .lines
            .par_iter()
            .map(|raw| parse_raw(name, batch, raw))
            .collect()
    } else {
        batch
            .lines
            .iter()
            .map(|raw| parse_raw(name, batch, raw))
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
