//! Printing a report: human, JSON, JUnit XML, Markdown. In the human and
//! Markdown forms, everything that came from data (file and array names,
//! values, JSON keys, commit subjects, paths) goes through
//! [`printable`], the one escaping rule; JSON stays exact.

use anyhow::Result;
use rollout_core::{Format, Style, printable};
use std::time::Duration;

use crate::report::{Report, Status};
use rollout_core::Verdict;

impl rollout_core::Report for Report {
    fn human(&self, style: &Style, out: &mut dyn std::io::Write) -> Result<()> {
        out.write_all(human(self, *style).as_bytes())?;
        Ok(())
    }

    fn junit(&self) -> Result<String> {
        junit(self)
    }

    fn markdown(&self) -> Result<String> {
        Ok(markdown(self))
    }
}

/// The report in the given format, ending with a newline (for files and
/// logs; commands print with [`rollout_core::emit`]).
pub fn render(report: &Report, format: Format, style: Style) -> Result<String> {
    let mut out = Vec::new();
    rollout_core::emit(report, format, &style, &mut out)?;
    Ok(String::from_utf8(out)?)
}

/// `FAIL (2 failed, 1 warning, 10 passed, 1 skipped)`.
pub(crate) fn verdict_line(r: &Report, style: Style) -> String {
    let c = r.counts;
    let v = match r.verdict {
        Verdict::Pass => style.pass(),
        Verdict::Fail | Verdict::Error => style.fail(),
    };
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "verdict: {v} ({}, {}, {} passed, {} skipped)",
        plural(c.fail, "failed", "failed"),
        plural(c.warn, "warning", "warnings"),
        c.pass,
        c.skip
    )
}

/// A path as shown to a person.
fn shown_path(path: &std::path::Path) -> String {
    printable(&path.display().to_string()).into_owned()
}

fn human(r: &Report, style: Style) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "baseline-diff: `{}` against baseline `{}`{}\n",
        shown_path(&r.candidate),
        shown_path(&r.baseline),
        r.baseline_relation
            .as_deref()
            .map(|rel| format!(" ({})", printable(rel)))
            .unwrap_or_default()
    ));
    out.push_str(&format!("tolerance: {}\n", printable(&r.rule)));
    for f in &r.files {
        out.push_str(&format!("{}\n", style.bold(&printable(&f.path))));
        for c in &f.checks {
            out.push_str(&format!(
                "  {:<4}  {}: {}\n",
                c.status.word(&style),
                printable(&c.name),
                printable(&c.summary)
            ));
            if matches!(c.status, Status::Fail | Status::Warn | Status::Skip) {
                for d in &c.details {
                    out.push_str(&format!("        {}\n", printable(d)));
                }
            }
        }
    }
    out.push_str(&verdict_line(r, style));
    out.push('\n');
    out
}

fn markdown(r: &Report) -> String {
    // A line break in a cell becomes a space, as before; other control
    // characters are escaped by the one rule; `|` is Markdown's own.
    let line = |s: &str| printable(&s.replace('\n', " ")).into_owned();
    let esc = |s: &str| line(s).replace('|', "\\|");
    let mut out = String::new();
    let verdict = match r.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail | Verdict::Error => "FAIL",
    };
    out.push_str(&format!("## baseline-diff: {verdict}\n\n"));
    out.push_str(&format!(
        "Candidate `{}` against baseline `{}`.  \nTolerance: {}.  \n{}\n",
        line(&r.candidate.display().to_string()),
        line(&r.baseline.display().to_string()),
        line(&r.rule),
        verdict_line(r, Style::new(false))
    ));
    for f in &r.files {
        out.push_str(&format!(
            "\n### `{}`\n\n| status | check | result |\n|---|---|---|\n",
            line(&f.path)
        ));
        for c in &f.checks {
            let w = match c.status {
                Status::Pass => "pass",
                Status::Warn => "warn",
                Status::Fail => "**FAIL**",
                Status::Skip => "skip",
            };
            out.push_str(&format!(
                "| {w} | {} | {} |\n",
                esc(&c.name),
                esc(&c.summary)
            ));
        }
        for c in f.checks.iter().filter(|c| {
            matches!(c.status, Status::Fail | Status::Warn | Status::Skip) && !c.details.is_empty()
        }) {
            out.push_str(&format!("\n{}:\n\n", esc(&c.name)));
            for d in &c.details {
                out.push_str(&format!("- {}\n", line(d)));
            }
        }
    }
    out
}

fn junit(r: &Report) -> Result<String> {
    use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};
    let mut report = JReport::new("baseline-diff");
    report.set_time(Duration::from_millis(r.duration_ms));
    for f in &r.files {
        let mut suite = TestSuite::new(f.path.as_str());
        suite.set_time(Duration::from_millis(f.duration_ms));
        for c in &f.checks {
            let details = c.details.join("\n");
            let status = match c.status {
                Status::Pass | Status::Warn => TestCaseStatus::success(),
                Status::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(c.summary.as_str());
                    if !details.is_empty() {
                        s.set_description(details.as_str());
                    }
                    s
                }
                Status::Skip => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(c.summary.as_str());
                    s
                }
            };
            let mut case = TestCase::new(c.name.as_str(), status);
            case.set_classname(format!("baseline-diff.{}", f.path));
            if c.status == Status::Warn {
                case.set_system_out(format!("warning: {}\n{details}", c.summary));
            } else if c.status == Status::Pass {
                case.set_system_out(c.summary.as_str());
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    Ok(rollout_core::output::junit10(&report.to_string()?))
}
