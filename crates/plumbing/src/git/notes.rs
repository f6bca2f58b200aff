//! Config values and git notes: where `signoff` records and reads the
//! teams' sign-offs.

use std::collections::HashMap;

use anyhow::{Context as _, Result, bail};
use xshell::cmd;

use super::{Git, isolated, operand, parse_cat_file_batch};

impl Git<'_> {
    /// A git config value, when set.
    pub fn config(&self, key: &str) -> Result<Option<String>> {
        operand(key, "the git config key")?;
        let r = self.try_run(cmd!(self.sh(), "git config --get --end-of-options {key}"))?;
        Ok(r.ok.then(|| r.stdout.trim().to_string()))
    }

    /// The note attached to `commit` under `notes_ref`, as git stores it:
    /// bytes, which need not be UTF-8.
    pub fn note(&self, notes_ref: &str, commit: &str) -> Result<Option<Vec<u8>>> {
        operand(commit, "the commit")?;
        self.notes_ref_is_usable(notes_ref)?;
        let _dir = self.sh.push_dir(&self.root);
        let command = isolated(cmd!(
            self.sh(),
            "git notes --ref={notes_ref} show --end-of-options {commit}"
        ));
        let got = crate::process::run_captured(command, self.local_timeout)?;
        if got.exit == crate::process::Exit::TimedOut {
            bail!(
                "{}",
                self.timed_out(&format!("git notes --ref={notes_ref} show {commit}"))
            );
        }
        Ok((got.exit == crate::process::Exit::Code(0)).then_some(got.stdout))
    }

    /// Fails when `notes_ref` exists but is not a notes tree (a commit):
    /// git's `notes list` and `notes show` then say nothing useful, and an
    /// unreadable sign-off record must not read as "no sign-off".
    fn notes_ref_is_usable(&self, notes_ref: &str) -> Result<()> {
        operand(notes_ref, "the notes ref")?;
        let r = self.try_run(cmd!(
            self.sh(),
            "git cat-file -t --end-of-options {notes_ref}"
        ))?;
        if !r.ok {
            // No such ref yet: nothing was ever recorded.
            return Ok(());
        }
        let kind = r.stdout.trim();
        if kind != "commit" {
            bail!(
                "`{}` points at a {} in `{}`, not at a notes commit: the records under it cannot be read\nhint: inspect it with `git log {}`; it may have been overwritten by `git update-ref`",
                rollout_core::output::printable(notes_ref),
                rollout_core::output::printable(kind),
                self.root.display(),
                rollout_core::output::printable(notes_ref)
            );
        }
        Ok(())
    }

    /// Every note under `notes_ref` as (annotated commit, text), read in two
    /// git calls however many there are.
    pub fn notes(&self, notes_ref: &str) -> Result<Vec<(String, String)>> {
        self.notes_ref_is_usable(notes_ref)?;
        let r = self.try_run(cmd!(self.sh(), "git notes --ref={notes_ref} list"))?;
        if !r.ok {
            if self.ref_exists(notes_ref)? {
                bail!(
                    "cannot list the notes under `{}` in `{}`: {}",
                    rollout_core::output::printable(notes_ref),
                    self.root.display(),
                    rollout_core::output::printable(&r.stderr)
                );
            }
            // No notes ref yet.
            return Ok(Vec::new());
        }
        let pairs: Vec<(String, String)> = r
            .stdout
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((f.next()?.to_string(), f.next()?.to_string()))
            })
            .collect();
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = pairs
            .iter()
            .map(|(b, _)| b.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        input.push('\n');
        let out = self.run_local(
            cmd!(self.sh(), "git cat-file --batch"),
            Some(input.as_bytes()),
        )?;
        let blobs = parse_cat_file_batch(out.stdout.as_bytes())
            .with_context(|| format!("cannot read the notes under `{notes_ref}`"))?;
        Ok(pairs
            .into_iter()
            .zip(blobs)
            .map(|((_, commit), text)| (commit, text))
            .collect())
    }

    /// The commits reachable from `commit`, each with its position in
    /// topological order (0: `commit` itself).
    pub fn ancestry(&self, commit: &str) -> Result<HashMap<String, u64>> {
        operand(commit, "the commit")?;
        let out = self.read(cmd!(
            self.sh(),
            "git rev-list --topo-order --end-of-options {commit}"
        ))?;
        Ok(out
            .lines()
            .enumerate()
            .map(|(i, c)| (c.to_string(), i as u64))
            .collect())
    }

    /// Replaces the note on `commit`.
    pub fn set_note(&self, notes_ref: &str, commit: &str, text: &str) -> Result<()> {
        operand(commit, "the commit")?;
        self.notes_ref_is_usable(notes_ref)?;
        let shown = format!("git notes --ref={notes_ref} add {commit}");
        let r = self.run_local(
            cmd!(
                self.sh(),
                "git notes --ref={notes_ref} add --force --file=- --end-of-options {commit}"
            ),
            Some(text.as_bytes()),
        )?;
        self.succeeded(&shown, r).map(drop)
    }
}
