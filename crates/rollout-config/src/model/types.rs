//! Value types shared by several sections: durations and command lines.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as seconds (`90`, `1.5`) or with units (`90s`, `10m`,
/// `1h 30m`).
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
        let bad = |found: String| {
            serde::de::Error::custom(format!(
                "expected a duration such as `90s`, `10m` or a number of seconds, found {found}"
            ))
        };
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Span(Duration::from_secs(n))),
            Raw::Float(f) if f.is_finite() && f >= 0.0 => Ok(Span(Duration::from_secs_f64(f))),
            Raw::Float(f) => Err(bad(f.to_string())),
            Raw::Text(t) => humantime::parse_duration(t.trim())
                .map(Span)
                .map_err(|_| bad(format!("'{t}'"))),
        }
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
    ) -> Result<Vec<String>, String> {
        let mut out = Vec::with_capacity(self.argv.len());
        for arg in &self.argv {
            if let Some(name) = arg.strip_prefix('{').and_then(|a| a.strip_suffix("...}")) {
                let values = vars(name).ok_or_else(|| {
                    format!("unknown placeholder `{{{name}...}}` in `{}`", self.raw)
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
                    format!("unclosed `{{` in argument '{arg}' of `{}`", self.raw)
                })?;
                let name = &after[..close];
                let value = vars(name)
                    .ok_or_else(|| format!("unknown placeholder `{{{name}}}` in `{}`", self.raw))?;
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
