//! Progress on stderr while the gate runs: a live board of the steps
//! (indicatif) on a terminal that can redraw, plain lines otherwise.

use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use rollout_core::{Style, Verbosity};

use crate::plan::{Planned, describe};
use crate::render;
use crate::step::StepResult;

/// How often a running step's time is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// Progress on stderr: a board redrawn in place on a terminal, plain lines
/// otherwise (a pipe, `TERM=dumb`, CI).
pub(crate) struct Progress {
    live: bool,
    quiet: bool,
    style: Style,
    board: OnceLock<Board>,
}

/// One line per step: `wait`, then ` run` with its time, then its status.
struct Board {
    multi: MultiProgress,
    lines: Vec<ProgressBar>,
}

impl Progress {
    pub(crate) fn new(verbosity: Verbosity) -> Self {
        let stderr = std::io::stderr();
        let live = rollout_core::output::can_redraw(&stderr) && verbosity != Verbosity::Quiet;
        Self {
            live,
            quiet: verbosity == Verbosity::Quiet,
            style: Style::stderr(),
            board: OnceLock::new(),
        }
    }

    pub(crate) fn note(&self, msg: &str) {
        if self.quiet {
            return;
        }
        let msg = rollout_core::output::printable_lines(msg);
        match self.board.get() {
            // Above the board, which is drawn again below it.
            Some(board) => board.multi.suspend(|| eprintln!("gate: {msg}")),
            None => eprintln!("gate: {msg}"),
        }
    }

    pub(crate) fn start(&self, run: &[Planned]) {
        if self.quiet {
            return;
        }
        if !self.live {
            for p in run {
                let implied = if p.implied {
                    " (needed by a selected step)"
                } else {
                    ""
                };
                eprintln!(
                    "gate: plan {}: {}{implied}",
                    p.step.id,
                    rollout_core::output::printable(&describe(p))
                );
            }
            return;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let lines = run
            .iter()
            .map(|p| {
                let line = multi.add(ProgressBar::new_spinner());
                line.set_style(fixed_style("wait {prefix}"));
                line.set_prefix(p.step.id.clone());
                line.tick();
                line
            })
            .collect();
        let _first = self.board.set(Board { multi, lines });
    }

    pub(crate) fn started(&self, index: usize, p: &Planned) {
        if self.quiet {
            return;
        }
        match self.board.get().and_then(|b| b.lines.get(index)) {
            Some(line) => {
                line.set_style(running_style());
                line.reset_elapsed();
                line.enable_steady_tick(REDRAW_EVERY);
            }
            None => eprintln!("gate: start {}", p.step.id),
        }
    }

    pub(crate) fn finished(&self, index: usize, p: &Planned, r: &StepResult, ms: u64) {
        if self.quiet {
            return;
        }
        match self.board.get().and_then(|b| b.lines.get(index)) {
            Some(line) => {
                let word = r.status.status().word(&self.style);
                line.set_style(fixed_style("{msg}"));
                line.finish_with_message(format!(
                    "{word} {:<16} {:>7}",
                    p.step.id,
                    render::secs(ms)
                ));
            }
            None => {
                let status = serde_json::to_value(r.status)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                eprintln!(
                    "gate: {status} {}: {}",
                    p.step.id,
                    rollout_core::output::printable(&r.summary)
                );
            }
        }
    }

    /// Leaves the board as it stands (steps that never started stay
    /// `wait`); the result follows on stdout.
    pub(crate) fn done(&self) {
        if let Some(board) = self.board.get() {
            for line in board.lines.iter().filter(|l| !l.is_finished()) {
                line.abandon();
            }
        }
    }
}

/// A line that does not change until its step does.
fn fixed_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// ` run pytest             12.3s`, the time counting from the step's start.
fn running_style() -> ProgressStyle {
    fixed_style(" run {prefix:<16} {secs:>7}").with_key(
        "secs",
        |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            let ms = u64::try_from(state.elapsed().as_millis()).unwrap_or(u64::MAX);
            let _ = write!(out, "{}", render::secs(ms));
        },
    )
}
