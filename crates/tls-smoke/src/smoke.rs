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

use rustls::pki_types::CertificateDer;

use crate::certs;
use crate::chain::{self, Link};
use crate::client::{self, Setup, Target};
use crate::collector;
use crate::material::{self, CertFile, Source};
use crate::report::{Check, Class, ClientAuth, Mode, Report, SCHEMA, Severity, Status, Verdict};
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
    let provider = provider();
    let hints = CertsHint {
        host: &endpoint.host,
    };
    let trust = load_trust(transport, tls, &hints, sink);
    let client = load_client(transport, tls, (&provider, &hints), (&trust, now), sink);
    report.client_auth.configured = client.key.is_some();
    let collector = match &opts.target {
        SmokeTarget::Loopback {
            server_cert,
            server_key,
        } => load_collector(
            transport,
            (server_cert.as_deref(), server_key.as_deref()),
            trust.file.as_ref(),
            &provider,
            &hints,
            sink,
        ),
        _ => Collector::default(),
    };
    check_validity(
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
        provider,
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
    let Some((outcome, collector_view)) = handshake(
        setup,
        &opts.target,
        endpoint,
        collector,
        trust.file.as_ref(),
        sink,
    ) else {
        return;
    };
    record(outcome, collector_view, endpoint, sink, report);
}

/// The fix to suggest for missing or unreadable certificate material.
struct CertsHint<'a> {
    host: &'a str,
}

impl CertsHint<'_> {
    fn for_dir(&self, dir: Option<&Path>) -> String {
        format!(
            "generate dev certificates with `cargo xtask tls-smoke certs --out {} --host {}`, or fix the path",
            dir.map_or_else(|| "DIR".to_string(), |dir| dir.display().to_string()),
            self.host
        )
    }
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
            Some(transport.place("type")),
            Some(
                "pass `--sim-config` with a tcp config, such as `configs/demo/poc_demo_tls.yaml`"
                    .into(),
            ),
        );
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
            Some(transport.place("allow_plaintext")),
            Some("enable TLS (`enable_tls: true` with `ca_file`) before promotion".into()),
        );
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

/// What the client trusts: the system roots plus `ca_file`.
struct Trust<'t> {
    source: Option<Source<'t>>,
    file: Option<CertFile>,
    roots: rustls::RootCertStore,
    /// Words naming where trust comes from, for untrusted-issuer messages.
    words: String,
}

impl Trust<'_> {
    /// The `ca_file` certificates with words naming the file.
    fn anchors(&self) -> Vec<(CertificateDer<'static>, String)> {
        let (Some(source), Some(file)) = (&self.source, &self.file) else {
            return Vec::new();
        };
        let origin = format!("`ca_file` `{}`", source.path.display());
        file.ders
            .iter()
            .map(|der| (der.clone(), origin.clone()))
            .collect()
    }
}

/// Check 2, trust: reads `ca_file` and adds it to the system roots.
fn load_trust<'t>(
    transport: &'t Transport,
    tls: &'t TlsSettings,
    hints: &CertsHint<'_>,
    sink: &mut Sink,
) -> Trust<'t> {
    let source = tls.ca_file.as_deref().map(|path| Source {
        key: "ca_file",
        path,
        place: Some(transport.place("ca_file")),
    });
    let file = source.as_ref().and_then(|source| {
        let bytes = material::read(sink, "trust", source, &hints.for_dir(source.path.parent()))?;
        material::parse_certs(sink, "trust", source, &bytes)
    });
    let (roots, system) = material::roots(file.as_ref());
    let words = match (&source, &file) {
        (Some(source), Some(ca)) => format!(
            "`ca_file` `{}` ({}) or the {system} system roots",
            source.path.display(),
            ca.infos
                .iter()
                .map(|info| info.subject.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        _ => format!("the {system} system roots"),
    };
    sink.check(
        "trust",
        match (&source, &file) {
            (Some(source), Some(ca)) => format!(
                "{system} system roots + `ca_file` `{}` ({} certificate{})",
                source.path.display(),
                ca.ders.len(),
                if ca.ders.len() == 1 { "" } else { "s" }
            ),
            (Some(source), None) => format!("`ca_file` `{}`", source.path.display()),
            (None, _) => format!("{system} system roots (no `ca_file`)"),
        },
    );
    Trust {
        source,
        file,
        roots,
        words,
    }
}

/// The client certificate and key the transport presents, if any.
#[derive(Default)]
struct Client<'t> {
    source: Option<Source<'t>>,
    chain: Option<CertFile>,
    key: Option<Arc<rustls::sign::CertifiedKey>>,
    /// `cert_file` path words, for rejection messages.
    words: String,
}

/// Check 3, client-cert: reads `cert_file` and `key_file` and checks that
/// they belong together.
fn load_client<'t>(
    transport: &'t Transport,
    tls: &'t TlsSettings,
    (provider, hints): (&Arc<CryptoProvider>, &CertsHint<'_>),
    (trust, now): (&Trust<'_>, i64),
    sink: &mut Sink,
) -> Client<'t> {
    let (Some(cert_path), Some(key_path)) = (tls.cert_file.as_deref(), tls.key_file.as_deref())
    else {
        sink.skip(
            "client-cert",
            "no `cert_file`/`key_file`: no client certificate to present",
        );
        return Client::default();
    };
    let cert_source = Source {
        key: "cert_file",
        path: cert_path,
        place: Some(transport.place("cert_file")),
    };
    let key_source = Source {
        key: "key_file",
        path: key_path,
        place: Some(transport.place("key_file")),
    };
    let pair = load_pair(
        "client-cert",
        &cert_source,
        &key_source,
        provider,
        &hints.for_dir(cert_path.parent()),
        &hints.for_dir(key_path.parent()),
        sink,
    );
    if pair.key_read {
        material::key_permissions(sink, "client-cert", &key_source);
    }
    let Pair {
        chain,
        key,
        algorithm,
        ..
    } = pair;
    if let Some(chain) = &chain {
        judge_client_chain(chain, &cert_source, trust, now, sink);
    }
    let subject = first_subject(chain.as_ref());
    sink.check(
        "client-cert",
        if key.is_some() {
            format!(
                "`{}`{subject} with `{}` ({algorithm}): key matches",
                cert_path.display(),
                key_path.display()
            )
        } else {
            format!("`{}` with `{}`", cert_path.display(), key_path.display())
        },
    );
    Client {
        source: Some(cert_source),
        chain,
        key,
        words: format!("`{}`", cert_path.display()),
    }
}

/// The client chain under OpenSSL's rules, against `ca_file`: what a
/// collector that verifies client certificates with OpenSSL and trusts the
/// same CA (as `--loopback` does) would refuse. Validity windows are the
/// validity check's.
fn judge_client_chain(
    chain: &CertFile,
    cert_source: &Source<'_>,
    trust: &Trust<'_>,
    now: i64,
    sink: &mut Sink,
) {
    let Some((leaf_der, rest)) = chain.ders.split_first() else {
        return;
    };
    let origin = format!("`cert_file` `{}`", cert_source.path.display());
    let leaf = Link {
        der: leaf_der,
        origin: &origin,
    };
    let presented: Vec<Link<'_>> = rest
        .iter()
        .map(|der| Link {
            der,
            origin: &origin,
        })
        .collect();
    let anchor_list = trust.anchors();
    let anchors: Vec<Link<'_>> = anchor_list
        .iter()
        .map(|(der, origin)| Link { der, origin })
        .collect();
    for violation in chain::judge(&leaf, &presented, &anchors, now) {
        if violation.rule.is_time() {
            continue;
        }
        sink.finding(
            "client-cert",
            Severity::Error,
            Class::InvalidChain,
            format!(
                "client chain: {}",
                violation.message(
                    "an OpenSSL-based collector (Python `ssl`, nginx) that trusts `ca_file` refuses it"
                )
            ),
            cert_source.place.clone(),
            Some(violation.rule.hint().to_string()),
        );
    }
}

/// A certificate chain and its key, as far as they could be loaded.
struct Pair {
    chain: Option<CertFile>,
    /// Only when the chain and the key parse and match.
    key: Option<Arc<rustls::sign::CertifiedKey>>,
    /// The key's algorithm, empty without a key.
    algorithm: String,
    /// Whether the key file could be read at all.
    key_read: bool,
}

/// Reads a certificate chain and its key.
fn load_pair(
    check: &str,
    cert_source: &Source<'_>,
    key_source: &Source<'_>,
    provider: &Arc<CryptoProvider>,
    cert_hint: &str,
    key_hint: &str,
    sink: &mut Sink,
) -> Pair {
    let chain = material::read(sink, check, cert_source, cert_hint)
        .and_then(|bytes| material::parse_certs(sink, check, cert_source, &bytes));
    let key_bytes = material::read(sink, check, key_source, key_hint);
    let loaded = match (&chain, &key_bytes) {
        (Some(chain_file), Some(bytes)) => material::load_key(
            sink,
            check,
            key_source,
            bytes,
            chain_file,
            cert_source,
            provider,
        ),
        _ => None,
    };
    let (key, algorithm) = match loaded {
        Some((key, algorithm)) => (Some(key), algorithm),
        None => (None, String::new()),
    };
    Pair {
        chain,
        key,
        algorithm,
        key_read: key_bytes.is_some(),
    }
}

fn first_subject(chain: Option<&CertFile>) -> String {
    chain
        .and_then(|chain| chain.infos.first())
        .map_or(String::new(), |info| format!(" ({})", info.subject))
}

/// The loopback collector's server certificate and key.
#[derive(Default)]
struct Collector {
    key: Option<Arc<rustls::sign::CertifiedKey>>,
    chain: Option<CertFile>,
    cert_path: PathBuf,
    words: String,
}

/// Check 4, collector: the `--loopback` collector's material, by default
/// the dev certificates next to `ca_file`.
fn load_collector(
    transport: &Transport,
    (server_cert, server_key): (Option<&Path>, Option<&Path>),
    ca: Option<&CertFile>,
    provider: &Arc<CryptoProvider>,
    hints: &CertsHint<'_>,
    sink: &mut Sink,
) -> Collector {
    let Some(dir) = dev_certs_dir(transport) else {
        sink.finding(
            "collector",
            Severity::Error,
            Class::Config,
            "`--loopback` needs `ca_file`: the in-process collector's certificate must be signed by the configured CA".into(),
            Some(transport.place("ca_file")),
            Some("set `ca_file`, or test against a real collector without `--loopback`".into()),
        );
        return Collector::default();
    };
    if ca.is_none() {
        return Collector::default();
    }
    let cert_path = server_cert.map_or_else(|| dir.join(certs::SERVER_CERT), Path::to_path_buf);
    let key_path = server_key.map_or_else(|| dir.join(certs::SERVER_KEY), Path::to_path_buf);
    let cert_source = Source {
        key: "--server-cert",
        path: &cert_path,
        place: None,
    };
    let key_source = Source {
        key: "--server-key",
        path: &key_path,
        place: None,
    };
    let hint = hints.for_dir(Some(dir));
    let Pair { chain, key, .. } = load_pair(
        "collector",
        &cert_source,
        &key_source,
        provider,
        &hint,
        &hint,
        sink,
    );
    let words = format!(
        "server cert `{}`{}",
        cert_path.display(),
        first_subject(chain.as_ref())
    );
    Collector {
        key,
        chain,
        cert_path,
        words,
    }
}

/// Check 5, validity: the windows of every certificate loaded, with the
/// soonest expiry of the configured ones.
fn check_validity(
    configured: [(Option<&Source<'_>>, Option<&CertFile>); 2],
    collector: &Collector,
    now: i64,
    expiry_warning_days: u32,
    sink: &mut Sink,
) {
    let mut soonest: Option<(i64, String)> = None;
    let mut count = 0;
    for (source, file) in configured {
        if let (Some(source), Some(file)) = (source, file) {
            count += file.infos.len();
            if let Some(expiry) = material::validity(sink, source, file, now, expiry_warning_days)
                && soonest.as_ref().is_none_or(|(days, _)| expiry.0 < *days)
            {
                soonest = Some(expiry);
            }
        }
    }
    if let Some(chain) = &collector.chain {
        let source = Source {
            key: "--server-cert",
            path: &collector.cert_path,
            place: None,
        };
        count += chain.infos.len();
        material::validity(sink, &source, chain, now, expiry_warning_days);
    }
    if count == 0 {
        sink.skip("validity", "no certificate loaded");
        return;
    }
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

/// Check 6, live: connect, hand-shake and round-trip, with the loopback
/// collector started first when asked for. `None` when nothing was tried
/// (the checks say why).
fn handshake(
    setup: Setup,
    target: &SmokeTarget,
    endpoint: &Endpoint,
    collector: Collector,
    ca: Option<&CertFile>,
    sink: &mut Sink,
) -> Option<(client::Outcome, Option<Result<(), String>>)> {
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
                None,
                None,
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
                        sink.finding("collector", Severity::Error, Class::Config, error, None, None);
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
    for f in failure.iter().chain(o.more.iter()).chain(o.warning.iter()) {
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
    record_hostname(&o, report, sink);
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
    sink.finding(
        "hostname",
        Severity::Warning,
        Class::CommonNameOnly,
        format!(
            "server certificate {subject} has no DNS subjectAltName: Townlet's Python client accepts the name from the CN; most other clients (rustls, Go, browsers) reject a certificate without subjectAltName"
        ),
        None,
        Some(format!(
            "reissue the server certificate with `subjectAltName=DNS:{host}`"
        )),
    );
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
