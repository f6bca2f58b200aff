//! Following stdin (`--log - --follow`, as in `kubectl logs -f POD |
//! cargo xtask monitor --log - --follow`): a thread reads the pipe in
//! chunks into a bounded channel, so the follower's loop keeps its cadence
//! (the textfile's interval, the end on a signal) while the pipe is quiet,
//! and a writer faster than the rules waits on the pipe instead of filling
//! memory. The chunks are cut into lines by the same [`super::Tail`] rules
//! as a followed file (bounded lines, over-long ones skipped or refused).

use std::io::BufRead;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

/// Chunks in flight between the reading thread and the follower (64 KiB
/// each at most, the reader's buffer).
const IN_FLIGHT: usize = 16;
/// The longest the follower spends on stdin in one round before it looks at
/// the clock and the other inputs again.
const ROUND: Duration = Duration::from_millis(250);

/// The reading end of stdin.
pub(super) struct StdinFeed {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    /// A chunk [`StdinFeed::wait`] received, handed on by the next drain.
    pending: Option<std::io::Result<Vec<u8>>>,
    ended: bool,
}

impl StdinFeed {
    /// Starts reading `reader` (stdin, maybe with its first bytes already
    /// buffered by the kind sniffing) on its own thread.
    pub(super) fn spawn(reader: Box<dyn BufRead + Send>) -> Result<Self> {
        let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
        std::thread::Builder::new()
            .name("monitor-stdin".into())
            .spawn(move || pump(reader, &tx))
            .context("cannot start the thread that reads stdin")?;
        Ok(Self {
            rx,
            pending: None,
            ended: false,
        })
    }

    /// Hands what has arrived to `each`, without waiting for more, for at
    /// most [`ROUND`]; returns the bytes handed. An error of the pipe is
    /// the run's error.
    pub(super) fn drain(&mut self, each: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<u64> {
        let started = Instant::now();
        let mut total = 0;
        while !self.ended && started.elapsed() < ROUND {
            let next = match self.pending.take() {
                Some(chunk) => Ok(chunk),
                None => self.rx.try_recv(),
            };
            match next {
                Ok(Ok(chunk)) => {
                    total += chunk.len() as u64;
                    each(&chunk)?;
                }
                Ok(Err(error)) => return Err(error).context("cannot read `<stdin>`"),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => self.ended = true,
            }
        }
        Ok(total)
    }

    /// Waits at most `timeout` for the pipe to bring something (kept for
    /// the next drain): the follower's pause when nothing arrived, which a
    /// fast writer ends at once instead of a fixed sleep throttling it.
    pub(super) fn wait(&mut self, timeout: Duration) {
        if self.ended || self.pending.is_some() {
            return;
        }
        match self.rx.recv_timeout(timeout) {
            Ok(chunk) => self.pending = Some(chunk),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => self.ended = true,
        }
    }

    /// Whether the pipe reached its end and everything read was handed on.
    pub(super) fn ended(&self) -> bool {
        self.ended
    }
}

/// Reads until the end of the pipe (the channel then closes) or an error
/// (sent, then closed); stops when the follower is gone.
fn pump(mut reader: Box<dyn BufRead + Send>, tx: &SyncSender<std::io::Result<Vec<u8>>>) {
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) => return,
            Ok(bytes) => bytes.to_vec(),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                let _gone = tx.send(Err(error));
                return;
            }
        };
        reader.consume(chunk.len());
        if tx.send(Ok(chunk)).is_err() {
            return;
        }
    }
}
