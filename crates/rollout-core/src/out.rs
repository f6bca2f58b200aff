//! Where a command's result goes: stdout on the command line, a step's log
//! when the gate runs the command as a step, memory in tests. Every
//! command's `run` writes its report through [`Out`] (in its `Context`), so
//! the same code serves all three.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::output::{Style, use_color};

/// A shared, cheaply cloned writer with the styling its reader gets.
#[derive(Clone)]
pub struct Out {
    sink: Arc<Mutex<Box<dyn Write + Send>>>,
    color: bool,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Out").field("color", &self.color).finish()
    }
}

impl Out {
    /// The process's stdout, coloured as `--color` and the terminal decide.
    pub fn stdout() -> Self {
        Self::to_writer(std::io::stdout(), use_color(&std::io::stdout()))
    }

    /// Any writer (a step's log file), coloured or not.
    pub fn to_writer(writer: impl Write + Send + 'static, color: bool) -> Self {
        Self {
            sink: Arc::new(Mutex::new(Box::new(writer))),
            color,
        }
    }

    /// An uncoloured writer into memory, and the handle that reads it back.
    pub fn memory() -> (Self, Captured) {
        let captured = Captured::default();
        (Self::to_writer(captured.clone(), false), captured)
    }

    /// The styling of status words for this output.
    pub fn style(&self) -> Style {
        Style::new(self.color)
    }

    /// The writer, held until the guard is dropped. A writer poisoned by a
    /// panic elsewhere is still usable: it holds bytes, not invariants.
    pub fn lock(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        self.sink
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What an [`Out::memory`] received.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// The bytes written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The bytes written so far, leaving it empty (a reader that consumes
    /// what a writer produced, as `plumbing`'s ANSI stripper does).
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The bytes written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_to_a_memory_out_reads_back_from_every_clone() {
        let (out, captured) = Out::memory();
        let other = out.clone();
        write!(out.lock(), "one ").expect("write");
        write!(other.lock(), "two").expect("write");
        assert_eq!(captured.text(), "one two");
        assert!(format!("{out:?}").contains("color: false"));
    }
}
