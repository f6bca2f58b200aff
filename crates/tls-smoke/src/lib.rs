//! `cargo xtask tls-smoke`: proves TLS negotiation and certificate loading
//! of Townlet's TCP telemetry before promotion.
//!
//! Owns: the static checks of the TLS material a Townlet config names (files,
//! PEM, encrypted keys, key/certificate match, validity windows, key
//! permissions), the live handshake with Townlet's client behaviour (system
//! roots plus `ca_file`, client certificate, host name check when
//! `verify_hostname`, TLS 1.2/1.3 only), the classification of failures, the
//! report ([`Report`], stable JSON), the in-process loopback collector, the
//! `certs` command (dev CA, server and client certificates) and the `serve`
//! command (a collector for Townlet's newline-delimited JSON).
//!
//! The command's entry points are [`run`] (the smoke), [`run_certs`] and
//! [`run_serve`]; each takes resolved settings and returns an
//! [`Outcome`] made of the smoke's checks ([`Report::outcome`]), so that the
//! gate's TLS step calls [`run`] as a library and reads only the outcome.
//!
//! Does not own: reading Townlet's YAML (`rollout_config::townlet` validates
//! `telemetry.transport` and resolves its paths), the command line (clap
//! lives in `xtask`), nor the gate.
//!
//! Crypto provider: *ring*, through rustls 0.23 with default features off.
//! It builds with only a C compiler (no cmake, nasm or Go as aws-lc-rs
//! needs), quickly on a 2-core machine, and covers what Townlet's Python
//! client negotiates (TLS 1.2/1.3, ECDHE with AES-GCM and ChaCha20-Poly1305,
//! RSA, ECDSA and Ed25519 certificates). What it lacks (post-quantum key
//! exchange, FIPS) Townlet's client does not use.

mod certs;
mod chain;
mod client;
mod collector;
mod inspect;
mod material;
mod outcome;
pub mod report;
mod serve;
mod sink;
mod smoke;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use rollout_config::Context;
use rollout_core::{Check, Format, Outcome, Status, Style, Verbosity, Verdict, printable};

pub use certs::{
    CA_NAME as DEV_CA_NAME, DevMaterial, FILES as DEV_CERT_FILES, ensure_dev_certs,
    generate as generate_dev_certs,
};
pub use collector::{LineAt, Tally};
pub use outcome::{Judgement, could_not_run};
pub use report::Report;
pub use serve::{ServeSettings, ServeSummary, render as serve_render, serve};
pub use smoke::{SmokeOptions, SmokeTarget, dev_certs_dir, provider, smoke};

/// Dev material file names, for callers that place it.
pub mod dev_files {
    pub use crate::certs::{CA_CERT, CA_KEY, CLIENT_CERT, CLIENT_KEY, SERVER_CERT, SERVER_KEY};
}

/// What `tls-smoke` (the smoke itself) runs with, every value resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The Townlet simulation config whose `telemetry.transport` is smoked.
    pub sim_config: PathBuf,
    /// Where the live handshake goes; the loopback collector's certificate
    /// and key paths are absolute.
    pub target: SmokeTarget,
    /// With [`SmokeTarget::Loopback`]: generate dev certificates next to the
    /// configured `ca_file` when none are there (what the gate does), and
    /// say so before the report.
    pub generate_dev_certs: bool,
    /// A pass on the dev certificates of `tls-smoke certs` passes; without
    /// it the outcome warns (the real certificates were not tested).
    pub accept_dev_certs: bool,
    /// Certificates expiring within this many days are a warning.
    pub expiry_warning_days: u32,
}

/// What `tls-smoke certs` runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertsSettings {
    /// Directory to write; `None`: the directory of the config's `ca_file`.
    pub out: Option<PathBuf>,
    /// Host name (or IP) of the server certificate; `None`: the config's
    /// endpoint host.
    pub host: Option<String>,
    /// Replace existing files.
    pub force: bool,
    /// Validity of the server and client certificates in days.
    pub days: u32,
    /// The Townlet simulation config the defaults come from.
    pub sim_config: PathBuf,
}

/// Runs the smoke, writes its report to `ctx.out` in `ctx.format`, and
/// returns its outcome: `pass`, `fail`, or `error` when it could not run
/// ([`could_not_run`] then gives the errors that stopped it). `Err` when
/// the Townlet config cannot be read or the dev certificates cannot be
/// made.
pub fn run(ctx: &Context, settings: Settings) -> Result<Outcome> {
    let transport = load(ctx, &settings.sim_config)?;
    let loopback = matches!(settings.target, SmokeTarget::Loopback { .. });
    let mut generated = None;
    if loopback
        && settings.generate_dev_certs
        && let (Some(dir), Some(endpoint)) = (dev_certs_dir(&transport), &transport.endpoint)
        && ensure_dev_certs(dir, &endpoint.host)?
    {
        generated = Some(format!(
            "generated dev certificates for {} in `{}`",
            endpoint.host,
            dir.display()
        ));
    }
    if ctx.verbosity >= Verbosity::Verbose {
        eprintln!("tls-smoke: reading `{}`", transport.source.display());
    }
    let opts = SmokeOptions {
        target: settings.target,
        expiry_warning_days: settings.expiry_warning_days,
    };
    let report = smoke(&transport, &opts);
    {
        let mut out = ctx.out.lock();
        if let Some(note) = &generated {
            // A note before a JSON document would break it: there it goes
            // to stderr, as progress does.
            if ctx.format == Format::Human {
                writeln!(out, "{note}")?;
            } else if ctx.verbosity != Verbosity::Quiet {
                eprintln!("tls-smoke: {note}");
            }
        }
        rollout_core::emit(&report, ctx.format, &ctx.out.style(), &mut **out)?;
    }
    Ok(report.outcome(Judgement {
        accept_dev_certs: settings.accept_dev_certs,
        dev_certs_generated: generated.is_some(),
    }))
}

/// Reads the transport of a Townlet config, saying what to fix when the
/// file is not there.
fn load(ctx: &Context, sim: &Path) -> Result<rollout_config::Transport> {
    let root = ctx.settings.checkout()?;
    if let Err(e) = input::check_regular(sim) {
        // A missing file is most often a path taken from the wrong root; a
        // FIFO or a directory is the wrong path itself.
        let hint = match e {
            input::InputError::Missing { .. } => format!(
                "`tls_smoke.sim_config` is relative to the Townlet root `{}` (from {}); `--sim-config` to the working directory",
                root.display(),
                ctx.settings.root.source
            ),
            _ => "point `--sim-config` (or `tls_smoke.sim_config`) at the Townlet YAML file itself"
                .to_string(),
        };
        bail!(
            "Townlet config `{}` {}\nhint: {hint}",
            sim.display(),
            e.reason()
        );
    }
    rollout_config::load_transport(sim, root)
        .map_err(|e| anyhow::Error::new(e).context("Townlet would refuse this telemetry transport"))
}

/// Runs `tls-smoke certs`: writes a dev CA, a server and a client
/// certificate, and reports the files written.
pub fn run_certs(ctx: &Context, settings: CertsSettings) -> Result<Outcome> {
    if let Some(host) = &settings.host {
        certs::check_host(host, "`--host`")?;
    }
    let (dir, host) = match (settings.out, settings.host) {
        (Some(out), Some(host)) => (out, host),
        (out, host) => {
            let t = load(ctx, &settings.sim_config)?;
            let dir = match out {
                Some(o) => o,
                None => match dev_certs_dir(&t) {
                    Some(d) => d.to_path_buf(),
                    None => bail!(
                        "`{}` sets no `ca_file` to place the certificates beside\nhint: pass `--out DIR`",
                        t.source.display()
                    ),
                },
            };
            let host = match (host, t.endpoint.as_ref()) {
                (Some(h), _) => h,
                (None, Some(endpoint)) => {
                    let place = format!("{}: `telemetry.transport.endpoint`", t.place("endpoint"));
                    certs::check_host(&endpoint.host, &place)?;
                    endpoint.host.clone()
                }
                (None, None) => bail!(
                    "`{}` has no tcp endpoint\nhint: pass `--host HOST`",
                    t.source.display()
                ),
            };
            (dir, host)
        }
    };
    let material = certs::generate(&host, settings.days)?;
    let written = certs::write(&dir, &material, settings.force)?;
    let result = CertsWritten {
        schema: CERTS_SCHEMA,
        host,
        dir,
        files: written,
    };
    rollout_core::emit(&result, ctx.format, &ctx.out.style(), &mut **ctx.out.lock())?;
    Ok(result.outcome())
}

/// Version of the shape of `tls-smoke certs --format json`.
const CERTS_SCHEMA: u32 = 1;

/// What `tls-smoke certs` wrote.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct CertsWritten {
    /// Version of this document's shape; fields are added, never renamed.
    schema: u32,
    host: String,
    dir: PathBuf,
    files: Vec<PathBuf>,
}

impl CertsWritten {
    /// One passing check per file written.
    fn outcome(&self) -> Outcome {
        let checks = self
            .files
            .iter()
            .map(|p| {
                let name = p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                Check::new(name, Status::Pass, format!("wrote {}", p.display()))
            })
            .collect();
        Outcome::new(Verdict::Pass, self.line()).with_checks(checks)
    }

    /// The verdict line (unescaped).
    fn line(&self) -> String {
        format!(
            "dev certificates for `{}` written to `{}` (CA {}, keys mode 0600)",
            self.host,
            self.dir.display(),
            certs::CA_NAME
        )
    }
}

/// The JSON Schemas of `tls-smoke`, `tls-smoke certs` and `tls-smoke serve`
/// with `--format json`, in that order.
pub fn json_schemas() -> [schemars::Schema; 3] {
    [
        rollout_core::output::json_schema::<Report>(),
        rollout_core::output::json_schema::<CertsWritten>(),
        rollout_core::output::json_schema::<ServeSummary>(),
    ]
}

impl rollout_core::Report for CertsWritten {
    fn human(&self, style: &Style, out: &mut dyn Write) -> Result<()> {
        for p in &self.files {
            writeln!(
                out,
                "{} wrote {}",
                style.pass(),
                printable(&p.display().to_string())
            )?;
        }
        writeln!(
            out,
            "{}",
            style.bold(&format!(
                "dev certificates for `{}` written to `{}` (CA {}, keys mode 0600)",
                printable(&self.host),
                printable(&self.dir.display().to_string()),
                certs::CA_NAME
            ))
        )?;
        Ok(())
    }
}

/// Runs `tls-smoke serve`: a collector that serves until a stop condition,
/// then reports what arrived. `Err` when the material is unusable or the
/// address cannot be bound.
pub fn run_serve(ctx: &Context, settings: ServeSettings) -> Result<Outcome> {
    let quiet = ctx.verbosity == Verbosity::Quiet;
    let summary = serve(&settings, |addr| {
        if !quiet {
            eprintln!("tls-smoke serve: listening on {addr} (Ctrl-C to stop)");
        }
    })?;
    rollout_core::emit(
        &summary,
        ctx.format,
        &ctx.out.style(),
        &mut **ctx.out.lock(),
    )?;
    Ok(summary.outcome())
}
