//! One test per rule of Townlet's `TelemetryTransportConfig`, with configs in
//! the shape of Townlet's `configs/demo/poc_demo_tls.yaml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rollout_config::townlet::{Endpoint, TransportKind, parse_transport};

const ROOT: &str = "/checkout";

/// A Townlet config with the given `telemetry.transport` body (indented by
/// four spaces) amid the unrelated keys a real config has.
fn sim_config(transport: &str) -> String {
    let mut body = String::new();
    for line in transport.lines() {
        body.push_str("    ");
        body.push_str(line);
        body.push('\n');
    }
    format!(
        "# demo config\nconfig_id: \"v1.3.0\"\nfeatures:\n  systems:\n    observations: \"hybrid\"\nrewards:\n  clip:\n    clip_per_tick: 0.2\ntelemetry:\n  transport:\n{body}  narration:\n    global_cooldown_ticks: 30\nsomething_new_in_townlet: {{a: 1}}\n"
    )
}

fn ok(transport: &str) -> rollout_config::Transport {
    parse_transport(
        &sim_config(transport),
        Path::new("configs/demo/poc_demo_tls.yaml"),
        Path::new(ROOT),
    )
    .unwrap_or_else(|e| panic!("expected a valid transport, got: {e}"))
}

fn err(transport: &str) -> String {
    match parse_transport(
        &sim_config(transport),
        Path::new("configs/demo/poc_demo_tls.yaml"),
        Path::new(ROOT),
    ) {
        Ok(t) => panic!("expected an error, got {t:?}"),
        Err(e) => e.to_string(),
    }
}

const TLS: &str = "type: tcp\nendpoint: demo.local:8765\nenable_tls: true\nverify_hostname: true\nca_file: certs/demo_ca.pem\ncert_file: certs/demo_client.pem\nkey_file: certs/demo_client.key\nallow_plaintext: false\nbuffer:\n  max_batch_size: 32\nretry:\n  max_attempts: 3\n";

#[test]
fn tls_config_resolves_cert_paths_against_the_townlet_root() {
    let t = ok(TLS);
    assert_eq!(t.kind, TransportKind::Tcp);
    assert_eq!(
        t.endpoint,
        Some(Endpoint {
            host: "demo.local".into(),
            port: 8765
        })
    );
    let tls = t.tls.clone().expect("tls on");
    assert!(tls.verify_hostname);
    assert_eq!(
        tls.ca_file,
        Some(PathBuf::from("/checkout/certs/demo_ca.pem"))
    );
    assert_eq!(
        tls.cert_file,
        Some(PathBuf::from("/checkout/certs/demo_client.pem"))
    );
    assert_eq!(
        tls.key_file,
        Some(PathBuf::from("/checkout/certs/demo_client.key"))
    );
    assert!(!t.plaintext);
    assert!(t.warnings.is_empty());
    assert_eq!(t.connect_timeout, Duration::from_secs(5));
    assert_eq!(t.place("ca_file"), "configs/demo/poc_demo_tls.yaml:15:5");
}

#[test]
fn missing_transport_is_stdout() {
    let t = parse_transport("config_id: x\n", Path::new("c.yaml"), Path::new(ROOT)).expect("valid");
    assert_eq!(t.kind, TransportKind::Stdout);
    let t = parse_transport(
        "telemetry:\n  narration: {}\n",
        Path::new("c.yaml"),
        Path::new(ROOT),
    )
    .expect("valid");
    assert_eq!(t.kind, TransportKind::Stdout);
}

#[test]
fn tcp_needs_an_endpoint() {
    insta::assert_snapshot!(err("type: tcp\nca_file: certs/ca.pem\n"), @"configs/demo/poc_demo_tls.yaml:11:5: `telemetry.transport`: `endpoint` is required when type is 'tcp', as `host:port`");
}

#[test]
fn endpoint_must_be_host_and_port() {
    insta::assert_snapshot!(err("type: tcp\nendpoint: demo.local\n"), @"configs/demo/poc_demo_tls.yaml:12:15: `telemetry.transport.endpoint`: expected `host:port`, found 'demo.local'");
    insta::assert_snapshot!(err("type: tcp\nendpoint: demo.local:http\n"), @"configs/demo/poc_demo_tls.yaml:12:15: `telemetry.transport.endpoint`: expected a port number from 1 to 65535 after ':', found 'http' in 'demo.local:http'");
}

#[test]
fn enable_tls_defaults_to_not_allow_plaintext() {
    assert!(ok("type: tcp\nendpoint: demo.local:8765\n").tls.is_some());
    let t = ok(
        "type: tcp\nendpoint: localhost:8765\nallow_plaintext: true\ndev_allow_plaintext: true\n",
    );
    assert!(t.tls.is_none());
    assert!(t.plaintext);
}

#[test]
fn key_file_needs_cert_file_and_back() {
    insta::assert_snapshot!(err("type: tcp\nendpoint: demo.local:8765\nkey_file: certs/k.key\n"), @"configs/demo/poc_demo_tls.yaml:13:15: `telemetry.transport.key_file`: `cert_file` must be provided when `key_file` is set");
    insta::assert_snapshot!(err("type: tcp\nendpoint: demo.local:8765\ncert_file: certs/c.pem\n"), @"configs/demo/poc_demo_tls.yaml:13:16: `telemetry.transport.cert_file`: `key_file` must be provided when `cert_file` is set");
}

#[test]
fn certificate_paths_must_not_be_blank() {
    insta::assert_snapshot!(err("type: tcp\nendpoint: demo.local:8765\nca_file: \"  \"\n"), @r#"configs/demo/poc_demo_tls.yaml:13:14: `telemetry.transport.ca_file`: must not be blank"#);
}

#[test]
fn plaintext_localhost_passes_with_townlets_warning() {
    let t = ok(
        "type: tcp\nendpoint: localhost:8765\nenable_tls: false\nallow_plaintext: true\ndev_allow_plaintext: true\n",
    );
    assert!(t.plaintext);
    assert_eq!(
        t.warnings,
        ["telemetry_tcp_plaintext_enabled endpoint=localhost:8765"]
    );
    let t = ok(
        "type: tcp\nendpoint: 127.0.0.1:9\nenable_tls: false\nallow_plaintext: true\ndev_allow_plaintext: true\n",
    );
    assert_eq!(
        t.warnings,
        ["telemetry_tcp_plaintext_enabled endpoint=127.0.0.1:9"]
    );
}

#[test]
fn plaintext_needs_dev_allow_plaintext_too() {
    insta::assert_snapshot!(err("type: tcp\nendpoint: localhost:8765\nenable_tls: false\nallow_plaintext: true\n"), @"configs/demo/poc_demo_tls.yaml:14:22: `telemetry.transport.allow_plaintext`: plaintext tcp also requires `dev_allow_plaintext: true`");
}

#[test]
fn tls_off_without_allow_plaintext_is_an_error() {
    insta::assert_snapshot!(err("type: tcp\nendpoint: localhost:8765\nenable_tls: false\n"), @"configs/demo/poc_demo_tls.yaml:13:17: `telemetry.transport.enable_tls`: tcp transport requires `enable_tls: true` or `allow_plaintext: true`");
}

#[test]
fn plaintext_to_a_remote_host_is_an_error() {
    insta::assert_snapshot!(err("type: tcp\nendpoint: collector.internal:9100\nenable_tls: false\nallow_plaintext: true\ndev_allow_plaintext: true\n"), @r"
    configs/demo/poc_demo_tls.yaml:12:15: `telemetry.transport.endpoint`: plaintext tcp is only permitted for localhost endpoints (localhost, 127.0.0.1), found host 'collector.internal'
    hint: enable TLS for remote collectors, or point the endpoint at localhost for development
    ");
}

#[test]
fn ipv6_loopback_is_rejected_as_townlet_rejects_it() {
    let e = err(
        "type: tcp\nendpoint: \"[::1]:8765\"\nenable_tls: false\nallow_plaintext: true\ndev_allow_plaintext: true\n",
    );
    assert!(e.contains("found host '::1'"), "{e}");
    assert!(
        e.contains("hint: Townlet splits the endpoint at the first ':'"),
        "{e}"
    );
}

#[test]
fn enable_tls_with_allow_plaintext_keeps_tls() {
    let t = ok(
        "type: tcp\nendpoint: demo.local:8765\nenable_tls: true\nallow_plaintext: true\ndev_allow_plaintext: true\n",
    );
    assert!(t.tls.is_some());
    assert!(!t.plaintext);
    assert!(t.warnings.is_empty());
}

#[test]
fn tls_options_are_errors_on_non_tcp_transports() {
    insta::assert_snapshot!(err("type: stdout\nca_file: certs/ca.pem\n"), @"configs/demo/poc_demo_tls.yaml:12:14: `telemetry.transport.ca_file`: TLS options are only supported for tcp transport, not `stdout`");
    insta::assert_snapshot!(err("type: stdout\nenable_tls: true\n"), @"configs/demo/poc_demo_tls.yaml:12:17: `telemetry.transport.enable_tls`: TLS is only supported for tcp transport, not `stdout`");
    insta::assert_snapshot!(err("type: file\nfile_path: out.jsonl\nallow_plaintext: true\n"), @"configs/demo/poc_demo_tls.yaml:13:22: `telemetry.transport.allow_plaintext`: only supported for tcp transport, not `file`");
    insta::assert_snapshot!(err("type: stdout\ndev_allow_plaintext: true\n"), @"configs/demo/poc_demo_tls.yaml:12:26: `telemetry.transport.dev_allow_plaintext`: only supported for tcp transport, not `stdout`");
    // Turning TLS off explicitly is harmless.
    assert_eq!(
        ok("type: stdout\nenable_tls: false\n").kind,
        TransportKind::Stdout
    );
}

#[test]
fn file_transport_needs_a_path_resolved_against_the_root() {
    insta::assert_snapshot!(err("type: file\n"), @"configs/demo/poc_demo_tls.yaml:11:5: `telemetry.transport`: `file_path` is required when type is 'file'");
    let t = ok("type: file\nfile_path: logs/t.jsonl\n");
    assert_eq!(
        t.kind,
        TransportKind::File {
            file_path: PathBuf::from("/checkout/logs/t.jsonl")
        }
    );
}

#[test]
fn unknown_transport_type_is_named() {
    insta::assert_snapshot!(err("type: udp\n"), @"configs/demo/poc_demo_tls.yaml:11:11: `telemetry.transport.type`: unsupported transport type 'udp', expected one of stdout, file, tcp, websocket");
}

#[test]
fn connect_timeout_defaults_to_five_and_is_bounded() {
    assert_eq!(
        ok("type: tcp\nendpoint: demo.local:1\nconnect_timeout_seconds: 0.25\n").connect_timeout,
        Duration::from_millis(250)
    );
    insta::assert_snapshot!(err("type: tcp\nendpoint: demo.local:1\nconnect_timeout_seconds: 90\n"), @"configs/demo/poc_demo_tls.yaml:13:30: `telemetry.transport.connect_timeout_seconds`: expected seconds between 0 and 60, found 90");
}

#[test]
fn booleans_are_read_as_pydantic_reads_them() {
    let t = ok(
        "type: tcp\nendpoint: localhost:1\nenable_tls: \"no\"\nallow_plaintext: \"yes\"\ndev_allow_plaintext: 1\n",
    );
    assert!(t.plaintext);
    insta::assert_snapshot!(err("type: tcp\nendpoint: demo.local:1\nverify_hostname: maybe\n"), @"configs/demo/poc_demo_tls.yaml:13:22: `telemetry.transport.verify_hostname`: expected a boolean (true or false), found 'maybe'");
}

#[test]
fn wrong_types_elsewhere_in_the_file_are_ignored() {
    // Townlet forwards unknown keys to its modules; only the transport matters.
    let text = sim_config(TLS).replace("clip_per_tick: 0.2", "clip_per_tick: [not, a, number]");
    assert!(parse_transport(&text, Path::new("c.yaml"), Path::new(ROOT)).is_ok());
}

#[test]
fn tags_are_judged_as_townlet_s_yaml_safe_load_judges_them() {
    // safe_load: ConstructorError, "could not determine a constructor for the tag '!include'".
    let e = err("type: tcp\nendpoint: demo.local:8765\nca_file: !include certs.yaml\n");
    assert!(
        e.starts_with("configs/demo/poc_demo_tls.yaml:")
            && e.contains("unknown YAML tag `!include`")
            && e.contains("yaml.safe_load"),
        "{e}"
    );
    // Anywhere in the file, not only under `telemetry.transport`.
    let text = format!(
        "{}extra: !!python/name:os.system x\n",
        sim_config("type: stdout\n")
    );
    let e = parse_transport(&text, Path::new("sim.yaml"), Path::new(ROOT)).expect_err("tag");
    assert!(e.to_string().contains("`!!python/name:os.system`"), "{e}");
    // What safe_load constructs is accepted.
    let text = format!(
        "{}extra: {{a: !!set {{x}}, b: !!binary aGk=, c: ! plain, d: !!timestamp 2001-01-01}}\n",
        sim_config("type: stdout\n")
    );
    parse_transport(&text, Path::new("sim.yaml"), Path::new(ROOT)).expect("safe_load tags");
}

#[test]
fn a_deep_sim_config_is_refused_at_once() {
    // 1M levels under an ignored key used to hang past 60 s.
    let depth = 1_000_000;
    let text = format!(
        "{}extra: {}{}\n",
        sim_config("type: stdout\n"),
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let line = text.lines().count();
    let started = std::time::Instant::now();
    let e = parse_transport(&text, Path::new("sim.yaml"), Path::new(ROOT)).expect_err("deep");
    assert!(
        e.to_string().starts_with(&format!("sim.yaml:{line}:"))
            && e.to_string().contains("nested more than 128 deep"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
