//! The small parts of LogQL the config names (`monitor.loki_*`): a stream
//! selector, a label name and a range, checked as Loki's own parser would
//! take them.

/// Checks a LogQL stream selector: `{name="value", ...}` with the operators
/// `=`, `!=`, `=~`, `!~`, values as Go strings (double quotes with escapes,
/// or backticks), and at least one matcher that does not match the empty
/// string (Loki refuses a query without one). Regular expressions are
/// compiled with Rust's `regex`, whose syntax is RE2's for what a selector
/// needs.
pub(crate) fn stream_selector(text: &str) -> Result<(), String> {
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .ok_or("it must be one `{...}`")?;
    let mut rest = inner.trim_start();
    let mut selective = false;
    while !rest.is_empty() {
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("`{name}` is not a label name"));
        }
        rest = rest[name_len..].trim_start();
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .ok_or_else(|| format!("expected `=`, `!=`, `=~` or `!~` after `{name}`"))?;
        rest = rest[op.len()..].trim_start();
        let (value, after) = go_string(rest).ok_or_else(|| {
            format!("the value of `{name}` must be a quoted string (\"...\" or `...`)")
        })?;
        selective |= match op {
            "=" => !value.is_empty(),
            "=~" => {
                let re = regex::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|_| format!("the regular expression of `{name}` does not compile"))?;
                !re.is_match("")
            }
            _ => false,
        };
        rest = after.trim_start();
        match rest.strip_prefix(',') {
            Some(more) => rest = more.trim_start(),
            None if rest.is_empty() => {}
            None => {
                return Err(format!(
                    "expected `,` or `}}` after the matcher of `{name}`"
                ));
            }
        }
    }
    if !selective {
        return Err("Loki needs at least one matcher that does not match an empty value".into());
    }
    Ok(())
}

/// A Prometheus label name that is not reserved (`__...`).
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// The seconds of a LogQL range of whole seconds, minutes or hours
/// (`90s`, `5m`, `1h`) from one minute to a day.
pub(crate) fn range_seconds(text: &str) -> Option<u64> {
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        _ => return None,
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    let seconds = digits.parse::<u64>().ok()?.checked_mul(unit)?;
    (60..=86_400).contains(&seconds).then_some(seconds)
}

/// A Go string literal at the start of `text`: its value and what follows.
fn go_string(text: &str) -> Option<(String, &str)> {
    if let Some(raw) = text.strip_prefix('`') {
        let end = raw.find('`')?;
        return Some((raw[..end].to_string(), &raw[end + 1..]));
    }
    let body = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &body[i + 1..])),
            '\n' => return None,
            '\\' => {
                let (_, escaped) = chars.next()?;
                value.push(match escaped {
                    '\\' | '"' | '\'' => escaped,
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    _ => return None,
                });
            }
            _ => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        for ok in [
            r#"{job="townlet"}"#,
            r#"{ job = "townlet" , namespace=~"prod-.+", pod!="x", }"#,
            r#"{app=~`town\.let`}"#,
            r#"{job="a\"b"}"#,
        ] {
            assert_eq!(stream_selector(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("job=\"townlet\"", "`{...}`"),
            ("{}", "at least one matcher"),
            (r#"{job=""}"#, "at least one matcher"),
            (r#"{job=~".*"}"#, "at least one matcher"),
            (r#"{job!="x"}"#, "at least one matcher"),
            (r#"{job="townlet""#, "`{...}`"),
            (r#"{job=townlet}"#, "quoted string"),
            (r#"{1job="x"}"#, "not a label name"),
            (r#"{job=~"("}"#, "does not compile"),
            (r#"{job="x" env="y"}"#, "expected `,`"),
            (r#"{job=="x"}"#, "quoted string"),
            (r#"{job="x\q"}"#, "quoted string"),
        ] {
            let err = stream_selector(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn ranges_and_labels() {
        assert_eq!(range_seconds("5m"), Some(300));
        assert_eq!(range_seconds("90s"), Some(90));
        assert_eq!(range_seconds("24h"), Some(86_400));
        for bad in ["", "m", "30s", "25h", "05m", "5", "1.5m", "5d", "-5m"] {
            assert_eq!(range_seconds(bad), None, "{bad}");
        }
        assert!(is_label_name("env") && is_label_name("k8s_namespace") && is_label_name("_x"));
        for bad in ["", "1a", "a-b", "__name__", "é"] {
            assert!(!is_label_name(bad), "{bad}");
        }
    }
}
