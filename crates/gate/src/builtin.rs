//! Built-in steps backed by other crates of the workspace, called as
//! libraries: `tls-smoke` and `baseline-diff`.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use rollout_config::model::StepKind;
use rollout_config::{Context, Style};

use crate::plan::Planned;
use crate::report::StepStatus;

/// What a built-in step concluded.
pub(crate) struct BuiltinOutcome {
    pub status: StepStatus,
    pub summary: String,
    pub details: Vec<String>,
}

pub(crate) fn run(ctx: &Context, p: &Planned, log: &Path) -> Result<BuiltinOutcome> {
    match p.step.kind {
        StepKind::TlsSmoke => tls(ctx, p, log),
        other => bail!("step '{}' of kind {other:?} is not a built-in", p.step.id),
    }
}

fn tls(ctx: &Context, p: &Planned, log: &Path) -> Result<BuiltinOutcome> {
    let s = &ctx.settings;
    let root = s.checkout()?;
    let sim = s.sim_config(None);
    let transport = rollout_config::load_transport(&sim, root)?;
    let mut notes = Vec::new();
    let target = if p.step.loopback {
        // Loopback runs with dev material next to the configured CA file,
        // generated when none is there yet.
        if let (Some(dir), Some(endpoint)) =
            (tls_smoke::dev_certs_dir(&transport), &transport.endpoint)
            && tls_smoke::ensure_dev_certs(dir, &endpoint.host)?
        {
            notes.push(format!(
                "generated dev certificates for {} in `{}`",
                endpoint.host,
                dir.display()
            ));
        }
        tls_smoke::SmokeTarget::Loopback {
            server_cert: None,
            server_key: None,
        }
    } else {
        tls_smoke::SmokeTarget::Endpoint
    };
    let opts = tls_smoke::SmokeOptions {
        target,
        expiry_warning_days: s.config.tls_smoke.expiry_warning_days,
    };
    let report = tls_smoke::smoke(&transport, &opts);

    let mut text = Vec::new();
    for n in &notes {
        text.extend_from_slice(format!("{n}\n").as_bytes());
    }
    tls_smoke::report::render(&report, &Style::new(false), &mut text)
        .with_context(|| format!("cannot render the TLS smoke report to `{}`", log.display()))?;
    std::fs::write(log, &text)
        .with_context(|| format!("cannot write step log `{}`", log.display()))?;

    let status = match report.verdict {
        tls_smoke::Verdict::Pass => StepStatus::Pass,
        tls_smoke::Verdict::Fail | tls_smoke::Verdict::Error => StepStatus::Fail,
    };
    let mode = if p.step.loopback {
        " (loopback collector)"
    } else {
        ""
    };
    let summary = match (&report.session, status) {
        (Some(session), StepStatus::Pass) => {
            let client = match report.client_auth.accepted {
                Some(true) => ", client certificate accepted",
                _ => "",
            };
            format!(
                "{} {} with {}{mode}{client}",
                session.protocol, session.cipher_suite, report.server_name
            )
        }
        _ => {
            let first = report
                .findings
                .iter()
                .find(|f| f.severity == tls_smoke::report::Severity::Error)
                .map(|f| f.message.clone())
                .unwrap_or_else(|| "the TLS smoke failed".to_string());
            format!("{first}{mode}")
        }
    };
    let details = String::from_utf8_lossy(&text)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    Ok(BuiltinOutcome {
        status,
        summary,
        details,
    })
}
