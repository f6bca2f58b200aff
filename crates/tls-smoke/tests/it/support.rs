//! Test fixtures: a Townlet root in a temp dir with generated certificates
//! and a simulation config, TLS peers on loopback (rustls, openssl, Python),
//! and helpers to run the smoke.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration as TimeDelta, OffsetDateTime};
use tls_smoke::report::{Class, Report, Severity};
use tls_smoke::{SmokeOptions, SmokeTarget};

/// A certificate authority made for a test.
pub(crate) struct Ca {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

pub(crate) enum Use {
    Server,
    Client,
}

/// Validity relative to now, in days.
pub(crate) struct Window(pub i64, pub i64);

pub(crate) const VALID: Window = Window(-1, 365);

impl Ca {
    pub(crate) fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("ca key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name = dn(name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        p.not_before = now - TimeDelta::days(1);
        p.not_after = now + TimeDelta::days(3650);
        let cert = p.self_signed(&key).expect("self-signed");
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// A leaf (certificate PEM, PKCS#8 key PEM).
    pub(crate) fn leaf(&self, names: &[&str], cn: &str, usage: Use, w: Window) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        self.leaf_with_key(&key, names, cn, usage, w)
    }

    // Test fixtures name every property of the certificate they make.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn leaf_with_key(
        &self,
        key: &KeyPair,
        names: &[&str],
        cn: &str,
        usage: Use,
        w: Window,
    ) -> (String, String) {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
        p.distinguished_name = dn(cn);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![match usage {
            Use::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Use::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        p.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        p.not_before = now + TimeDelta::days(w.0);
        p.not_after = now + TimeDelta::days(w.1);
        let cert = p.signed_by(key, &self.issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// A Townlet root with `certs/` and a config.
pub(crate) struct Fixture {
    pub dir: tempfile::TempDir,
    pub ca: Ca,
}

pub(crate) const HOST: &str = "demo.local";

impl Fixture {
    /// CA, server certificate for `demo.local` and client certificate, all
    /// valid, written under `certs/` with the demo names; keys mode 0600.
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Ca::new("Test CA");
        let fx = Self { dir, ca };
        fx.write("certs/demo_ca.pem", &fx.ca.cert_pem);
        let (c, k) = fx.ca.leaf(&[HOST], HOST, Use::Server, VALID);
        fx.write("certs/demo_server.pem", &c);
        fx.write_key("certs/demo_server.key", &k);
        let (c, k) = fx.ca.leaf(&[], "client", Use::Client, VALID);
        fx.write("certs/demo_client.pem", &c);
        fx.write_key("certs/demo_client.key", &k);
        fx
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub(crate) fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
    }

    pub(crate) fn write_key(&self, rel: &str, text: &str) {
        self.write(rel, text);
        chmod(&self.path(rel), 0o600);
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }

    /// Writes `configs/demo/poc_demo_tls.yaml` with this transport body
    /// (YAML lines indented under `transport:`), and loads it.
    pub(crate) fn transport(&self, body: &str) -> rollout_config::Transport {
        let mut text = String::from("config_id: test\ntelemetry:\n  transport:\n");
        for line in body.lines() {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
        self.write("configs/demo/poc_demo_tls.yaml", &text);
        rollout_config::load_transport(&self.path("configs/demo/poc_demo_tls.yaml"), self.root())
            .expect("config accepted")
    }

    /// The demo transport: TLS with CA, client cert and key, hostname check.
    pub(crate) fn demo(&self, endpoint: &str, timeout: f64) -> rollout_config::Transport {
        self.transport(&format!(
            "type: tcp\nendpoint: {endpoint}\nenable_tls: true\nverify_hostname: true\nca_file: certs/demo_ca.pem\ncert_file: certs/demo_client.pem\nkey_file: certs/demo_client.key\nconnect_timeout_seconds: {timeout}"
        ))
    }

    /// The server's rustls certificate and key.
    pub(crate) fn server_identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        identity(
            &self.read("certs/demo_server.pem"),
            &self.read("certs/demo_server.key"),
        )
    }
}

pub(crate) fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

pub(crate) fn identity(
    cert: &str,
    key: &str,
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    (certs, key)
}

pub(crate) fn connect(addr: SocketAddr) -> SmokeOptions {
    SmokeOptions {
        target: SmokeTarget::Connect(addr.to_string()),
        expiry_warning_days: 30,
    }
}

/// The one error finding of `r`, asserting there is exactly one error.
pub(crate) fn error(r: &Report) -> &tls_smoke::report::Finding {
    let errors: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "expected one error, got {:#?}", r.findings);
    errors[0]
}

/// Asserts exit code, failure class and a message fragment.
pub(crate) fn assert_failed(r: &Report, exit: u8, class: Class, fragment: &str) {
    let e = error(r);
    assert_eq!(r.exit_code, exit, "{r:#?}");
    assert_eq!(e.class, class, "{r:#?}");
    assert_eq!(r.failure, Some(class));
    assert!(
        e.message.contains(fragment),
        "`{}` lacks `{fragment}`",
        e.message
    );
}

pub(crate) fn warnings(r: &Report) -> Vec<&tls_smoke::report::Finding> {
    r.findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .collect()
}

/// A rustls server on 127.0.0.1 that serves one connection: handshake, then
/// reads until the client closes. Returns its address.
pub(crate) fn rustls_server(config: rustls::ServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = Arc::new(config);
    std::thread::spawn(move || {
        let Ok((mut tcp, _)) = listener.accept() else {
            return;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
        let Ok(mut conn) = rustls::ServerConnection::new(config) else {
            return;
        };
        while conn.is_handshaking() {
            if conn.complete_io(&mut tcp).is_err() {
                return;
            }
        }
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    });
    addr
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    tls_smoke::provider()
}

/// A server config with the given identity, requiring client certificates
/// from `client_ca` when given.
pub(crate) fn server_config(
    identity: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    client_ca: Option<&str>,
) -> rustls::ServerConfig {
    let b = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let b = match client_ca {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(c.expect("ca")).expect("add");
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .expect("verifier");
            b.with_client_cert_verifier(v)
        }
        None => b.with_no_client_auth(),
    };
    b.with_single_cert(identity.0, identity.1).expect("cert")
}

/// A TCP server that accepts and then sends `reply` (or nothing) and holds
/// the connection for `hold`.
pub(crate) fn raw_server(reply: Option<&'static [u8]>, hold: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let Ok((mut tcp, _)) = listener.accept() else {
            return;
        };
        if let Some(reply) = reply {
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf);
            let _ = tcp.write_all(reply);
        }
        std::thread::sleep(hold);
    });
    addr
}

/// A port with nothing listening.
pub(crate) fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// `openssl s_server` on 127.0.0.1, killed on drop. Its stdin stays open
/// (it stops on end of input).
pub(crate) struct OpenSsl {
    child: Child,
    pub addr: SocketAddr,
}

impl OpenSsl {
    /// `openssl s_server` with the fixture's demo server certificate and key,
    /// plus `extra` arguments.
    pub(crate) fn demo_server(fx: &Fixture, extra: &[&str]) -> Self {
        let cert = fx.path("certs/demo_server.pem");
        let key = fx.path("certs/demo_server.key");
        let mut args = vec![
            "-cert",
            cert.to_str().expect("utf-8"),
            "-key",
            key.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        Self::start(&args)
    }

    pub(crate) fn start(args: &[&str]) -> Self {
        for _attempt in 0..5 {
            let port = closed_port().port();
            let mut child = plumbing::process::command("openssl")
                .arg("s_server")
                .args(["-accept", &format!("127.0.0.1:{port}")])
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("openssl s_server (installed by .ci/install-deps)");
            let stdout = child.stdout.take().expect("stdout");
            let mut lines = BufReader::new(stdout).lines();
            let ready = lines.any(|l| l.is_ok_and(|l| l.contains("ACCEPT")));
            if ready {
                // Drain the rest so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return Self {
                    child,
                    addr: SocketAddr::from(([127, 0, 0, 1], port)),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("openssl s_server did not start");
    }
}

impl Drop for OpenSsl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `openssl` to completion with these arguments (key conversions).
pub(crate) fn openssl(args: &[&str]) {
    let sh = xshell::Shell::new().expect("shell");
    xshell::cmd!(sh, "openssl {args...}")
        .quiet()
        .ignore_stderr()
        .run()
        .expect("openssl");
}

/// The status of check `id` of a report.
pub(crate) fn check_status(r: &tls_smoke::Report, id: &str) -> tls_smoke::report::Status {
    r.checks
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.status)
        .expect(id)
}
