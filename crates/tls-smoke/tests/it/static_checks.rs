//! Section 2 of the issue: every static check, before any network I/O. Each
//! test asserts the exit code and the message.

use tls_smoke::report::{Class, Status, Verdict};
use tls_smoke::smoke;

use crate::support::*;

#[test]
fn plaintext_localhost_passes_with_townlet_warning() {
    let fx = Fixture::new();
    let t = fx.transport(
        "type: tcp\nendpoint: localhost:8765\nenable_tls: false\nallow_plaintext: true\ndev_allow_plaintext: true",
    );
    let r = smoke(&t, &connect(closed_port()));
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    assert_eq!(r.exit_code, 0);
    let w = warnings(&r);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].class, Class::Plaintext);
    assert!(
        w[0].message
            .contains("telemetry_tcp_plaintext_enabled endpoint=localhost:8765"),
        "{}",
        w[0].message
    );
    assert_eq!(check_status(&r, "transport"), Status::Warn);
    assert_eq!(check_status(&r, "handshake"), Status::Skip);
}

#[test]
fn non_tcp_transport_cannot_be_smoked() {
    let fx = Fixture::new();
    let t = fx.transport("type: stdout");
    let r = smoke(&t, &connect(closed_port()));
    assert_failed(
        &r,
        2,
        Class::Config,
        "`telemetry.transport.type` is `stdout`",
    );
    assert!(
        error(&r)
            .place
            .as_deref()
            .is_some_and(|p| p.contains("poc_demo_tls.yaml:4:")),
        "{:?}",
        error(&r).place
    );
}

#[test]
fn missing_ca_file_names_key_place_and_fix() {
    let fx = Fixture::new();
    std::fs::remove_file(fx.path("certs/demo_ca.pem")).expect("rm");
    let r = smoke(&fx.demo("demo.local:8765", 1.0), &connect(closed_port()));
    assert_failed(&r, 2, Class::File, "`ca_file`");
    let e = error(&r);
    assert!(
        e.message.ends_with("demo_ca.pem` does not exist"),
        "{}",
        e.message
    );
    assert!(
        e.place
            .as_deref()
            .is_some_and(|p| p.contains("poc_demo_tls.yaml:")),
        "{:?}",
        e.place
    );
    assert!(
        e.hint
            .as_deref()
            .is_some_and(|h| h.contains("cargo xtask tls-smoke certs --out")),
        "{:?}",
        e.hint
    );
    assert_eq!(
        check_status(&r, "handshake"),
        Status::Skip,
        "no network I/O after a setup error"
    );
    assert!(r.address.is_none());
}

#[test]
fn a_directory_is_not_a_pem_file() {
    let fx = Fixture::new();
    std::fs::remove_file(fx.path("certs/demo_client.pem")).expect("rm");
    std::fs::create_dir(fx.path("certs/demo_client.pem")).expect("mkdir");
    let r = smoke(&fx.demo("demo.local:8765", 1.0), &connect(closed_port()));
    assert_failed(&r, 2, Class::File, "is a directory, expected a PEM file");
}

#[test]
fn garbage_and_der_certificates_are_pem_errors() {
    let fx = Fixture::new();
    fx.write("certs/demo_ca.pem", "hello\n");
    let r = smoke(&fx.demo("demo.local:8765", 1.0), &connect(closed_port()));
    assert_failed(
        &r,
        2,
        Class::Pem,
        "no certificate found: expected PEM blocks `-----BEGIN CERTIFICATE-----`, found no PEM block",
    );

    std::fs::write(fx.path("certs/demo_ca.pem"), [0x30, 0x82, 0x01, 0x00]).expect("write");
    let r = smoke(&fx.demo("demo.local:8765", 1.0), &connect(closed_port()));
    assert_failed(&r, 2, Class::Pem, "found binary (DER) data");

    fx.write(
        "certs/demo_ca.pem",
        "-----BEGIN CERTIFICATE-----\nMIIBnotbase64!!\n-----END CERTIFICATE-----\n",
    );
    let r = smoke(&fx.demo("demo.local:8765", 1.0), &connect(closed_port()));
    assert_failed(
        &r,
        2,
        Class::Pem,
        "certificate 1 is not a valid PEM X.509 certificate",
    );
}

#[test]
fn key_file_without_a_key_is_a_pem_error() {
    let fx = Fixture::new();
    let cert = fx.read("certs/demo_client.pem");
    fx.write_key("certs/demo_client.key", &cert);
    let r = smoke(&fx.demo("demo.local:8765", 1.0), &connect(closed_port()));
    assert_failed(
        &r,
        2,
        Class::Pem,
        "no private key found: expected a PEM block `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1), found `-----BEGIN CERTIFICATE-----`",
    );
}

#[test]
fn encrypted_keys_are_refused_clearly() {
    let fx = Fixture::new();
    let key = fx.path("certs/demo_client.key");
    let enc = fx.path("certs/enc.key");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        path(&key),
        "-out",
        path(&enc),
        "-passout",
        "pass:secret",
    ]);
    std::fs::rename(&enc, &key).expect("mv");
    chmod(&key, 0o600);
    let r = smoke(&fx.demo("demo.local:8765", 1.0), &connect(closed_port()));
    assert_failed(
        &r,
        2,
        Class::EncryptedKey,
        "encrypted keys are not supported",
    );
    assert!(
        fx.read("certs/demo_client.key")
            .contains("ENCRYPTED PRIVATE KEY")
    );

    // The legacy OpenSSL form: `Proc-Type: 4,ENCRYPTED` inside `EC PRIVATE KEY`.
    let plain = fx.ca.leaf(&[], "client", Use::Client, VALID).1;
    fx.write_key("certs/plain.key", &plain);
    openssl(&[
        "ec",
        "-in",
        path(&fx.path("certs/plain.key")),
        "-out",
        path(&key),
        "-aes256",
        "-passout",
        "pass:secret",
    ]);
    assert!(
        fx.read("certs/demo_client.key")
            .contains("Proc-Type: 4,ENCRYPTED")
    );
    let r = smoke(&fx.demo("demo.local:8765", 1.0), &connect(closed_port()));
    assert_failed(
        &r,
        2,
        Class::EncryptedKey,
        "encrypted keys are not supported",
    );
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn key_must_match_the_client_certificate() {
    let fx = Fixture::new();
    let other = fx.ca.leaf(&[], "other", Use::Client, VALID).1;
    fx.write_key("certs/demo_client.key", &other);
    let r = smoke(&fx.demo("demo.local:8765", 1.0), &connect(closed_port()));
    assert_failed(
        &r,
        2,
        Class::KeyMismatch,
        "does not match the certificate in `cert_file`",
    );
    assert!(error(&r).message.contains("their public keys differ"));
}

/// PKCS#8 (rcgen's output), SEC1 and PKCS#1 keys all load and match; the
/// handshake then runs against a real server with each.
#[test]
fn pkcs8_sec1_and_pkcs1_keys_load() {
    let fx = Fixture::new();
    let server = || rustls_server(server_config(fx.server_identity(), Some(&fx.ca.cert_pem)));

    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(server()));
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    assert!(
        r.checks
            .iter()
            .any(|c| c.summary.contains("(PKCS#8 ECDSA)")),
        "{:#?}",
        r.checks
    );

    let key = fx.path("certs/demo_client.key");
    let tmp = fx.path("certs/tmp.key");
    openssl(&["ec", "-in", path(&key), "-out", path(&tmp)]);
    std::fs::rename(&tmp, &key).expect("mv");
    chmod(&key, 0o600);
    assert!(
        fx.read("certs/demo_client.key")
            .contains("BEGIN EC PRIVATE KEY")
    );
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(server()));
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    assert!(
        r.checks.iter().any(|c| c.summary.contains("(SEC1 ECDSA)")),
        "{:#?}",
        r.checks
    );

    // RSA: openssl makes the key, rcgen signs a certificate for it.
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        path(&tmp),
    ]);
    let pkcs8 = std::fs::read_to_string(&tmp).expect("read");
    let rsa = rcgen::KeyPair::from_pem_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256).expect("rsa");
    let (cert, _) = fx
        .ca
        .leaf_with_key(&rsa, &[], "rsa client", Use::Client, VALID);
    fx.write("certs/demo_client.pem", &cert);
    openssl(&["rsa", "-in", path(&tmp), "-traditional", "-out", path(&key)]);
    chmod(&key, 0o600);
    assert!(
        fx.read("certs/demo_client.key")
            .contains("BEGIN RSA PRIVATE KEY")
    );
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(server()));
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    assert!(
        r.checks.iter().any(|c| c.summary.contains("(PKCS#1 RSA)")),
        "{:#?}",
        r.checks
    );
}

#[test]
fn expired_client_certificate_is_an_error() {
    let fx = Fixture::new();
    let key = rcgen::KeyPair::from_pem(&fx.read("certs/demo_client.key")).expect("key");
    let (cert, _) = fx
        .ca
        .leaf_with_key(&key, &[], "client", Use::Client, Window(-30, -2));
    fx.write("certs/demo_client.pem", &cert);
    let r = smoke(&fx.demo("demo.local:8765", 1.0), &connect(closed_port()));
    let e = r
        .findings
        .iter()
        .find(|f| f.class == Class::CertExpired)
        .expect("expired finding");
    assert!(
        e.message
            .starts_with("certificate CN=client in `cert_file`"),
        "{}",
        e.message
    );
    assert!(e.message.contains(" expired on "), "{}", e.message);
    assert_eq!(r.exit_code, 1);
    assert_eq!(r.failure, Some(Class::CertExpired));
    assert_eq!(check_status(&r, "validity"), Status::Fail);
}

#[test]
fn not_yet_valid_ca_is_an_error() {
    let fx = Fixture::new();
    // A CA whose window starts tomorrow: build it by hand.
    let key = rcgen::KeyPair::generate().expect("key");
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("p");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "Future CA");
    p.not_before = time::OffsetDateTime::now_utc() + time::Duration::days(2);
    p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(400);
    fx.write(
        "certs/demo_ca.pem",
        &p.self_signed(&key).expect("sign").pem(),
    );
    let r = smoke(&fx.demo("demo.local:8765", 1.0), &connect(closed_port()));
    let e = r
        .findings
        .iter()
        .find(|f| f.class == Class::CertNotYetValid)
        .expect("finding");
    assert!(
        e.message.contains("CN=Future CA in `ca_file`")
            && e.message.contains("is not valid before"),
        "{}",
        e.message
    );
    assert_eq!(r.exit_code, 1);
}

#[test]
fn expiring_soon_is_a_warning_that_passes() {
    let fx = Fixture::new();
    let key = rcgen::KeyPair::from_pem(&fx.read("certs/demo_client.key")).expect("key");
    let (cert, _) = fx
        .ca
        .leaf_with_key(&key, &[], "client", Use::Client, Window(-300, 10));
    fx.write("certs/demo_client.pem", &cert);
    let addr = rustls_server(server_config(fx.server_identity(), Some(&fx.ca.cert_pem)));
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(addr));
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    let w = warnings(&r);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0].class, Class::CertExpiring);
    assert!(
        w[0].message.contains("expires in 9 days") || w[0].message.contains("expires in 10 days"),
        "{}",
        w[0].message
    );
    assert!(
        w[0].message
            .contains("`tls_smoke.expiry_warning_days` = 30")
    );
}

#[test]
fn key_readable_by_others_is_a_warning() {
    let fx = Fixture::new();
    chmod(&fx.path("certs/demo_client.key"), 0o644);
    let addr = rustls_server(server_config(fx.server_identity(), Some(&fx.ca.cert_pem)));
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(addr));
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    let w = warnings(&r);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0].class, Class::KeyPermissions);
    assert!(
        w[0].message
            .contains("is accessible by group or others (mode 0644)"),
        "{}",
        w[0].message
    );
    assert!(
        w[0].hint
            .as_deref()
            .is_some_and(|h| h.starts_with("`chmod 600 "))
    );
}
