//! The one place that calls the YAML library. Errors from it are turned into
//! [`ConfigError`]s with file, line, column, key path and, for an unknown key,
//! the closest valid name.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{ConfigError, closest};
use crate::locate::Locator;
use crate::screen::{Reader, Screened, screen};

/// Deserialises `text` (the contents of `file`, one of the tooling's own
/// files) into `T`.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, ConfigError> {
    from_str_for(text, file, Reader::Own)
}

/// Deserialises `text` (the contents of `file`, a Townlet simulation config
/// that Townlet reads with `yaml.safe_load`) into `T`.
pub(crate) fn from_townlet_str<T: DeserializeOwned>(
    text: &str,
    file: &Path,
) -> Result<T, ConfigError> {
    from_str_for(text, file, Reader::SafeLoad)
}

/// Screens `text` for `reader` (depth, tags, aliases), then deserialises it.
fn from_str_for<T: DeserializeOwned>(
    text: &str,
    file: &Path,
    reader: Reader,
) -> Result<T, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        // An empty document is an empty mapping: every key takes its default.
        return from_str_for("{}", file, reader);
    }
    let screened = screen(text, file, reader)?;
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(de).map_err(|e| {
        let key_path = e.path().to_string();
        let key_path = if key_path == "." {
            String::new()
        } else {
            key_path
        };
        let inner = e.into_inner();
        tab_indented(&inner, text, file).unwrap_or_else(|| convert(&inner, text, file, &key_path))
    })?;
    match screened {
        Screened::Passed => Ok(value),
        Screened::Unread(error) => Err(error),
    }
}

/// YAML indents with spaces only; the parser's own words for a tab ("cannot
/// start any token", at the line before) do not say so. The first line
/// indented with a tab, when there is one.
fn tab_indented(err: &serde_yaml_ng::Error, text: &str, file: &Path) -> Option<ConfigError> {
    let raw = err.to_string();
    if !(raw.contains("tab") || raw.contains("cannot start any token")) {
        return None;
    }
    // The parser stops at the tab's line or just before it.
    let last = err.location().map_or(usize::MAX, |l| l.line() + 1);
    let (index, line) = text.lines().enumerate().take(last).find(|(_, line)| {
        let indent = &line[..line.len() - line.trim_start().len()];
        indent.contains('\t') && !line.trim().is_empty()
    })?;
    let column = line.find('\t').map_or(1, |i| i + 1);
    let key = line.trim().split(':').next().unwrap_or("").trim();
    Some(
        ConfigError::new(
            file,
            format!(
                "line {} is indented with a tab (before `{key}`): YAML indents with spaces only",
                index + 1
            ),
        )
        .at(Some((index + 1, column)))
        .hint("replace the tab with spaces (two per level, as in the rest of the file)"),
    )
}

fn convert(err: &serde_yaml_ng::Error, text: &str, file: &Path, key_path: &str) -> ConfigError {
    let location = err.location().map(|l| (l.line(), l.column()));
    let raw = err.to_string();
    let stripped = strip_location(&raw);
    let message = stripped.as_str();
    // serde_yaml prefixes some messages with the key path; we print our own.
    let message = match message.split_once(": ") {
        Some((prefix, rest)) if !key_path.is_empty() && key_path.starts_with(prefix) => rest,
        _ => message,
    };

    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (unknown, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let parent = key_path.rsplit_once(['.']).map(|(p, _)| p).unwrap_or("");
        let parent = if key_path.ends_with(unknown) {
            parent
        } else {
            key_path
        };
        let full = if parent.is_empty() {
            unknown.to_string()
        } else {
            format!("{parent}.{unknown}")
        };
        let locator = Locator::new(text);
        let mut msg = format!("unknown key '{unknown}'");
        if !parent.is_empty() {
            msg.push_str(&format!(" in `{parent}`"));
        }
        match closest(unknown, candidates.iter().copied()) {
            Some(best) => msg.push_str(&format!(", did you mean '{best}'?")),
            None if !candidates.is_empty() => {
                msg.push_str(&format!(", expected one of: {}", candidates.join(", ")))
            }
            None => {}
        }
        return ConfigError::new(file, msg).at(locator.key(&full).or(location));
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        let full = if key_path.is_empty() {
            field.to_string()
        } else {
            format!("{key_path}.{field}")
        };
        let locator = Locator::new(text);
        return ConfigError::new(file, format!("required key '{field}' is missing"))
            .at(locator.nearest(&full).or(location))
            .key(key_path);
    }
    // Errors raised by our own value types are placed by serde at the start
    // of the enclosing mapping; the locator knows where the value itself is.
    let at = if key_path.is_empty() || err.location().is_none() {
        None
    } else {
        Locator::new(text).value(key_path)
    };
    ConfigError::new(file, message)
        .at(at.or(location))
        .key(key_path)
}

/// `serde_yaml` appends ` at line L column C` to its messages; we print the
/// location as `FILE:LINE:COL` instead.
fn strip_location(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " at line ".len()..];
        let line_digits = after.chars().take_while(char::is_ascii_digit).count();
        let tail = &after[line_digits..];
        match tail.strip_prefix(" column ") {
            Some(col) if line_digits > 0 && col.starts_with(|c: char| c.is_ascii_digit()) => {
                let col_digits = col.chars().take_while(char::is_ascii_digit).count();
                rest = &col[col_digits..];
            }
            _ => {
                out.push_str(" at line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
