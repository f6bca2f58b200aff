//! The client's certificate verifier (OpenSSL's rules, then WebPKI) and
//! its certificate resolver.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustls::client::ResolvesClientCert;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};

use crate::chain::{self, Link, Violation};
use crate::inspect;

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
pub(super) struct Verifier {
    pub(super) inner: Arc<WebPkiServerVerifier>,
    pub(super) verify_hostname: bool,
    pub(super) seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
    pub(super) anchors: Arc<Vec<(CertificateDer<'static>, String)>>,
    pub(super) presented_words: String,
    pub(super) violations: Arc<Mutex<Vec<Violation>>>,
    pub(super) common_name_only: Arc<AtomicBool>,
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
pub(super) struct ClientCert {
    pub(super) key: Option<Arc<CertifiedKey>>,
    pub(super) requested: Arc<AtomicBool>,
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
