//! `cargo xtask tls-smoke` (and its `certs` and `serve` subcommands): the
//! arguments and their resolution into `tls_smoke`'s settings.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use rollout_config::Context;
use rollout_core::Outcome;
use rollout_core::path::on_command_line;

/// Arguments of `cargo xtask tls-smoke`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(
    after_help = "Example:\n  cargo xtask tls-smoke --loopback --sim-config configs/demo/poc_demo_tls.yaml"
)]
pub(crate) struct Args {
    /// How to print the result on stdout
    #[arg(
        help_heading = "Output",
        long,
        value_enum,
        default_value_t,
        value_name = "FORMAT",
        global = true
    )]
    pub format: super::format::TextFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub smoke: SmokeArgs,
}

/// The smoke itself (no subcommand).
#[derive(Debug, Default, clap::Args)]
pub(crate) struct SmokeArgs {
    /// Townlet simulation config [default: tls_smoke.sim_config]
    #[arg(long, value_name = "PATH")]
    pub sim_config: Option<PathBuf>,
    /// Connect to this address instead of the endpoint, keeping the configured host for SNI and verification
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "loopback")]
    pub connect: Option<String>,
    /// Run an in-process TLS collector on 127.0.0.1 and smoke against it
    #[arg(long)]
    pub loopback: bool,
    /// Loopback collector certificate, relative to the current directory [default: demo_server.pem beside ca_file]
    #[arg(long, value_name = "PATH", requires = "loopback")]
    pub server_cert: Option<PathBuf>,
    /// Loopback collector key, relative to the current directory [default: demo_server.key beside ca_file]
    #[arg(long, value_name = "PATH", requires = "loopback")]
    pub server_key: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
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
pub(crate) struct CertsArgs {
    /// Directory to write, relative to the current directory [default: the directory of the config's ca_file]
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
    /// Townlet simulation config for the defaults [default: tls_smoke.sim_config]
    #[arg(long, value_name = "PATH")]
    pub sim_config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: String,
    /// Server certificate (PEM chain), relative to the current directory
    #[arg(long, value_name = "PATH")]
    pub cert: PathBuf,
    /// Server private key (PEM), relative to the current directory
    #[arg(long, value_name = "PATH")]
    pub key: PathBuf,
    /// Require client certificates issued by this CA (PEM), relative to the current directory
    #[arg(long, value_name = "PATH")]
    pub client_ca: Option<PathBuf>,
    /// Stop after this many payloads
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_payloads: Option<u64>,
    /// Stop after this long (`30s`, `5m`; at most 7 days)
    #[arg(long, value_name = "DURATION", value_parser = rollout_config::model::parse_span)]
    pub duration: Option<Duration>,
}

/// What `tls-smoke` was asked to do, resolved.
#[derive(Debug)]
pub(crate) enum Settings {
    Smoke(tls_smoke::Settings),
    Certs(tls_smoke::CertsSettings),
    Serve(tls_smoke::ServeSettings),
}

impl Args {
    /// Resolves the smoke's or the subcommand's arguments.
    pub(crate) fn settings(self, ctx: &Context) -> Result<Settings> {
        Ok(match self.command {
            None => Settings::Smoke(self.smoke.settings(ctx)?),
            Some(Command::Certs(a)) => Settings::Certs(a.settings(ctx)?),
            Some(Command::Serve(a)) => Settings::Serve(a.settings(ctx)?),
        })
    }
}

/// Runs the smoke or the subcommand asked for. A smoke that could not run
/// is an error (exit 2) naming what stopped it; its report, on stdout, says
/// so too.
pub(crate) fn run(ctx: &Context, settings: Settings) -> Result<Outcome> {
    match settings {
        Settings::Smoke(s) => {
            let outcome = tls_smoke::run(ctx, s)?;
            match tls_smoke::could_not_run(&outcome) {
                Some(error) => Err(error),
                None => Ok(outcome),
            }
        }
        Settings::Certs(s) => tls_smoke::run_certs(ctx, s),
        Settings::Serve(s) => tls_smoke::run_serve(ctx, s),
    }
}

impl SmokeArgs {
    /// Paths are anchored at the working directory (`--sim-config` through
    /// [`super::sim_config_arg`]).
    pub(crate) fn settings(self, ctx: &Context) -> Result<tls_smoke::Settings> {
        let cwd = std::env::current_dir()?;
        let cwd = cwd.as_path();
        let target = if self.loopback {
            tls_smoke::SmokeTarget::Loopback {
                server_cert: self.server_cert.map(|p| on_command_line(cwd, &p)),
                server_key: self.server_key.map(|p| on_command_line(cwd, &p)),
            }
        } else if let Some(addr) = self.connect {
            if let Err(e) = rollout_config::townlet::parse_endpoint(&addr) {
                bail!(
                    "`--connect`: {e}\nhint: write `--connect 10.0.0.5:8765` or `--connect [::1]:8765`"
                );
            }
            tls_smoke::SmokeTarget::Connect(addr)
        } else {
            tls_smoke::SmokeTarget::Endpoint
        };
        Ok(tls_smoke::Settings {
            sim_config: ctx
                .settings
                .sim_config(super::sim_config_arg(ctx, self.sim_config.as_deref())?.as_deref()),
            target,
            generate_dev_certs: false,
            accept_dev_certs: false,
            expiry_warning_days: ctx.settings.config.tls_smoke.expiry_warning_days,
        })
    }
}

impl CertsArgs {
    pub(crate) fn settings(self, ctx: &Context) -> Result<tls_smoke::CertsSettings> {
        let cwd = std::env::current_dir()?;
        let cwd = cwd.as_path();
        Ok(tls_smoke::CertsSettings {
            out: self.out.map(|p| on_command_line(cwd, &p)),
            host: self.host,
            force: self.force,
            days: self.days,
            sim_config: ctx
                .settings
                .sim_config(super::sim_config_arg(ctx, self.sim_config.as_deref())?.as_deref()),
        })
    }
}

impl ServeArgs {
    pub(crate) fn settings(self, ctx: &Context) -> Result<tls_smoke::ServeSettings> {
        let cwd = std::env::current_dir()?;
        let cwd = cwd.as_path();
        Ok(tls_smoke::ServeSettings {
            listen: self.listen,
            cert: on_command_line(cwd, &self.cert),
            key: on_command_line(cwd, &self.key),
            client_ca: self.client_ca.map(|p| on_command_line(cwd, &p)),
            max_payloads: self.max_payloads,
            duration: self.duration,
            expected_variant: ctx.settings.config.runtime_variant.clone(),
            handshake_timeout: Duration::from_secs(10),
        })
    }
}
