//! Section 5 of the issue: each live failure class against a real peer on
//! loopback, asserting exit code 1 and the message.

use std::time::{Duration, Instant};

use tls_smoke::report::{Class, Status, Verdict};
use tls_smoke::{SmokeOptions, SmokeTarget, smoke};

use crate::support::*;

#[test]
fn dns_failure() {
    let fx = Fixture::new();
    let t = fx.demo("no-such-host.invalid:8765", 2.0);
    let r = smoke(
        &t,
        &SmokeOptions {
            target: SmokeTarget::Endpoint,
            expiry_warning_days: 30,
        },
    );
    assert_failed(&r, 1, Class::Dns, "`no-such-host.invalid`");
    assert!(
        error(&r)
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("--connect ADDR:PORT"))
    );
}

#[test]
fn connection_refused() {
    let fx = Fixture::new();
    let addr = closed_port();
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(addr));
    assert_failed(
        &r,
        1,
        Class::ConnectionRefused,
        &format!("connection refused by {addr}"),
    );
    assert_eq!(check_status(&r, "connect"), Status::Fail);
    assert_eq!(check_status(&r, "handshake"), Status::Skip);
}

#[test]
fn silent_server_ends_in_the_connect_timeout() {
    let fx = Fixture::new();
    let addr = raw_server(None, Duration::from_secs(5));
    let started = Instant::now();
    let r = smoke(&fx.demo("demo.local:8765", 0.3), &connect(addr));
    let took = started.elapsed();
    assert_failed(
        &r,
        1,
        Class::ConnectTimeout,
        "accepted the TCP connection but did not complete the TLS handshake within the connect timeout of 0.3s",
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn peer_that_does_not_speak_tls() {
    let fx = Fixture::new();
    let addr = raw_server(
        Some(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
        Duration::from_millis(500),
    );
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(addr));
    assert_failed(
        &r,
        1,
        Class::NotTls,
        "does not speak TLS: its answer to the ClientHello is not a TLS record",
    );

    // A plaintext collector reads the ClientHello as a line and hangs up.
    let addr = raw_server(Some(b""), Duration::ZERO);
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(addr));
    assert_failed(
        &r,
        1,
        Class::NotTls,
        "closed the connection without answering the TLS handshake",
    );
}

#[test]
fn untrusted_issuer() {
    let fx = Fixture::new();
    let other = Ca::new("Other CA");
    let id = other.leaf(&[HOST], HOST, Use::Server, VALID);
    let addr = rustls_server(server_config(identity(&id.0, &id.1), None));
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(addr));
    assert_failed(
        &r,
        1,
        Class::UntrustedIssuer,
        "server certificate CN=demo.local is issued by CN=Other CA, which is not trusted by `ca_file`",
    );
    assert_eq!(r.server_chain.len(), 1);
    assert_eq!(r.server_chain[0].issuer, "CN=Other CA");
}

#[test]
fn name_mismatch_says_expected_and_presented() {
    let fx = Fixture::new();
    let id = fx.ca.leaf(
        &["collector.example", "10.1.2.3"],
        "collector",
        Use::Server,
        VALID,
    );
    let addr = rustls_server(server_config(identity(&id.0, &id.1), None));
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(addr));
    assert_failed(
        &r,
        1,
        Class::NameMismatch,
        "expected `demo.local`, certificate presents [",
    );
    let m = &error(&r).message;
    assert!(
        m.contains("collector.example") && m.contains("10.1.2.3"),
        "{m}"
    );
}

#[test]
fn verify_hostname_false_still_verifies_the_chain() {
    let fx = Fixture::new();
    let t = fx.transport("type: tcp\nendpoint: demo.local:8765\nverify_hostname: false\nca_file: certs/demo_ca.pem\nconnect_timeout_seconds: 2");
    let id = fx
        .ca
        .leaf(&["collector.example"], "collector", Use::Server, VALID);
    let addr = rustls_server(server_config(identity(&id.0, &id.1), None));
    let r = smoke(&t, &connect(addr));
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    assert!(!r.verify_hostname);

    let other = Ca::new("Other CA");
    let id = other.leaf(&["collector.example"], "collector", Use::Server, VALID);
    let addr = rustls_server(server_config(identity(&id.0, &id.1), None));
    let r = smoke(&t, &connect(addr));
    assert_failed(&r, 1, Class::UntrustedIssuer, "is issued by CN=Other CA");
}

#[test]
fn server_certificate_expired() {
    let fx = Fixture::new();
    let id = fx.ca.leaf(&[HOST], HOST, Use::Server, Window(-60, -1));
    let addr = rustls_server(server_config(identity(&id.0, &id.1), None));
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(addr));
    assert_failed(
        &r,
        1,
        Class::ServerCertExpired,
        "server certificate CN=demo.local expired on ",
    );
}

#[test]
fn server_certificate_not_yet_valid() {
    let fx = Fixture::new();
    let id = fx.ca.leaf(&[HOST], HOST, Use::Server, Window(3, 60));
    let addr = rustls_server(server_config(identity(&id.0, &id.1), None));
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(addr));
    assert_failed(
        &r,
        1,
        Class::ServerCertNotYetValid,
        "server certificate CN=demo.local is not valid before ",
    );
}

#[test]
fn client_certificate_required_but_not_configured() {
    let fx = Fixture::new();
    let t = fx.transport("type: tcp\nendpoint: demo.local:8765\nca_file: certs/demo_ca.pem\nconnect_timeout_seconds: 2");
    let addr = rustls_server(server_config(fx.server_identity(), Some(&fx.ca.cert_pem)));
    let r = smoke(&t, &connect(addr));
    assert_failed(
        &r,
        1,
        Class::ClientCertRequired,
        "it requires a client certificate, and none is configured",
    );
    assert_eq!(r.client_auth.requested, Some(true));
    assert!(!r.client_auth.configured);
    assert_eq!(check_status(&r, "client-auth"), Status::Fail);
}

#[test]
fn client_certificate_rejected() {
    let fx = Fixture::new();
    // The server trusts another CA for clients.
    let other = Ca::new("Client CA the smoke does not have");
    let addr = rustls_server(server_config(fx.server_identity(), Some(&other.cert_pem)));
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(addr));
    assert_failed(
        &r,
        1,
        Class::ClientCertRejected,
        "it rejected the client certificate `",
    );
    assert_eq!(r.client_auth.accepted, Some(false));
    // TLS 1.3: the handshake completed from the client's side first.
    assert_eq!(
        r.session.as_ref().map(|s| s.protocol.as_str()),
        Some("TLSv1.3")
    );
}

#[test]
fn client_certificate_rejected_under_tls12_too() {
    let fx = Fixture::new();
    let other = Ca::new("Client CA the smoke does not have");
    let addr = OpenSsl::demo_server(
        &fx,
        &[
            "-CAfile",
            &{
                fx.write("certs/other_ca.pem", &other.cert_pem);
                fx.path("certs/other_ca.pem").to_string_lossy().into_owned()
            },
            "-Verify",
            "1",
            "-verify_return_error",
            "-tls1_2",
        ],
    );
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(addr.addr));
    assert_failed(
        &r,
        1,
        Class::ClientCertRejected,
        "answered the client certificate with the alert",
    );
}

#[test]
fn no_common_protocol_or_cipher() {
    let fx = Fixture::new();
    // TLS 1.2 with only a static-RSA suite, which rustls never offers.
    let server = OpenSsl::demo_server(&fx, &["-tls1_2", "-cipher", "AES128-SHA"]);
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(server.addr));
    assert_failed(
        &r,
        1,
        Class::NoCommonProtocol,
        "no common cipher suite or protocol version",
    );
}
