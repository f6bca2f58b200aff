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

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, ResolvesClientCert};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CertificateError, DigitallySignedStruct, Error as TlsError, RootCertStore,
    SignatureScheme,
};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

use crate::chain::{self, Link, Violation};
use crate::inspect::{self, CertInfo};
use crate::report::{Class, Session};

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
    let mut tls = handshake(setup, config, name, tcp, &observed, &address, out).await?;
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

/// The TLS handshake within the connect timeout; records the session, the
/// chain and whether a client certificate was requested.
async fn handshake(
    setup: &Setup,
    config: ClientConfig,
    name: ServerName<'static>,
    tcp: TcpStream,
    observed: &Observed,
    address: &str,
    out: &mut Outcome,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
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
            return Err(classify(
                &error, setup, &out.chain, requested, address, None,
            ));
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
            return Err(classify(
                &error,
                setup,
                &out.chain,
                true,
                address,
                Some(true),
            ));
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

/// `BadCertificate` -> `bad_certificate`, the name in RFC 8446.
pub(crate) fn alert_name(a: AlertDescription) -> String {
    let debug = format!("{a:?}");
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Turns a handshake or post-handshake error into a failure class and an
/// actionable message.
fn classify(
    error: &io::Error,
    setup: &Setup,
    chain: &[CertInfo],
    requested: bool,
    addr: &str,
    after_handshake: Option<bool>,
) -> Failure {
    let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
    else {
        return classify_io(error, setup, chain, requested, addr, after_handshake);
    };
    match tls {
        TlsError::InvalidCertificate(certificate_error) => {
            classify_certificate(certificate_error, setup, chain.first())
        }
        TlsError::AlertReceived(alert) if requested => client_auth_failure(
            setup,
            format!(
                "{addr} answered the client certificate with the alert `{}`",
                alert_name(*alert)
            ),
        ),
        TlsError::AlertReceived(alert) => classify_alert(*alert, setup, addr),
        TlsError::PeerIncompatible(p) => fail(
            Class::NoCommonProtocol,
            format!("no common protocol version or cipher suite with {addr}: {p:?}"),
            Some(
                "enable TLS 1.2 or 1.3 with an ECDHE AES-GCM or ChaCha20-Poly1305 suite on the collector",
            ),
        ),
        TlsError::InvalidMessage(m) if after_handshake.is_none() && chain.is_empty() => fail(
            Class::NotTls,
            format!(
                "{addr} does not speak TLS: its answer to the ClientHello is not a TLS record ({m:?})"
            ),
            Some(
                "check the port: is a plaintext or HTTP service listening there instead of the TLS collector?",
            ),
        ),
        other => fail(
            Class::Tls,
            format!("TLS connection to {addr} failed: {other}"),
            None,
        ),
    }
}

/// A failure of the check its class belongs to.
fn fail(class: Class, message: String, hint: Option<&str>) -> Failure {
    Failure {
        check: if matches!(class, Class::ClientCertRejected | Class::ClientCertRequired) {
            "client-auth"
        } else {
            "handshake"
        },
        class,
        message,
        hint: hint.map(str::to_string),
    }
}

/// An error below TLS: the peer closed or reset the connection.
fn classify_io(
    error: &io::Error,
    setup: &Setup,
    chain: &[CertInfo],
    requested: bool,
    addr: &str,
    after_handshake: Option<bool>,
) -> Failure {
    match error.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
            if after_handshake.is_none() && chain.is_empty() =>
        {
            fail(
                Class::NotTls,
                format!(
                    "{addr} closed the connection without answering the TLS handshake: it does not speak TLS, or it refused this client"
                ),
                Some(
                    "check that the collector has TLS enabled on this port (a plaintext collector drops a ClientHello)",
                ),
            )
        }
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset if requested => {
            client_auth_failure(
                setup,
                format!(
                    "{addr} closed the connection during the handshake after requesting a client certificate"
                ),
            )
        }
        _ => fail(
            Class::Tls,
            format!("TLS connection to {addr} failed: {error}"),
            None,
        ),
    }
}

/// The server's certificate was refused by our verifier.
fn classify_certificate(
    certificate_error: &CertificateError,
    setup: &Setup,
    leaf: Option<&CertInfo>,
) -> Failure {
    let subject = leaf.map_or("?", |leaf| leaf.subject.as_str());
    match certificate_error {
        CertificateError::UnknownIssuer
        | CertificateError::BadSignature
        | CertificateError::UnknownRevocationStatus => fail(
            Class::UntrustedIssuer,
            format!(
                "server certificate {subject} is issued by {}, which is not trusted by {}",
                leaf.map_or("an unknown issuer", |leaf| leaf.issuer.as_str()),
                setup.trust_words
            ),
            Some("point `ca_file` at the CA that signed the collector's certificate"),
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let presented = match (leaf, certificate_error) {
                (Some(leaf), _) => leaf.sans.join(", "),
                (None, CertificateError::NotValidForNameContext { presented, .. }) => {
                    presented.join(", ")
                }
                (None, _) => String::new(),
            };
            fail(
                Class::NameMismatch,
                format!(
                    "server certificate does not match the name: expected `{}`, certificate presents [{}]",
                    setup.server_name,
                    if presented.is_empty() {
                        "no subject alternative names".to_string()
                    } else {
                        presented
                    }
                ),
                Some(
                    "fix the host of `endpoint`, or reissue the server certificate with this name as a subject alternative name",
                ),
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => fail(
            Class::ServerCertExpired,
            format!(
                "server certificate {subject} expired on {}",
                leaf.map_or("?", |leaf| leaf.not_after.as_str())
            ),
            Some("renew the collector's certificate (or check this machine's clock)"),
        ),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => fail(
            Class::ServerCertNotYetValid,
            format!(
                "server certificate {subject} is not valid before {}",
                leaf.map_or("?", |leaf| leaf.not_before.as_str())
            ),
            Some("check the clocks of this machine and of the machine that issued it"),
        ),
        other => fail(
            Class::Tls,
            format!("server certificate rejected: {other:?}"),
            None,
        ),
    }
}

/// An alert from a server that did not ask for a client certificate.
fn classify_alert(alert: AlertDescription, setup: &Setup, addr: &str) -> Failure {
    match alert {
        AlertDescription::ProtocolVersion => fail(
            Class::NoCommonProtocol,
            format!(
                "no common protocol version: {addr} offers neither TLS 1.2 nor TLS 1.3 (alert `protocol_version`)"
            ),
            Some("enable TLS 1.2 or 1.3 on the collector; Townlet's client refuses older versions"),
        ),
        AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity => fail(
            Class::NoCommonProtocol,
            format!(
                "no common cipher suite or protocol version with {addr} (alert `{}`)",
                alert_name(alert)
            ),
            Some("enable an ECDHE suite with AES-GCM or ChaCha20-Poly1305 on the collector"),
        ),
        AlertDescription::CertificateRequired => client_auth_failure(
            setup,
            format!("{addr} requires a client certificate (alert `certificate_required`)"),
        ),
        other => fail(
            Class::Tls,
            format!(
                "{addr} aborted the handshake with the alert `{}`",
                alert_name(other)
            ),
            None,
        ),
    }
}

fn client_auth_failure(setup: &Setup, what: String) -> Failure {
    if setup.client.is_some() {
        Failure {
            check: "client-auth",
            class: Class::ClientCertRejected,
            message: format!("{what}: it rejected the client certificate {}", setup.client_words),
            hint: Some("the collector must trust the CA that issued `cert_file`; check its client CA and the certificate's validity and extended key usage (clientAuth)".into()),
        }
    } else {
        Failure {
            check: "client-auth",
            class: Class::ClientCertRequired,
            message: format!("{what}: it requires a client certificate, and none is configured"),
            hint: Some("set `cert_file` and `key_file` in `telemetry.transport`".into()),
        }
    }
}

/// Verifies as Townlet's Python client (OpenSSL) would: first the chain
/// against OpenSSL's rules that WebPKI does not apply (see
/// [`crate::chain`]), then rustls' WebPKI verifier. Remembers the presented
/// chain for the report. Two name errors are let through deliberately, and
/// only these: any name error when `verify_hostname` is off, and, with it
/// on, a certificate without DNS subjectAltName whose subject CN is the host
/// (OpenSSL's `X509_check_host` falls back to the CN then, and Python 3.11
/// keeps `hostname_checks_common_name` on). WebPKI checks the chain before
/// the name, so a name error means the chain was good: accepting it is
/// verifying without the name.
#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    verify_hostname: bool,
    seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
    anchors: Arc<Vec<(CertificateDer<'static>, String)>>,
    presented_words: String,
    violations: Arc<Mutex<Vec<Violation>>>,
    common_name_only: Arc<AtomicBool>,
}

impl Verifier {
    /// OpenSSL's rules over the chain. Validity windows of the leaf and the
    /// intermediates are left to WebPKI, which reports them with their own
    /// classes; those of the `ca_file` anchor WebPKI never looks at.
    fn judge(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Vec<Violation> {
        let leaf = Link {
            der: end_entity,
            origin: &self.presented_words,
        };
        let presented: Vec<Link<'_>> = intermediates
            .iter()
            .map(|der| Link {
                der,
                origin: &self.presented_words,
            })
            .collect();
        let anchors: Vec<Link<'_>> = self
            .anchors
            .iter()
            .map(|(der, origin)| Link { der, origin })
            .collect();
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        chain::judge(&leaf, &presented, &anchors, now)
            .into_iter()
            .filter(|violation| violation.is_anchor || !violation.rule.is_time())
            .collect()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.clear();
            seen.push(end_entity.clone().into_owned());
            seen.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        }
        let violations = self.judge(end_entity, intermediates, now);
        if let Some(first) = violations.first() {
            let refused = ChainRefused(first.message("Townlet's Python client fails"));
            if let Ok(mut shared) = self.violations.lock() {
                *shared = violations;
            }
            return Err(TlsError::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(refused)),
            )));
        }
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.verify_hostname => Ok(ServerCertVerified::assertion()),
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if inspect::common_name_only_match(end_entity, server_name) => {
                self.common_name_only.store(true, Ordering::SeqCst);
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The error the verifier returns for a chain OpenSSL would refuse.
#[derive(Debug)]
struct ChainRefused(String);

impl std::fmt::Display for ChainRefused {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for ChainRefused {}

/// Presents the configured client certificate and remembers whether the
/// server asked for one.
#[derive(Debug)]
struct ClientCert {
    key: Option<Arc<CertifiedKey>>,
    requested: Arc<AtomicBool>,
}

impl ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.requested.store(true, Ordering::SeqCst);
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        // Always true so that a certificate request is seen (and answered
        // with an empty certificate) even when none is configured.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_follow_the_rfc() {
        assert_eq!(
            alert_name(AlertDescription::BadCertificate),
            "bad_certificate"
        );
        assert_eq!(
            alert_name(AlertDescription::ProtocolVersion),
            "protocol_version"
        );
    }
}
