//! Classifies a failed connection: every TLS, certificate, alert and
//! socket error becomes a [`Failure`] of one class with an actionable
//! message.

use std::io;

use rustls::{AlertDescription, CertificateError, Error as TlsError};

use super::{Failure, Setup};
use crate::inspect::CertInfo;
use crate::report::Class;

/// `BadCertificate` -> `bad_certificate`, the name in RFC 8446.
fn alert_name(a: AlertDescription) -> String {
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

/// What the client saw when an error ended the connection.
#[derive(Clone, Copy)]
pub(super) struct Seen<'a> {
    pub setup: &'a Setup,
    /// The chain the server presented, if it got that far.
    pub chain: &'a [CertInfo],
    /// Whether the server asked for a client certificate.
    pub requested: bool,
    /// The address connected to, for messages.
    pub addr: &'a str,
    /// The error came after the handshake completed (TLS 1.3 client auth).
    pub after_handshake: bool,
}

/// Turns a handshake or post-handshake error into a failure class and an
/// actionable message.
pub(super) fn classify(error: &io::Error, seen: &Seen<'_>) -> Failure {
    let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
    else {
        return classify_io(error, seen);
    };
    let Seen {
        setup,
        chain,
        requested,
        addr,
        after_handshake,
    } = *seen;
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
        TlsError::InvalidMessage(m) if !after_handshake && chain.is_empty() => fail(
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
fn classify_io(error: &io::Error, seen: &Seen<'_>) -> Failure {
    let Seen {
        setup,
        chain,
        requested,
        addr,
        after_handshake,
    } = *seen;
    match error.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
            if !after_handshake && chain.is_empty() =>
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
