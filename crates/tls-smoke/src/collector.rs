//! A minimal TLS collector for Townlet's `TcpTransport`: accepts TLS
//! connections, reads newline-delimited JSON, and tallies what arrives. Used
//! in-process by `--loopback` and as the `serve` command.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// A server configuration with TLS 1.2 and 1.3, the given certificate, and
/// client certificates required from `client_ca` when given.
///
/// `tickets`: send TLS 1.3 session tickets. The loopback smoke wants them
/// (a ticket after the client's Finished proves the client certificate was
/// accepted). `serve` does not: Townlet's Python client never reads, so
/// unread tickets in its socket turn its `close()` into a TCP reset, and
/// Linux drops the payloads still queued on our side when a reset arrives.
pub(crate) fn server_config(
    provider: Arc<CryptoProvider>,
    key: Arc<CertifiedKey>,
    client_ca: Option<&[CertificateDer<'static>]>,
    tickets: bool,
) -> Result<ServerConfig, String> {
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("cannot set up TLS 1.2/1.3: {e}"))?;
    let builder = match client_ca {
        Some(cas) => {
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(cas.iter().cloned());
            if added == 0 {
                return Err("the client CA file holds no usable CA certificate".into());
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("cannot use the client CA: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
    if !tickets {
        config.send_tls13_tickets = 0;
    }
    Ok(config)
}

/// What arrived, across connections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tally {
    /// TCP connections accepted.
    pub connections: u64,
    /// TLS handshakes that completed.
    pub sessions: u64,
    /// `PEER: reason` of each failed handshake.
    pub handshake_failures: Vec<String>,
    /// Valid JSON payload lines.
    pub payloads: u64,
    /// Payloads per `payload_type` (`full-state` when absent, as in the
    /// schema 0.9.0 streams of older builds).
    pub by_payload_type: BTreeMap<String, u64>,
    /// Lines that are not telemetry payloads (as the `telemetry` crate reads
    /// them: a JSON object with a `tick`).
    pub invalid_lines: u64,
    /// The first few invalid lines, each naming connection, line and byte
    /// offset.
    pub invalid_examples: Vec<String>,
    /// Payloads per `runtime_variant` other than the expected one.
    pub other_runtime_variants: BTreeMap<String, u64>,
    /// Payload bytes received (newlines included).
    pub bytes: u64,
}

const MAX_EXAMPLES: usize = 5;

/// Where a line starts: connection `conn`, 1-based line number `line`,
/// `offset` bytes into the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineAt {
    pub conn: u64,
    pub line: u64,
    pub offset: u64,
}

impl Tally {
    /// Records one line read at `at`. Blank lines are keep-alives, not
    /// payloads.
    pub fn line(&mut self, at: LineAt, bytes: &[u8], expected_variant: &str) {
        let LineAt { conn, line, offset } = at;
        self.bytes += bytes.len() as u64;
        let terminated = bytes.ends_with(b"\n");
        let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let source = format!("connection {conn}");
        let payload = match telemetry::parse_line(&source, line, offset, text, terminated) {
            Ok(p) => p,
            Err(e) => {
                self.invalid_lines += 1;
                if self.invalid_examples.len() < MAX_EXAMPLES {
                    self.invalid_examples.push(e.to_string());
                }
                return;
            }
        };
        self.payloads += 1;
        *self
            .by_payload_type
            .entry(payload.payload_type.as_str().to_string())
            .or_default() += 1;
        if let Some((_, v)) = payload.set.iter().find(|(k, _)| k == "runtime_variant") {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            if v != expected_variant {
                *self.other_runtime_variants.entry(v).or_default() += 1;
            }
        }
    }

    /// Records a line of connection `conn` that had no newline within
    /// `read` bytes, past the limit: an invalid line, after which the
    /// connection is closed.
    pub fn oversized(&mut self, conn: u64, line: u64, offset: u64, read: u64) {
        self.bytes += read;
        self.invalid_lines += 1;
        if self.invalid_examples.len() < MAX_EXAMPLES {
            self.invalid_examples.push(format!(
                "`connection {conn}`:{line}: payload at byte offset {offset} is longer than {} MiB without a newline; the connection was closed",
                input::MAX_TELEMETRY_LINE >> 20
            ));
        }
    }
}

/// Shared state of a running collector.
pub(crate) struct Shared {
    pub tally: Mutex<Tally>,
    pub expected_variant: String,
    /// Stop after this many payloads.
    pub max_payloads: Option<u64>,
    /// Woken when `max_payloads` is reached.
    pub done: Notify,
    /// Limit for one TLS handshake.
    pub handshake_timeout: Duration,
}

/// Serves one connection: handshake, then lines until the peer closes.
/// Returns the handshake error, if any.
pub(crate) async fn handle(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    conn: u64,
    shared: Arc<Shared>,
) -> Result<(), String> {
    let handshake_timeout = shared.handshake_timeout;
    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let why = format!("{peer}: {e}");
            if let Ok(mut t) = shared.tally.lock() {
                t.handshake_failures.push(why.clone());
            }
            return Err(e.to_string());
        }
        Err(_) => {
            let why = format!(
                "{peer}: no TLS handshake within {}s",
                handshake_timeout.as_secs_f64()
            );
            if let Ok(mut t) = shared.tally.lock() {
                t.handshake_failures.push(why.clone());
            }
            return Err(why);
        }
    };
    if let Ok(mut t) = shared.tally.lock() {
        t.sessions += 1;
    }
    let mut reader = tokio::io::BufReader::new(tls);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut offset = 0u64;
    // A peer is not trusted to end its lines: past the longest payload the
    // tooling reads anywhere, the line is refused and the connection closed.
    let limit = input::MAX_TELEMETRY_LINE as u64;
    loop {
        buf.clear();
        match (&mut reader)
            .take(limit + 1)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) => break,
            Ok(n) => {
                line_no += 1;
                let at = offset;
                offset += n as u64;
                if n as u64 > limit && !buf.ends_with(b"\n") {
                    if let Ok(mut t) = shared.tally.lock() {
                        t.oversized(conn, line_no, at, n as u64);
                    }
                    break;
                }
                let reached = match shared.tally.lock() {
                    Ok(mut t) => {
                        let at = LineAt {
                            conn,
                            line: line_no,
                            offset: at,
                        };
                        t.line(at, &buf, &shared.expected_variant);
                        shared.max_payloads.is_some_and(|m| t.payloads >= m)
                    }
                    Err(_) => false,
                };
                if reached {
                    shared.done.notify_one();
                }
            }
            // A peer that vanishes without close_notify (as Python's
            // `socket.close()` does) ends its stream; that is not an error.
            Err(_) => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_types_and_flags_variants() {
        let mut t = Tally::default();
        let lines: [&[u8]; 8] = [
            br#"{"payload_type":"snapshot","runtime_variant":"facade","tick":1}"#,
            b"{\"payload_type\":\"diff\",\"tick\":2,\"changes\":{\"x\":2}}\n",
            b"{\"payload_type\":\"diff\",\"tick\":3,\"changes\":{\"runtime_variant\":\"legacy\"}}\n",
            b"{\"tick\":4,\"runtime_variant\":\"legacy\"}\r\n",
            b"\n",
            b"{not json\n",
            b"[1,2]\n",
            b"{\"payload_type\":\"diff\",\"changes\":{}}\n",
        ];
        let mut offset = 0;
        for (i, l) in lines.iter().enumerate() {
            let at = LineAt {
                conn: 1,
                line: i as u64 + 1,
                offset,
            };
            t.line(at, l, "facade");
            offset += l.len() as u64;
        }
        assert_eq!(t.payloads, 4);
        assert_eq!(t.by_payload_type.get("diff"), Some(&2));
        assert_eq!(t.by_payload_type.get("snapshot"), Some(&1));
        assert_eq!(t.by_payload_type.get("full-state"), Some(&1));
        assert_eq!(t.other_runtime_variants.get("legacy"), Some(&2));
        assert_eq!(t.invalid_lines, 3);
        assert_eq!(
            t.invalid_examples,
            [
                "`connection 1`:6:2: invalid JSON at byte offset 227: key must be a string",
                "`connection 1`:7: expected a JSON object (one payload per line) at byte offset 236, found an array",
                "`connection 1`:8: payload at byte offset 242: `tick` must be a non-negative integer, found no `tick` key",
            ]
        );
    }
}
