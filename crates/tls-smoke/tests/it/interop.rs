//! Interop with non-rustls peers: `openssl s_server` as the collector for
//! the smoke's client path, and Python's `ssl` module making exactly
//! Townlet's calls as the client of `serve`.

use std::time::Duration;

use tls_smoke::report::Verdict;
use tls_smoke::{ServeSettings, serve, smoke};

use crate::support::*;

#[test]
fn openssl_s_server_with_client_auth_passes() {
    let fx = Fixture::new();
    let server = OpenSsl::demo_server(
        &fx,
        &[
            "-CAfile",
            fx.path("certs/demo_ca.pem").to_str().expect("utf-8"),
            "-Verify",
            "1",
            "-verify_return_error",
        ],
    );
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(server.addr));
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    let s = r.session.as_ref().expect("session");
    assert_eq!(s.protocol, "TLSv1.3");
    assert!(s.cipher_suite.starts_with("TLS13_"), "{}", s.cipher_suite);
    assert_eq!(r.client_auth.requested, Some(true));
    assert_eq!(r.client_auth.accepted, Some(true));
    assert_eq!(r.client_auth.evidence.as_deref(), Some("session-ticket"));
    assert_eq!(r.server_chain[0].subject, "CN=demo.local");
    assert_eq!(r.server_chain[0].sans, vec!["DNS:demo.local".to_string()]);
    assert_eq!(r.address.as_deref(), Some(server.addr.to_string().as_str()));

    // TLS 1.2 only: acceptance is the completed handshake.
    let server = OpenSsl::demo_server(
        &fx,
        &[
            "-CAfile",
            fx.path("certs/demo_ca.pem").to_str().expect("utf-8"),
            "-Verify",
            "1",
            "-verify_return_error",
            "-tls1_2",
        ],
    );
    let r = smoke(&fx.demo("demo.local:8765", 2.0), &connect(server.addr));
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    assert_eq!(
        r.session.as_ref().map(|s| s.protocol.as_str()),
        Some("TLSv1.2")
    );
    assert_eq!(r.client_auth.evidence.as_deref(), Some("handshake"));
}

/// Townlet's `TcpTransport` TLS client, call for call.
const TOWNLET_CLIENT: &str = r#"
import json, socket, ssl, sys
host, port, connect_host, ca, cert, key, variant = sys.argv[1:8]
context = ssl.create_default_context()
context.load_verify_locations(ca)
context.load_cert_chain(cert, key)
context.check_hostname = True
sock = socket.create_connection((connect_host, int(port)), timeout=5.0)
tls = context.wrap_socket(sock, server_hostname=host)
payloads = [{"payload_type": "snapshot", "schema_version": "0.9.7", "tick": 1, "runtime_variant": "facade"}]
payloads += [{"payload_type": "diff", "tick": t, "changes": {"tick": t}} for t in (2, 3, 4)]
payloads.append({"payload_type": "diff", "tick": 5, "changes": {"runtime_variant": variant}})
for p in payloads:
    tls.sendall((json.dumps(p) + "\n").encode("utf-8"))
print(tls.version())
tls.close()
"#;

fn run_python(fx: &Fixture, port: u16, variant: &str) -> String {
    fx.write("client.py", TOWNLET_CLIENT);
    let sh = xshell::Shell::new().expect("shell");
    let script = fx.path("client.py");
    let ca = fx.path("certs/demo_ca.pem");
    let cert = fx.path("certs/demo_client.pem");
    let key = fx.path("certs/demo_client.key");
    let port = port.to_string();
    xshell::cmd!(
        sh,
        "python3 {script} demo.local {port} 127.0.0.1 {ca} {cert} {key} {variant}"
    )
    .read()
    .expect("python client")
}

fn serve_options(fx: &Fixture) -> ServeSettings {
    ServeSettings {
        listen: "127.0.0.1:0".into(),
        cert: fx.path("certs/demo_server.pem"),
        key: fx.path("certs/demo_server.key"),
        client_ca: Some(fx.path("certs/demo_ca.pem")),
        max_payloads: Some(5),
        duration: Some(Duration::from_secs(20)),
        expected_variant: "facade".into(),
        handshake_timeout: Duration::from_secs(5),
    }
}

fn serve_in_background(fx: &Fixture) -> (u16, std::thread::JoinHandle<tls_smoke::ServeSummary>) {
    let opts = serve_options(fx);
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        serve(&opts, |addr| tx.send(addr.port()).expect("send")).expect("serve")
    });
    let port = rx.recv_timeout(Duration::from_secs(10)).expect("listening");
    (port, handle)
}

#[test]
fn python_ssl_client_into_serve() {
    let fx = Fixture::new();
    let (port, handle) = serve_in_background(&fx);
    let version = run_python(&fx, port, "facade");
    assert_eq!(version.trim(), "TLSv1.3");
    let s = handle.join().expect("serve thread");
    assert_eq!(s.stopped_by, "max-payloads");
    assert_eq!(s.tally.payloads, 5);
    assert_eq!(s.tally.by_payload_type.get("snapshot"), Some(&1));
    assert_eq!(s.tally.by_payload_type.get("diff"), Some(&4));
    assert_eq!(s.tally.invalid_lines, 0);
    assert!(
        s.tally.handshake_failures.is_empty(),
        "{:?}",
        s.tally.handshake_failures
    );
    assert_eq!(s.verdict, Verdict::Pass);
    assert_eq!(s.exit_code, 0);
}

#[test]
fn serve_flags_a_non_facade_runtime_variant() {
    let fx = Fixture::new();
    let (port, handle) = serve_in_background(&fx);
    run_python(&fx, port, "legacy");
    let s = handle.join().expect("serve thread");
    assert_eq!(s.tally.payloads, 5);
    assert_eq!(s.tally.other_runtime_variants.get("legacy"), Some(&1));
    assert_eq!(s.verdict, Verdict::Fail);
    assert_eq!(s.exit_code, 1);
    let mut out = Vec::new();
    tls_smoke::serve_render(&s, &rollout_core::Style::new(false), &mut out).expect("render");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.contains("FAIL runtime_variant  expected `facade`, found others in 1 payloads"),
        "{text}"
    );
    assert!(
        text.contains("- 1 payloads report runtime_variant `legacy`"),
        "{text}"
    );
}

#[test]
fn serve_refuses_missing_material_with_a_hint() {
    let fx = Fixture::new();
    let mut opts = serve_options(&fx);
    opts.key = fx.path("certs/nope.key");
    let err = serve(&opts, |_| {}).expect_err("missing key");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("`--key`") && msg.contains("nope.key` does not exist"),
        "{msg}"
    );
    assert!(msg.contains("hint: generate dev certificates"), "{msg}");
}

/// A client that sends 65 MiB without a newline, waits for the collector
/// to close that connection, then sends one payload on a second one.
const ENDLESS_CLIENT: &str = r#"
import socket, ssl, sys
port, ca, cert, key = sys.argv[1:5]
context = ssl.create_default_context()
context.load_verify_locations(ca)
context.load_cert_chain(cert, key)
def connect():
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=10.0)
    return context.wrap_socket(sock, server_hostname="demo.local")
tls = connect()
chunk = b"x" * (1 << 20)
try:
    for _ in range(65):
        tls.sendall(chunk)
    tls.recv(1)  # returns when the collector closes the connection
except OSError:
    pass
tls.close()
tls = connect()
tls.sendall(b'{"payload_type": "snapshot", "tick": 1, "runtime_variant": "facade"}\n')
tls.close()
"#;

#[test]
fn serve_refuses_a_line_longer_than_64_mib_and_closes_the_connection() {
    // `read_until` buffered a line without a newline whole: a client could
    // grow the collector's memory without bound.
    let fx = Fixture::new();
    let mut opts = serve_options(&fx);
    opts.max_payloads = Some(1);
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        serve(&opts, |addr| tx.send(addr.port()).expect("send")).expect("serve")
    });
    let port = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("listening")
        .to_string();
    fx.write("endless.py", ENDLESS_CLIENT);
    let sh = xshell::Shell::new().expect("shell");
    let script = fx.path("endless.py");
    let ca = fx.path("certs/demo_ca.pem");
    let cert = fx.path("certs/demo_client.pem");
    let key = fx.path("certs/demo_client.key");
    xshell::cmd!(sh, "python3 {script} {port} {ca} {cert} {key}")
        .run()
        .expect("python client");
    let s = handle.join().expect("serve thread");
    assert_eq!(s.stopped_by, "max-payloads");
    assert_eq!(s.tally.payloads, 1);
    assert_eq!(s.tally.invalid_lines, 1);
    assert!(
        s.tally.invalid_examples[0]
            .contains("`connection 1`:1: payload at byte offset 0 is longer than 64 MiB"),
        "{:?}",
        s.tally.invalid_examples
    );
}
