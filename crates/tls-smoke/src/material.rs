//! Static checks of the TLS material a Townlet config names, before any
//! network I/O: files exist and are readable, PEM parses, keys are not
//! encrypted and match their certificate, validity windows, key permissions.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::inspect::{self, CertInfo, Validity};
use crate::report::{Class, Severity};
use crate::sink::Sink;

/// Certificates read from one PEM file.
pub(crate) struct CertFile {
    pub ders: Vec<CertificateDer<'static>>,
    pub infos: Vec<CertInfo>,
}

/// Config keys and file paths, for messages.
pub(crate) struct Source<'a> {
    /// `ca_file`, `cert_file`, `key_file`, `--server-cert`, ...
    pub key: &'a str,
    pub path: &'a Path,
    /// `FILE:LINE:COL` of the config key, when it comes from the config.
    pub place: Option<String>,
}

impl Source<'_> {
    fn name(&self) -> String {
        format!("`{}` `{}`", self.key, self.path.display())
    }
}

/// Reads a PEM file, reporting a missing, unreadable, special or oversized
/// one under `check`.
pub(crate) fn read(sink: &mut Sink, check: &str, src: &Source<'_>, hint: &str) -> Option<Vec<u8>> {
    match input::read(src.path, input::Kind::CERTIFICATE) {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            let what = match &error {
                input::InputError::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::PermissionDenied =>
                {
                    "is not readable: permission denied".to_string()
                }
                input::InputError::NotRegular {
                    found: "a directory",
                    ..
                } => "is a directory, expected a PEM file".to_string(),
                other => other.reason(),
            };
            // Generating certificates helps only where there are none; a
            // FIFO, a device or an oversized file is a wrong path.
            let hint = match &error {
                input::InputError::Missing { .. } => hint.to_string(),
                _ => format!("point `{}` at the PEM file itself", src.key),
            };
            sink.finding(
                check,
                Severity::Error,
                Class::File,
                format!("{} {what}", src.name()),
            )
            .at(src.place.clone())
            .hint(Some(hint));
            None
        }
    }
}

/// Parses every certificate of a PEM file.
pub(crate) fn parse_certs(
    sink: &mut Sink,
    check: &str,
    src: &Source<'_>,
    bytes: &[u8],
) -> Option<CertFile> {
    let mut ders = Vec::new();
    let mut infos = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(bytes).enumerate() {
        let parsed = item.map_err(|e| e.to_string()).and_then(|der| {
            inspect::cert_info(&der)
                .map(|info| (der, info))
                .map_err(|e| e.to_string())
        });
        match parsed {
            Ok((der, info)) => {
                ders.push(der);
                infos.push(info);
            }
            Err(e) => {
                sink.finding(
                    check,
                    Severity::Error,
                    Class::Pem,
                    format!(
                        "{}: certificate {} is not a valid PEM X.509 certificate: {e}",
                        src.name(),
                        i + 1
                    ),
                )
                .at(src.place.clone());
                return None;
            }
        }
    }
    if ders.is_empty() {
        let found = if bytes.starts_with(&[0x30]) {
            "binary (DER) data".to_string()
        } else {
            first_label(bytes).map_or("no PEM block".into(), |l| format!("`{l}`"))
        };
        sink.finding(check, Severity::Error, Class::Pem, format!(
                "{}: no certificate found: expected PEM blocks `-----BEGIN CERTIFICATE-----`, found {found}",
                src.name()
            )).at(src.place.clone()).hint(Some("Townlet (Python `ssl`) reads PEM certificates only; convert with `openssl x509 -inform der -in FILE -out FILE.pem`".into()));
        return None;
    }
    Some(CertFile { ders, infos })
}

fn first_label(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .find(|l| l.starts_with("-----BEGIN "))
        .map(|l| l.trim().to_string())
}

/// The formats of private keys we read.
fn key_format(key: &PrivateKeyDer<'_>) -> &'static str {
    match key {
        PrivateKeyDer::Pkcs1(_) => "PKCS#1",
        PrivateKeyDer::Sec1(_) => "SEC1",
        PrivateKeyDer::Pkcs8(_) => "PKCS#8",
        _ => "unknown",
    }
}

/// A certificate chain file and its key file, checked under `check`.
pub(crate) struct PairSource<'a> {
    /// The check their findings belong to.
    pub check: &'a str,
    pub cert: Source<'a>,
    pub key: Source<'a>,
    /// The fixes to suggest when the certificate or the key file is missing.
    pub cert_hint: String,
    pub key_hint: String,
}

/// A certificate chain and its key, as far as they could be loaded.
pub(crate) struct Pair {
    pub chain: Option<CertFile>,
    /// Only when the chain and the key parse and match.
    pub key: Option<Arc<CertifiedKey>>,
    /// The key's algorithm, empty without a key.
    pub algorithm: String,
    /// Whether the key file could be read at all.
    pub key_read: bool,
}

/// Reads a certificate chain and its key.
pub(crate) fn load_pair(sink: &mut Sink, pair: &PairSource<'_>, provider: &CryptoProvider) -> Pair {
    let check = pair.check;
    let chain = read(sink, check, &pair.cert, &pair.cert_hint)
        .and_then(|bytes| parse_certs(sink, check, &pair.cert, &bytes));
    let key_bytes = read(sink, check, &pair.key, &pair.key_hint);
    let loaded = match (&chain, &key_bytes) {
        (Some(chain), Some(bytes)) => load_key(sink, pair, bytes, chain, provider),
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

/// Loads the private key of `pair` from `bytes` and pairs it with its
/// certificate chain, checking that they match.
fn load_key(
    sink: &mut Sink,
    pair: &PairSource<'_>,
    bytes: &[u8],
    chain: &CertFile,
    provider: &CryptoProvider,
) -> Option<(Arc<CertifiedKey>, String)> {
    let (check, src) = (pair.check, &pair.key);
    let key = parse_key(sink, check, src, bytes)?;
    let format = key_format(&key);
    let signing = match provider.key_provider.load_private_key(key) {
        Ok(k) => k,
        Err(e) => {
            sink.finding(
                check,
                Severity::Error,
                Class::Pem,
                format!("{}: unusable {format} private key: {e}", src.name()),
            )
            .at(src.place.clone())
            .hint(Some(
                "supported keys: RSA (2048 bits or more), ECDSA P-256/P-384, Ed25519".into(),
            ));
            return None;
        }
    };
    let algorithm = format!("{format} {:?}", signing.algorithm());
    let certified = CertifiedKey::new(chain.ders.clone(), signing);
    match certified.keys_match() {
        Ok(()) => Some((Arc::new(certified), algorithm)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Some((Arc::new(certified), algorithm))
        }
        Err(e) => {
            let subject = chain.infos.first().map_or("?", |i| i.subject.as_str());
            let message = if matches!(
                e,
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)
            ) {
                format!(
                    "{} does not match the certificate in {} ({subject}): their public keys differ",
                    src.name(),
                    pair.cert.name()
                )
            } else {
                format!("cannot pair {} with {}: {e}", src.name(), pair.cert.name())
            };
            sink.finding(check, Severity::Error, Class::KeyMismatch, message).at(src.place.clone()).hint(Some(format!(
                    "point `{}` at the key the certificate was issued for, or reissue the certificate",
                    src.key
                )));
            None
        }
    }
}

/// The private key of a PEM file, unless it is encrypted or holds none.
fn parse_key(
    sink: &mut Sink,
    check: &str,
    src: &Source<'_>,
    bytes: &[u8],
) -> Option<PrivateKeyDer<'static>> {
    let text = String::from_utf8_lossy(bytes);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
    {
        sink.finding(check, Severity::Error, Class::EncryptedKey, format!(
                "{} is encrypted: encrypted keys are not supported (Townlet loads the key without a password)",
                src.name()
            )).at(src.place.clone()).hint(Some(format!(
                "decrypt it: `openssl pkey -in {0} -out {0}.plain` and point `key_file` at the result (mode 0600)",
                src.path.display()
            )));
        return None;
    }
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(k) => Some(k),
        Err(e) => {
            let found = match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    first_label(bytes).map_or("no PEM block".into(), |l| format!("`{l}`"))
                }
                other => other.to_string(),
            };
            sink.finding(check, Severity::Error, Class::Pem, format!(
                    "{}: no private key found: expected a PEM block `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1), found {found}",
                    src.name()
                )).at(src.place.clone());
            None
        }
    }
}

/// Warns when a private key file is readable or writable by group or others.
pub(crate) fn key_permissions(sink: &mut Sink, check: &str, src: &Source<'_>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(src.path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                sink.finding(
                    check,
                    Severity::Warning,
                    Class::KeyPermissions,
                    format!(
                        "private key {} is accessible by group or others (mode {mode:04o})",
                        src.name()
                    ),
                )
                .at(src.place.clone())
                .hint(Some(format!("`chmod 600 {}`", src.path.display())));
            }
        }
    }
}

/// Checks validity windows of every certificate of `file`; returns the
/// soonest expiry seen as (days left, subject).
pub(crate) fn validity(
    sink: &mut Sink,
    src: &Source<'_>,
    file: &CertFile,
    now: i64,
    warn_days: u32,
) -> Option<(i64, String)> {
    let mut soonest: Option<(i64, String)> = None;
    for info in &file.infos {
        let days_left = (info.validity.1 - now) / 86_400;
        if soonest.as_ref().is_none_or(|(d, _)| days_left < *d) {
            soonest = Some((days_left, info.subject.clone()));
        }
        let (severity, class, message, hint) = match inspect::validity(info, now, warn_days) {
            Validity::Valid { .. } => continue,
            Validity::Expired => (
                Severity::Error,
                Class::CertExpired,
                format!(
                    "certificate {} in {} expired on {}",
                    info.subject,
                    src.name(),
                    info.not_after
                ),
                "reissue it (dev material: `cargo xtask tls-smoke certs --force`)",
            ),
            Validity::NotYetValid => (
                Severity::Error,
                Class::CertNotYetValid,
                format!(
                    "certificate {} in {} is not valid before {}",
                    info.subject,
                    src.name(),
                    info.not_before
                ),
                "check this machine's clock, or reissue the certificate",
            ),
            Validity::ExpiresSoon { days_left } => (
                Severity::Warning,
                Class::CertExpiring,
                format!(
                    "certificate {} in {} expires in {days_left} days, on {} (within `tls_smoke.expiry_warning_days` = {warn_days})",
                    info.subject,
                    src.name(),
                    info.not_after
                ),
                "renew it before the rollout",
            ),
        };
        sink.finding("validity", severity, class, message)
            .at(src.place.clone())
            .hint(Some(hint.to_string()));
    }
    soonest
}

/// The trust store: system roots plus `ca_file`, as Python's
/// `create_default_context()` + `load_verify_locations()` builds it.
pub(crate) fn roots(ca: Option<&CertFile>) -> (RootCertStore, usize) {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (system, _ignored) = store.add_parsable_certificates(native.certs);
    if let Some(ca) = ca {
        store.add_parsable_certificates(ca.ders.iter().cloned());
    }
    (store, system)
}
