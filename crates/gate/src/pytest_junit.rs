//! pytest's own JUnit (`--junitxml`, written next to the step's log), read
//! back so that the gate's JUnit lists every test, not one testcase for the
//! whole pytest step.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use quick_xml::events::{BytesStart, Event};

/// Where a step's pytest JUnit goes: `pytest.log` → `pytest.junit.xml`.
pub(crate) fn path_for(log: &Path) -> PathBuf {
    log.with_extension("junit.xml")
}

/// How one test ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Passed,
    Failed { message: String, text: String },
    Error { message: String, text: String },
    Skipped { message: String },
}

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Case {
    pub(crate) classname: String,
    pub(crate) name: String,
    pub(crate) seconds: Option<f64>,
    pub(crate) outcome: Outcome,
    /// For a failure or error: the last place under the Townlet root that
    /// its traceback names (`tests/test_x.py:93: AssertionError`).
    pub(crate) place: Option<(String, u32)>,
}

/// The longest failure text kept per test.
const MAX_TEXT: usize = 8 * 1024;
/// The longest failure text searched for the failure's place: the
/// traceback's own line comes at its end.
const MAX_SCANNED: usize = 256 * 1024;

/// The failed and erroring tests of a pytest step (whose JUnit is next to
/// its `log`), each at the place its traceback ends in the checkout; tests
/// without such a place, or a JUnit that cannot be read, give none.
pub(crate) fn failures(log: &Path) -> Vec<rollout_core::Place> {
    let Ok(cases) = read(&path_for(log)) else {
        return Vec::new();
    };
    cases
        .into_iter()
        .filter_map(|case| {
            let message = match &case.outcome {
                Outcome::Failed { message, .. } | Outcome::Error { message, .. } => message,
                Outcome::Passed | Outcome::Skipped { .. } => return None,
            };
            let (file, line) = case.place.clone()?;
            let first_line = message.lines().next().unwrap_or_default().to_string();
            Some(rollout_core::Place {
                file,
                line: Some(line),
                column: None,
                code: Some(format!("{}::{}", case.classname, case.name)),
                message: first_line,
            })
        })
        .collect()
}

/// The last `path.py:line: ` line of a traceback with a relative path (a
/// file of the checkout, not of the interpreter or its packages).
fn place_in(text: &str) -> Option<(String, u32)> {
    text.lines().rev().find_map(|line| {
        let (file, rest) = line.split_once(".py:")?;
        let (number, _) = rest.split_once(": ")?;
        let number: u32 = number.parse().ok()?;
        let relative = !file.is_empty()
            && !file.starts_with(['/', '.', '<'])
            && !file.contains(char::is_whitespace)
            && !file.contains("site-packages");
        (relative && number > 0).then(|| (format!("{file}.py"), number))
    })
}

/// Reads the testcases of a pytest JUnit file.
pub(crate) fn read(path: &Path) -> Result<Vec<Case>> {
    let xml = input::read_to_string(path, input::Kind::DOCUMENT)?;
    parse(&xml).with_context(|| format!("cannot read pytest's JUnit `{}`", path.display()))
}

fn parse(xml: &str) -> Result<Vec<Case>> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    let mut in_text = false;
    loop {
        match reader.read_event()? {
            Event::Start(e) if e.name().as_ref() == b"testcase" => {
                current = Some(case_of(&e)?);
            }
            Event::Empty(e) if e.name().as_ref() == b"testcase" => cases.push(case_of(&e)?),
            Event::Start(e) | Event::Empty(e) => {
                if let Some(case) = current.as_mut()
                    && let Some(outcome) = outcome_of(&e)?
                {
                    case.outcome = outcome;
                    in_text = matches!(e.name().as_ref(), b"failure" | b"error");
                }
            }
            Event::Text(t) if in_text => append_text(&mut current, &t.xml10_content()?),
            // Entities in text come as their own events (`&gt;`, `&#10;`).
            Event::GeneralRef(r) if in_text => {
                let name = r.decode()?;
                let resolved = match r.resolve_char_ref()? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&name)
                        .map_or_else(|| format!("&{name};"), str::to_string),
                };
                append_text(&mut current, &resolved);
            }
            Event::CData(t) if in_text => {
                append_text(&mut current, &String::from_utf8_lossy(&t.into_inner()));
            }
            Event::End(e) => match e.name().as_ref() {
                b"testcase" => cases.extend(current.take()),
                b"failure" | b"error" => {
                    in_text = false;
                    finish_text(&mut current);
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(cases)
}

fn attribute(e: &BytesStart<'_>, key: &[u8]) -> Result<Option<String>> {
    for attr in e.attributes() {
        let attr = attr?;
        if attr.key.as_ref() == key {
            return Ok(Some(
                attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

fn case_of(e: &BytesStart<'_>) -> Result<Case> {
    Ok(Case {
        classname: attribute(e, b"classname")?.unwrap_or_default(),
        name: attribute(e, b"name")?.unwrap_or_default(),
        seconds: attribute(e, b"time")?.and_then(|t| t.parse().ok()),
        outcome: Outcome::Passed,
        place: None,
    })
}

fn outcome_of(e: &BytesStart<'_>) -> Result<Option<Outcome>> {
    let message = attribute(e, b"message")?.unwrap_or_default();
    Ok(match e.name().as_ref() {
        b"failure" => Some(Outcome::Failed {
            message,
            text: String::new(),
        }),
        b"error" => Some(Outcome::Error {
            message,
            text: String::new(),
        }),
        b"skipped" => Some(Outcome::Skipped { message }),
        _ => None,
    })
}

/// At the end of a failure's text: finds its place, then keeps only the
/// text's first [`MAX_TEXT`] bytes.
fn finish_text(current: &mut Option<Case>) {
    if let Some(Case {
        outcome: Outcome::Failed { text, .. } | Outcome::Error { text, .. },
        place,
        ..
    }) = current
    {
        *place = place_in(text);
        if text.len() > MAX_TEXT {
            let cut = (0..=MAX_TEXT)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            text.truncate(cut);
        }
    }
}

fn append_text(current: &mut Option<Case>, more: &str) {
    if let Some(Case {
        outcome: Outcome::Failed { text, .. } | Outcome::Error { text, .. },
        ..
    }) = current
        && text.len() < MAX_SCANNED
    {
        let room = MAX_SCANNED - text.len();
        let cut = more
            .char_indices()
            .map(|(i, _)| i)
            .take_while(|&i| i <= room)
            .last()
            .unwrap_or(0);
        text.push_str(if more.len() <= room {
            more
        } else {
            &more[..cut]
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_outcome() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4" time="0.5"><testcase classname="tests.test_a" name="test_ok" time="0.001" /><testcase classname="tests.test_a" name="test_bad" time="0.002"><failure message="assert 1 == 2">def test_bad():
&gt;       assert 1 == 2</failure></testcase><testcase classname="tests.test_b" name="test_skip" time="0.000"><skipped type="pytest.skip" message="not here">skipped</skipped></testcase><testcase classname="tests.test_b" name="test_err" time="0.003"><error message="failed on setup">E   fixture missing</error></testcase></testsuite></testsuites>"#;
        let cases = parse(xml).expect("parse");
        assert_eq!(cases.len(), 4);
        assert_eq!(cases[0].outcome, Outcome::Passed);
        assert_eq!(cases[0].seconds, Some(0.001));
        assert_eq!(
            cases[1].outcome,
            Outcome::Failed {
                message: "assert 1 == 2".into(),
                text: "def test_bad():\n>       assert 1 == 2".into()
            }
        );
        assert_eq!(
            cases[2].outcome,
            Outcome::Skipped {
                message: "not here".into()
            }
        );
        assert!(
            matches!(&cases[3].outcome, Outcome::Error { message, .. } if message == "failed on setup")
        );
    }

    #[test]
    fn a_failure_is_placed_where_its_traceback_ends_in_the_checkout() {
        let text = "def test_bad():\n&gt;       helper()\n\ntests/test_a.py:7: \n_ _ _\n\n    def helper():\n&gt;       raise TypeError(&quot;x&quot;)\nE       TypeError: x\n\nsrc/townlet/a.py:12: TypeError\n/usr/lib/python3/site-packages/torch/nn.py:40: TypeError";
        let xml = format!(
            r#"<testsuites><testsuite name="pytest"><testcase classname="tests.test_a" name="test_bad"><failure message="TypeError: x&#10;more">{text}</failure></testcase></testsuite></testsuites>"#
        );
        let cases = parse(&xml).expect("parse");
        assert_eq!(cases[0].place, Some(("src/townlet/a.py".to_string(), 12)));
    }
}
