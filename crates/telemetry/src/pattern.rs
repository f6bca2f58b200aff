//! Field patterns (`queue_metrics.*`, `employment.pending_count`) and what a
//! reader keeps of each payload.

use std::fmt;
use std::sync::Arc;

/// A dotted field path where `*` matches any one segment (an object key or
/// an array index) and digits index arrays: `conflict.queues.*`,
/// `history.0.tick`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPattern {
    text: String,
    segments: Vec<String>,
}

impl FieldPattern {
    /// Splits `text` at dots. Every segment must be non-empty.
    pub fn new(text: &str) -> Result<Self, PatternError> {
        let segments: Vec<String> = text.split('.').map(String::from).collect();
        if segments.iter().any(String::is_empty) {
            return Err(PatternError {
                pattern: text.to_string(),
            });
        }
        Ok(Self {
            text: text.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    fn reaches<'a>(&self, path: impl IntoIterator<Item = &'a str>) -> bool {
        reach(self.segments.iter().map(String::as_str), path)
    }
}

/// A field pattern that is not one: it has an empty segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub pattern: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "field pattern '{}' has an empty segment: expected dotted names such as `queue_metrics.*`",
            self.pattern
        )
    }
}

impl std::error::Error for PatternError {}

/// Whether the dotted `pattern` (`*` for any one segment) reaches `path` or
/// a value above it, so that it covers everything below the path it names:
/// `queue_metrics.*` covers `queue_metrics.cooldown_events.x` but not
/// `queue_metrics`. The one matching rule for field patterns, tolerance
/// overrides included.
pub fn pattern_reaches(pattern: &str, path: &str) -> bool {
    reach(pattern.split('.'), path.split('.'))
}

fn reach<'a, 'b>(
    pattern: impl IntoIterator<Item = &'a str>,
    path: impl IntoIterator<Item = &'b str>,
) -> bool {
    let mut path = path.into_iter();
    pattern
        .into_iter()
        .all(|p| path.next().is_some_and(|s| p == "*" || p == s))
}

impl fmt::Display for FieldPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a reader decodes into values. Everything else is still read in full
/// (checked as JSON, its key paths fingerprinted), but not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Keep {
    /// Every value of every payload.
    #[default]
    All,
    /// The values these patterns reach, and what lies below them. A state
    /// answers [`Known::NotDecoded`](crate::Known::NotDecoded) for any other
    /// field.
    Fields(Arc<[FieldPattern]>),
}

impl Keep {
    pub fn fields(patterns: impl IntoIterator<Item = FieldPattern>) -> Self {
        Keep::Fields(patterns.into_iter().collect())
    }

    /// Whether the value at `path` (and all below it) was decoded.
    pub(crate) fn covers<'a>(&self, path: impl IntoIterator<Item = &'a str> + Clone) -> bool {
        match self {
            Keep::All => true,
            Keep::Fields(ps) => ps.iter().any(|p| p.reaches(path.clone())),
        }
    }
}

/// How much of one value the decoder builds, given the patterns that reach
/// into it (each with the segments still to match).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Want<'a> {
    /// Nothing: only its shape is needed.
    Nothing,
    /// All of it.
    All,
    /// The parts these remaining segments reach (none is empty).
    Parts(&'a [&'a [String]]),
}

/// The remaining segments of `active` after stepping into `key`, and whether
/// some pattern ends there (then all of the value is wanted).
pub(crate) fn step<'a>(active: &[&'a [String]], key: &str, out: &mut Vec<&'a [String]>) -> bool {
    out.clear();
    for rest in active {
        if let Some((first, tail)) = rest.split_first()
            && (first == "*" || first == key)
        {
            if tail.is_empty() {
                return true;
            }
            out.push(tail);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(ps: &[&str]) -> Keep {
        Keep::fields(ps.iter().map(|p| FieldPattern::new(p).expect("pattern")))
    }

    #[test]
    fn patterns_cover_the_values_they_reach_and_below() {
        let k = keep(&["queue_metrics.*", "history.0.tick"]);
        assert!(k.covers(["queue_metrics", "cooldown"]));
        assert!(k.covers(["queue_metrics", "cooldown", "x"]));
        assert!(!k.covers(["queue_metrics"]));
        assert!(k.covers(["history", "0", "tick"]));
        assert!(!k.covers(["history", "1", "tick"]));
        assert!(Keep::All.covers(["anything"]));
    }

    #[test]
    fn a_pattern_reaches_what_it_names_and_below() {
        assert!(pattern_reaches(
            "queue_metrics.*",
            "queue_metrics.cooldown_events"
        ));
        assert!(pattern_reaches(
            "queue_metrics",
            "queue_metrics.cooldown_events"
        ));
        assert!(!pattern_reaches("queue_metrics.*", "queue_metrics"));
        assert!(!pattern_reaches("conflict.queues.*", "conflict.rivalry.x"));
        assert!(pattern_reaches("obs", "obs"));
    }

    #[test]
    fn empty_segments_are_refused() {
        assert!(FieldPattern::new("a..b").is_err());
        assert!(FieldPattern::new("").is_err());
    }

    #[test]
    fn stepping_follows_names_and_wildcards() {
        let a = vec!["q".to_string(), "*".to_string()];
        let b = vec!["*".to_string(), "x".to_string()];
        let active = [a.as_slice(), b.as_slice()];
        let mut out = Vec::new();
        assert!(!step(&active, "q", &mut out));
        assert_eq!(out.len(), 2);
        assert!(!step(&active, "r", &mut out));
        assert_eq!(out, [&b[1..]]);
        assert!(step(&[&a[1..]], "anything", &mut out));
    }
}
