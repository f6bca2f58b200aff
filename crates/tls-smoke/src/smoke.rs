//! The smoke from data: static checks of the configured material, then the
//! live handshake against the endpoint, a `--connect` address, or an
//! in-process loopback collector.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rollout_config::Transport;
use rollout_config::townlet::{Endpoint, TlsSettings, TransportKind};
use rustls::crypto::CryptoProvider;
use serde::{Deserialize, Serialize};

use crate::client::Setup;
use crate::report::{Class, ClientAuth, Mode, Report, SCHEMA, Severity, Verdict};
use crate::sink::Sink;

mod live;
mod load;

use live::Live;
use load::{CertsHint, Collector, Loader};

/// Where the live handshake goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmokeTarget {
    /// The configured endpoint.
    Endpoint,
    /// Another address (`ADDR:PORT`), keeping the configured host name for
    /// SNI and verification (like `curl --resolve`).
    Connect(String),
    /// An in-process collector on 127.0.0.1 with a server certificate signed
    /// by the configured CA (default: the dev material next to `ca_file`),
    /// requiring client certificates from that CA.
    Loopback {
        server_cert: Option<PathBuf>,
        server_key: Option<PathBuf>,
    },
}

/// Options of [`smoke`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeOptions {
    pub target: SmokeTarget,
    /// Certificates expiring within this many days are a warning.
    pub expiry_warning_days: u32,
}

impl Default for SmokeOptions {
    fn default() -> Self {
        Self {
            target: SmokeTarget::Endpoint,
            expiry_warning_days: 30,
        }
    }
}

/// Where `--loopback` looks for the collector's dev certificate by default,
/// and where [`crate::ensure_dev_certs`] should put it: the directory of the
/// transport's `ca_file`.
pub fn dev_certs_dir(transport: &Transport) -> Option<&Path> {
    transport
        .tls
        .as_ref()
        .and_then(|t| t.ca_file.as_deref())
        .and_then(Path::parent)
}

/// The crypto provider: *ring* (see the crate documentation for why).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Runs the whole smoke for a Townlet transport and returns its report.
/// Never panics on bad input; problems are findings in the report, whose
/// `verdict` is `error` (could not run), `fail` or `pass`.
pub fn smoke(transport: &Transport, opts: &SmokeOptions) -> Report {
    let started = Instant::now();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let endpoint = transport.endpoint.as_ref();
    let mut report = Report {
        schema: SCHEMA,
        sim_config: transport.source.display().to_string(),
        endpoint: endpoint.map_or_else(String::new, |e| e.to_string()),
        server_name: endpoint.map_or_else(String::new, |e| e.host.clone()),
        mode: match opts.target {
            SmokeTarget::Endpoint => Mode::Endpoint,
            SmokeTarget::Connect(_) => Mode::Connect,
            SmokeTarget::Loopback { .. } => Mode::Loopback,
        },
        verify_hostname: transport.tls.as_ref().is_some_and(|t| t.verify_hostname),
        address: None,
        session: None,
        server_chain: Vec::new(),
        client_auth: ClientAuth::default(),
        connect_ms: None,
        handshake_ms: None,
        total_ms: 0.0,
        checks: Vec::new(),
        findings: Vec::new(),
        failure: None,
        verdict: Verdict::Pass,
        exit_code: 0,
    };
    let mut sink = Sink::default();
    run_checks(transport, opts, now, &mut sink, &mut report);
    report.checks = sink.checks;
    report.findings = sink.findings;
    report.total_ms = ms(started.elapsed());
    report.conclude();
    report
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

fn run_checks(
    transport: &Transport,
    opts: &SmokeOptions,
    now: i64,
    sink: &mut Sink,
    report: &mut Report,
) {
    let Some((endpoint, tls)) = check_transport(transport, sink) else {
        return;
    };
    let loader = Loader {
        transport,
        tls,
        provider: provider(),
        hints: CertsHint {
            host: &endpoint.host,
        },
        now,
    };
    let trust = load::load_trust(&loader, sink);
    let client = load::load_client(&loader, &trust, sink);
    report.client_auth.configured = client.key.is_some();
    let collector = match &opts.target {
        SmokeTarget::Loopback {
            server_cert,
            server_key,
        } => load::load_collector(
            &loader,
            (server_cert.as_deref(), server_key.as_deref()),
            trust.file.as_ref(),
            sink,
        ),
        _ => Collector::default(),
    };
    load::check_validity(
        [
            (trust.source.as_ref(), trust.file.as_ref()),
            (client.source.as_ref(), client.chain.as_ref()),
        ],
        &collector,
        now,
        opts.expiry_warning_days,
        sink,
    );
    if sink.has_setup_error() {
        if matches!(opts.target, SmokeTarget::Loopback { .. }) {
            sink.skip("collector", "not started");
        }
        sink.skip("handshake", "not attempted: fix the errors first");
        return;
    }
    let presented_words = match &opts.target {
        SmokeTarget::Loopback { .. } => {
            format!("`--server-cert` `{}`", collector.cert_path.display())
        }
        _ => "the chain the server presented".to_string(),
    };
    let setup = Setup {
        provider: loader.provider.clone(),
        anchors: Arc::new(trust.anchors()),
        roots: trust.roots,
        client: client.key,
        verify_hostname: tls.verify_hostname,
        server_name: endpoint.host.clone(),
        timeout: transport.connect_timeout,
        trust_words: trust.words,
        client_words: client.words,
        presented_words,
    };
    let live = Live {
        target: &opts.target,
        endpoint,
        collector,
        ca: trust.file.as_ref(),
    };
    let Some((outcome, collector_view)) = live::handshake(setup, live, sink) else {
        return;
    };
    live::record(outcome, collector_view, endpoint, sink, report);
}

/// Check 1, the transport: a TLS or plaintext tcp endpoint with Townlet's
/// warnings. `None` when there is nothing to hand-shake with.
fn check_transport<'t>(
    transport: &'t Transport,
    sink: &mut Sink,
) -> Option<(&'t Endpoint, &'t TlsSettings)> {
    // The config reader already enforced the transport rules; here we only
    // see accepted configs, with Townlet's warnings.
    let (Some(endpoint), TransportKind::Tcp) = (transport.endpoint.as_ref(), &transport.kind)
    else {
        let kind = match &transport.kind {
            TransportKind::Stdout => "stdout",
            TransportKind::File { .. } => "file",
            TransportKind::Websocket { .. } => "websocket",
            TransportKind::Tcp => "tcp",
        };
        sink.finding(
            "transport",
            Severity::Error,
            Class::Config,
            format!("`telemetry.transport.type` is `{kind}`: tls-smoke checks tcp transports only"),
        )
        .at(Some(transport.place("type")))
        .hint(Some(
            "pass `--sim-config` with a tcp config, such as `configs/demo/poc_demo_tls.yaml`"
                .into(),
        ));
        sink.check("transport", format!("{kind} transport"));
        return None;
    };
    for warning in &transport.warnings {
        sink.finding(
            "transport",
            Severity::Warning,
            Class::Plaintext,
            format!(
                "Townlet will log `{warning}`: telemetry travels unencrypted (development only)"
            ),
        )
        .at(Some(transport.place("allow_plaintext")))
        .hint(Some(
            "enable TLS (`enable_tls: true` with `ca_file`) before promotion".into(),
        ));
    }
    let timeout = transport.connect_timeout.as_secs_f64();
    let Some(tls) = transport.tls.as_ref() else {
        sink.check(
            "transport",
            format!("tcp {endpoint} plaintext, connect timeout {timeout}s"),
        );
        sink.skip("handshake", "plaintext transport: no TLS to negotiate");
        return None;
    };
    sink.check(
        "transport",
        format!(
            "tcp {endpoint}, TLS on, verify_hostname={}, connect timeout {timeout}s",
            tls.verify_hostname,
        ),
    );
    Some((endpoint, tls))
}
