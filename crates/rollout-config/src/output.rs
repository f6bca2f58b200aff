//! What every command shares about output: the format, the verdict and the
//! decision whether to use colour.

use std::io::IsTerminal;

use serde::Serialize;

/// Environment variable that disables colour when set (<https://no-color.org>).
pub const ENV_NO_COLOR: &str = "NO_COLOR";
/// Set by CI systems; no colour or progress animation there.
pub const ENV_CI: &str = "CI";

/// `--format`: how a command prints its result on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Short lines for a person.
    #[default]
    Human,
    /// One JSON document with stable, documented fields.
    Json,
    /// JUnit XML (commands that produce test-like results).
    Junit,
    /// Markdown (commands that produce reports).
    Markdown,
}

/// What a command concluded. Errors (could not run) are `Err`, not a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Everything checked passed (warnings allowed).
    Pass,
    /// A check found a problem.
    Fail,
}

impl Outcome {
    /// The process exit code: 0 pass, 1 a problem found.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail => 1,
        }
    }

    pub fn from_ok(ok: bool) -> Self {
        if ok { Outcome::Pass } else { Outcome::Fail }
    }
}

/// `-q`/`-v`: how much goes to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

/// Whether to colour a stream: only on a terminal, never with `NO_COLOR` or
/// in CI.
pub fn use_color(stream: &impl IsTerminal) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    stream.is_terminal() && !set(ENV_NO_COLOR) && !set(ENV_CI)
}

/// Styling for status words (`pass`, `warn`, `FAIL`, `skip`).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    /// Stdout's styling.
    pub fn stdout() -> Self {
        Self::new(use_color(&std::io::stdout()))
    }

    /// Stderr's styling.
    pub fn stderr() -> Self {
        Self::new(use_color(&std::io::stderr()))
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn pass(&self) -> String {
        self.paint("32", "pass")
    }
    pub fn warn(&self) -> String {
        self.paint("33", "warn")
    }
    pub fn fail(&self) -> String {
        self.paint("1;31", "FAIL")
    }
    pub fn skip(&self) -> String {
        self.paint("2", "skip")
    }
    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
}
