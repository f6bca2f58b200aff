//! The smoke predicts what Townlet's Python client (OpenSSL) makes of the
//! configured chain: CA files it refuses fail the smoke with OpenSSL's
//! words, and a certificate it accepts from the subject CN passes with a
//! warning. Each case is also handed to Python's `ssl` (Townlet's calls)
//! against `openssl s_server` with the same files, so the prediction is
//! checked against the real client, not against our reading of OpenSSL.

use std::path::Path;

use tls_smoke::report::{Class, Severity, Status, Verdict};
use tls_smoke::{SmokeOptions, SmokeTarget, smoke};

use crate::support::*;

/// Townlet's `TcpTransport` TLS calls; prints `ok` or Python's error.
const PYTHON_CLIENT: &str = r#"
import socket, ssl, sys
host, port, ca, cert, key = sys.argv[1:6]
context = ssl.create_default_context()
context.load_verify_locations(ca)
context.load_cert_chain(cert, key)
context.check_hostname = True
try:
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=5.0)
    tls = context.wrap_socket(sock, server_hostname=host)
    print("ok")
    tls.close()
except ssl.SSLError as error:
    print(error)
"#;

/// Certificates made with the `openssl` CLI in the fixture's `certs/`.
struct Pki<'f> {
    fx: &'f Fixture,
}

impl Pki<'_> {
    fn path(&self, name: &str) -> String {
        self.fx
            .path(&format!("certs/{name}"))
            .to_str()
            .expect("utf-8")
            .to_string()
    }

    fn key(&self, name: &str) {
        let key = self.path(&format!("{name}.key"));
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ]);
        chmod(Path::new(&key), 0o600);
    }

    /// `name.pem`, self-signed, with these `openssl x509` extension lines
    /// (none: a v1 certificate).
    fn root(&self, name: &str, extensions: Option<&str>) {
        self.key(name);
        self.request(name, name);
        let (pem, key, csr) = (
            self.path(&format!("{name}.pem")),
            self.path(&format!("{name}.key")),
            self.path(&format!("{name}.csr")),
        );
        let mut args = vec![
            "x509", "-req", "-in", &csr, "-signkey", &key, "-days", "30", "-out", &pem,
        ];
        let ext = self.extensions(name, extensions.unwrap_or_default());
        if extensions.is_some() {
            args.extend(["-extfile", &ext, "-extensions", "v"]);
        }
        openssl(&args);
    }

    /// `name.pem` with subject CN `cn`, issued by `issuer`.
    fn issue(&self, name: &str, cn: &str, issuer: &str, extensions: &str) {
        self.key(name);
        self.request(name, cn);
        let (pem, csr, ca, ca_key) = (
            self.path(&format!("{name}.pem")),
            self.path(&format!("{name}.csr")),
            self.path(&format!("{issuer}.pem")),
            self.path(&format!("{issuer}.key")),
        );
        let ext = self.extensions(name, extensions);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &ext,
            "-extensions",
            "v",
            "-out",
            &pem,
        ]);
    }

    fn request(&self, name: &str, cn: &str) {
        let subject = format!("/CN={cn}");
        openssl(&[
            "req",
            "-new",
            "-key",
            &self.path(&format!("{name}.key")),
            "-subj",
            &subject,
            "-out",
            &self.path(&format!("{name}.csr")),
        ]);
    }

    fn extensions(&self, name: &str, lines: &str) -> String {
        let rel = format!("certs/{name}.ext");
        self.fx.write(&rel, &format!("[v]\n{lines}\n"));
        self.fx.path(&rel).to_str().expect("utf-8").to_string()
    }
}

const SERVER_SAN: &str = "subjectAltName=DNS:demo.local\nextendedKeyUsage=serverAuth";
const CLIENT_EXT: &str = "extendedKeyUsage=clientAuth";
const GOOD_CA: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign";

/// A fixture whose `ca_file` (`certs/ca.pem`) is made with `ca_extensions`,
/// with a client certificate from it and the server chain
/// `certs/server_chain.pem` (leaf, then an intermediate when asked for).
fn case(ca_extensions: Option<&str>, intermediate: bool, server_extensions: &str) -> Fixture {
    let fx = Fixture::new();
    let pki = Pki { fx: &fx };
    pki.root("ca", ca_extensions);
    pki.issue("client", "client", "ca", CLIENT_EXT);
    let issuer = if intermediate {
        pki.issue("inter", "Test Intermediate", "ca", GOOD_CA);
        "inter"
    } else {
        "ca"
    };
    pki.issue("server", HOST, issuer, server_extensions);
    let mut chain = fx.read("certs/server.pem");
    if intermediate {
        chain.push_str(&fx.read("certs/inter.pem"));
    }
    fx.write("certs/server_chain.pem", &chain);
    fx
}

/// The smoke in loopback with the case's files.
fn loopback(fx: &Fixture) -> tls_smoke::Report {
    let transport = fx.transport(
        "type: tcp\nendpoint: demo.local:8765\nenable_tls: true\nverify_hostname: true\nca_file: certs/ca.pem\ncert_file: certs/client.pem\nkey_file: certs/client.key\nconnect_timeout_seconds: 3",
    );
    let opts = SmokeOptions {
        target: SmokeTarget::Loopback {
            server_cert: Some(fx.path("certs/server_chain.pem")),
            server_key: Some(fx.path("certs/server.key")),
        },
        expiry_warning_days: 0,
    };
    smoke(&transport, &opts)
}

/// What Townlet's Python client says to `openssl s_server` presenting the
/// case's server chain.
fn python(fx: &Fixture) -> String {
    let pki = Pki { fx };
    let (cert, key) = (pki.path("server_chain.pem"), pki.path("server.key"));
    let server = OpenSsl::start(&["-cert", &cert, "-key", &key, "-cert_chain", &cert]);
    fx.write("python_client.py", PYTHON_CLIENT);
    let sh = xshell::Shell::new().expect("shell");
    let script = fx.path("python_client.py");
    let port = server.addr.port().to_string();
    let (ca, client, client_key) = (
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client.key"),
    );
    xshell::cmd!(
        sh,
        "python3 {script} demo.local {port} {ca} {client} {client_key}"
    )
    .read()
    .expect("python client")
}

/// Asserts the smoke failed the handshake with `openssl_error`, naming the
/// `ca_file` certificate, and that Python failed with the same words.
fn assert_refused_like_python(fx: &Fixture, openssl_error: &str, subject: &str) {
    let r = loopback(fx);
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    assert_eq!(r.exit_code, 1);
    assert_eq!(check_status(&r, "handshake"), Status::Fail, "{r:#?}");
    let finding = r
        .findings
        .iter()
        .find(|f| f.check == "handshake" && f.class == Class::InvalidChain)
        .unwrap_or_else(|| panic!("no invalid-chain finding: {r:#?}"));
    assert_eq!(finding.severity, Severity::Error);
    assert!(
        finding.message.contains(subject) && finding.message.contains(openssl_error),
        "{}",
        finding.message
    );
    let said = python(fx);
    assert!(
        said.contains(&format!("certificate verify failed: {openssl_error}")),
        "python said {said}"
    );
}

#[test]
fn a_ca_file_with_ca_false_is_refused_as_python_refuses_it() {
    let fx = case(
        Some("basicConstraints=critical,CA:FALSE"),
        false,
        SERVER_SAN,
    );
    assert_refused_like_python(&fx, "invalid CA certificate", "CN=ca");
    let r = loopback(&fx);
    let finding = r
        .findings
        .iter()
        .find(|f| f.class == Class::InvalidChain)
        .expect("finding");
    assert!(
        finding.message.contains("`ca_file` `") && finding.message.contains("CA:FALSE"),
        "{}",
        finding.message
    );
    // The client chain breaks the same rule, said under client-cert.
    assert!(
        r.findings
            .iter()
            .any(|f| f.check == "client-cert" && f.class == Class::InvalidChain),
        "{r:#?}"
    );
}

#[test]
fn a_ca_file_without_key_cert_sign_is_refused_as_python_refuses_it() {
    let fx = case(
        Some("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature"),
        false,
        SERVER_SAN,
    );
    assert_refused_like_python(&fx, "invalid CA certificate", "CN=ca");
    let r = loopback(&fx);
    assert!(
        r.findings
            .iter()
            .any(|f| f.message.contains("keyUsage lacks keyCertSign")),
        "{r:#?}"
    );
}

#[test]
fn a_root_with_pathlen_zero_above_an_intermediate_is_refused_as_python_refuses_it() {
    let fx = case(
        Some("basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign"),
        true,
        SERVER_SAN,
    );
    assert_refused_like_python(&fx, "path length constraint exceeded", "CN=ca");
}

#[test]
fn a_v3_root_without_basic_constraints_or_key_usage_is_refused_as_python_refuses_it() {
    let fx = case(Some("subjectKeyIdentifier=hash"), false, SERVER_SAN);
    assert_refused_like_python(&fx, "invalid CA certificate", "CN=ca");
}

#[test]
fn chains_openssl_accepts_still_pass_a_v1_root_included() {
    for (what, ca, intermediate) in [
        ("a good CA", Some(GOOD_CA), false),
        ("a good CA and intermediate", Some(GOOD_CA), true),
        ("a v1 root without extensions", None, false),
        (
            "a root with keyUsage and no basicConstraints",
            Some("keyUsage=critical,keyCertSign,cRLSign"),
            false,
        ),
    ] {
        let fx = case(ca, intermediate, SERVER_SAN);
        let r = loopback(&fx);
        assert_eq!(r.verdict, Verdict::Pass, "{what}: {r:#?}");
        assert_eq!(check_status(&r, "hostname"), Status::Pass, "{what}");
        assert_eq!(python(&fx).trim(), "ok", "{what}");
    }
}

#[test]
fn a_host_only_in_the_common_name_passes_with_a_warning_as_python_accepts_it() {
    let fx = case(Some(GOOD_CA), false, "extendedKeyUsage=serverAuth");
    let r = loopback(&fx);
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    assert_eq!(r.exit_code, 0);
    assert_eq!(check_status(&r, "handshake"), Status::Pass);
    assert_eq!(check_status(&r, "hostname"), Status::Warn);
    let warning = warnings(&r)
        .into_iter()
        .find(|f| f.class == Class::CommonNameOnly)
        .unwrap_or_else(|| panic!("no warning: {r:#?}"));
    assert!(
        warning
            .message
            .contains("Townlet's Python client accepts the name from the CN; most other clients (rustls, Go, browsers) reject a certificate without subjectAltName"),
        "{}",
        warning.message
    );
    assert_eq!(python(&fx).trim(), "ok");

    // Narrow: a CN that is not the host is still a name mismatch.
    let fx = case(Some(GOOD_CA), false, "extendedKeyUsage=serverAuth");
    let transport = fx.transport(
        "type: tcp\nendpoint: other.local:8765\nenable_tls: true\nverify_hostname: true\nca_file: certs/ca.pem\ncert_file: certs/client.pem\nkey_file: certs/client.key\nconnect_timeout_seconds: 3",
    );
    let opts = SmokeOptions {
        target: SmokeTarget::Loopback {
            server_cert: Some(fx.path("certs/server_chain.pem")),
            server_key: Some(fx.path("certs/server.key")),
        },
        expiry_warning_days: 0,
    };
    let r = smoke(&transport, &opts);
    assert_failed(&r, 1, Class::NameMismatch, "expected `other.local`");
}
