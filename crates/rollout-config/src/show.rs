//! `cargo xtask config`: validates the rollout config and a Townlet config and
//! prints the resolved settings.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::resolve::{Context, Resolved};
use crate::townlet::{Transport, TransportKind, load_transport};
use rollout_core::{Check, Outcome, Status, Style, printable};

/// What `cargo xtask config` checks.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The Townlet simulation config to validate (default:
    /// `tls_smoke.sim_config`); a relative path is relative to the Townlet
    /// root.
    pub sim_config: Option<PathBuf>,
}

/// Version of the shape of `config --format json`.
const SCHEMA: u32 = 1;

#[derive(Serialize, schemars::JsonSchema)]
struct Report<'a> {
    /// Version of this document's shape; fields are added, never renamed.
    schema: u32,
    config: &'a std::path::Path,
    workspace: &'a std::path::Path,
    root: &'a Resolved<PathBuf>,
    target: &'a str,
    /// Where this root's reports, logs and captures go.
    outputs: PathBuf,
    python: PathBuf,
    runtime_variant: &'a str,
    transport: &'a Transport,
    /// The loaded rollout definition, as `configs/rollout.yaml` documents
    /// it (not constrained here: its schema is the config model's).
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    settings: &'a crate::RolloutFile,
}

/// Loads everything, prints it on `ctx.out`, and passes when both configs
/// are valid (an invalid one is an error naming file, line and key).
pub fn run(ctx: &Context, settings: Settings) -> Result<Outcome> {
    let s = &ctx.settings;
    let root = s.townlet_checkout()?;
    let sim = s.sim_config(settings.sim_config.as_deref());
    let transport = load_transport(&sim, root)?;
    let report = Report {
        schema: SCHEMA,
        config: &s.config.path,
        workspace: &s.workspace,
        root: &s.root,
        target: &s.target,
        outputs: s.rollout_dir(),
        python: s.python(),
        runtime_variant: &s.config.runtime_variant,
        transport: &transport,
        settings: &s.config.file,
    };
    rollout_core::output::emit(&report, ctx.format, &ctx.out.style(), &mut *ctx.out.lock())?;
    let checks = vec![
        Check::new(
            "rollout-config",
            Status::Pass,
            format!(
                "`{}` is valid",
                printable(&s.config.path.display().to_string())
            ),
        ),
        Check::new(
            "sim-config",
            Status::Pass,
            format!("`{}` is valid", printable(&sim.display().to_string())),
        ),
    ];
    Ok(Outcome::of_checks("both configs are valid", checks))
}

/// The JSON Schema of `config --format json` (`docs/schemas/config.schema.json`).
pub fn json_schema() -> schemars::Schema {
    rollout_core::output::json_schema::<Report<'static>>()
}

impl rollout_core::output::Report for Report<'_> {
    fn human(&self, style: &Style, out: &mut dyn Write) -> Result<()> {
        render(self, style, out)
    }
}

/// The human report: every value that came from a file or the command line
/// (paths, names, the endpoint, warnings) shown through [`printable`].
fn render(r: &Report<'_>, style: &Style, out: &mut dyn Write) -> Result<()> {
    let shown = |path: &std::path::Path| printable(&path.display().to_string()).into_owned();
    writeln!(out, "{} rollout config  {}", style.pass(), shown(r.config))?;
    writeln!(
        out,
        "     townlet root    {} (from {})",
        shown(&r.root.value),
        printable(&r.root.source.to_string())
    )?;
    writeln!(out, "     target          {}", printable(r.target))?;
    writeln!(out, "     outputs         {}", shown(&r.outputs))?;
    writeln!(
        out,
        "     baselines       {}",
        shown(&r.settings.baseline.dir)
    )?;
    writeln!(out, "     python          {}", shown(&r.python))?;
    writeln!(out, "     runtime variant {}", printable(r.runtime_variant))?;
    writeln!(out, "     gate steps      {}", r.settings.gate.steps.len())?;
    render_transport(r.transport, style, out)?;
    writeln!(out, "config ok")?;
    Ok(())
}

/// The Townlet config's transport lines and its warnings.
fn render_transport(t: &Transport, style: &Style, out: &mut dyn Write) -> Result<()> {
    let shown = |path: &std::path::Path| printable(&path.display().to_string()).into_owned();
    writeln!(out, "{} townlet config  {}", style.pass(), shown(&t.source))?;
    match &t.kind {
        TransportKind::Stdout => writeln!(out, "     transport       stdout")?,
        TransportKind::File { file_path } => {
            writeln!(out, "     transport       file {}", shown(file_path))?
        }
        TransportKind::Websocket { websocket_url } => writeln!(
            out,
            "     transport       websocket {}",
            printable(&websocket_url.to_string())
        )?,
        TransportKind::Tcp => {
            let endpoint = t
                .endpoint
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default();
            writeln!(out, "     transport       tcp {}", printable(&endpoint))?;
            match &t.tls {
                Some(tls) => {
                    let show = |p: &Option<PathBuf>| p.as_deref().map_or("-".to_string(), shown);
                    writeln!(
                        out,
                        "     tls             on, verify_hostname={}",
                        tls.verify_hostname
                    )?;
                    writeln!(out, "     ca_file         {}", show(&tls.ca_file))?;
                    writeln!(out, "     cert_file       {}", show(&tls.cert_file))?;
                    writeln!(out, "     key_file        {}", show(&tls.key_file))?;
                }
                None => writeln!(
                    out,
                    "     tls             off (plaintext, development only)"
                )?,
            }
            writeln!(
                out,
                "     connect timeout {}s",
                t.connect_timeout.as_secs_f64()
            )?;
        }
    }
    for w in &t.warnings {
        writeln!(out, "{} {}", style.warn(), printable(&w.to_string()))?;
    }
    Ok(())
}
