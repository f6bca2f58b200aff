//! The block of `.gitignore` entries an adopted checkout needs (`/target/`,
//! the generated dev certificates), between two marker lines so that it is
//! written once and found again.

/// The line that opens the block.
pub(crate) const BEGIN: &str = "# >>> rollout tooling (cargo xtask adopt) >>>";
/// The line that closes the block.
pub(crate) const END: &str = "# <<< rollout tooling <<<";

/// `existing` (the checkout's `.gitignore`, if any) with the block holding
/// `entries` and whatever the block already held, or `None` when it holds
/// them already. The rest of the file is kept as it is.
pub(crate) fn with_block(existing: Option<&str>, entries: &[String]) -> Option<String> {
    let text = existing.unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let begin = lines.iter().position(|line| line.trim_end() == BEGIN);
    let end = begin.and_then(|at| {
        lines[at..]
            .iter()
            .position(|line| line.trim_end() == END)
            .map(|offset| at + offset)
    });
    match (begin, end) {
        (Some(begin), Some(end)) => {
            let held: Vec<String> = lines[begin + 1..end]
                .iter()
                .map(|line| line.to_string())
                .collect();
            let mut wanted = held.clone();
            for entry in entries {
                if !wanted.contains(entry) {
                    wanted.push(entry.clone());
                }
            }
            if wanted == held {
                return None;
            }
            let mut out: Vec<String> = lines[..=begin].iter().map(|l| l.to_string()).collect();
            out.extend(wanted);
            out.extend(lines[end..].iter().map(|l| l.to_string()));
            Some(out.join("\n") + "\n")
        }
        _ => {
            let mut out = text.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&block(entries));
            Some(out)
        }
    }
}

/// The block with `entries`, ending in a line break.
fn block(entries: &[String]) -> String {
    let mut out = format!("{BEGIN}\n");
    out.push_str(
        "# The rollout tooling's build and outputs, and the dev TLS material of\n# `cargo xtask tls-smoke certs`: never committed.\n",
    );
    for entry in entries {
        out.push_str(entry);
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_block_is_appended_once() {
        let first = with_block(
            Some("__pycache__/\n.venv"),
            &entries(&["/target/", "/certs/"]),
        )
        .expect("appended");
        assert!(first.starts_with("__pycache__/\n.venv\n\n# >>>"), "{first}");
        assert!(first.contains("\n/target/\n/certs/\n# <<<"), "{first}");
        assert_eq!(
            with_block(Some(&first), &entries(&["/target/", "/certs/"])),
            None
        );
    }

    #[test]
    fn a_new_file_holds_the_block_only() {
        let text = with_block(None, &entries(&["/target/"])).expect("written");
        assert!(text.starts_with(BEGIN), "{text}");
        assert!(text.ends_with(&format!("/target/\n{END}\n")), "{text}");
    }

    #[test]
    fn new_entries_join_the_block_and_old_ones_stay() {
        let first = with_block(Some("x\n"), &entries(&["/target/", "/fuzz/target/"])).expect("a");
        let second = with_block(Some(&first), &entries(&["/target/", "/certs/"])).expect("b");
        assert!(second.contains("/fuzz/target/\n/certs/\n# <<<"), "{second}");
        assert_eq!(second.matches(BEGIN).count(), 1);
        assert!(second.starts_with("x\n\n"));
    }
}
