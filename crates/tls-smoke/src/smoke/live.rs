//! The live check of the smoke: connect, hand-shake and round-trip
//! against the endpoint, a `--connect` address or an in-process loopback
//! collector, and the checks and findings made of what happened.

use std::sync::Arc;
use std::time::Duration;

use rollout_config::townlet::Endpoint;
use rustls::crypto::CryptoProvider;

use super::load::Collector;
use super::{SmokeTarget, ms};
use crate::client::{self, Setup, Target};
use crate::collector;
use crate::material::CertFile;
use crate::report::{Check, Class, Report, Severity, Status};
use crate::sink::Sink;

/// Where the live check goes and what it needs to start the loopback
/// collector.
pub(super) struct Live<'a> {
    pub target: &'a SmokeTarget,
    pub endpoint: &'a Endpoint,
    /// The loopback collector's material (empty for other targets).
    pub collector: Collector,
    /// `ca_file`, whose CA the loopback collector requires client
    /// certificates from.
    pub ca: Option<&'a CertFile>,
}

/// Check 6, live: connect, hand-shake and round-trip, with the loopback
/// collector started first when asked for. `None` when nothing was tried
/// (the checks say why).
pub(super) fn handshake(
    setup: Setup,
    live: Live<'_>,
    sink: &mut Sink,
) -> Option<(client::Outcome, Option<Result<(), String>>)> {
    let Live {
        target,
        endpoint,
        collector,
        ca,
    } = live;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            sink.finding(
                "handshake",
                Severity::Error,
                Class::Config,
                format!("cannot start the async runtime: {error}"),
            );
            sink.check("handshake", "not attempted");
            return None;
        }
    };
    let outcome = runtime.block_on(async {
        let mut collector_task = None;
        let target = match target {
            SmokeTarget::Endpoint => Target::Name(endpoint.host.clone(), endpoint.port),
            SmokeTarget::Connect(address) => Target::Text(address.clone()),
            SmokeTarget::Loopback { .. } => {
                let started =
                    start_loopback(setup.provider.clone(), collector.key, ca, setup.timeout).await;
                match started {
                    Ok((address, task)) => {
                        sink.check(
                            "collector",
                            format!(
                                "in-process on {address}, {}, client certificates required from `ca_file`",
                                collector.words
                            ),
                        );
                        collector_task = Some(task);
                        Target::Addr(address)
                    }
                    Err(error) => {
                        sink.finding("collector", Severity::Error, Class::Config, error);
                        sink.check("collector", "in-process collector not started");
                        sink.skip("handshake", "not attempted");
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
    outcome
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
        handshake_timeout: timeout,
    });
    let task = tokio::spawn(async move {
        let (stream, peer) = listener
            .accept()
            .await
            .map_err(|e| format!("accept failed: {e}"))?;
        collector::handle(acceptor, stream, peer, 1, shared).await
    });
    Ok((addr, task))
}

/// Turns the client's outcome into checks and findings.
pub(super) fn record(
    o: client::Outcome,
    collector_view: Option<Result<(), String>>,
    endpoint: &Endpoint,
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
    for f in failure.iter().chain(o.more.iter()).chain(o.warning.iter()) {
        let severity = if f.class == Class::ClosedAfterHandshake {
            Severity::Warning
        } else {
            Severity::Error
        };
        sink.finding(f.check, severity, f.class, f.message.clone())
            .hint(f.hint.clone());
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
    record_handshake(&o, failed_at, sink);
    record_hostname(&o, report, sink);
    record_client_auth(&o, report.client_auth.configured, failed_at, sink);
}

/// The `handshake` check: the session negotiated, or that it did not
/// complete.
fn record_handshake(o: &client::Outcome, failed_at: Option<&str>, sink: &mut Sink) {
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
}

/// The `client-auth` check: whether the server asked for the client
/// certificate and accepted it.
fn record_client_auth(
    o: &client::Outcome,
    configured: bool,
    failed_at: Option<&str>,
    sink: &mut Sink,
) {
    let client_auth_failed = failed_at == Some("client-auth");
    let summary = match (configured, o.requested, o.accepted) {
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

/// The `hostname` check, once the handshake completed with the name
/// checked: `warn` when the name came from the subject CN only.
fn record_hostname(o: &client::Outcome, report: &Report, sink: &mut Sink) {
    if o.session.is_none() || !report.verify_hostname {
        return;
    }
    let host = &report.server_name;
    if !o.common_name_only {
        sink.check(
            "hostname",
            format!("`{host}` matches the server certificate's subjectAltName"),
        );
        return;
    }
    let subject = o.chain.first().map_or("?", |leaf| leaf.subject.as_str());
    sink.finding("hostname", Severity::Warning, Class::CommonNameOnly, format!(
            "server certificate {subject} has no DNS subjectAltName: Townlet's Python client accepts the name from the CN; most other clients (rustls, Go, browsers) reject a certificate without subjectAltName"
        )).hint(Some(format!(
            "reissue the server certificate with `subjectAltName=DNS:{host}`"
        )));
    sink.check(
        "hostname",
        format!("`{host}` matches only the subject CN (no subjectAltName)"),
    );
}

fn push(sink: &mut Sink, id: &str, status: Status, summary: String) {
    sink.checks.push(Check {
        id: id.to_string(),
        status,
        summary,
    });
}
