//! Value types shared by several sections: durations and command lines.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::InvalidValue;

/// The longest duration any key or flag accepts: 7 days. Longer ones are
/// typing slips (`1e300`), and durations near `u64::MAX` seconds cannot be
/// added to a clock reading without overflowing.
pub const MAX_SPAN: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// A duration written as seconds (`90`, `1.5`) or with units (`90s`, `10m`,
/// `1h 30m`), at most [`MAX_SPAN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Float(f64),
            Text(String),
        }
        let checked = match Raw::deserialize(d)? {
            Raw::Int(n) if n <= MAX_SPAN.as_secs() => Ok(Duration::from_secs(n)),
            Raw::Int(n) => Err(too_long(&n.to_string())),
            Raw::Float(f) => seconds_span(f, &show_seconds(f)),
            Raw::Text(t) => parse_span(&t),
        };
        checked.map(Span).map_err(serde::de::Error::custom)
    }
}

/// Parses a duration written with units (`90s`, `10m`, `1h 30m`) or as a
/// number of seconds, at most [`MAX_SPAN`]; the error says what was expected
/// and what was found. Also the value parser of duration flags.
pub fn parse_span(text: &str) -> Result<Duration, InvalidValue> {
    let trimmed = text.trim();
    if let Ok(seconds) = trimmed.parse::<f64>()
        && trimmed.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.' || c == '+')
    {
        return seconds_span(seconds, &format!("'{text}'"));
    }
    match humantime::parse_duration(trimmed) {
        Ok(duration) if duration <= MAX_SPAN => Ok(duration),
        Ok(_) | Err(humantime::DurationError::NumberOverflow) => {
            Err(too_long(&format!("'{text}'")))
        }
        Err(_) => Err(not_a_duration(&format!("'{text}'"))),
    }
}

/// `seconds` (shown as `found`) as a duration, when it is a number from 0 to
/// [`MAX_SPAN`].
fn seconds_span(seconds: f64, found: &str) -> Result<Duration, InvalidValue> {
    if seconds.is_nan() || seconds < 0.0 || seconds.is_infinite() {
        // Negative, NaN or infinite.
        return Err(not_a_duration(found));
    }
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if duration <= MAX_SPAN => Ok(duration),
        _ => Err(too_long(found)),
    }
}

fn not_a_duration(found: &str) -> InvalidValue {
    InvalidValue(format!(
        "expected a duration such as `90s`, `10m` or a number of seconds, found {found}"
    ))
}

fn too_long(found: &str) -> InvalidValue {
    InvalidValue(format!(
        "expected a duration of at most 7 days (`7d`, {} seconds), found {found}",
        MAX_SPAN.as_secs()
    ))
}

/// A number of seconds as written in YAML: `1e300`, not 301 digits.
fn show_seconds(seconds: f64) -> String {
    if seconds.is_finite() && seconds != 0.0 && !(1e-4..1e15).contains(&seconds.abs()) {
        format!("{seconds:e}")
    } else {
        seconds.to_string()
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// A command line, written as one string split like a POSIX shell would split
/// words (quotes, backslashes) but never run through a shell, or as a list of
/// arguments. Placeholders such as `{python}` are kept verbatim here and filled
/// in by the command that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// As written in the file.
    pub raw: String,
    /// The arguments, program first.
    pub argv: Vec<String>,
}

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Line(String),
            Args(Vec<String>),
        }
        let (raw, argv) = match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a command line as a string or a list of arguments")
        })? {
            Raw::Line(line) => {
                let argv = shell_words::split(&line).map_err(|e| {
                    serde::de::Error::custom(format!(
                        "cannot split command line '{line}' into arguments: {e}"
                    ))
                })?;
                (line, argv)
            }
            Raw::Args(args) => (shell_words::join(&args), args),
        };
        if argv.is_empty() {
            return Err(serde::de::Error::custom(
                "expected a command, found an empty command line",
            ));
        }
        Ok(CommandLine { raw, argv })
    }
}

impl Serialize for CommandLine {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl CommandLine {
    /// Fills `{name}` placeholders in every argument; an argument that is
    /// exactly `{name...}` splats a list value into several arguments.
    pub fn expand(
        &self,
        vars: &dyn Fn(&str) -> Option<Vec<String>>,
    ) -> Result<Vec<String>, InvalidValue> {
        let mut out = Vec::with_capacity(self.argv.len());
        for arg in &self.argv {
            if let Some(name) = arg.strip_prefix('{').and_then(|a| a.strip_suffix("...}")) {
                let values = vars(name).ok_or_else(|| {
                    InvalidValue(format!(
                        "unknown placeholder `{{{name}...}}` in `{}`",
                        self.raw
                    ))
                })?;
                out.extend(values);
                continue;
            }
            let mut s = String::with_capacity(arg.len());
            let mut rest = arg.as_str();
            while let Some(open) = rest.find('{') {
                s.push_str(&rest[..open]);
                let after = &rest[open + 1..];
                let close = after.find('}').ok_or_else(|| {
                    InvalidValue(format!(
                        "unclosed `{{` in argument '{arg}' of `{}`",
                        self.raw
                    ))
                })?;
                let name = &after[..close];
                let value = vars(name).ok_or_else(|| {
                    InvalidValue(format!(
                        "unknown placeholder `{{{name}}}` in `{}`",
                        self.raw
                    ))
                })?;
                s.push_str(&value.join(" "));
                rest = &after[close + 1..];
            }
            s.push_str(rest);
            out.push(s);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_in_all_forms() {
        let s: Vec<Span> = serde_yaml_ng::from_str("[90, 1.5, 10m, 1h 30m]").expect("parse");
        assert_eq!(s[0].0, Duration::from_secs(90));
        assert_eq!(s[1].0, Duration::from_millis(1500));
        assert_eq!(s[2].0, Duration::from_secs(600));
        assert_eq!(s[3].0, Duration::from_secs(5400));
        assert!(serde_yaml_ng::from_str::<Span>("ten").is_err());
        assert!(serde_yaml_ng::from_str::<Span>("-1").is_err());
    }

    #[test]
    fn spans_beyond_seven_days_are_errors_not_panics() {
        let err = |text: &str| {
            serde_yaml_ng::from_str::<Span>(text)
                .expect_err(text)
                .to_string()
        };
        let too_long = "expected a duration of at most 7 days (`7d`, 604800 seconds), found";
        // `Duration::from_secs_f64` panicked from 1e20 s on.
        assert!(
            err("1e300").starts_with(&format!("{too_long} 1e300")),
            "{}",
            err("1e300")
        );
        assert!(err("1e20").starts_with(&format!("{too_long} 1e20")));
        assert!(err("604800.5").starts_with(too_long));
        // Integers and units near `u64::MAX` overflowed clocks later on.
        assert!(
            err("18446744073709551615").starts_with(&format!("{too_long} 18446744073709551615"))
        );
        assert!(err("8d").starts_with(&format!("{too_long} '8d'")));
        assert!(err("100000000000000000000y").starts_with(too_long));
        for refused in [".nan", ".inf", "-.inf", "-0.5", "-3"] {
            assert!(
                err(refused).starts_with("expected a duration such as `90s`"),
                "{refused}: {}",
                err(refused)
            );
        }
        let week: Span = serde_yaml_ng::from_str("7d").expect("7d");
        assert_eq!(week.0, MAX_SPAN);
        let week: Span = serde_yaml_ng::from_str("604800").expect("604800");
        assert_eq!(week.0, MAX_SPAN);
    }

    #[test]
    fn duration_flags_share_the_range() {
        assert_eq!(parse_span("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_span("1.5"), Ok(Duration::from_millis(1500)));
        assert!(
            parse_span("1e300")
                .expect_err("long")
                .contains("at most 7 days")
        );
        assert!(
            parse_span("9999999999999999999h")
                .expect_err("long")
                .contains("at most 7 days")
        );
        assert!(
            parse_span("-5")
                .expect_err("negative")
                .contains("expected a duration such as")
        );
        assert!(
            parse_span("NaN")
                .expect_err("nan")
                .contains("expected a duration such as")
        );
        assert!(
            parse_span("soon")
                .expect_err("word")
                .contains("found 'soon'")
        );
    }

    #[test]
    fn command_lines_split_without_a_shell() {
        let c: CommandLine =
            serde_yaml_ng::from_str(r#""{python} -m pytest -k 'a and b'""#).expect("parse");
        assert_eq!(c.argv, ["{python}", "-m", "pytest", "-k", "a and b"]);
        let vars = |n: &str| match n {
            "python" => Some(vec![".venv/bin/python".to_string()]),
            _ => None,
        };
        assert_eq!(c.expand(&vars).expect("expand")[0], ".venv/bin/python");
        let bad: CommandLine = serde_yaml_ng::from_str(r#""{nope} x""#).expect("parse");
        assert!(bad.expand(&vars).expect_err("unknown").contains("{nope}"));
        assert!(serde_yaml_ng::from_str::<CommandLine>(r#""echo 'open""#).is_err());
        assert!(serde_yaml_ng::from_str::<CommandLine>(r#""""#).is_err());
    }

    #[test]
    fn splat_placeholders_expand_to_many_arguments() {
        let c: CommandLine = serde_yaml_ng::from_str(r#""pytest {suite...}""#).expect("parse");
        let vars = |_: &str| Some(vec!["a".to_string(), "b".to_string()]);
        assert_eq!(c.expand(&vars).expect("expand"), ["pytest", "a", "b"]);
    }
}
