//! One-line summaries of what pytest, ruff and mypy printed when they
//! failed: the count and the cause instead of their last line (`[*] 12
//! fixable with --fix.`).

use std::collections::BTreeMap;

use crate::ruff::RuffOutput;

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
/// block is un-sorted or un-formatted`; `None` when ruff reported nothing.
pub(crate) fn ruff(read: &RuffOutput) -> Option<String> {
    let total = read.total();
    if total == 0 {
        return None;
    }
    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &read.diagnostics {
        *codes
            .entry(d.code.as_deref().unwrap_or("syntax"))
            .or_default() += 1;
    }
    let mut by_count: Vec<(&str, usize)> = codes.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let list: Vec<String> = by_count
        .iter()
        .take(6)
        .map(|&(code, n)| {
            if n > 1 {
                format!("{code} ×{n}")
            } else {
                code.to_string()
            }
        })
        .collect();
    let more = if by_count.len() > 6 { ", ..." } else { "" };
    let first = read
        .diagnostics
        .first()
        .map(|d| {
            let code = d
                .code
                .as_deref()
                .map(|c| format!("{c} "))
                .unwrap_or_default();
            let place = match (d.line, d.column) {
                _ if d.file.is_empty() => String::new(),
                (Some(line), Some(column)) => format!("{}:{line}:{column} ", d.file),
                (Some(line), None) => format!("{}:{line} ", d.file),
                _ => format!("{} ", d.file),
            };
            format!(": first {place}{code}{}", d.message)
        })
        .unwrap_or_default();
    Some(format!(
        "{total} error{} ({}{more}){first}",
        if total == 1 { "" } else { "s" },
        list.join(", ")
    ))
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
        if let Some(e) = crate::debt::parse_json_line(t) {
            errors.push(format!("{}:{}: {}", e.path, e.line, e.message));
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
    fn ruff_gives_count_codes_and_the_first_place() {
        let out = "I001 [*] Import block is un-sorted or un-formatted\n  --> src/townlet/world/a.py:3:1\n   |\n 1 | x\n\nUP035 `typing.Tuple` is deprecated, use `tuple` instead\n  --> src/townlet/world/b.py:5:1\n\nI001 [*] Import block is un-sorted or un-formatted\n  --> src/townlet/world/c.py:1:1\n\nFound 3 errors.\n[*] 2 fixable with the `--fix` option.\n";
        let read = crate::ruff::parse(out, std::path::Path::new("/t"));
        assert_eq!(
            ruff(&read).as_deref(),
            Some(
                "3 errors (I001 ×2, UP035): first src/townlet/world/a.py:3:1 I001 Import block is un-sorted or un-formatted"
            )
        );
        let clean = crate::ruff::parse("All checks passed!\n", std::path::Path::new("/t"));
        assert_eq!(ruff(&clean), None);
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
