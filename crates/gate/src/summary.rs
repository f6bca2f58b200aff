//! One-line summaries of what pytest, ruff and mypy printed when they
//! failed: the count and the cause instead of their last line (`[*] 12
//! fixable with --fix.`).

use std::collections::BTreeMap;

/// Which tool a command runs, by its program (or `python -m tool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    Pytest,
    Ruff,
    Mypy,
}

impl Tool {
    pub(crate) fn of(argv: &[String]) -> Option<Tool> {
        let name = |a: &str| {
            std::path::Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let program = argv.first().map(|a| name(a))?;
        let tool = match argv.get(1).map(String::as_str) {
            Some("-m") if program.starts_with("python") => argv.get(2).map(|m| m.to_string())?,
            _ => program,
        };
        match tool.as_str() {
            "pytest" => Some(Tool::Pytest),
            "ruff" => Some(Tool::Ruff),
            "mypy" => Some(Tool::Mypy),
            _ => None,
        }
    }
}

/// `1 failed, 500 passed, 1 skipped in 126.58s; first FAILED
/// tests/test_x.py::test_y - TypeError: ...`: pytest's result line without
/// its `=` frame, and the first failure of its short summary.
pub(crate) fn pytest(output: &str) -> Option<String> {
    let result = output
        .lines()
        .rev()
        .map(|l| l.trim().trim_matches('=').trim())
        .find(|l| {
            (l.contains(" failed") || l.contains(" error") || l.contains(" passed"))
                && l.contains(" in ")
        })?
        .to_string();
    let first = output
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("FAILED ") || l.starts_with("ERROR "));
    Some(match first {
        Some(f) => format!("{result}; first {f}"),
        None => result,
    })
}

/// `15 errors (I001 ×8, UP035 ×3, E402): first src/a.py:3:1 I001 Import
/// block is un-sorted or un-formatted`, from ruff's `full` or `concise`
/// output; `None` when it shows no diagnostics.
pub(crate) fn ruff(output: &str) -> Option<String> {
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut first: Option<(String, String, String)> = None;
    let mut found: Option<usize> = None;
    let mut pending: Option<(String, String)> = None;
    for line in output.lines() {
        let t = line.trim_end();
        if let Some(rest) = t.strip_prefix("Found ") {
            found = rest.split(' ').next().and_then(|n| n.parse().ok());
            continue;
        }
        // concise: `path:line:col: CODE message`
        if let Some((loc, code, msg)) = concise(t) {
            *codes.entry(code.clone()).or_default() += 1;
            first.get_or_insert((loc, code, msg));
            continue;
        }
        // full: `CODE [*] message`, then `  --> path:line:col`
        if let Some((code, msg)) = full_head(t) {
            *codes.entry(code.clone()).or_default() += 1;
            pending = Some((code, msg));
            continue;
        }
        if let Some(loc) = t.trim_start().strip_prefix("--> ")
            && let Some((code, msg)) = pending.take()
        {
            first.get_or_insert((loc.to_string(), code, msg));
        }
    }
    if let Some((code, msg)) = pending {
        first.get_or_insert((String::new(), code, msg));
    }
    let total = found.unwrap_or_else(|| codes.values().sum());
    if total == 0 {
        return None;
    }
    let mut by_count: Vec<(&String, &usize)> = codes.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let list: Vec<String> = by_count
        .iter()
        .take(6)
        .map(|(c, n)| {
            if **n > 1 {
                format!("{c} ×{n}")
            } else {
                c.to_string()
            }
        })
        .collect();
    let more = if by_count.len() > 6 { ", ..." } else { "" };
    let first = first
        .map(|(loc, code, msg)| {
            let at = if loc.is_empty() {
                String::new()
            } else {
                format!("{loc} ")
            };
            format!(": first {at}{code} {msg}")
        })
        .unwrap_or_default();
    Some(format!(
        "{total} error{} ({}{more}){first}",
        if total == 1 { "" } else { "s" },
        list.join(", ")
    ))
}

fn concise(line: &str) -> Option<(String, String, String)> {
    // `path:line:col: CODE msg`
    let mut parts = line.splitn(4, ':');
    let (path, l, c, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if path.is_empty() || l.parse::<u32>().is_err() || c.parse::<u32>().is_err() {
        return None;
    }
    let rest = rest.trim_start();
    let (code, msg) = rest.split_once(' ')?;
    is_code(code).then(|| {
        (
            format!("{path}:{l}:{c}"),
            code.to_string(),
            msg.trim_start_matches("[*] ").to_string(),
        )
    })
}

fn full_head(line: &str) -> Option<(String, String)> {
    let (code, msg) = line.split_once(' ')?;
    is_code(code).then(|| (code.to_string(), msg.trim_start_matches("[*] ").to_string()))
}

/// `E402`, `UP035`, `RUF100`: letters then digits.
fn is_code(word: &str) -> bool {
    let letters = word.chars().take_while(char::is_ascii_uppercase).count();
    letters > 0 && letters < word.len() && word[letters..].chars().all(|c| c.is_ascii_digit())
}

/// `1 error: src/townlet/world/observation.py: Cannot read file: No such
/// file or directory (errors prevented further checking)`, from mypy's
/// output when it could not check (exit 2) or printed errors it did not
/// number; `None` when it printed no error lines.
pub(crate) fn mypy(output: &str) -> Option<String> {
    let mut errors: Vec<String> = Vec::new();
    let mut found: Option<String> = None;
    for line in output.lines() {
        let t = line.trim_end();
        if t.starts_with("Found ") {
            found = Some(t.to_string());
            continue;
        }
        // `path[:line]: error: message`; not mypy's own usage errors
        // (`mypy: error: unrecognized arguments`).
        if let Some((loc, msg)) = t.split_once(": error: ")
            && loc != "mypy"
            && loc.contains(['.', '/'])
        {
            errors.push(format!("{loc}: {msg}"));
        }
    }
    let first = errors.first()?;
    let n = errors.len();
    let tail = match found.as_deref() {
        Some(f) if f.contains("prevented further checking") => {
            " (errors prevented further checking)"
        }
        _ => "",
    };
    Some(format!(
        "{n} error{}: {first}{tail}",
        if n == 1 { "" } else { "s" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_by_program() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Tool::of(&argv(&["/t/.venv/bin/ruff", "check"])),
            Some(Tool::Ruff)
        );
        assert_eq!(
            Tool::of(&argv(&["/t/.venv/bin/python", "-m", "mypy"])),
            Some(Tool::Mypy)
        );
        assert_eq!(Tool::of(&argv(&["pytest"])), Some(Tool::Pytest));
        assert_eq!(Tool::of(&argv(&["make"])), None);
    }

    #[test]
    fn pytest_result_line_and_first_failure() {
        let out = "....F\n=========================== short test summary info ============================\nFAILED tests/test_training_replay.py::test_ppo_social_chat_drift - TypeError:...\n======= 1 failed, 500 passed, 1 skipped, 1 warning in 126.58s (0:02:06) ========\n";
        assert_eq!(
            pytest(out).as_deref(),
            Some(
                "1 failed, 500 passed, 1 skipped, 1 warning in 126.58s (0:02:06); first FAILED tests/test_training_replay.py::test_ppo_social_chat_drift - TypeError:..."
            )
        );
    }

    #[test]
    fn ruff_full_output_gives_count_codes_and_the_first_place() {
        let out = "I001 [*] Import block is un-sorted or un-formatted\n  --> src/townlet/world/a.py:3:1\n   |\n 1 | x\n\nUP035 `typing.Tuple` is deprecated, use `tuple` instead\n  --> src/townlet/world/b.py:5:1\n\nI001 [*] Import block is un-sorted or un-formatted\n  --> src/townlet/world/c.py:1:1\n\nFound 3 errors.\n[*] 2 fixable with the `--fix` option.\n";
        assert_eq!(
            ruff(out).as_deref(),
            Some(
                "3 errors (I001 ×2, UP035): first src/townlet/world/a.py:3:1 I001 Import block is un-sorted or un-formatted"
            )
        );
    }

    #[test]
    fn ruff_concise_output_too() {
        let out = "src/a.py:1:8: F401 [*] `os` imported but unused\nFound 1 error.\n";
        assert_eq!(
            ruff(out).as_deref(),
            Some("1 error (F401): first src/a.py:1:8 F401 `os` imported but unused")
        );
        assert_eq!(ruff("All checks passed!\n"), None);
    }

    #[test]
    fn mypy_that_could_not_check_names_the_cause() {
        let out = "src/townlet/world/observation.py: error: Cannot read file: No such file or directory\nFound 1 error in 1 file (errors prevented further checking)\n";
        assert_eq!(
            mypy(out).as_deref(),
            Some(
                "1 error: src/townlet/world/observation.py: Cannot read file: No such file or directory (errors prevented further checking)"
            )
        );
        assert_eq!(mypy("Success: no issues found in 3 source files\n"), None);
    }
}
