//! `--bisect`: for each difference between the baseline and the bad
//! commit's capture, the first commit on the first-parent path from the
//! good commit that shows it. Commits are captured in git work trees under
//! `target/rollout/bisect/` (never in the user's checkout), two at once on
//! a machine with two cores, and cached by commit and capture config under
//! `target/rollout/bisect-cache/`, so a second difference, or a second run,
//! costs only the captures it adds. The search is in [`search`], the
//! captures in [`probe`].

mod probe;
mod report;
mod search;
mod subjects;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use plumbing::git::{Git, operand};
use rollout_config::Context;
use rollout_core::{Format, Outcome, Style, Verbosity, Verdict, printable};

pub use report::{Attribution, BisectReport, Commit, Resolution, Skipped};

use crate::baselines;
use crate::compare::{CompareSettings, compare_paths};
use crate::settings::{Bisect, Settings};
use probe::{Captured, Prober, Worktrees};
use search::{Found, Known};
use subjects::Difference;

/// How many mismatches each check lists during a bisect: enough that every
/// subject of a check is listed, so none is lost from one commit to the next.
const EXAMPLES: usize = 250;

/// Runs the bisect and prints its report.
pub(crate) fn run(ctx: &Context, settings: &Settings, b: &Bisect) -> Result<Outcome> {
    for (rev, flag) in [(&b.good, "--good"), (&b.bad, "--bad")] {
        if let Some(rev) = rev {
            operand(rev, &format!("`{flag}`"))?;
        }
    }
    if !matches!(ctx.format, Format::Human | Format::Json) {
        bail!(
            "--bisect prints `--format human` or `--format json`, not {:?}",
            ctx.format
        );
    }
    let started = Instant::now();
    let root = ctx.settings.townlet_checkout()?.to_path_buf();
    let chosen = baselines::choose(settings.baseline.path(), &root)?;
    let sh = xshell::Shell::new()?;
    let git = Git::open(&sh, &root)?;
    let good = match (&b.good, &chosen.commit) {
        (Some(rev), _) => git.commit(rev)?,
        (None, Some(c)) => git.commit(c).with_context(|| {
            format!("the baseline `{}` was blessed from `{c}`, which this checkout does not have\nhint: pass `--good REV`", chosen.path.display())
        })?,
        (None, None) => bail!(
            "the baseline `{}` records no commit it was blessed from\nhint: pass `--good REV`, a commit whose capture matches the baseline",
            chosen.path.display()
        ),
    };
    let bad = git.commit(b.bad.as_deref().unwrap_or("HEAD"))?;
    if !git.is_ancestor(&good, &bad)? {
        bail!(
            "the good commit `{good}` is not an ancestor of the bad commit `{bad}`: there is no path from one to the other to search\nhint: pass `--good` an ancestor of `--bad`"
        );
    }
    let mut commits = vec![good.clone()];
    commits.extend(git.first_parent_path(&good, &bad)?);
    if commits.len() < 2 {
        bail!("the good and the bad commit are the same commit `{good}`: nothing to search");
    }
    let mut compare = settings.compare.clone();
    compare.examples = compare.examples.max(EXAMPLES);
    let run = Run {
        ctx,
        compare,
        baseline: chosen.path.clone(),
        commits,
    };
    let mut report = run.search(&root)?;
    report.good = git.commit_info(&good)?.into();
    report.bad = git.commit_info(&bad)?.into();
    report.duration_ms = started.elapsed().as_millis() as u64;
    for d in &mut report.differences {
        name_commits(&git, d)?;
    }
    for s in &mut report.skipped {
        s.commit = git.commit_info(&s.commit.commit)?.into();
    }
    emit(ctx, &report, settings.output.as_deref())?;
    Ok(report.outcome())
}

/// Fills in the subjects and dates of the commits an attribution names.
fn name_commits(git: &Git<'_>, d: &mut Attribution) -> Result<()> {
    if let Some(f) = &mut d.first {
        *f = git.commit_info(&f.commit)?.into();
    }
    d.last_without = git.commit_info(&d.last_without.commit)?.into();
    for c in &mut d.candidates {
        *c = git.commit_info(&c.commit)?.into();
    }
    Ok(())
}

/// A bisect under way.
struct Run<'a> {
    ctx: &'a Context,
    compare: CompareSettings,
    baseline: PathBuf,
    /// The good commit, then the first-parent path to the bad one.
    commits: Vec<String>,
}

/// What the captures so far say.
struct State {
    known: Vec<Known>,
    errors: BTreeMap<usize, String>,
    made: u32,
    cached: u32,
}

impl Run<'_> {
    /// Captures the bad commit, then searches for each difference it shows.
    fn search(&self, root: &Path) -> Result<BisectReport> {
        let s = &self.ctx.settings;
        let python = s.python();
        if python.components().count() > 1 && !python.is_file() {
            bail!(
                "the target's interpreter `{}` does not exist: a bisect reuses the root's Python environment\nhint: run `cargo xtask gate --steps capture` once to provision it",
                python.display()
            );
        }
        let cancel = plumbing::process::interrupt_flag()?;
        let id = format!("{}-{}", std::process::id(), jiff_free_stamp());
        let worktrees = Worktrees::new(root, s.target_dir.join("rollout/bisect").join(id))?;
        let prober = Prober {
            settings: s,
            worktrees: &worktrees,
            cache: probe::cache_dir(s, &python)?,
            python,
            cancel: &cancel,
            quiet: self.ctx.verbosity == Verbosity::Quiet,
            verbose: self.ctx.verbosity == Verbosity::Verbose,
        };
        let last = self.commits.len() - 1;
        let mut state = State {
            known: vec![Known::Unknown; self.commits.len()],
            errors: BTreeMap::new(),
            made: 0,
            cached: 0,
        };
        state.known[0] = Known::Shows(BTreeSet::new());
        self.probe(&prober, &mut state, &[last])?;
        let differences = match &state.known[last] {
            Known::Shows(_) => self.differences_at(&prober, last)?,
            _ => bail!(
                "cannot capture the bad commit `{}`: {}",
                self.commits[last],
                state.errors.get(&last).map(String::as_str).unwrap_or("")
            ),
        };
        let parallel = match std::thread::available_parallelism() {
            Ok(n) if n.get() >= 2 => 2,
            _ => 1,
        };
        let mut found = Vec::new();
        for d in differences.values() {
            found.push(self.attribute(&prober, &mut state, d, parallel)?);
        }
        Ok(self.report(found, state))
    }

    /// The differences the capture of `commits[i]` shows (it was captured).
    fn differences_at(
        &self,
        prober: &Prober<'_>,
        i: usize,
    ) -> Result<BTreeMap<String, Difference>> {
        let (captured, _) = prober.capture(&self.commits[i])?;
        let Captured::Done(dir) = captured else {
            bail!(
                "the capture of `{}` is gone from the cache",
                self.commits[i]
            );
        };
        let r = compare_paths(&self.compare, &self.baseline, &dir)?;
        Ok(subjects::differences(&r, self.compare.added_paths))
    }

    /// Captures (or takes from the cache) the commits at `indices`, two at
    /// once when there are two, and records what each shows.
    fn probe(&self, prober: &Prober<'_>, state: &mut State, indices: &[usize]) -> Result<()> {
        let results: Vec<Result<(Captured, bool)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = indices
                .iter()
                .map(|&i| {
                    let commit = &self.commits[i];
                    if !prober.quiet {
                        eprintln!(
                            "bisect: {} ({} of {})",
                            &commit[..10.min(commit.len())],
                            i,
                            self.commits.len() - 1
                        );
                    }
                    scope.spawn(move || prober.capture(commit))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a capture thread panicked")))
                })
                .collect()
        });
        for (&i, result) in indices.iter().zip(results) {
            let (captured, made) = result?;
            if made {
                state.made += 1;
            } else {
                state.cached += 1;
            }
            state.known[i] = match captured {
                Captured::Done(dir) => {
                    let r = compare_paths(&self.compare, &self.baseline, &dir)?;
                    Known::Shows(
                        subjects::differences(&r, self.compare.added_paths)
                            .into_keys()
                            .collect(),
                    )
                }
                Captured::Failed(why) => {
                    if !prober.quiet {
                        eprintln!(
                            "bisect: skip {}: {}",
                            &self.commits[i][..10],
                            printable(&why)
                        );
                    }
                    state.errors.insert(i, why);
                    Known::Skipped
                }
            };
        }
        Ok(())
    }

    /// Searches the first commit that shows `d`.
    fn attribute(
        &self,
        prober: &Prober<'_>,
        state: &mut State,
        d: &Difference,
        parallel: usize,
    ) -> Result<(Difference, Found, u32, u32)> {
        let id = d.id();
        let before = state.made;
        let mut probed = BTreeSet::new();
        loop {
            let bounds = search::bounds(&state.known, &id);
            probed.extend([bounds.lo, bounds.hi].into_iter().filter(|&i| i > 0));
            if let Some(f) = search::found(&bounds) {
                return Ok((d.clone(), f, state.made - before, probed.len() as u32));
            }
            let next = search::next_probes(&bounds, parallel);
            probed.extend(next.iter().copied());
            self.probe(prober, state, &next)?;
        }
    }

    fn report(&self, found: Vec<(Difference, Found, u32, u32)>, state: State) -> BisectReport {
        let commit = |i: usize| Commit {
            commit: self.commits[i].clone(),
            subject: String::new(),
            author_date: String::new(),
        };
        let differences: Vec<Attribution> = found
            .into_iter()
            .map(|(d, f, captures, probed)| {
                let (resolution, first, last_without, candidates, why) = match f {
                    Found::Named { first, last_without } => {
                        (Resolution::Named, Some(commit(first)), last_without, Vec::new(), None)
                    }
                    Found::Ambiguous { last_without, candidates } => {
                        let why = format!(
                            "the first commit is one of the {} after {}: {} of them could not be captured",
                            candidates.len(),
                            &self.commits[last_without][..10],
                            candidates.len() - 1
                        );
                        (Resolution::Ambiguous, None, last_without, candidates.into_iter().map(commit).collect(), Some(why))
                    }
                };
                Attribution {
                    id: d.id(),
                    check: d.check,
                    subject: d.subject,
                    resolution,
                    first,
                    last_without: commit(last_without),
                    candidates,
                    why,
                    captures,
                    probed,
                }
            })
            .collect();
        let verdict = if differences
            .iter()
            .all(|d| d.resolution == Resolution::Named)
        {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        BisectReport {
            schema: report::SCHEMA,
            baseline: self.baseline.clone(),
            good: commit(0),
            bad: commit(self.commits.len() - 1),
            commits: (self.commits.len() - 1) as u32,
            verdict,
            differences,
            skipped: state
                .errors
                .into_iter()
                .map(|(i, error)| Skipped {
                    commit: commit(i),
                    error,
                })
                .collect(),
            captures: state.made,
            cached: state.cached,
            duration_ms: 0,
        }
    }
}

/// Nanoseconds of the clock, to tell runs of one process apart.
fn jiff_free_stamp() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or(0)
}

/// Prints the report (human or JSON) on the context's output, or into
/// `output` with the summary on stderr.
fn emit(ctx: &Context, report: &BisectReport, output: Option<&Path>) -> Result<()> {
    let text = |style: Style| -> Result<String> {
        Ok(match ctx.format {
            Format::Json => serde_json::to_string_pretty(report)? + "\n",
            _ => report.human(style),
        })
    };
    crate::command::write_report(ctx, output, &text, &|| {
        printable(&report.summary()).into_owned()
    })
}
