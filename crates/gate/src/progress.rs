//! Progress on stderr while the gate runs.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rollout_config::{Style, Verbosity};

use crate::plan::{Planned, describe};
use crate::render;
use crate::step::StepResult;

/// Progress on stderr: redrawn in place on a terminal, plain lines otherwise.
pub(crate) struct Progress {
    live: bool,
    quiet: bool,
    style: Style,
    drawn: std::sync::atomic::AtomicUsize,
}

impl Progress {
    pub(crate) fn new(verbosity: Verbosity) -> Self {
        let stderr = std::io::stderr();
        let live = rollout_config::output::can_redraw(&stderr) && verbosity != Verbosity::Quiet;
        Self {
            live,
            quiet: verbosity == Verbosity::Quiet,
            style: Style::stderr(),
            drawn: 0.into(),
        }
    }

    pub(crate) fn note(&self, msg: &str) {
        if !self.quiet {
            eprintln!("gate: {msg}");
        }
    }

    pub(crate) fn start(&self, run: &[Planned]) {
        if self.quiet {
            return;
        }
        for p in run {
            let implied = if p.implied {
                " (needed by a selected step)"
            } else {
                ""
            };
            if !self.live {
                eprintln!("gate: plan {}: {}{implied}", p.step.id, describe(p));
            }
        }
    }

    pub(crate) fn started(&self, p: &Planned) {
        if !self.quiet && !self.live {
            eprintln!("gate: start {}", p.step.id);
        }
    }

    pub(crate) fn finished(&self, p: &Planned, r: Option<&StepResult>) {
        if self.quiet || self.live {
            return;
        }
        if let Some(r) = r {
            let status = serde_json::to_value(r.status)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            eprintln!("gate: {status} {}: {}", p.step.id, r.summary);
        }
    }

    pub(crate) fn tick(
        &self,
        run: &[Planned],
        started: &[Option<Instant>],
        results: &[Option<(StepResult, u64)>],
    ) {
        if !self.live {
            return;
        }
        let mut err = std::io::stderr().lock();
        let drawn = self.drawn.load(Ordering::Relaxed);
        if drawn > 0 {
            let _ = write!(err, "\x1b[{drawn}A");
        }
        for (i, p) in run.iter().enumerate() {
            let (word, time) = match (&results[i], started[i]) {
                (Some((r, ms)), _) => (r.status.status().word(&self.style), render::secs(*ms)),
                (None, Some(t)) => (
                    " run".to_string(),
                    render::secs(t.elapsed().as_millis() as u64),
                ),
                (None, None) => ("wait".to_string(), String::new()),
            };
            let _ = writeln!(err, "\x1b[2K{word} {:<16} {time:>7}", p.step.id);
        }
        self.drawn.store(run.len(), Ordering::Relaxed);
    }

    pub(crate) fn done(&self) {
        if self.live && self.drawn.load(Ordering::Relaxed) > 0 {
            // Leave the final table; the result follows on stdout.
            let _ = std::io::stderr().flush();
        }
    }
}
