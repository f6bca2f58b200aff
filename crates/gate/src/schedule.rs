//! Scheduling: steps start as soon as what they need has passed, at most
//! `jobs` at a time, each on its own thread; a failure with `--fail-fast`
//! or an interrupt stops starting more.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use plumbing::report::StepStatus;
use rollout_config::Context;

use crate::plan::Planned;
use crate::progress::Progress;
use crate::settings::Settings;
use crate::step::{StepResult, run_step};

/// Each planned step's result and duration in milliseconds; `None` for a
/// step that never started (interrupted, or stopped by `--fail-fast`).
pub(crate) type Results = Vec<Option<(StepResult, u64)>>;

/// What the scheduler needs to run the plan.
pub(crate) struct Scheduler<'a> {
    pub(crate) ctx: Arc<Context>,
    pub(crate) settings: Arc<Settings>,
    pub(crate) run: &'a [Planned],
    pub(crate) log_dir: &'a Path,
    pub(crate) interrupted: Arc<AtomicBool>,
    pub(crate) progress: &'a Progress,
}

/// Where the run stands.
struct State {
    results: Results,
    started: Vec<Option<Instant>>,
    running: usize,
    stop_starting: bool,
}

/// A step's result sent back by its thread: index, result, milliseconds.
type Done = (usize, StepResult, u64);

impl Scheduler<'_> {
    /// Runs every step that can run and returns their results.
    pub(crate) fn run(&self) -> Results {
        let count = self.run.len();
        let mut state = State {
            results: vec![None; count],
            started: vec![None; count],
            running: 0,
            stop_starting: false,
        };
        let index: BTreeMap<&str, usize> = self
            .run
            .iter()
            .enumerate()
            .map(|(i, p)| (p.step.id.as_str(), i))
            .collect();
        let (tx, rx) = mpsc::channel::<Done>();
        self.progress.start(self.run);
        loop {
            if self.interrupted.load(Ordering::Relaxed) {
                state.stop_starting = true;
            }
            self.start_ready(&mut state, &index, &tx);
            let all_done = state.results.iter().all(Option::is_some);
            if state.running == 0 && (state.stop_starting || all_done) {
                break;
            }
            if state.running == 0 {
                // Nothing runs and nothing can start: everything left waits
                // on a step that did not run. Mark it.
                for (i, slot) in state.results.iter_mut().enumerate() {
                    if slot.is_none() {
                        let skipped =
                            StepResult::new(StepStatus::Skipped, "a step it needs did not run");
                        self.progress.finished(i, &self.run[i], &skipped, 0);
                        *slot = Some((skipped, 0));
                    }
                }
                break;
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(done) => self.finish(&mut state, done),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        self.progress.done();
        state.results
    }

    /// Starts the steps whose needs are done, up to `jobs` running; skips
    /// those whose needs did not pass.
    fn start_ready(
        &self,
        state: &mut State,
        index: &BTreeMap<&str, usize>,
        tx: &mpsc::Sender<Done>,
    ) {
        for i in 0..self.run.len() {
            if state.running >= self.settings.jobs || state.stop_starting {
                break;
            }
            if state.results[i].is_some() || state.started[i].is_some() {
                continue;
            }
            let needs: Vec<usize> = self.run[i]
                .needs
                .iter()
                .filter_map(|id| index.get(id.as_str()).copied())
                .collect();
            if needs.iter().any(|&j| state.results[j].is_none()) {
                continue;
            }
            if let Some(&j) = needs.iter().find(|&&j| {
                state.results[j]
                    .as_ref()
                    .is_some_and(|(r, _)| !r.status.lets_dependents_run())
            }) {
                let why = format!("needs '{}', which did not pass", self.run[j].step.id);
                let skipped = StepResult::new(StepStatus::Skipped, why);
                self.progress.finished(i, &self.run[i], &skipped, 0);
                state.results[i] = Some((skipped, 0));
                continue;
            }
            state.started[i] = Some(Instant::now());
            state.running += 1;
            self.progress.started(i, &self.run[i]);
            self.spawn(i, tx.clone());
        }
    }

    /// Runs step `i` on its own thread; its result comes back through `tx`.
    fn spawn(&self, i: usize, tx: mpsc::Sender<Done>) {
        let planned = self.run[i].clone();
        let log = self.log_dir.join(format!("{}.log", planned.step.id));
        let (ctx, settings, cancel) = (
            Arc::clone(&self.ctx),
            Arc::clone(&self.settings),
            Arc::clone(&self.interrupted),
        );
        std::thread::spawn(move || {
            let started = Instant::now();
            let result = run_step(&ctx, &settings, &planned, &log, &cancel).unwrap_or_else(|e| {
                let mut r = StepResult::new(
                    StepStatus::Fail,
                    format!("could not run: {e:#}").replace('\n', "; "),
                );
                r.details = vec![format!("{e:#}")];
                r.could_not_run = true;
                r
            });
            let _sent = tx.send((i, result, started.elapsed().as_millis() as u64));
        });
    }

    /// Records a finished step: an allowed failure only warns; a failure
    /// with `--fail-fast` stops the rest.
    fn finish(&self, state: &mut State, (i, mut result, ms): Done) {
        state.running -= 1;
        if result.status == StepStatus::Fail && self.run[i].step.allow_failure {
            result.status = StepStatus::AllowedFailure;
        }
        if matches!(result.status, StepStatus::Fail | StepStatus::Timeout)
            && self.settings.fail_fast
        {
            state.stop_starting = true;
            self.interrupted.store(true, Ordering::Relaxed);
        }
        self.progress.finished(i, &self.run[i], &result, ms);
        state.results[i] = Some((result, ms));
    }
}
