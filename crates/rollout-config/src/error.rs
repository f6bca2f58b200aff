//! Diagnostics for configuration files: file, line, column, key path, and a
//! message that says what was expected and what was found.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem with a configuration file that a person can act on.
///
/// Rendered on one line as `FILE:LINE:COL: KEY: MESSAGE`, followed by an
/// optional `hint:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    /// Dotted key path such as `gate.steps[2].timeout`, when known.
    pub key_path: Option<String>,
    /// What is wrong: expected versus found.
    pub message: String,
    /// How to fix it, when there is an obvious fix.
    pub hint: Option<String>,
}

impl ConfigError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            location: None,
            key_path: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(mut self, location: Option<(usize, usize)>) -> Self {
        self.location = location;
        self
    }

    pub fn key(mut self, key_path: impl Into<String>) -> Self {
        let key_path = key_path.into();
        self.key_path = (!key_path.is_empty()).then_some(key_path);
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.location {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key_path {
            write!(f, "`{key}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A value that is not what it should be, before it is known where it was
/// written: the message says what was expected and what was found. The
/// caller places it (a [`ConfigError`] with file, line and key, or a flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
    /// Whether the message contains `text` (for tests and callers that
    /// refine a message).
    pub fn contains(&self, text: &str) -> bool {
        self.0.contains(text)
    }
}

/// Returns the candidate closest to `unknown` when it is close enough to be a
/// plausible typo.
pub fn closest<'a>(
    unknown: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(unknown, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_and_ignores_strangers() {
        let keys = ["tolerance", "fields", "dir"];
        assert_eq!(closest("tolerence", keys), Some("tolerance"));
        assert_eq!(closest("feilds", keys), Some("fields"));
        assert_eq!(closest("zebra", keys), None);
    }

    #[test]
    fn renders_on_one_line_with_hint_below() {
        let err = ConfigError::new(Path::new("configs/rollout.yaml"), "expected a number")
            .at(Some((3, 7)))
            .key("gate.steps[2].timeout")
            .hint("write `90s` or `10m`");
        assert_eq!(
            err.to_string(),
            "configs/rollout.yaml:3:7: `gate.steps[2].timeout`: expected a number\nhint: write `90s` or `10m`"
        );
    }
}
