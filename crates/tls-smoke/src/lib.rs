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
//! Does not own: reading Townlet's YAML (`rollout_config::townlet` validates
//! `telemetry.transport` and resolves its paths), nor the gate, which calls
//! [`smoke`] and [`ensure_dev_certs`] as a library.
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
pub mod inspect;
mod material;
pub mod report;
mod serve;
mod sink;
mod smoke;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use rollout_config::Context;
use rollout_core::{Style, Verbosity, Verdict, printable};

pub use certs::{
    CA_NAME as DEV_CA_NAME, DevMaterial, FILES as DEV_CERT_FILES, ensure_dev_certs,
    generate as generate_dev_certs,
};
pub use collector::{LineAt, Tally};
pub use report::Report;
pub use serve::{ServeOptions, ServeSummary, render as serve_render, serve};
pub use smoke::{SmokeOptions, SmokeTarget, dev_certs_dir, provider, smoke};

/// Dev material file names, for callers that place it.
pub mod dev_files {
    pub use crate::certs::{CA_CERT, CA_KEY, CLIENT_CERT, CLIENT_KEY, SERVER_CERT, SERVER_KEY};
}

/// Arguments of `cargo xtask tls-smoke`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(
    after_help = "Example:\n  cargo xtask tls-smoke --loopback --sim-config configs/demo/poc_demo_tls.yaml"
)]
pub struct Args {
    /// How to print the result on stdout
    #[arg(
        help_heading = "Output",
        long,
        value_enum,
        default_value_t,
        value_name = "FORMAT",
        global = true
    )]
    pub format: rollout_config::TextFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub smoke: SmokeArgs,
}

/// The smoke itself (no subcommand).
#[derive(Debug, Default, clap::Args)]
pub struct SmokeArgs {
    /// Townlet simulation config, relative to the Townlet root [default: tls_smoke.sim_config]
    #[arg(long, value_name = "PATH")]
    pub sim_config: Option<PathBuf>,
    /// Connect to this address instead of the endpoint, keeping the configured host for SNI and verification
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "loopback")]
    pub connect: Option<String>,
    /// Run an in-process TLS collector on 127.0.0.1 and smoke against it
    #[arg(long)]
    pub loopback: bool,
    /// Loopback collector certificate, relative to the workspace root [default: demo_server.pem beside ca_file]
    #[arg(long, value_name = "PATH", requires = "loopback")]
    pub server_cert: Option<PathBuf>,
    /// Loopback collector key, relative to the workspace root [default: demo_server.key beside ca_file]
    #[arg(long, value_name = "PATH", requires = "loopback")]
    pub server_key: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Generate a dev CA, a server and a client certificate (keys mode 0600)
    #[command(
        after_help = "Example:\n  cargo xtask tls-smoke certs --out examples/townlet-sample/certs --host demo.local"
    )]
    Certs(CertsArgs),
    /// Run a TLS collector for Townlet's TCP telemetry and summarise what arrives
    #[command(
        after_help = "Example:\n  cargo xtask tls-smoke serve --listen 127.0.0.1:8765 --cert demo_server.pem --key demo_server.key"
    )]
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Directory to write, relative to the workspace root [default: the directory of the config's ca_file]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Host name (or IP) of the server certificate [default: the config's endpoint host]
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Replace existing files
    #[arg(long)]
    pub force: bool,
    /// Validity of the server and client certificates in days
    #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
    /// Townlet simulation config for the defaults, relative to the Townlet root [default: tls_smoke.sim_config]
    #[arg(long, value_name = "PATH")]
    pub sim_config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: String,
    /// Server certificate (PEM chain), relative to the workspace root
    #[arg(long, value_name = "PATH")]
    pub cert: PathBuf,
    /// Server private key (PEM), relative to the workspace root
    #[arg(long, value_name = "PATH")]
    pub key: PathBuf,
    /// Require client certificates issued by this CA (PEM), relative to the workspace root
    #[arg(long, value_name = "PATH")]
    pub client_ca: Option<PathBuf>,
    /// Stop after this many payloads
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_payloads: Option<u64>,
    /// Stop after this long (`30s`, `5m`; at most 7 days)
    #[arg(long, value_name = "DURATION", value_parser = rollout_config::model::parse_span)]
    pub duration: Option<Duration>,
}

/// Runs `tls-smoke` (or its `certs` / `serve` subcommand) and prints the
/// result on `out`.
pub fn run(ctx: &Context, args: Args, out: &mut dyn Write) -> Result<Verdict> {
    match args.command {
        None => run_smoke(ctx, args.smoke, out),
        Some(Command::Certs(a)) => run_certs(ctx, a, out),
        Some(Command::Serve(a)) => run_serve(ctx, a, out),
    }
}

fn load(ctx: &Context, sim_config: Option<&Path>) -> Result<rollout_config::Transport> {
    let root = ctx.settings.checkout()?;
    let sim = ctx.settings.sim_config(sim_config);
    if let Err(e) = input::check_regular(&sim) {
        // A missing file is most often a path taken from the wrong root; a
        // FIFO or a directory is the wrong path itself.
        let hint = match e {
            input::InputError::Missing { .. } => format!(
                "`--sim-config` is relative to the Townlet root `{}` (from {})",
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
    rollout_config::load_transport(&sim, root)
        .map_err(|e| anyhow::Error::new(e).context("Townlet would refuse this telemetry transport"))
}

fn run_smoke(ctx: &Context, args: SmokeArgs, out: &mut dyn Write) -> Result<Verdict> {
    let transport = load(ctx, args.sim_config.as_deref())?;
    let ws = |p: PathBuf| ctx.settings.workspace.join(p);
    let target = if args.loopback {
        SmokeTarget::Loopback {
            server_cert: args.server_cert.map(ws),
            server_key: args.server_key.map(ws),
        }
    } else if let Some(addr) = args.connect {
        if let Err(e) = rollout_config::townlet::parse_endpoint(&addr) {
            bail!(
                "`--connect`: {e}\nhint: write `--connect 10.0.0.5:8765` or `--connect [::1]:8765`"
            );
        }
        SmokeTarget::Connect(addr)
    } else {
        SmokeTarget::Endpoint
    };
    let opts = SmokeOptions {
        target,
        expiry_warning_days: ctx.settings.config.tls_smoke.expiry_warning_days,
    };
    if ctx.verbosity >= Verbosity::Verbose {
        eprintln!("tls-smoke: reading `{}`", transport.source.display());
    }
    let report = smoke(&transport, &opts);
    rollout_core::emit(&report, ctx.format, &Style::stdout(), out)?;
    match report.verdict {
        Verdict::Pass => Ok(Verdict::Pass),
        Verdict::Fail => Ok(Verdict::Fail),
        Verdict::Error => bail!("{}", report.setup_errors()),
    }
}

fn run_certs(ctx: &Context, args: CertsArgs, out: &mut dyn Write) -> Result<Verdict> {
    if let Some(host) = &args.host {
        certs::check_host(host, "`--host`")?;
    }
    let (dir, host) = match (args.out, args.host) {
        (Some(out), Some(host)) => (ctx.settings.workspace.join(out), host),
        (out, host) => {
            let t = load(ctx, args.sim_config.as_deref())?;
            let dir = match out {
                Some(o) => ctx.settings.workspace.join(o),
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
    let material = certs::generate(&host, args.days)?;
    let written = certs::write(&dir, &material, args.force)?;
    let result = CertsWritten {
        schema: CERTS_SCHEMA,
        host,
        dir,
        files: written,
    };
    rollout_core::emit(&result, ctx.format, &Style::stdout(), out)?;
    Ok(Verdict::Pass)
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

fn run_serve(ctx: &Context, args: ServeArgs, out: &mut dyn Write) -> Result<Verdict> {
    let ws = |p: PathBuf| ctx.settings.workspace.join(p);
    let opts = ServeOptions {
        listen: args.listen,
        cert: ws(args.cert),
        key: ws(args.key),
        client_ca: args.client_ca.map(ws),
        max_payloads: args.max_payloads,
        duration: args.duration,
        expected_variant: ctx.settings.config.runtime_variant.clone(),
        handshake_timeout: Duration::from_secs(10),
    };
    let quiet = ctx.verbosity == Verbosity::Quiet;
    let summary = serve(&opts, |addr| {
        if !quiet {
            eprintln!("tls-smoke serve: listening on {addr} (Ctrl-C to stop)");
        }
    })?;
    rollout_core::emit(&summary, ctx.format, &Style::stdout(), out)?;
    Ok(Verdict::from_ok(summary.verdict == Verdict::Pass))
}
