//! Collects checks and findings while the smoke runs.

use crate::report::{Check, Class, Finding, Severity, Status};

#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub checks: Vec<Check>,
    pub findings: Vec<Finding>,
}

impl Sink {
    /// Records a finding of check `check`; its place and hint are set on
    /// the returned finding (`.at(..)`, `.hint(..)`).
    pub(crate) fn finding(
        &mut self,
        check: &str,
        severity: Severity,
        class: Class,
        message: String,
    ) -> &mut Finding {
        self.findings.push(Finding {
            check: check.to_string(),
            severity,
            class,
            message,
            place: None,
            hint: None,
        });
        let last = self.findings.len() - 1;
        &mut self.findings[last]
    }

    /// The status the findings recorded so far give check `id`.
    pub(crate) fn worst(&self, id: &str) -> Status {
        let mut status = Status::Pass;
        for f in self.findings.iter().filter(|f| f.check == id) {
            match f.severity.status() {
                Status::Fail => return Status::Fail,
                other => status = status.max(other),
            }
        }
        status
    }

    /// Adds check `id` with the status its findings give it.
    pub(crate) fn check(&mut self, id: &str, summary: impl Into<String>) {
        let status = self.worst(id);
        self.checks.push(Check {
            id: id.to_string(),
            status,
            summary: summary.into(),
        });
    }

    pub(crate) fn skip(&mut self, id: &str, summary: impl Into<String>) {
        self.checks.push(Check {
            id: id.to_string(),
            status: Status::Skip,
            summary: summary.into(),
        });
    }

    pub(crate) fn has_setup_error(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Error && f.class.is_setup())
    }
}
