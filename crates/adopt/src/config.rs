//! The adopted `configs/rollout.yaml`: the tooling's own, with the
//! `target.root` key (and the comment above it) replaced by a comment that
//! says the target is the checkout itself. Every other line is kept as it
//! is; the text is edited, not re-serialised, so comments survive.

use anyhow::{Result, bail};

/// The first line of the comment that replaces `target.root`; its presence
/// marks a config that was already adopted.
pub(crate) const MARKER: &str =
    "# No `root`: this workspace lives in the Townlet checkout it gates";

/// The comment that replaces `target.root`, without indentation.
const COMMENT: [&str; 3] = [
    MARKER,
    "# (written by `cargo xtask adopt`), which is the target when no root is",
    "# set. `--root` and `TOWNLET_ROOT` still name another one.",
];

/// `text` with its top-level `target:` mapping rewritten so that it names
/// no root. A `target` written in flow style (`target: {root: x}`) cannot
/// be edited line by line and is refused.
pub(crate) fn adopted(text: &str) -> Result<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|line| is_key(line, "", "target")) else {
        return Ok(text.to_string());
    };
    if !lines[start].trim_end().ends_with("target:") {
        bail!(
            "`target` is not a block mapping (one key per line), so its `root` cannot be removed\nhint: write `target:` with one key per line in `configs/rollout.yaml`"
        );
    }
    let end = lines[start + 1..]
        .iter()
        .position(|line| is_top_level(line))
        .map_or(lines.len(), |offset| start + 1 + offset);
    let section = &lines[start + 1..end];
    if section
        .iter()
        .any(|line| line.trim_start().starts_with(MARKER))
    {
        return Ok(text.to_string());
    }
    let indent = section
        .iter()
        .find(|line| !line.trim().is_empty())
        .map_or("  ".to_string(), |line| {
            line[..line.len() - line.trim_start().len()].to_string()
        });
    let root = section
        .iter()
        .position(|line| is_key(line, &indent, "root"));
    let (cut_from, cut_to) = match root {
        Some(at) => (comment_start(section, at, &indent), at + 1),
        None => (0, 0),
    };
    if let Some(at) = root
        && section
            .get(at + 1)
            .is_some_and(|next| next.starts_with(&format!("{indent} ")))
    {
        bail!(
            "`target.root` spans several lines, so it cannot be removed\nhint: write `root: PATH` on one line in `configs/rollout.yaml`"
        );
    }
    let mut out: String = lines[..=start].concat();
    out.push_str(&section[..cut_from].concat());
    for line in COMMENT {
        out.push_str(&format!("{indent}{line}\n"));
    }
    out.push_str(&section[cut_to..].concat());
    out.push_str(&lines[end..].concat());
    Ok(out)
}

/// Whether `line` is the key `key` at exactly `indent`.
fn is_key(line: &str, indent: &str, key: &str) -> bool {
    line.strip_prefix(indent)
        .and_then(|rest| rest.strip_prefix(key))
        .is_some_and(|rest| rest.starts_with(':'))
}

/// Whether `line` starts another top-level item (a key or a document
/// marker), ending the section before it. Comments and blank lines do not.
fn is_top_level(line: &str) -> bool {
    let first = line.chars().next();
    first.is_some_and(|c| !c.is_whitespace() && c != '#')
}

/// Where the comment lines directly above `section[at]` (at the key's
/// indentation) begin.
fn comment_start(section: &[&str], at: usize, indent: &str) -> usize {
    let mut from = at;
    while from > 0
        && section[from - 1]
            .strip_prefix(indent)
            .is_some_and(|rest| rest.starts_with('#'))
    {
        from -= 1;
    }
    from
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = "# header\nruntime_variant: facade\n\ntarget:\n  # The Townlet checkout.\n  # The default is the sample.\n  root: ../examples/townlet-sample\n  # The interpreter.\n  python: .venv/bin/python\n\n# Release.\nrelease:\n  main_branch: main\n";

    #[test]
    fn the_root_and_its_comment_give_way_to_ours() {
        let out = adopted(SHIPPED).expect("adopt");
        assert!(!out.contains("root:"), "{out}");
        assert!(!out.contains("The Townlet checkout."), "{out}");
        assert!(out.contains(&format!("target:\n  {MARKER}\n")), "{out}");
        assert!(
            out.contains("set. `--root` and `TOWNLET_ROOT` still name another one.\n  # The interpreter.\n  python: .venv/bin/python\n\n# Release.\nrelease:\n"),
            "{out}"
        );
        assert!(out.starts_with("# header\nruntime_variant: facade\n\ntarget:\n"));
    }

    #[test]
    fn adopting_twice_changes_nothing() {
        let once = adopted(SHIPPED).expect("adopt");
        assert_eq!(adopted(&once).expect("again"), once);
    }

    #[test]
    fn a_target_without_root_gets_the_comment_only() {
        let text = "target:\n    python: python3\nrelease: {}\n";
        let out = adopted(text).expect("adopt");
        assert_eq!(
            out,
            format!(
                "target:\n    {MARKER}\n    {}\n    {}\n    python: python3\nrelease: {{}}\n",
                COMMENT[1], COMMENT[2]
            )
        );
    }

    #[test]
    fn a_config_without_target_is_kept() {
        let text = "runtime_variant: facade\n";
        assert_eq!(adopted(text).expect("adopt"), text);
    }

    #[test]
    fn flow_style_and_multi_line_roots_are_refused() {
        let err = adopted("target: {root: x}\n").expect_err("flow");
        assert!(format!("{err:#}").contains("hint: write `target:`"));
        let err = adopted("target:\n  root:\n    ../x\n").expect_err("multi-line");
        assert!(format!("{err:#}").contains("spans several lines"));
    }
}
