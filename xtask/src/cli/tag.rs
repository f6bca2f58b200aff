//! `cargo xtask tag`: its flags and their resolution into
//! [`release::tag::Settings`]. The flags that let a failed check pass
//! (`--allow-*`) are the checks' own ([`CheckId::override_flag`]).

use release::tag::{CheckId, Settings};
use rollout_config::Context;

/// Arguments of `cargo xtask tag`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = "Example:\n  cargo xtask tag --execute --push origin")]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) printed: super::format::TextOutput,
    /// Create the tag; without it, only print the plan and the checks
    #[arg(long)]
    pub(crate) execute: bool,
    /// The tag name [default: `release.base_tag`, else the next free one]; an existing tag is never moved or replaced
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// Push the tag, and only it, to REMOTE (never forced)
    #[arg(long, value_name = "REMOTE")]
    pub(crate) push: Option<String>,
    /// Sign the tag (`git tag -s`, with git's signing config: user.signingkey, gpg.format)
    #[arg(long)]
    pub(crate) sign: bool,
    /// Tag although the working tree has uncommitted changes (written into the tag message)
    #[arg(long)]
    pub(crate) allow_dirty: bool,
    /// Tag although HEAD is detached or not on a tag branch (written into the tag message)
    #[arg(long)]
    pub(crate) allow_branch: bool,
    /// Tag without a gate report that passed for HEAD (written into the tag message)
    #[arg(long)]
    pub(crate) allow_gate: bool,
    /// Tag without a valid sign-off of every team (written into the tag message)
    #[arg(long)]
    pub(crate) allow_signoff: bool,
    /// Tag from a shallow clone lacking the previous release tag (written into the tag message)
    #[arg(long)]
    pub(crate) allow_shallow: bool,
}

impl Args {
    /// The settings `tag` runs with. Nothing here is a path.
    pub(crate) fn settings(self, _ctx: &Context) -> anyhow::Result<Settings> {
        let allowed = self.allowed();
        Ok(Settings {
            execute: self.execute,
            name: self.name,
            push: self.push,
            sign: self.sign,
            allowed,
        })
    }

    /// The checks whose `--allow-*` flag was given.
    fn allowed(&self) -> Vec<CheckId> {
        [
            (self.allow_dirty, CheckId::Clean),
            (self.allow_branch, CheckId::Branch),
            (self.allow_gate, CheckId::Gate),
            (self.allow_signoff, CheckId::Signoff),
            (self.allow_shallow, CheckId::History),
        ]
        .into_iter()
        .filter_map(|(given, check)| given.then_some(check))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Tag {
        #[command(flatten)]
        args: Args,
    }

    /// Each check's override flag, as the check names it, is the flag that
    /// allows that check and only it; `tag-name` has none.
    #[test]
    fn every_override_flag_allows_its_own_check() {
        let mut overridable = 0;
        for check in CheckId::ALL {
            let Some(flag) = check.override_flag() else {
                continue;
            };
            overridable += 1;
            let parsed = Tag::try_parse_from(["tag", flag]).expect(flag);
            assert_eq!(parsed.args.allowed(), [check], "{flag}");
        }
        assert_eq!(overridable, 5);
        let none = Tag::try_parse_from(["tag"]).expect("no flags");
        assert!(none.args.allowed().is_empty());
    }
}
