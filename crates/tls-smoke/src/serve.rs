//! `tls-smoke serve`: a minimal TLS collector for Townlet's real
//! `TcpTransport`, to test the whole path with a real shard before promotion.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rollout_core::{Check, Outcome, Status, Style, printable};
use serde::{Deserialize, Serialize};

use crate::collector::{self, Shared, Tally};
use crate::material::{self, PairSource, Source};
use crate::report::Verdict;
use crate::sink::Sink;

/// What `tls-smoke serve` serves, every value resolved (paths absolute).
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// `ADDR:PORT` to listen on.
    pub listen: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require client certificates issued by this CA.
    pub client_ca: Option<PathBuf>,
    /// Stop after this many payloads.
    pub max_payloads: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// The `runtime_variant` every payload must report.
    pub expected_variant: String,
    /// Limit for one TLS handshake.
    pub handshake_timeout: Duration,
}

/// What `serve` saw, printed when it stops. Fields are stable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServeSummary {
    pub schema: u32,
    /// The address listened on.
    pub listen: String,
    /// `max-payloads`, `duration` or `interrupt`.
    pub stopped_by: String,
    pub duration_ms: f64,
    pub expected_runtime_variant: String,
    #[serde(flatten)]
    pub tally: Tally,
    /// `pass`: payloads arrived, all valid JSON with the expected variant,
    /// and no handshake failed; else `fail`.
    pub verdict: Verdict,
    pub exit_code: u8,
}

/// Loads the material, listens, calls `ready` with the bound address, and
/// serves until a stop condition. Errors are setup problems (exit 2).
pub fn serve(opts: &ServeSettings, ready: impl FnOnce(SocketAddr)) -> Result<ServeSummary> {
    let acceptor = acceptor(opts)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(opts.listen.as_str())
            .await
            .with_context(|| format!("cannot listen on `{}`", opts.listen))?;
        let local = listener.local_addr()?;
        ready(local);
        let shared = Arc::new(Shared {
            tally: Default::default(),
            expected_variant: opts.expected_variant.clone(),
            max_payloads: opts.max_payloads,
            done: Default::default(),
            handshake_timeout: opts.handshake_timeout,
        });
        let started = Instant::now();
        let stopped_by = accept_until_stopped(&listener, &acceptor, opts, &shared).await;
        let tally = shared
            .tally
            .lock()
            .map(|tally| tally.clone())
            .unwrap_or_default();
        let ok = tally.payloads > 0
            && tally.invalid_lines == 0
            && tally.other_runtime_variants.is_empty()
            && tally.handshake_failures.is_empty();
        let verdict = if ok { Verdict::Pass } else { Verdict::Fail };
        Ok(ServeSummary {
            schema: 1,
            listen: local.to_string(),
            stopped_by: stopped_by.to_string(),
            duration_ms: (started.elapsed().as_secs_f64() * 1000.0).round(),
            expected_runtime_variant: opts.expected_variant.clone(),
            tally,
            verdict,
            exit_code: verdict.exit_code(),
        })
    })
}

/// The TLS acceptor from `--cert`, `--key` and `--client-ca`; the first
/// problem with the material is the error.
fn acceptor(opts: &ServeSettings) -> Result<tokio_rustls::TlsAcceptor> {
    let provider = crate::smoke::provider();
    let mut sink = Sink::default();
    let hint = "generate dev certificates with `cargo xtask tls-smoke certs`";
    let pair = PairSource {
        check: "serve",
        cert: Source {
            key: "--cert",
            path: &opts.cert,
            place: None,
        },
        key: Source {
            key: "--key",
            path: &opts.key,
            place: None,
        },
        cert_hint: hint.to_string(),
        key_hint: hint.to_string(),
    };
    let key = material::load_pair(&mut sink, &pair, &provider).key;
    let client_ca = opts.client_ca.as_ref().and_then(|path| {
        let source = Source {
            key: "--client-ca",
            path,
            place: None,
        };
        material::read(&mut sink, "serve", &source, hint)
            .and_then(|bytes| material::parse_certs(&mut sink, "serve", &source, &bytes))
    });
    if let Some(first) = sink.findings.first() {
        let mut message = first.message.clone();
        if let Some(hint) = &first.hint {
            message.push_str(&format!("\nhint: {hint}"));
        }
        bail!(message);
    }
    let Some(key) = key else {
        bail!("no usable certificate and key for the collector");
    };
    let config = collector::server_config(
        provider,
        key,
        client_ca.as_ref().map(|ca| ca.ders.as_slice()),
        false,
    )
    .map_err(anyhow::Error::msg)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections, each handled in its own task, until the payload
/// budget, the duration or an interrupt stops the collector; returns which.
async fn accept_until_stopped(
    listener: &tokio::net::TcpListener,
    acceptor: &tokio_rustls::TlsAcceptor,
    opts: &ServeSettings,
    shared: &Arc<Shared>,
) -> &'static str {
    let sleep = async {
        match opts.duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut connection = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                connection += 1;
                if let Ok(mut tally) = shared.tally.lock() {
                    tally.connections += 1;
                }
                let _ = stream.set_nodelay(true);
                tokio::spawn(collector::handle(
                    acceptor.clone(), stream, peer, connection, shared.clone(),
                ));
            }
            _ = shared.done.notified() => break "max-payloads",
            _ = &mut sleep => break "duration",
            _ = &mut interrupt => break "interrupt",
        }
    }
}

impl ServeSummary {
    /// What `serve` saw as the check contract: the checks its human
    /// summary prints (connections, payloads, json, runtime_variant), the
    /// lines under them as details, and its verdict line as the summary.
    pub fn outcome(&self) -> Outcome {
        let t = &self.tally;
        let status = |ok: bool| if ok { Status::Pass } else { Status::Fail };
        let others: u64 = t.other_runtime_variants.values().sum();
        let checks = vec![
            Check::new(
                "connections",
                status(t.handshake_failures.is_empty()),
                format!(
                    "{} accepted, {} TLS sessions, {} handshake failures",
                    t.connections,
                    t.sessions,
                    t.handshake_failures.len()
                ),
            )
            .with_details(t.handshake_failures.clone()),
            Check::new(
                "payloads",
                status(t.payloads > 0),
                format!("{} ({} bytes)", t.payloads, t.bytes),
            )
            .with_details(if t.payloads == 0 {
                vec!["no payload arrived".to_string()]
            } else {
                Vec::new()
            }),
            Check::new(
                "json",
                status(t.invalid_lines == 0),
                format!("{} invalid lines", t.invalid_lines),
            )
            .with_details(t.invalid_examples.clone()),
            Check::new(
                "runtime_variant",
                status(others == 0),
                format!("expected `{}`", self.expected_runtime_variant),
            )
            .with_details(
                t.other_runtime_variants
                    .iter()
                    .map(|(v, n)| format!("{n} payloads report runtime_variant `{v}`"))
                    .collect(),
            ),
        ];
        Outcome::new(self.verdict, verdict_line(self)).with_checks(checks)
    }
}

/// `serve passed on ADDR: stopped by WHAT after N s` (unescaped).
fn verdict_line(s: &ServeSummary) -> String {
    format!(
        "serve {} on {}: stopped by {} after {:.1}s",
        if s.verdict == Verdict::Pass {
            "passed"
        } else {
            "FAILED"
        },
        s.listen,
        s.stopped_by,
        s.duration_ms / 1000.0
    )
}

/// Human summary: one line per check, details for failures, a verdict line.
impl rollout_core::Report for ServeSummary {
    fn human(&self, style: &Style, out: &mut dyn Write) -> anyhow::Result<()> {
        Ok(render(self, style, out)?)
    }
}

pub fn render(s: &ServeSummary, style: &Style, out: &mut dyn Write) -> std::io::Result<()> {
    let t = &s.tally;
    let word = |ok: bool| if ok { style.pass() } else { style.fail() };
    writeln!(
        out,
        "{} connections      {} accepted, {} TLS sessions, {} handshake failures",
        word(t.handshake_failures.is_empty()),
        t.connections,
        t.sessions,
        t.handshake_failures.len()
    )?;
    for f in &t.handshake_failures {
        writeln!(out, "     - {}", printable(f))?;
    }
    let types = t
        .by_payload_type
        .iter()
        .map(|(k, v)| format!("{} {v}", printable(k)))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(
        out,
        "{} payloads         {}{} ({} bytes)",
        word(t.payloads > 0),
        t.payloads,
        if types.is_empty() {
            String::new()
        } else {
            format!(": {types}")
        },
        t.bytes
    )?;
    if t.payloads == 0 {
        writeln!(out, "     - no payload arrived")?;
    }
    writeln!(
        out,
        "{} json             {} invalid lines",
        word(t.invalid_lines == 0),
        t.invalid_lines
    )?;
    for e in &t.invalid_examples {
        writeln!(out, "     - {}", printable(e))?;
    }
    writeln!(
        out,
        "{} runtime_variant  expected `{}`{}",
        word(t.other_runtime_variants.is_empty()),
        printable(&s.expected_runtime_variant),
        if t.other_runtime_variants.is_empty() {
            String::new()
        } else {
            format!(
                ", found others in {} payloads",
                t.other_runtime_variants.values().sum::<u64>()
            )
        }
    )?;
    for (v, n) in &t.other_runtime_variants {
        writeln!(
            out,
            "     - {n} payloads report runtime_variant `{}`",
            printable(v)
        )?;
    }
    let line = format!(
        "serve {} on {}: stopped by {} after {:.1}s",
        if s.verdict == Verdict::Pass {
            "passed"
        } else {
            "FAILED"
        },
        printable(&s.listen),
        s.stopped_by,
        s.duration_ms / 1000.0
    );
    writeln!(out, "{}", style.bold(&line))
}
