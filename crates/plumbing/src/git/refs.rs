//! Tags, refs, remotes and history: what `tag` reads to name a release
//! and list what changed since the last one.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use xshell::cmd;

use super::{Git, LocalTag, operand, parse_ls_remote};

/// Why the tags on a remote could not be listed: git's words (or ours,
/// when it could not be asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingError(pub String);

impl std::fmt::Display for ListingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ListingError {}

impl Git<'_> {
    /// Every local tag.
    pub fn local_tags(&self) -> Result<Vec<LocalTag>> {
        let out = self.read(cmd!(
            self.sh(),
            "git for-each-ref --format=%(refname:strip=2)%09%(objecttype)%09%(objectname)%09%(*objectname) refs/tags"
        ))?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                let (name, kind, object, peeled) = (f.next()?, f.next()?, f.next()?, f.next()?);
                let annotated = kind == "tag";
                Some(LocalTag {
                    name: name.to_string(),
                    object: object.to_string(),
                    commit: if peeled.is_empty() { object } else { peeled }.to_string(),
                    annotated,
                })
            })
            .collect())
    }

    /// The message of an annotated tag (empty for a lightweight one).
    pub fn tag_message(&self, name: &str) -> Result<String> {
        let r = format!("refs/tags/{name}");
        self.read(cmd!(
            self.sh(),
            "git for-each-ref --format=%(contents) --end-of-options {r}"
        ))
    }

    /// The object `refs/tags/NAME` points at, when it exists.
    pub fn tag_object(&self, name: &str) -> Result<Option<String>> {
        let r = format!("refs/tags/{name}");
        let out = self.try_run(cmd!(
            self.sh(),
            "git rev-parse --verify --quiet --end-of-options {r}"
        ))?;
        Ok(out.ok.then(|| out.stdout.trim().to_string()))
    }

    /// Whether a ref exists.
    pub fn ref_exists(&self, name: &str) -> Result<bool> {
        operand(name, "the ref")?;
        Ok(self
            .try_run(cmd!(
                self.sh(),
                "git rev-parse --verify --quiet --end-of-options {name}"
            ))?
            .ok)
    }

    /// Whether git accepts `name` as a tag name (`git check-ref-format`)
    /// and `git tag` would not read it as an option.
    pub fn tag_name_is_valid(&self, name: &str) -> Result<bool> {
        if name.starts_with('-') {
            return Ok(false);
        }
        let full = format!("refs/tags/{name}");
        Ok(self
            .try_run(cmd!(self.sh(), "git check-ref-format {full}"))?
            .ok)
    }

    /// Every branch's short name: local ones (`main`) and remote-tracking
    /// ones (`origin/main`).
    pub fn branches(&self) -> Result<Vec<String>> {
        let out = self.read(cmd!(
            self.sh(),
            "git for-each-ref --format=%(refname:short) refs/heads refs/remotes"
        ))?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// The remotes configured in the checkout.
    pub fn remotes(&self) -> Result<Vec<String>> {
        let out = self.read(cmd!(self.sh(), "git remote"))?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// Tag names on `remote` with the object each points at (the tag object
    /// for annotated tags); the error carries git's words when it cannot ask.
    pub fn remote_tags(&self, remote: &str) -> Result<BTreeMap<String, String>, ListingError> {
        operand(remote, "the remote").map_err(|e| ListingError(format!("{e:#}")))?;
        let r = self
            .network(cmd!(
                self.sh(),
                "git -c protocol.ext.allow=never ls-remote --tags --end-of-options {remote}"
            ))
            .map_err(|e| ListingError(format!("{e:#}")))?;
        if !r.ok {
            return Err(ListingError(r.stderr));
        }
        Ok(parse_ls_remote(&r.stdout))
    }

    /// Files under `paths` that differ between two commits (nothing when
    /// `paths` is empty).
    pub fn changed(&self, from: &str, to: &str, paths: &[String]) -> Result<Vec<String>> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        operand(from, "the first commit")?;
        operand(to, "the second commit")?;
        let out = self.read(cmd!(
            self.sh(),
            "git diff --name-only --end-of-options {from} {to} -- {paths...}"
        ))?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// Non-merge commits reachable from `head` but not from `since` that touch
    /// `paths`, newest first, as (id, subject).
    pub fn commits_touching(
        &self,
        head: &str,
        since: Option<&str>,
        paths: &[String],
    ) -> Result<Vec<(String, String)>> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        operand(head, "the head commit")?;
        let mut range = vec![head.to_string()];
        if let Some(s) = since {
            operand(s, "the earlier tag")?;
            range.push(format!("^{s}"));
        }
        let out = self.read(cmd!(
            self.sh(),
            "git log --topo-order --no-merges --format=%H%x09%s --end-of-options {range...} -- {paths...}"
        ))?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let (id, subject) = l.split_once('\t')?;
                Some((id.to_string(), subject.to_string()))
            })
            .collect())
    }

    /// The nearest tag matching `glob` reachable from `head`, ignoring the
    /// tags in `exclude`.
    pub fn previous_tag(
        &self,
        head: &str,
        glob: &str,
        exclude: &[String],
    ) -> Result<Option<String>> {
        let mut args = vec![
            "describe".to_string(),
            "--tags".into(),
            "--abbrev=0".into(),
            format!("--match={glob}"),
        ];
        for e in exclude {
            args.push(format!("--exclude={e}"));
        }
        args.push("--end-of-options".into());
        args.push(operand(head, "the head commit")?.to_string());
        let r = self.try_run(cmd!(self.sh(), "git {args...}"))?;
        if r.ok {
            return Ok(Some(r.stdout.trim().to_string()));
        }
        // describe fails both when no tag matches and on real errors: tell
        // them apart by listing the candidates.
        let pattern = format!("refs/tags/{glob}");
        let merged = self.read(cmd!(
            self.sh(),
            "git for-each-ref --merged={head} --format=%(refname:strip=2) --end-of-options {pattern}"
        ))?;
        if merged.lines().all(|t| exclude.iter().any(|e| e == t)) {
            return Ok(None);
        }
        bail!(
            "cannot find the previous release tag (`git describe --tags --match {glob}`): {}",
            r.stderr
        )
    }
}
