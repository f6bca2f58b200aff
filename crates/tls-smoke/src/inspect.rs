//! What a certificate says, for reports and messages: names, validity and
//! fingerprint. Pure functions over DER bytes.

use std::net::IpAddr;

use rustls::pki_types::ServerName;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// One certificate of a chain or trust file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CertInfo {
    /// Distinguished name, RFC 4514 style (`CN=demo.local`).
    pub subject: String,
    pub issuer: String,
    /// Subject alternative names as `DNS:name` or `IP:addr`.
    pub sans: Vec<String>,
    /// RFC 3339 UTC.
    pub not_before: String,
    /// RFC 3339 UTC.
    pub not_after: String,
    /// SHA-256 of the DER encoding, upper-case hex pairs joined by `:`.
    pub sha256: String,
    pub is_ca: bool,
    /// Unix seconds of `not_before` and `not_after`.
    #[serde(skip)]
    pub validity: (i64, i64),
}

/// Bytes that are not a DER X.509 certificate; says what the parser
/// found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotACertificate(String);

impl std::fmt::Display for NotACertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotACertificate {}

/// Parses a DER certificate.
pub(crate) fn cert_info(der: &[u8]) -> Result<CertInfo, NotACertificate> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| NotACertificate(e.to_string()))?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                GeneralName::IPAddress(b) => sans.push(format!("IP:{}", ip_text(b))),
                GeneralName::RFC822Name(m) => sans.push(format!("email:{m}")),
                GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                _ => {}
            }
        }
    }
    let nb = cert.validity().not_before.timestamp();
    let na = cert.validity().not_after.timestamp();
    Ok(CertInfo {
        subject: name_text(&cert.subject().to_string()),
        issuer: name_text(&cert.issuer().to_string()),
        sans,
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
        sha256: fingerprint(der),
        is_ca: cert.is_ca(),
        validity: (nb, na),
    })
}

fn name_text(s: &str) -> String {
    if s.is_empty() {
        "(empty subject)".into()
    } else {
        s.to_string()
    }
}

fn ip_text(b: &[u8]) -> String {
    match b.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(b).unwrap_or_default()).to_string(),
        16 => IpAddr::from(<[u8; 16]>::try_from(b).unwrap_or_default()).to_string(),
        _ => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

/// Whether the certificate matches `server_name` only through its subject
/// CN, as OpenSSL's `X509_check_host` allows when a certificate has no DNS
/// subjectAltName (and Python 3.11's `hostname_checks_common_name` is on):
/// `server_name` is a DNS name, the certificate has no `DNS:` SAN, and one
/// of its CNs is the name, ASCII case aside. Narrow on purpose: a wildcard
/// CN is not matched (OpenSSL would), so such a certificate stays a name
/// mismatch here.
pub(crate) fn common_name_only_match(der: &[u8], server_name: &ServerName<'_>) -> bool {
    let ServerName::DnsName(host) = server_name else {
        return false;
    };
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return false;
    };
    let has_dns_san = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .any(|name| matches!(name, GeneralName::DNSName(_))),
        Ok(None) => false,
        // A malformed or duplicated SAN extension: not this case.
        Err(_) => true,
    };
    !has_dns_san
        && cert.subject().iter_common_name().any(|cn| {
            cn.as_str()
                .is_ok_and(|cn| cn.eq_ignore_ascii_case(host.as_ref()))
        })
}

/// SHA-256 fingerprint as `AB:CD:...`.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Unix seconds as RFC 3339 UTC (seconds precision).
pub(crate) fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{unix}"))
}

/// Where a certificate stands in its validity window at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validity {
    NotYetValid,
    Expired,
    /// Valid, expiring within the warning window.
    ExpiresSoon {
        days_left: i64,
    },
    Valid {
        days_left: i64,
    },
}

/// Classifies `info` at `now` (unix seconds) with a warning window in days.
pub(crate) fn validity(info: &CertInfo, now: i64, warn_days: u32) -> Validity {
    let (nb, na) = info.validity;
    if now < nb {
        Validity::NotYetValid
    } else if now > na {
        Validity::Expired
    } else {
        let days_left = (na - now) / 86_400;
        if na - now < i64::from(warn_days) * 86_400 {
            Validity::ExpiresSoon { days_left }
        } else {
            Validity::Valid { days_left }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(nb: i64, na: i64) -> CertInfo {
        CertInfo {
            subject: "CN=x".into(),
            issuer: "CN=x".into(),
            sans: vec![],
            not_before: rfc3339(nb),
            not_after: rfc3339(na),
            sha256: String::new(),
            is_ca: false,
            validity: (nb, na),
        }
    }

    #[test]
    fn validity_windows() {
        let day = 86_400;
        let c = info(100 * day, 200 * day);
        assert_eq!(validity(&c, 50 * day, 30), Validity::NotYetValid);
        assert_eq!(validity(&c, 201 * day, 30), Validity::Expired);
        assert_eq!(
            validity(&c, 180 * day, 30),
            Validity::ExpiresSoon { days_left: 20 }
        );
        assert_eq!(
            validity(&c, 110 * day, 30),
            Validity::Valid { days_left: 90 }
        );
        assert_eq!(
            validity(&c, 110 * day, 0),
            Validity::Valid { days_left: 90 }
        );
    }

    #[test]
    fn times_and_fingerprints_render() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        let fp = fingerprint(b"abc");
        assert!(fp.starts_with("BA:78:16:BF"), "{fp}");
        assert!(cert_info(b"not der").is_err());
    }
}
