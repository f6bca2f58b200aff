//! The live part of the smoke: resolve, connect, handshake as Townlet's
//! Python client would (system roots plus `ca_file`, client certificate when
//! configured, host name checked when `verify_hostname`), then one round trip
//! so that a TLS 1.3 server's rejection of the client certificate shows up.
//! Every failure is classified into one of the report's classes.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::RootCertStore;
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

use crate::chain::Violation;
use crate::inspect::{self, CertInfo};
use crate::report::{Class, Session};

mod classify;
mod verify;

use classify::{Seen, classify};
use verify::{ClientCert, Verifier};

/// What the client needs to know.
pub(crate) struct Setup {
    pub provider: Arc<CryptoProvider>,
    pub roots: RootCertStore,
    pub client: Option<Arc<CertifiedKey>>,
    pub verify_hostname: bool,
    pub server_name: String,
    pub timeout: Duration,
    /// Words naming where trust comes from, for untrusted-issuer messages.
    pub trust_words: String,
    /// `cert_file` path words, for rejection messages.
    pub client_words: String,
    /// The `ca_file` certificates with words naming their file, judged as
    /// OpenSSL judges trust anchors (see [`crate::chain`]).
    pub anchors: Arc<Vec<(CertificateDer<'static>, String)>>,
    /// Words naming where the server's chain comes from (the loopback
    /// collector's `--server-cert`, or the server).
    pub presented_words: String,
}

/// Where to connect.
pub(crate) enum Target {
    /// Resolve `host:port`.
    Name(String, u16),
    /// `--connect ADDR:PORT` (may also be a name).
    Text(String),
    Addr(SocketAddr),
}

/// A classified failure.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// The check it belongs to: `connect`, `handshake`, `client-auth`.
    pub check: &'static str,
    pub class: Class,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub address: Option<SocketAddr>,
    pub connect: Option<Duration>,
    pub handshake: Option<Duration>,
    pub session: Option<Session>,
    pub chain: Vec<CertInfo>,
    pub requested: Option<bool>,
    pub accepted: Option<bool>,
    pub evidence: Option<String>,
    pub failure: Option<Failure>,
    /// A non-fatal observation (server closed right after the handshake).
    pub warning: Option<Failure>,
    /// More failures of the same handshake: every further rule of OpenSSL's
    /// that the server chain breaks.
    pub more: Vec<Failure>,
    /// The host name was accepted from the subject CN of a certificate
    /// without DNS subjectAltName, as Townlet's Python client accepts it.
    pub common_name_only: bool,
}

/// Runs connect, handshake and round trip.
pub(crate) async fn run(setup: Setup, target: Target) -> Outcome {
    let mut out = Outcome::default();
    if let Err(failure) = run_into(&setup, &target, &mut out).await {
        out.failure = Some(failure);
    }
    out
}

/// Certificates the server presented, and whether it asked for ours, as
/// seen by the verifier and the certificate resolver.
#[derive(Default)]
struct Observed {
    chain: Arc<Mutex<Vec<CertificateDer<'static>>>>,
    requested: Arc<AtomicBool>,
    /// The rules of OpenSSL's the server chain broke.
    violations: Arc<Mutex<Vec<Violation>>>,
    common_name_only: Arc<AtomicBool>,
}

impl Observed {
    fn chain(&self) -> Vec<CertInfo> {
        self.chain
            .lock()
            .map(|ders| {
                ders.iter()
                    .filter_map(|der| inspect::cert_info(der).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// The chain's violations as failures of the handshake, first first.
    fn chain_failures(&self) -> Vec<Failure> {
        self.violations
            .lock()
            .map(|violations| violations.iter().map(chain_failure).collect())
            .unwrap_or_default()
    }
}

/// A rule of OpenSSL's that the server chain breaks, as a failure.
fn chain_failure(violation: &Violation) -> Failure {
    Failure {
        check: "handshake",
        class: Class::InvalidChain,
        message: format!(
            "server chain: {}",
            violation.message("Townlet's Python client fails")
        ),
        hint: Some(violation.rule.hint().to_string()),
    }
}

async fn run_into(setup: &Setup, target: &Target, out: &mut Outcome) -> Result<(), Failure> {
    let observed = Observed::default();
    let config = client_config(setup, &observed)?;
    let name = ServerName::try_from(setup.server_name.clone()).map_err(|error| Failure {
        check: "handshake",
        class: Class::Config,
        message: format!(
            "`{}` is not a valid TLS server name: {error}",
            setup.server_name
        ),
        hint: Some("fix the host part of `endpoint`".into()),
    })?;
    let started = Instant::now();
    let tcp = connect(setup, target, out).await?;
    let _ = tcp.set_nodelay(true);
    out.connect = Some(started.elapsed());
    let address = out
        .address
        .map_or_else(String::new, |address| address.to_string());
    let attempt = Attempt {
        setup,
        observed: &observed,
        address: &address,
    };
    let mut tls = handshake(&attempt, config, name, tcp, out).await?;
    let requested = observed.requested();
    let tls13 = matches!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    if !requested {
        // Nothing for the server to reject after the handshake.
        return Ok(());
    }
    if !tls13 {
        // TLS 1.2: the server's Finished came after it checked our
        // certificate, so a completed handshake is the acceptance.
        out.accepted = Some(setup.client.is_some());
        out.evidence = Some("handshake".into());
        return Ok(());
    }
    let verdict = await_client_auth(setup, &mut tls, &address, out).await;
    let _ = tokio::time::timeout(Duration::from_millis(50), async {
        use tokio::io::AsyncWriteExt;
        tls.shutdown().await
    })
    .await;
    verdict
}

/// Resolves the target and connects, trying each address in turn like
/// Python's `socket.create_connection`.
async fn connect(setup: &Setup, target: &Target, out: &mut Outcome) -> Result<TcpStream, Failure> {
    let addresses = resolve(target, setup.timeout).await?;
    let mut last: Option<Failure> = None;
    for address in addresses {
        out.address = Some(address);
        match tokio::time::timeout(setup.timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(error)) => last = Some(connect_error(address, &error)),
            Err(_) => {
                last = Some(Failure {
                    check: "connect",
                    class: Class::ConnectTimeout,
                    message: format!(
                        "no TCP connection to {address} within the connect timeout of {}",
                        secs(setup.timeout)
                    ),
                    hint: Some("check that the collector runs and that no firewall drops the traffic; `connect_timeout_seconds` sets the timeout".into()),
                })
            }
        }
    }
    // `resolve` never returns an empty list; keep a failure regardless.
    Err(last.unwrap_or_else(|| Failure {
        check: "connect",
        class: Class::Config,
        message: "no address to connect to".into(),
        hint: None,
    }))
}

/// One connection's handshake: what the client knows, what its verifier
/// and certificate resolver observe, and the address connected to.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    setup: &'a Setup,
    observed: &'a Observed,
    address: &'a str,
}

/// The TLS handshake within the connect timeout; records the session, the
/// chain and whether a client certificate was requested.
async fn handshake(
    attempt: &Attempt<'_>,
    config: ClientConfig,
    name: ServerName<'static>,
    tcp: TcpStream,
    out: &mut Outcome,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
    let Attempt {
        setup,
        observed,
        address,
    } = *attempt;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let started = Instant::now();
    let result = tokio::time::timeout(setup.timeout, connector.connect(name, tcp)).await;
    out.chain = observed.chain();
    out.requested = Some(observed.requested());
    let tls = match result {
        Err(_) => {
            return Err(Failure {
                check: "handshake",
                class: Class::ConnectTimeout,
                message: format!(
                    "{address} accepted the TCP connection but did not complete the TLS handshake within the connect timeout of {}",
                    secs(setup.timeout)
                ),
                hint: Some("the peer may not speak TLS (a plaintext collector waits for data and never answers a handshake), or it is overloaded".into()),
            });
        }
        Ok(Err(error)) => {
            let mut chain_failures = observed.chain_failures().into_iter();
            if let Some(first) = chain_failures.next() {
                out.more = chain_failures.collect();
                return Err(first);
            }
            let requested = observed.requested();
            let seen = Seen {
                setup,
                chain: &out.chain,
                requested,
                addr: address,
                after_handshake: false,
            };
            return Err(classify(&error, &seen));
        }
        Ok(Ok(stream)) => stream,
    };
    out.common_name_only = observed.common_name_only.load(Ordering::SeqCst);
    out.handshake = Some(started.elapsed());
    let (_, connection) = tls.get_ref();
    out.session = Some(Session {
        protocol: connection
            .protocol_version()
            .map_or("unknown".into(), protocol_name),
        cipher_suite: connection
            .negotiated_cipher_suite()
            .map_or("unknown".into(), |suite| format!("{:?}", suite.suite())),
        key_exchange: connection
            .negotiated_key_exchange_group()
            .map(|group| format!("{:?}", group.name())),
    });
    out.requested = Some(observed.requested());
    Ok(tls)
}

/// TLS 1.3: the server checks our certificate after we think the handshake
/// is done. Waits for its answer: a session ticket or data mean accepted, an
/// alert means rejected. A server that sends neither gets at least 500 ms
/// (slow handshakes more), at most the connect timeout.
async fn await_client_auth(
    setup: &Setup,
    tls: &mut tokio_rustls::client::TlsStream<TcpStream>,
    address: &str,
    out: &mut Outcome,
) -> Result<(), Failure> {
    let handshake = out.handshake.unwrap_or_default();
    let deadline = (handshake * 4)
        .max(Duration::from_millis(500))
        .min(setup.timeout);
    let waited = tokio::time::timeout(deadline, poll_fn(|cx| round_trip(cx, tls))).await;
    match waited {
        Ok(Ok("closed")) => {
            out.accepted = Some(false);
            out.warning = Some(Failure {
                check: "client-auth",
                class: Class::ClosedAfterHandshake,
                message: format!(
                    "{address} closed the connection right after the handshake (it may have rejected the client certificate without an alert)"
                ),
                hint: None,
            });
        }
        Ok(Ok(evidence)) => {
            out.accepted = Some(setup.client.is_some());
            out.evidence = Some(evidence.to_string());
        }
        Ok(Err(error)) => {
            out.accepted = Some(false);
            let seen = Seen {
                setup,
                chain: &out.chain,
                requested: true,
                addr: address,
                after_handshake: true,
            };
            return Err(classify(&error, &seen));
        }
        Err(_) => {
            out.accepted = Some(setup.client.is_some());
            out.evidence = Some("no-rejection-within-deadline".into());
        }
    }
    Ok(())
}

/// Polls the connection for the server's first answer after the handshake.
fn round_trip(
    cx: &mut Context<'_>,
    tls: &mut tokio_rustls::client::TlsStream<TcpStream>,
) -> Poll<io::Result<&'static str>> {
    let mut buf = [0u8; 512];
    let mut rb = ReadBuf::new(&mut buf);
    match Pin::new(&mut *tls).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(Ok("closed")),
        Poll::Ready(Ok(())) => Poll::Ready(Ok("data")),
        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Poll::Ready(Ok("closed"))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending if tls.get_ref().1.tls13_tickets_received() > 0 => {
            Poll::Ready(Ok("session-ticket"))
        }
        Poll::Pending => Poll::Pending,
    }
}

fn client_config(setup: &Setup, observed: &Observed) -> Result<ClientConfig, Failure> {
    let config_failure = |message: String| Failure {
        check: "handshake",
        class: Class::Config,
        message,
        hint: None,
    };
    let inner = WebPkiServerVerifier::builder_with_provider(
        Arc::new(setup.roots.clone()),
        setup.provider.clone(),
    )
    .build()
    .map_err(|e| Failure {
        hint: Some("set `ca_file` to the CA that signed the collector's certificate".into()),
        ..config_failure(format!(
            "no trust anchors: no system roots were found and no `ca_file` is set ({e})"
        ))
    })?;
    let verifier = Verifier {
        inner,
        verify_hostname: setup.verify_hostname,
        seen: observed.chain.clone(),
        anchors: setup.anchors.clone(),
        presented_words: setup.presented_words.clone(),
        violations: observed.violations.clone(),
        common_name_only: observed.common_name_only.clone(),
    };
    let config = ClientConfig::builder_with_provider(setup.provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| config_failure(format!("cannot set up TLS 1.2/1.3: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(Arc::new(ClientCert {
            key: setup.client.clone(),
            requested: observed.requested.clone(),
        }));
    Ok(config)
}

async fn resolve(target: &Target, timeout: Duration) -> Result<Vec<SocketAddr>, Failure> {
    let (what, result) = match target {
        Target::Addr(a) => return Ok(vec![*a]),
        Target::Name(host, port) => (
            host.clone(),
            tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), *port)))
                .await
                .map(|r| r.map(|a| a.collect::<Vec<_>>())),
        ),
        Target::Text(t) => (
            t.clone(),
            tokio::time::timeout(timeout, tokio::net::lookup_host(t.as_str()))
                .await
                .map(|r| r.map(|a| a.collect::<Vec<_>>())),
        ),
    };
    let hint = Some(
        "check the name and DNS; `--connect ADDR:PORT` connects elsewhere while keeping the configured name for SNI and verification, `--loopback` needs no collector".to_string(),
    );
    match result {
        Err(_) => Err(Failure {
            check: "connect",
            class: Class::Dns,
            message: format!(
                "resolving `{what}` did not finish within the connect timeout of {}",
                secs(timeout)
            ),
            hint,
        }),
        Ok(Err(e)) => Err(Failure {
            check: "connect",
            class: Class::Dns,
            message: format!("cannot resolve `{what}`: {e}"),
            hint,
        }),
        Ok(Ok(addrs)) => {
            if addrs.is_empty() {
                Err(Failure {
                    check: "connect",
                    class: Class::Dns,
                    message: format!("`{what}` resolves to no address"),
                    hint,
                })
            } else {
                Ok(addrs)
            }
        }
    }
}

fn connect_error(addr: SocketAddr, e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Failure {
            check: "connect",
            class: Class::ConnectionRefused,
            message: format!("connection refused by {addr}: nothing listens on that port"),
            hint: Some("start the collector (`cargo xtask tls-smoke serve` is one), or fix the port of `endpoint`".into()),
        },
        io::ErrorKind::TimedOut => Failure {
            check: "connect",
            class: Class::ConnectTimeout,
            message: format!("TCP connection to {addr} timed out"),
            hint: None,
        },
        _ => Failure {
            check: "connect",
            class: Class::Connect,
            message: format!("cannot connect to {addr}: {e}"),
            hint: None,
        },
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

fn protocol_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        other => format!("{other:?}"),
    }
}
