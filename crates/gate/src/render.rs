//! How the gate shows itself: live progress on stderr, the human result on
//! stdout, JUnit XML, a Markdown summary, and GitHub annotations.

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use rollout_core::Style;
use rollout_core::output::printable;

use plumbing::report::{GateReport, GateVerdict, StepReport, StepStatus};

/// The gate's result as printed: the report (its JSON form) with the log
/// lines shown under failing steps.
pub(crate) struct Printed<'a> {
    pub report: &'a GateReport,
    pub details: &'a [(String, Vec<String>)],
    /// `-q`: the human result lists only steps that did not pass.
    pub quiet: bool,
}

impl serde::Serialize for Printed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.report.serialize(s)
    }
}

impl rollout_core::Report for Printed<'_> {
    fn human(&self, style: &Style, out: &mut dyn Write) -> Result<()> {
        human(self.report, self.details, self.quiet, style, out)
    }

    fn junit(&self) -> Result<String> {
        junit(self.report, self.details)
    }

    fn markdown(&self) -> Result<String> {
        Ok(markdown(self.report))
    }
}

pub(crate) fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn word(status: StepStatus, style: &Style) -> String {
    status.status().word(style)
}

/// The human result: a line per step (with `quiet`, only those that did
/// not pass or skip), details of failures, one verdict.
pub(crate) fn human(
    report: &GateReport,
    details: &[(String, Vec<String>)],
    quiet: bool,
    style: &Style,
    out: &mut dyn Write,
) -> Result<()> {
    let width = report
        .steps
        .iter()
        .map(|s| s.id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    for step in &report.steps {
        if quiet && matches!(step.status, StepStatus::Pass | StepStatus::Skipped) {
            continue;
        }
        let time = if step.status == StepStatus::Skipped {
            String::new()
        } else {
            secs(step.duration_ms)
        };
        writeln!(
            out,
            "{} {:<width$} {:>7}  {}",
            word(step.status, style),
            printable(&step.id),
            time,
            printable(&step.summary)
        )?;
        if matches!(
            step.status,
            StepStatus::Fail | StepStatus::Timeout | StepStatus::AllowedFailure | StepStatus::Warn
        ) {
            if let Some((_, lines)) = details.iter().find(|(id, _)| *id == step.id) {
                for line in lines {
                    // Tails come cut to a width (steplog::tail).
                    writeln!(out, "     | {}", printable(line))?;
                }
            }
            if let Some(log) = &step.log {
                writeln!(
                    out,
                    "     full log: {}",
                    printable(&log.display().to_string())
                )?;
            }
        }
    }
    writeln!(out, "{}", verdict_line(report))?;
    Ok(())
}

pub(crate) fn verdict_line(report: &GateReport) -> String {
    let failed: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.status.fails_the_gate())
        .map(|s| s.id.as_str())
        .collect();
    let passed = report
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Pass)
        .count();
    let warned = report
        .steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Warn | StepStatus::AllowedFailure))
        .count();
    let ran = report
        .steps
        .iter()
        .filter(|s| s.status != StepStatus::Skipped)
        .count();
    let what = match &report.git {
        Some(g) => format!(
            " at {}{}",
            &g.commit[..g.commit.len().min(10)],
            if g.dirty { " (dirty)" } else { "" }
        ),
        None => String::new(),
    };
    let took = secs(report.duration_ms);
    match report.verdict {
        GateVerdict::Pass if warned > 0 => format!(
            "gate passed{what}: {passed} of {ran} steps passed, {warned} with warnings, in {took}"
        ),
        GateVerdict::Pass => format!("gate passed{what}: {passed} of {ran} steps passed in {took}"),
        GateVerdict::Fail => format!(
            "gate FAILED{what}: {} failed ({}) in {took}",
            failed.len(),
            printable(&failed.join(", "))
        ),
        GateVerdict::Interrupted => format!("gate INTERRUPTED{what} after {took}"),
    }
}

/// JUnit XML: one test suite, one test case per step.
pub(crate) fn junit(report: &GateReport, details: &[(String, Vec<String>)]) -> Result<String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new("townlet-gate");
    for step in &report.steps {
        let status = match step.status {
            StepStatus::Pass => TestCaseStatus::success(),
            StepStatus::Warn => {
                let mut s = TestCaseStatus::success();
                s.set_message(format!("warning: {}", step.summary));
                s
            }
            StepStatus::Skipped => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(step.summary.clone());
                s
            }
            StepStatus::Fail
            | StepStatus::Timeout
            | StepStatus::Interrupted
            | StepStatus::AllowedFailure => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(step.summary.clone());
                s.set_type(format!("{:?}", step.status).to_lowercase());
                if let Some((_, lines)) = details.iter().find(|(id, _)| *id == step.id) {
                    s.set_description(lines.join("\n"));
                }
                s
            }
        };
        let mut case = TestCase::new(step.id.clone(), status);
        case.set_classname(format!("gate.{}", step.kind));
        case.set_time(Duration::from_millis(step.duration_ms));
        if step.status == StepStatus::Warn {
            // JUnit has no warning: a passed case carries its reservation
            // in its output, so that a test reporter shows more than a pass.
            let mut out = format!("warn: {}\n", step.summary);
            if let Some((_, lines)) = details.iter().find(|(id, _)| *id == step.id) {
                for line in lines {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            case.set_system_out(out);
        }
        suite.add_test_case(case);
    }
    let took = Duration::from_millis(report.duration_ms);
    suite.set_time(took);
    let mut r = Report::new("cargo xtask gate");
    r.set_time(took);
    r.add_test_suite(suite);
    for step in &report.steps {
        if let Some(tests) = pytest_suite(step) {
            r.add_test_suite(tests);
        }
    }
    Ok(rollout_core::output::junit10(&r.to_string()?))
}

/// The tests of a pytest step, from the JUnit pytest wrote next to its log:
/// one testcase per test, in a suite named after the step.
fn pytest_suite(step: &StepReport) -> Option<quick_junit::TestSuite> {
    use crate::pytest_junit::Outcome;
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let path = crate::pytest_junit::path_for(step.log.as_ref()?);
    let cases = crate::pytest_junit::read(&path).ok()?;
    let mut suite = TestSuite::new(format!("gate.{}", step.id));
    suite.set_time(Duration::from_millis(step.duration_ms));
    for case in cases {
        let status = match case.outcome {
            Outcome::Passed => TestCaseStatus::success(),
            Outcome::Failed { message, text } => {
                non_success(NonSuccessKind::Failure, message, text)
            }
            Outcome::Error { message, text } => non_success(NonSuccessKind::Error, message, text),
            Outcome::Skipped { message } => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(message);
                status
            }
        };
        let mut test = TestCase::new(case.name, status);
        test.set_classname(case.classname);
        // A time pytest wrote (`time="1e300"` panicked `from_secs_f64`);
        // one that is no duration is left out.
        if let Some(time) = case
            .seconds
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        {
            test.set_time(time);
        }
        suite.add_test_case(test);
    }
    Some(suite)
}

fn non_success(
    kind: quick_junit::NonSuccessKind,
    message: String,
    text: String,
) -> quick_junit::TestCaseStatus {
    let mut status = quick_junit::TestCaseStatus::non_success(kind);
    status.set_message(message);
    status.set_description(text);
    status
}

/// A Markdown summary (for `$GITHUB_STEP_SUMMARY`).
pub(crate) fn markdown(report: &GateReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "### Townlet M4 gate\n\n{}\n", verdict_line(report));
    if let Some(g) = &report.git {
        let _ = writeln!(
            md,
            "Commit `{}` (tree `{}`){}{}\n",
            g.commit,
            g.tree,
            g.branch
                .as_deref()
                .map(|b| format!(" on `{b}`"))
                .unwrap_or_default(),
            if g.dirty {
                ", with uncommitted changes"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(
        md,
        "| step | status | time | summary |\n| --- | --- | ---: | --- |"
    );
    for s in &report.steps {
        let status = serde_json::to_value(s.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} |",
            s.id,
            status,
            secs(s.duration_ms),
            s.summary.replace('|', "\\|")
        );
    }
    md
}

/// The most annotations of one level for one step: GitHub Actions shows at
/// most 10 errors and 10 warnings per workflow step; the report holds all.
const ANNOTATIONS_PER_STEP: usize = 10;

/// `::error` workflow commands for failed steps (GitHub Actions): one per
/// place the step's tool named (ruff's diagnostics, mypy's new errors,
/// pytest's failed tests), else one for the step at the first place its
/// summary names.
pub(crate) fn annotations(report: &GateReport) -> Vec<String> {
    let mut lines = Vec::new();
    for step in &report.steps {
        let level = match step.status {
            StepStatus::Fail | StepStatus::Timeout => "error",
            StepStatus::AllowedFailure | StepStatus::Warn => "warning",
            _ => continue,
        };
        if step.diagnostics.is_empty() {
            let place = place_of(&step.summary).map(|(file, line, col)| Place {
                file,
                line: Some(line),
                column: col,
            });
            let title = format!("gate step {}", step.id);
            lines.push(workflow_command(level, place, &title, &step.summary));
            continue;
        }
        let shown = step.diagnostics.len().min(ANNOTATIONS_PER_STEP);
        for (i, d) in step.diagnostics.iter().take(shown).enumerate() {
            let code = d
                .code
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            let title = format!("gate step {}{code}", step.id);
            let more = step.diagnostics.len() - shown;
            let message = if i + 1 == shown && more > 0 {
                format!(
                    "{}\n({more} more in the step's report: {})",
                    d.message, step.summary
                )
            } else {
                d.message.clone()
            };
            let place = (!d.file.is_empty()).then(|| Place {
                file: &d.file,
                line: d.line.map(u64::from),
                column: d.column.map(u64::from),
            });
            lines.push(workflow_command(level, place, &title, &message));
        }
    }
    lines
}

/// Where an annotation points.
struct Place<'a> {
    file: &'a str,
    line: Option<u64>,
    column: Option<u64>,
}

/// `::level file=F,line=L,col=C,title=T::message`, with the escapes the
/// workflow-command syntax asks for in properties and in the message.
fn workflow_command(level: &str, place: Option<Place<'_>>, title: &str, message: &str) -> String {
    // No control byte from a step's output reaches the log viewer.
    let data = |text: &str| {
        rollout_core::output::printable_lines(text)
            .replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |text: &str| data(text).replace(':', "%3A").replace(',', "%2C");
    let mut properties = Vec::new();
    if let Some(place) = place {
        properties.push(format!("file={}", property(place.file)));
        if let Some(line) = place.line {
            properties.push(format!("line={line}"));
            if let Some(column) = place.column {
                properties.push(format!("col={column}"));
            }
        }
    }
    properties.push(format!("title={}", property(title)));
    format!("::{level} {}::{}", properties.join(","), data(message))
}

/// The first `path:line[:col]` a summary names (`src/townlet/x.py:3:1`,
/// as pytest, ruff and mypy print places), for an annotation's place.
fn place_of(summary: &str) -> Option<(&str, u64, Option<u64>)> {
    summary.split_whitespace().find_map(|word| {
        let word = word.trim_end_matches([',', ';', ')']);
        let mut parts = word.split(':');
        let file = parts.next()?;
        let line = parts.next()?.parse::<u64>().ok()?;
        let col = parts.next().and_then(|c| c.parse::<u64>().ok());
        let looks_like_path = file.contains('.')
            && file
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c));
        (looks_like_path && line > 0).then_some((file, line, col))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_core::Place;

    fn report(steps: Vec<StepReport>) -> GateReport {
        let json = serde_json::json!({
            "schema": 1, "tool_version": "0", "started_at": "2026-12-03T00:00:00Z",
            "duration_ms": 1, "root": "/t", "git": null, "verdict": "fail", "steps": [],
        });
        let mut report: GateReport = serde_json::from_value(json).expect("report");
        report.steps = steps;
        report
    }

    fn ruff_step(n: usize) -> StepReport {
        StepReport {
            id: "ruff".into(),
            kind: rollout_core::StepKind::Command,
            status: StepStatus::Fail,
            duration_ms: 1,
            exit_code: Some(1),
            log: None,
            summary: format!("exit 1: {n} errors"),
            diagnostics: (1..=n)
                .map(|i| Place {
                    file: "src/a,b.py".into(),
                    line: Some(u32::try_from(i).expect("small")),
                    column: Some(5),
                    code: Some("F401".into()),
                    message: "`os` imported but unused: 100%".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_warned_step_carries_its_reservation_in_junit() {
        let mut step = ruff_step(0);
        step.id = "tls-smoke".into();
        step.status = StepStatus::Warn;
        step.summary = "pass with dev certificates: the real ones were not tested".into();
        let details = [(
            "tls-smoke".to_string(),
            vec!["client certificate accepted".to_string()],
        )];
        let xml = junit(&report(vec![step]), &details).expect("junit");
        assert!(
            xml.contains("<system-out>warn: pass with dev certificates: the real ones were not tested\nclient certificate accepted\n</system-out>"),
            "{xml}"
        );
        test_support::assert_valid_junit10(&xml);
    }

    #[test]
    fn one_annotation_per_place_with_escaped_properties() {
        let lines = annotations(&report(vec![ruff_step(2)]));
        assert_eq!(
            lines,
            [
                "::error file=src/a%2Cb.py,line=1,col=5,title=gate step ruff%3A F401::`os` imported but unused: 100%25",
                "::error file=src/a%2Cb.py,line=2,col=5,title=gate step ruff%3A F401::`os` imported but unused: 100%25",
            ]
        );
    }

    #[test]
    fn at_most_ten_per_step_and_the_last_says_how_many_more() {
        let lines = annotations(&report(vec![ruff_step(12)]));
        assert_eq!(lines.len(), 10);
        assert!(
            lines[9].ends_with("100%25%0A(2 more in the step's report: exit 1: 12 errors)"),
            "{}",
            lines[9]
        );
    }

    #[test]
    fn a_pytest_time_beyond_any_duration_is_left_out_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("pytest.log");
        std::fs::write(
            crate::pytest_junit::path_for(&log),
            r#"<testsuites><testsuite><testcase classname="t" name="huge" time="1e300"/><testcase classname="t" name="ok" time="0.5"/></testsuite></testsuites>"#,
        )
        .expect("write junit");
        let mut step = ruff_step(0);
        step.log = Some(log);
        let suite = pytest_suite(&step).expect("suite");
        assert_eq!(suite.test_cases.len(), 2);
        assert_eq!(suite.test_cases[0].time, None);
        assert_eq!(suite.test_cases[1].time, Some(Duration::from_millis(500)));
    }
}
