//! The smoke's report: checks (one line each), findings with severity and
//! class, and the negotiated session. Serialised as the `--format json`
//! output; fields are stable (added, never renamed). See `docs/tls-smoke.md`.

use std::io::Write;

use rollout_core::{Style, printable};
use serde::{Deserialize, Serialize};

use crate::inspect::CertInfo;

/// Version of the report's shape.
pub const SCHEMA: u32 = 1;

/// How a check ended, the overall verdict (`pass`, `fail`, `error` for
/// could not run) and how serious a finding is (`warning`, `error`): the
/// workspace's shared vocabulary. The smoke's findings are warnings or
/// errors, never `critical`.
pub use rollout_core::{Severity, Status, Verdict};

/// What kind of problem a finding is. The first group means the smoke could
/// not run (exit 2); the rest are problems it found (exit 1 for errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    // could not run (exit 2)
    /// The transport is not one tls-smoke can check, or a flag is unusable.
    Config,
    /// A configured file is missing or unreadable.
    File,
    /// A PEM file holds no usable certificate or key.
    Pem,
    /// The private key is encrypted.
    EncryptedKey,
    /// The private key is not the certificate's.
    KeyMismatch,
    // found problems (exit 1 when an error)
    /// Plaintext TCP enabled (warning).
    Plaintext,
    /// A certificate is past its `notAfter`.
    CertExpired,
    /// A certificate is before its `notBefore`.
    CertNotYetValid,
    /// A certificate expires within `expiry_warning_days` (warning).
    CertExpiring,
    /// A private key is readable by group or others (warning).
    KeyPermissions,
    Dns,
    ConnectionRefused,
    ConnectTimeout,
    Connect,
    NotTls,
    UntrustedIssuer,
    NameMismatch,
    ServerCertExpired,
    ServerCertNotYetValid,
    ClientCertRequired,
    ClientCertRejected,
    NoCommonProtocol,
    /// A certificate chain breaks a rule of OpenSSL's (CA flag, key usage,
    /// path length, validity of the `ca_file` anchor) that Townlet's Python
    /// client enforces.
    InvalidChain,
    /// The host name matches only the subject CN of a certificate without
    /// DNS subjectAltName: Townlet's Python client accepts it, most other
    /// clients do not (warning).
    CommonNameOnly,
    /// The server closed the connection right after the handshake (warning).
    ClosedAfterHandshake,
    /// Another TLS failure.
    Tls,
}

impl Class {
    /// True when the smoke could not run (exit 2).
    pub fn is_setup(self) -> bool {
        matches!(
            self,
            Class::Config | Class::File | Class::Pem | Class::EncryptedKey | Class::KeyMismatch
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// The `id` of the check it belongs to.
    pub check: String,
    pub severity: Severity,
    pub class: Class,
    pub message: String,
    /// `FILE:LINE:COL` of the config key concerned, when there is one.
    pub place: Option<String>,
    pub hint: Option<String>,
}

impl Finding {
    /// Sets the `FILE:LINE:COL` of the config key concerned.
    pub(crate) fn at(&mut self, place: Option<String>) -> &mut Self {
        self.place = place;
        self
    }

    /// Sets the fix to suggest.
    pub(crate) fn hint(&mut self, hint: Option<String>) -> &mut Self {
        self.hint = hint;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Check {
    /// `transport`, `trust`, `client-cert`, `validity`, `collector`,
    /// `connect`, `handshake`, `client-auth`.
    pub id: String,
    pub status: Status,
    /// What was checked, in a few words.
    pub summary: String,
}

/// Where the smoke connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The configured endpoint.
    Endpoint,
    /// `--connect ADDR:PORT`, with the configured host for SNI.
    Connect,
    /// An in-process collector on 127.0.0.1.
    Loopback,
}

/// The client certificate's fate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClientAuth {
    /// `cert_file`/`key_file` are set and loaded.
    pub configured: bool,
    /// The server sent a certificate request (absent: not known, no handshake).
    pub requested: Option<bool>,
    /// The server accepted it (absent: not known).
    pub accepted: Option<bool>,
    /// How acceptance was established: `handshake` (TLS 1.2), `session-ticket`,
    /// `data`, `no-rejection-within-deadline`.
    pub evidence: Option<String>,
}

/// The negotiated session, when the handshake completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Session {
    /// `TLSv1.2` or `TLSv1.3`.
    pub protocol: String,
    /// IANA-style suite name as rustls prints it (`TLS13_AES_256_GCM_SHA384`).
    pub cipher_suite: String,
    /// Key exchange group (`X25519`), when known.
    pub key_exchange: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    pub schema: u32,
    /// The Townlet simulation config read.
    pub sim_config: String,
    /// The configured endpoint, `host:port`.
    pub endpoint: String,
    /// The name used for SNI and verification.
    pub server_name: String,
    pub mode: Mode,
    pub verify_hostname: bool,
    /// The socket address connected to.
    pub address: Option<String>,
    pub session: Option<Session>,
    /// The server's certificates, leaf first, as presented.
    pub server_chain: Vec<CertInfo>,
    pub client_auth: ClientAuth,
    /// TCP connect time in milliseconds.
    pub connect_ms: Option<f64>,
    /// TLS handshake time in milliseconds.
    pub handshake_ms: Option<f64>,
    /// Whole smoke, including loading files, in milliseconds.
    pub total_ms: f64,
    pub checks: Vec<Check>,
    pub findings: Vec<Finding>,
    /// The class of the first error, when the verdict is not pass.
    pub failure: Option<Class>,
    pub verdict: Verdict,
    pub exit_code: u8,
}

impl Report {
    /// Whether the server presented a certificate issued by the dev CA that
    /// `tls-smoke certs` generates: the handshake then tested the tooling's
    /// own material, not the deployment's certificates.
    pub fn used_dev_ca(&self) -> bool {
        let dev = format!("CN={}", crate::certs::CA_NAME);
        self.server_chain
            .iter()
            .any(|c| c.issuer == dev || c.subject == dev)
    }

    /// Sets `failure`, `verdict` and `exit_code` from the findings.
    pub(crate) fn conclude(&mut self) {
        let first_error = self.findings.iter().find(|f| f.severity == Severity::Error);
        self.failure = first_error.map(|f| f.class);
        self.verdict = match first_error {
            None => Verdict::Pass,
            Some(_)
                if self
                    .findings
                    .iter()
                    .any(|f| f.severity == Severity::Error && f.class.is_setup()) =>
            {
                Verdict::Error
            }
            Some(_) => Verdict::Fail,
        };
        self.exit_code = self.verdict.exit_code();
    }

    /// The errors that stopped the smoke, as one message (for `Err`).
    pub fn setup_errors(&self) -> String {
        let errors: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error && f.class.is_setup())
            .collect();
        let mut lines: Vec<String> = Vec::new();
        for (i, f) in errors.iter().enumerate() {
            let mut line = printable(&f.message).into_owned();
            if let Some(place) = &f.place {
                line.push_str(&format!(" (set at `{}`)", printable(place)));
            }
            lines.push(line);
            // One hint for a run of findings sharing it.
            let next_hint = errors.get(i + 1).and_then(|n| n.hint.as_ref());
            if let Some(hint) = &f.hint
                && next_hint != Some(hint)
            {
                lines.push(format!("hint: {}", printable(hint)));
            }
        }
        lines.join("\n")
    }
}

/// A finding for a terminal: its message, place and hint carry data
/// (subjects, file names, peer errors), so each is escaped on its own and
/// only the `hint:` line break is ours.
fn finding_text(f: &Finding) -> String {
    let mut s = printable(&f.message).into_owned();
    if let Some(place) = &f.place {
        s.push_str(&format!(" (set at `{}`)", printable(place)));
    }
    if let Some(hint) = &f.hint {
        s.push_str(&format!("\nhint: {}", printable(hint)));
    }
    s
}

/// Human output: one line per check, the findings of checks that warned or
/// failed indented below them, the server chain when the handshake failed
/// after seeing it, and one verdict line.
impl rollout_core::Report for Report {
    fn human(&self, style: &Style, out: &mut dyn Write) -> anyhow::Result<()> {
        Ok(render(self, style, out)?)
    }
}

pub fn render(r: &Report, style: &Style, out: &mut dyn Write) -> std::io::Result<()> {
    let width = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &r.checks {
        let word = c.status.word(style);
        writeln!(out, "{word} {:width$}  {}", c.id, printable(&c.summary))?;
        for line in check_lines(r, c) {
            match line {
                Line::Finding(text) => {
                    for (i, line) in text.lines().enumerate() {
                        let lead = if i == 0 { "-" } else { " " };
                        writeln!(out, "     {lead} {line}")?;
                    }
                }
                Line::ServerCert(text) => writeln!(out, "       {text}")?,
            }
        }
    }
    let endpoint = printable(&r.endpoint);
    let target = match r.mode {
        Mode::Endpoint => endpoint.into_owned(),
        Mode::Connect => format!(
            "{endpoint} via {}",
            printable(r.address.as_deref().unwrap_or("?"))
        ),
        Mode::Loopback => format!("{endpoint} (loopback collector)"),
    };
    let line = match (r.verdict, &r.session) {
        (Verdict::Pass, Some(s)) => format!(
            "tls-smoke passed: {target} negotiated {} {}",
            s.protocol, s.cipher_suite
        ),
        (Verdict::Pass, None) => format!("tls-smoke passed: {target} (no handshake)"),
        (Verdict::Fail, _) => format!(
            "tls-smoke FAILED: {target}: {}",
            r.failure.map(class_words).unwrap_or("problem found")
        ),
        (Verdict::Error, _) => format!("tls-smoke could not run: {target} (errors below)"),
    };
    writeln!(out, "{}", style.bold(&line))
}

/// A line the human report prints under a check.
pub(crate) enum Line {
    /// A finding: its message, place and hint (lines escaped).
    Finding(String),
    /// One certificate of the chain a failed handshake saw (escaped).
    ServerCert(String),
}

/// What the report prints under check `c`: for a check that warned or
/// failed, its findings, and the server chain when the handshake failed
/// after seeing it.
pub(crate) fn check_lines(r: &Report, c: &Check) -> Vec<Line> {
    let mut lines = Vec::new();
    if !matches!(c.status, Status::Warn | Status::Fail) {
        return lines;
    }
    // When the smoke could not run, its setup errors go to stderr (the
    // command's error); do not print them twice.
    let shown =
        |f: &&Finding| f.check == c.id && !(r.verdict == Verdict::Error && f.class.is_setup());
    lines.extend(
        r.findings
            .iter()
            .filter(shown)
            .map(|f| Line::Finding(finding_text(f))),
    );
    if c.id == "handshake" && c.status == Status::Fail {
        for (i, cert) in r.server_chain.iter().enumerate() {
            lines.push(Line::ServerCert(format!(
                "server cert {i}: {} (issuer {}) {} not after {}",
                printable(&cert.subject),
                printable(&cert.issuer),
                if cert.sans.is_empty() {
                    "no SANs".to_string()
                } else {
                    printable(&cert.sans.join(", ")).into_owned()
                },
                cert.not_after
            )));
        }
    }
    lines
}

/// A few words naming a failure class in the verdict line.
pub fn class_words(c: Class) -> &'static str {
    match c {
        Class::Config => "unusable configuration",
        Class::File => "missing or unreadable file",
        Class::Pem => "unparsable PEM",
        Class::EncryptedKey => "encrypted key",
        Class::KeyMismatch => "key does not match certificate",
        Class::Plaintext => "plaintext transport",
        Class::CertExpired => "certificate expired",
        Class::CertNotYetValid => "certificate not yet valid",
        Class::CertExpiring => "certificate expiring soon",
        Class::KeyPermissions => "private key readable by others",
        Class::Dns => "host name does not resolve",
        Class::ConnectionRefused => "connection refused",
        Class::ConnectTimeout => "connect timeout",
        Class::Connect => "cannot connect",
        Class::NotTls => "peer does not speak TLS",
        Class::UntrustedIssuer => "untrusted issuer",
        Class::NameMismatch => "name mismatch",
        Class::ServerCertExpired => "server certificate expired",
        Class::ServerCertNotYetValid => "server certificate not yet valid",
        Class::ClientCertRequired => "client certificate required but not configured",
        Class::ClientCertRejected => "client certificate rejected",
        Class::NoCommonProtocol => "no common protocol version or cipher suite",
        Class::InvalidChain => "certificate chain refused by OpenSSL's rules",
        Class::CommonNameOnly => "host name only in the subject CN",
        Class::ClosedAfterHandshake => "server closed the connection after the handshake",
        Class::Tls => "TLS failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut r = Report {
            schema: SCHEMA,
            sim_config: "configs/demo/poc_demo_tls.yaml".into(),
            endpoint: "demo.local:8765".into(),
            server_name: "demo.local".into(),
            mode: Mode::Connect,
            verify_hostname: true,
            address: Some("127.0.0.1:9".into()),
            session: None,
            server_chain: vec![],
            client_auth: ClientAuth::default(),
            connect_ms: Some(0.1),
            handshake_ms: None,
            total_ms: 3.0,
            checks: vec![
                Check {
                    id: "transport".into(),
                    status: Status::Pass,
                    summary: "tcp demo.local:8765".into(),
                },
                Check {
                    id: "handshake".into(),
                    status: Status::Fail,
                    summary: "did not complete".into(),
                },
            ],
            findings: vec![Finding {
                check: "handshake".into(),
                severity: Severity::Error,
                class: Class::NameMismatch,
                message: "expected `demo.local`".into(),
                place: None,
                hint: Some("fix it".into()),
            }],
            failure: None,
            verdict: Verdict::Pass,
            exit_code: 0,
        };
        r.conclude();
        r
    }

    #[test]
    fn human_output_is_one_line_per_check_with_failure_details() {
        let mut out = Vec::new();
        render(&report(), &Style::new(false), &mut out).expect("render");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "pass transport  tcp demo.local:8765\n\
             FAIL handshake  did not complete\n     \
             - expected `demo.local`\n       \
             hint: fix it\n\
             tls-smoke FAILED: demo.local:8765 via 127.0.0.1:9: name mismatch\n"
        );
    }

    #[test]
    fn verdict_and_exit_code_follow_the_findings() {
        let mut r = report();
        assert_eq!(
            (r.verdict, r.exit_code, r.failure),
            (Verdict::Fail, 1, Some(Class::NameMismatch))
        );
        r.findings[0].class = Class::EncryptedKey;
        r.conclude();
        assert_eq!((r.verdict, r.exit_code), (Verdict::Error, 2));
        r.findings[0].severity = Severity::Warning;
        r.conclude();
        assert_eq!(
            (r.verdict, r.exit_code, r.failure),
            (Verdict::Pass, 0, None)
        );
        let json = serde_json::to_string(&r).expect("json");
        let back: Report = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, r);
    }
}
