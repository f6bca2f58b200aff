//! ruff's findings with their places, read from its `--output-format json`
//! (which the gate asks for unless the step's command picks a format), or
//! from its `full` or `concise` text when the command chose one of those.

use std::path::Path;

use rollout_core::Place;
use serde::Deserialize;

/// What a `ruff check` printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RuffOutput {
    pub(crate) diagnostics: Vec<Place>,
    /// The count of its `Found N errors.` line, when it printed one.
    pub(crate) found: Option<usize>,
    /// Read from its JSON output.
    pub(crate) json: bool,
}

impl RuffOutput {
    /// How many errors ruff reported.
    pub(crate) fn total(&self) -> usize {
        self.found.unwrap_or(self.diagnostics.len())
    }
}

/// One element of ruff's JSON array; fields the gate does not use are
/// ignored.
#[derive(Debug, Deserialize)]
struct JsonDiagnostic {
    code: Option<String>,
    message: String,
    filename: String,
    location: Option<JsonLocation>,
}

#[derive(Debug, Deserialize)]
struct JsonLocation {
    row: u32,
    column: u32,
}

/// Reads ruff's output: its JSON array when the output holds one (warnings
/// that ruff prints on stderr may come before it), else its text. Files
/// under `root` are named relative to it.
pub(crate) fn parse(output: &str, root: &Path) -> RuffOutput {
    json(output, root).unwrap_or_else(|| text(output))
}

fn json(output: &str, root: &Path) -> Option<RuffOutput> {
    let line_starts = std::iter::once(0).chain(output.match_indices('\n').map(|(at, _)| at + 1));
    let mut arrays = line_starts.filter(|&at| {
        output[at..]
            .trim_start_matches([' ', '\t'])
            .starts_with('[')
    });
    // ruff names files by absolute path, under the root as given or as
    // the file system resolves it.
    let canonical_root = std::fs::canonicalize(root).ok();
    let roots: Vec<&Path> = std::iter::once(root)
        .chain(canonical_root.as_deref())
        .collect();
    arrays.find_map(|at| {
        let mut stream =
            serde_json::Deserializer::from_str(&output[at..]).into_iter::<Vec<JsonDiagnostic>>();
        let found = stream.next()?.ok()?;
        let diagnostics = found
            .into_iter()
            .map(|d| Place {
                file: relative_to(&roots, &d.filename),
                line: d.location.as_ref().map(|l| l.row),
                column: d.location.as_ref().map(|l| l.column),
                code: d.code,
                message: d.message,
            })
            .collect();
        Some(RuffOutput {
            diagnostics,
            found: None,
            json: true,
        })
    })
}

/// `file` relative to the Townlet root (any of its spellings in `roots`)
/// when it lies under it.
fn relative_to(roots: &[&Path], file: &str) -> String {
    let path = Path::new(file);
    roots
        .iter()
        .find_map(|r| path.strip_prefix(r).ok())
        .map_or_else(|| file.to_string(), |p| p.to_string_lossy().into_owned())
}

/// ruff's `full` text (`CODE [*] message`, then `  --> path:line:col`) or
/// `concise` text (`path:line:col: CODE message`).
fn text(output: &str) -> RuffOutput {
    let mut read = RuffOutput::default();
    let mut pending: Option<(String, String)> = None;
    for line in output.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("Found ") {
            read.found = rest.split(' ').next().and_then(|n| n.parse().ok());
            continue;
        }
        if let Some(d) = concise(line) {
            read.diagnostics.push(d);
            continue;
        }
        if let Some((code, message)) = full_head(line) {
            if let Some((code, message)) = pending.replace((code, message)) {
                read.diagnostics.push(placeless(code, message));
            }
            continue;
        }
        if let Some(place) = line.trim_start().strip_prefix("--> ")
            && let Some((code, message)) = pending.take()
        {
            let (file, line, column) = split_place(place);
            read.diagnostics.push(Place {
                file,
                line,
                column,
                code: Some(code),
                message,
            });
        }
    }
    if let Some((code, message)) = pending {
        read.diagnostics.push(placeless(code, message));
    }
    read
}

fn placeless(code: String, message: String) -> Place {
    Place {
        file: String::new(),
        line: None,
        column: None,
        code: Some(code),
        message,
    }
}

/// `path:line:col` → its parts (a path alone when they are not numbers).
fn split_place(place: &str) -> (String, Option<u32>, Option<u32>) {
    let mut parts = place.rsplitn(3, ':');
    let column = parts.next().and_then(|c| c.parse().ok());
    let line = parts.next().and_then(|l| l.parse().ok());
    match (parts.next(), line, column) {
        (Some(file), Some(line), Some(column)) => (file.to_string(), Some(line), Some(column)),
        _ => (place.to_string(), None, None),
    }
}

/// `path:line:col: CODE message`.
fn concise(line: &str) -> Option<Place> {
    let mut parts = line.splitn(4, ':');
    let (file, row, column, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let row: u32 = row.parse().ok()?;
    let column: u32 = column.parse().ok()?;
    if file.is_empty() {
        return None;
    }
    let (code, message) = rest.trim_start().split_once(' ')?;
    is_code(code).then(|| Place {
        file: file.to_string(),
        line: Some(row),
        column: Some(column),
        code: Some(code.to_string()),
        message: message.trim_start_matches("[*] ").to_string(),
    })
}

fn full_head(line: &str) -> Option<(String, String)> {
    let (code, message) = line.split_once(' ')?;
    is_code(code).then(|| {
        (
            code.to_string(),
            message.trim_start_matches("[*] ").to_string(),
        )
    })
}

/// `E402`, `UP035`, `RUF100`: letters then digits.
fn is_code(word: &str) -> bool {
    let letters = word.chars().take_while(char::is_ascii_uppercase).count();
    letters > 0 && letters < word.len() && word[letters..].chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of `ruff check --output-format json` (0.17), after a
    /// warning ruff printed on stderr.
    const JSON: &str = r#"warning: The top-level linter settings are deprecated in favour of their counterparts in the `lint` section.
[
  {
    "cell": null,
    "code": "I001",
    "end_location": {"column": 27, "row": 23},
    "filename": "/t/src/townlet/world/affordances/service.py",
    "fix": {"applicability": "safe", "edits": [], "message": "Organize imports"},
    "location": {"column": 1, "row": 3},
    "message": "Import block is un-sorted or un-formatted",
    "noqa_row": 3,
    "url": "https://docs.astral.sh/ruff/rules/unsorted-imports"
  },
  {
    "cell": null,
    "code": null,
    "end_location": {"column": 1, "row": 9},
    "filename": "/elsewhere/x.py",
    "fix": null,
    "location": {"column": 5, "row": 9},
    "message": "SyntaxError: Expected an expression",
    "noqa_row": null,
    "url": null
  }
]
"#;

    #[test]
    fn json_output_gives_every_place_relative_to_the_root() {
        let read = parse(JSON, Path::new("/t"));
        assert!(read.json);
        assert_eq!(read.total(), 2);
        assert_eq!(
            read.diagnostics[0].to_string(),
            "src/townlet/world/affordances/service.py:3:1: I001 Import block is un-sorted or un-formatted"
        );
        assert_eq!(
            read.diagnostics[1].to_string(),
            "/elsewhere/x.py:9:5: SyntaxError: Expected an expression"
        );
        assert_eq!(parse("[]\n", Path::new("/t")).total(), 0);
    }

    #[test]
    fn full_text_pairs_each_code_with_the_place_below_it() {
        let out = "I001 [*] Import block is un-sorted or un-formatted\n  --> src/a.py:3:1\n   |\n\nUP035 `typing.Tuple` is deprecated, use `tuple` instead\n  --> src/b.py:5:1\n\nFound 2 errors.\n[*] 1 fixable with the `--fix` option.\n";
        let read = parse(out, Path::new("/t"));
        assert!(!read.json);
        assert_eq!(read.found, Some(2));
        let shown: Vec<String> = read.diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "src/a.py:3:1: I001 Import block is un-sorted or un-formatted",
                "src/b.py:5:1: UP035 `typing.Tuple` is deprecated, use `tuple` instead"
            ]
        );
    }

    #[test]
    fn concise_text_too() {
        let read = parse(
            "src/a.py:1:8: F401 [*] `os` imported but unused\nFound 1 error.\n",
            Path::new("/t"),
        );
        assert_eq!(read.total(), 1);
        assert_eq!(read.diagnostics[0].line, Some(1));
        assert_eq!(read.diagnostics[0].column, Some(8));
        assert_eq!(parse("All checks passed!\n", Path::new("/t")).total(), 0);
    }
}
