//! The smoke from data: static checks of the configured material, then the
//! live handshake against the endpoint, a `--connect` address, or an
//! in-process loopback collector.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rollout_config::Transport;
use rollout_config::townlet::TransportKind;
use rustls::crypto::CryptoProvider;
use serde::{Deserialize, Serialize};

use crate::certs;
use crate::client::{self, Setup, Target};
use crate::collector;
use crate::material::{self, CertFile, Source};
use crate::report::{Check, Class, ClientAuth, Mode, Outcome, Report, SCHEMA, Severity, Status};
use crate::sink::Sink;

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
        verdict: Outcome::Pass,
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
    // 1. Transport rules (already enforced by the config reader; here we
    // only see accepted configs, with Townlet's warnings).
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
            Some(transport.place("type")),
            Some(
                "pass `--sim-config` with a tcp config, such as `configs/demo/poc_demo_tls.yaml`"
                    .into(),
            ),
        );
        sink.check("transport", format!("{kind} transport"));
        return;
    };
    for w in &transport.warnings {
        sink.finding(
            "transport",
            Severity::Warning,
            Class::Plaintext,
            format!("Townlet will log `{w}`: telemetry travels unencrypted (development only)"),
            Some(transport.place("allow_plaintext")),
            Some("enable TLS (`enable_tls: true` with `ca_file`) before promotion".into()),
        );
    }
    let timeout = transport.connect_timeout;
    let Some(tls) = transport.tls.as_ref() else {
        sink.check(
            "transport",
            format!(
                "tcp {endpoint} plaintext, connect timeout {}s",
                timeout.as_secs_f64()
            ),
        );
        sink.skip("handshake", "plaintext transport: no TLS to negotiate");
        return;
    };
    sink.check(
        "transport",
        format!(
            "tcp {endpoint}, TLS on, verify_hostname={}, connect timeout {}s",
            tls.verify_hostname,
            timeout.as_secs_f64()
        ),
    );
    let provider = provider();
    let certs_hint = |dir: Option<&Path>| {
        format!(
            "generate dev certificates with `cargo xtask tls-smoke certs --out {} --host {}`, or fix the path",
            dir.map_or_else(|| "DIR".to_string(), |d| d.display().to_string()),
            endpoint.host
        )
    };

    // 2. Trust: system roots plus ca_file.
    let ca_src = tls.ca_file.as_deref().map(|p| Source {
        key: "ca_file",
        path: p,
        place: Some(transport.place("ca_file")),
    });
    let ca = ca_src.as_ref().and_then(|src| {
        let bytes = material::read(sink, "trust", src, &certs_hint(src.path.parent()))?;
        material::parse_certs(sink, "trust", src, &bytes)
    });
    let (roots, system) = material::roots(ca.as_ref());
    let trust_words = match (&ca_src, &ca) {
        (Some(src), Some(ca)) => format!(
            "`ca_file` `{}` ({}) or the {system} system roots",
            src.path.display(),
            ca.infos
                .iter()
                .map(|i| i.subject.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        _ => format!("the {system} system roots"),
    };
    sink.check(
        "trust",
        match (&ca_src, &ca) {
            (Some(src), Some(ca)) => format!(
                "{system} system roots + `ca_file` `{}` ({} certificate{})",
                src.path.display(),
                ca.ders.len(),
                if ca.ders.len() == 1 { "" } else { "s" }
            ),
            (Some(src), None) => format!("`ca_file` `{}`", src.path.display()),
            (None, _) => format!("{system} system roots (no `ca_file`)"),
        },
    );

    // 3. Client certificate and key.
    let mut client = None;
    let mut client_chain: Option<CertFile> = None;
    let client_words;
    match (tls.cert_file.as_deref(), tls.key_file.as_deref()) {
        (Some(cert_path), Some(key_path)) => {
            let cert_src = Source {
                key: "cert_file",
                path: cert_path,
                place: Some(transport.place("cert_file")),
            };
            let key_src = Source {
                key: "key_file",
                path: key_path,
                place: Some(transport.place("key_file")),
            };
            client_words = format!("`{}`", cert_path.display());
            let chain = material::read(
                sink,
                "client-cert",
                &cert_src,
                &certs_hint(cert_path.parent()),
            )
            .and_then(|b| material::parse_certs(sink, "client-cert", &cert_src, &b));
            let key_bytes = material::read(
                sink,
                "client-cert",
                &key_src,
                &certs_hint(key_path.parent()),
            );
            let mut algorithm = String::new();
            if let (Some(chain), Some(bytes)) = (&chain, &key_bytes)
                && let Some((key, alg)) = material::load_key(
                    sink,
                    "client-cert",
                    &key_src,
                    bytes,
                    chain,
                    &cert_src,
                    &provider,
                )
            {
                client = Some(key);
                algorithm = alg;
            }
            if key_bytes.is_some() {
                material::key_permissions(sink, "client-cert", &key_src);
            }
            let subject = chain
                .as_ref()
                .and_then(|c| c.infos.first())
                .map_or(String::new(), |i| format!(" ({})", i.subject));
            sink.check(
                "client-cert",
                if client.is_some() {
                    format!(
                        "`{}`{subject} with `{}` ({algorithm}): key matches",
                        cert_path.display(),
                        key_path.display()
                    )
                } else {
                    format!("`{}` with `{}`", cert_path.display(), key_path.display())
                },
            );
            client_chain = chain;
        }
        _ => {
            client_words = String::new();
            sink.skip(
                "client-cert",
                "no `cert_file`/`key_file`: no client certificate to present",
            );
        }
    }
    report.client_auth.configured = client.is_some();

    // 4. Loopback collector material.
    let mut server = None;
    let mut server_chain: Option<CertFile> = None;
    let mut server_words = String::new();
    let mut server_cert_path = PathBuf::new();
    if let SmokeTarget::Loopback {
        server_cert,
        server_key,
    } = &opts.target
    {
        let ca_dir = dev_certs_dir(transport);
        match (ca_dir, &ca) {
            (None, _) => sink.finding(
                "collector",
                Severity::Error,
                Class::Config,
                "`--loopback` needs `ca_file`: the in-process collector's certificate must be signed by the configured CA".into(),
                Some(transport.place("ca_file")),
                Some("set `ca_file`, or test against a real collector without `--loopback`".into()),
            ),
            (Some(_), None) => {}
            (Some(dir), Some(_)) => {
                let cert_path = server_cert.clone().unwrap_or_else(|| dir.join(certs::SERVER_CERT));
                let key_path = server_key.clone().unwrap_or_else(|| dir.join(certs::SERVER_KEY));
                let cert_src = Source { key: "--server-cert", path: &cert_path, place: None };
                let key_src = Source { key: "--server-key", path: &key_path, place: None };
                let chain = material::read(sink, "collector", &cert_src, &certs_hint(Some(dir)))
                    .and_then(|b| material::parse_certs(sink, "collector", &cert_src, &b));
                let key_bytes = material::read(sink, "collector", &key_src, &certs_hint(Some(dir)));
                if let (Some(chain), Some(bytes)) = (&chain, &key_bytes) {
                    server = material::load_key(
                        sink, "collector", &key_src, bytes, chain, &cert_src, &provider,
                    )
                    .map(|(k, _)| k);
                }
                server_words = format!(
                    "server cert `{}`{}",
                    cert_path.display(),
                    chain
                        .as_ref()
                        .and_then(|c| c.infos.first())
                        .map_or(String::new(), |i| format!(" ({})", i.subject))
                );
                server_chain = chain;
                server_cert_path = cert_path;
            }
        }
    }

    // 5. Validity windows of everything loaded.
    let mut soonest: Option<(i64, String)> = None;
    let mut count = 0;
    for (src, file) in [
        (ca_src.as_ref(), ca.as_ref()),
        (
            tls.cert_file
                .as_deref()
                .map(|p| Source {
                    key: "cert_file",
                    path: p,
                    place: Some(transport.place("cert_file")),
                })
                .as_ref(),
            client_chain.as_ref(),
        ),
    ] {
        if let (Some(src), Some(file)) = (src, file) {
            count += file.infos.len();
            if let Some(s) = material::validity(sink, src, file, now, opts.expiry_warning_days)
                && soonest.as_ref().is_none_or(|(d, _)| s.0 < *d)
            {
                soonest = Some(s);
            }
        }
    }
    if let Some(chain) = &server_chain {
        let src = Source {
            key: "--server-cert",
            path: &server_cert_path,
            place: None,
        };
        count += chain.infos.len();
        material::validity(sink, &src, chain, now, opts.expiry_warning_days);
    }
    if count == 0 {
        sink.skip("validity", "no certificate loaded");
    } else {
        sink.check(
            "validity",
            match soonest {
                Some((days, subject)) => format!(
                    "{count} certificate{} checked, soonest expiry in {days} days ({subject})",
                    if count == 1 { "" } else { "s" }
                ),
                None => format!("{count} certificates checked"),
            },
        );
    }

    if sink.has_setup_error() {
        if matches!(opts.target, SmokeTarget::Loopback { .. }) {
            sink.skip("collector", "not started");
        }
        sink.skip("handshake", "not attempted: fix the errors first");
        return;
    }

    // 6. Live: connect, handshake, round trip.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            sink.finding(
                "handshake",
                Severity::Error,
                Class::Config,
                format!("cannot start the async runtime: {e}"),
                None,
                None,
            );
            sink.check("handshake", "not attempted");
            return;
        }
    };
    let setup = Setup {
        provider: provider.clone(),
        roots,
        client: client.clone(),
        verify_hostname: tls.verify_hostname,
        server_name: endpoint.host.clone(),
        timeout,
        trust_words,
        client_words,
    };
    let outcome = runtime.block_on(async {
        let mut collector_task = None;
        let target = match &opts.target {
            SmokeTarget::Endpoint => Target::Name(endpoint.host.clone(), endpoint.port),
            SmokeTarget::Connect(addr) => Target::Text(addr.clone()),
            SmokeTarget::Loopback { .. } => {
                let started = start_loopback(provider.clone(), server.clone(), ca.as_ref(), timeout).await;
                match started {
                    Ok((addr, task)) => {
                        sink.check(
                            "collector",
                            format!("in-process on {addr}, {server_words}, client certificates required from `ca_file`"),
                        );
                        collector_task = Some(task);
                        Target::Addr(addr)
                    }
                    Err(e) => {
                        sink.finding("collector", Severity::Error, Class::Config, e, None, None);
                        sink.check("collector", "in-process collector not started");
                        return None;
                    }
                }
            }
        };
        let outcome = client::run(setup, target).await;
        let seen_by_collector = match collector_task {
            Some(task) => tokio::time::timeout(Duration::from_millis(200), task)
                .await
                .ok()
                .and_then(Result::ok),
            None => None,
        };
        Some((outcome, seen_by_collector))
    });
    runtime.shutdown_background();
    let Some((outcome, collector_view)) = outcome else {
        sink.skip("handshake", "not attempted");
        return;
    };
    record(outcome, collector_view, endpoint, sink, report);
}

type CollectorTask = tokio::task::JoinHandle<Result<(), String>>;

/// Binds 127.0.0.1:0 and serves exactly one connection in the background.
async fn start_loopback(
    provider: Arc<CryptoProvider>,
    key: Option<Arc<rustls::sign::CertifiedKey>>,
    ca: Option<&CertFile>,
    timeout: Duration,
) -> Result<(std::net::SocketAddr, CollectorTask), String> {
    let key = key.ok_or("no server certificate and key for the loopback collector")?;
    let config = collector::server_config(provider, key, ca.map(|c| c.ders.as_slice()), true)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the loopback address: {e}"))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let shared = Arc::new(collector::Shared {
        tally: Default::default(),
        expected_variant: String::new(),
        max_payloads: None,
        done: Default::default(),
    });
    let task = tokio::spawn(async move {
        let (stream, peer) = listener
            .accept()
            .await
            .map_err(|e| format!("accept failed: {e}"))?;
        collector::handle(acceptor, stream, peer, 1, timeout, shared).await
    });
    Ok((addr, task))
}

/// Turns the client's outcome into checks and findings.
fn record(
    o: client::Outcome,
    collector_view: Option<Result<(), String>>,
    endpoint: &rollout_config::townlet::Endpoint,
    sink: &mut Sink,
    report: &mut Report,
) {
    report.address = o.address.map(|a| a.to_string());
    report.connect_ms = o.connect.map(ms);
    report.handshake_ms = o.handshake.map(ms);
    report.session = o.session.clone();
    report.server_chain = o.chain.clone();
    report.client_auth.requested = o.requested;
    report.client_auth.accepted = o.accepted;
    report.client_auth.evidence = o.evidence.clone();

    let mut failure = o.failure.clone();
    if let (Some(f), Some(Err(why))) = (failure.as_mut(), &collector_view) {
        f.message
            .push_str(&format!(" (the loopback collector says: {why})"));
    }
    for f in failure.iter().chain(o.warning.iter()) {
        let severity = if f.class == Class::ClosedAfterHandshake {
            Severity::Warning
        } else {
            Severity::Error
        };
        sink.finding(
            f.check,
            severity,
            f.class,
            f.message.clone(),
            None,
            f.hint.clone(),
        );
    }
    let failed_at = failure.as_ref().map(|f| f.check);

    // connect
    match (&o.address, o.connect) {
        (Some(addr), Some(d)) => sink.check(
            "connect",
            format!("{endpoint} -> {addr} in {:.1} ms", ms(d)),
        ),
        _ => {
            sink.check("connect", format!("{endpoint}"));
        }
    }
    if failed_at == Some("connect") {
        sink.skip("handshake", "no connection");
        return;
    }
    // handshake
    match (&o.session, o.handshake) {
        (Some(s), Some(d)) => {
            let leaf = o.chain.first().map_or(String::new(), |l| {
                format!(", server {} issued by {}", l.subject, l.issuer)
            });
            let status = if failed_at == Some("handshake") {
                Status::Fail
            } else {
                Status::Pass
            };
            push(
                sink,
                "handshake",
                status,
                format!("{} {} in {:.1} ms{leaf}", s.protocol, s.cipher_suite, ms(d)),
            );
        }
        _ => {
            let status = if failed_at == Some("handshake") || failed_at.is_none() {
                sink.worst("handshake")
            } else {
                Status::Fail
            };
            push(sink, "handshake", status, "did not complete".to_string());
        }
    }
    // client auth
    let client_auth_failed = failed_at == Some("client-auth");
    let summary = match (report.client_auth.configured, o.requested, o.accepted) {
        (_, None, _) => None,
        _ if o.session.is_none() && !client_auth_failed => None,
        (true, Some(true), Some(true)) => Some(format!(
            "client certificate requested and accepted ({})",
            o.evidence.as_deref().unwrap_or("handshake")
        )),
        (true, Some(true), _) => Some("client certificate requested and rejected".into()),
        (false, Some(true), _) => {
            Some("server requested a client certificate; none configured".into())
        }
        (true, Some(false), _) => Some("server did not request the client certificate".into()),
        (false, Some(false), _) => Some("no client certificate configured or requested".into()),
    };
    match summary {
        Some(s) => sink.check("client-auth", s),
        None => sink.skip("client-auth", "no handshake"),
    }
}

fn push(sink: &mut Sink, id: &str, status: Status, summary: String) {
    sink.checks.push(Check {
        id: id.to_string(),
        status,
        summary,
    });
}
