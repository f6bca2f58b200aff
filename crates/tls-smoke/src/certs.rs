//! Development certificates (rcgen): a CA, a server certificate for the
//! configured host and a client certificate, under the file names Townlet's
//! demo config expects. Keys are written mode 0600; existing files are never
//! replaced without `force`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// The CA certificate (`ca_file` of the demo config).
pub const CA_CERT: &str = "demo_ca.pem";
/// The CA key (to issue more certificates; not read by Townlet).
pub const CA_KEY: &str = "demo_ca.key";
/// The collector's certificate (read by `--loopback` and `serve`).
pub const SERVER_CERT: &str = "demo_server.pem";
pub const SERVER_KEY: &str = "demo_server.key";
/// The client certificate (`cert_file` of the demo config).
pub const CLIENT_CERT: &str = "demo_client.pem";
/// The client key (`key_file` of the demo config).
pub const CLIENT_KEY: &str = "demo_client.key";

/// All file names, certificates before keys.
pub const FILES: [&str; 6] = [
    CA_CERT,
    CA_KEY,
    SERVER_CERT,
    SERVER_KEY,
    CLIENT_CERT,
    CLIENT_KEY,
];

/// The CA's common name.
pub const CA_NAME: &str = "Townlet tls-smoke dev CA";
/// The client certificate's common name.
pub(crate) const CLIENT_NAME: &str = "townlet-telemetry-client";

/// Generated PEM texts.
#[derive(Debug, Clone)]
pub struct DevMaterial {
    pub ca_cert: String,
    pub ca_key: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
}

impl DevMaterial {
    fn files(&self) -> [(&'static str, &str); 6] {
        [
            (CA_CERT, &self.ca_cert),
            (CA_KEY, &self.ca_key),
            (SERVER_CERT, &self.server_cert),
            (SERVER_KEY, &self.server_key),
            (CLIENT_CERT, &self.client_cert),
            (CLIENT_KEY, &self.client_key),
        ]
    }
}

/// Refuses a host that cannot be the server certificate's subjectAltName:
/// it must be a DNS name or an IP address, as rustls' `ServerName` (which
/// the smoke verifies against) parses them. `from` names where the host came
/// from (`` `--host` `` or the config key).
pub(crate) fn check_host(host: &str, from: &str) -> Result<()> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let found = if host.is_empty() {
        "an empty name".to_string()
    } else {
        format!("`{}`", rollout_core::printable_capped(host, 80))
    };
    match rustls::pki_types::ServerName::try_from(host) {
        Ok(rustls::pki_types::ServerName::DnsName(_)) => Ok(()),
        _ => bail!(
            "{from}: expected a DNS name (such as `demo.local`) or an IP address (such as `127.0.0.1`), found {found}\nhint: pass the host Townlet connects to, as in `--host demo.local`"
        ),
    }
}

/// Generates ECDSA P-256 material: a CA valid for two years, and server and
/// client certificates valid for `days` from an hour ago (clock skew).
pub fn generate(host: &str, days: u32) -> Result<DevMaterial> {
    let now = OffsetDateTime::now_utc();
    let not_before = now - Duration::hours(1);

    let ca_key = KeyPair::generate().context("cannot generate the CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = dn(CA_NAME);
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = now + Duration::days(730);
    let ca_cert = ca.self_signed(&ca_key).context("cannot sign the CA")?;
    let issuer = Issuer::new(ca, &ca_key);

    let leaf =
        |names: Vec<String>, cn: &str, eku: ExtendedKeyUsagePurpose| -> Result<(String, String)> {
            let key = KeyPair::generate()?;
            let mut p = CertificateParams::new(names)
                .with_context(|| format!("`{host}` is not usable as a certificate name"))?;
            p.distinguished_name = dn(cn);
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.extended_key_usages = vec![eku];
            p.use_authority_key_identifier_extension = true;
            p.not_before = not_before;
            p.not_after = now + Duration::days(i64::from(days));
            let cert = p.signed_by(&key, &issuer)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
    let (server_cert, server_key) = leaf(
        vec![host.to_string()],
        host,
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (client_cert, client_key) =
        leaf(Vec::new(), CLIENT_NAME, ExtendedKeyUsagePurpose::ClientAuth)?;
    Ok(DevMaterial {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key.serialize_pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
    })
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// The files of `dir` that already exist.
pub(crate) fn existing(dir: &Path) -> Vec<PathBuf> {
    FILES
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.exists())
        .collect()
}

/// Writes `material` into `dir` (created if needed). Refuses to replace any
/// existing file unless `force`. Keys get mode 0600. Returns the paths written.
pub(crate) fn write(dir: &Path, material: &DevMaterial, force: bool) -> Result<Vec<PathBuf>> {
    let present = existing(dir);
    if !force && !present.is_empty() {
        let list = present
            .iter()
            .map(|p| format!("`{}`", p.display()))
            .collect::<Vec<_>>()
            .join(", ");
        bail!(
            "not replacing existing files: {list}\nhint: pass `--force` to replace them (clients holding the old CA will stop trusting the new certificates)"
        );
    }
    let mut written = Vec::new();
    for (name, text) in material.files() {
        let path = dir.join(name);
        if name.ends_with(".key") {
            rollout_core::fs::write_atomic_private(&path, text.as_bytes())?;
        } else {
            rollout_core::fs::write_atomic(&path, text.as_bytes())?;
        }
        written.push(path);
    }
    Ok(written)
}

/// Generates dev material for `host` into `dir` unless all of it is there
/// already. Returns whether it generated. Fails when only some files exist
/// (a half set would not verify), naming them.
pub fn ensure_dev_certs(dir: &Path, host: &str) -> Result<bool> {
    let present = existing(dir);
    if present.len() == FILES.len() {
        return Ok(false);
    }
    if !present.is_empty() {
        let missing: Vec<_> = FILES
            .iter()
            .filter(|f| !dir.join(f).exists())
            .map(|f| format!("`{f}`"))
            .collect();
        bail!(
            "dev certificates in `{}` are incomplete: missing {}\nhint: run `cargo xtask tls-smoke certs --out {} --host {host} --force`",
            dir.display(),
            missing.join(", "),
            dir.display()
        );
    }
    let material = generate(host, 365)?;
    write(dir, &material, false)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_keys_private_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(ensure_dev_certs(dir.path(), "demo.local").expect("generate"));
        assert!(!ensure_dev_certs(dir.path(), "demo.local").expect("second call"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [CA_KEY, SERVER_KEY, CLIENT_KEY] {
                let mode = std::fs::metadata(dir.path().join(f))
                    .expect("meta")
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        let before = std::fs::read(dir.path().join(CA_CERT)).expect("read");
        let m = generate("demo.local", 1).expect("generate");
        let err = write(dir.path(), &m, false).expect_err("must refuse");
        assert!(format!("{err:#}").contains("--force"), "{err:#}");
        assert_eq!(
            std::fs::read(dir.path().join(CA_CERT)).expect("read"),
            before
        );
        write(dir.path(), &m, true).expect("force");
        assert_ne!(
            std::fs::read(dir.path().join(CA_CERT)).expect("read"),
            before
        );
        std::fs::remove_file(dir.path().join(CLIENT_KEY)).expect("rm");
        let err = ensure_dev_certs(dir.path(), "demo.local").expect_err("incomplete");
        assert!(format!("{err:#}").contains("`demo_client.key`"), "{err:#}");
    }
}
