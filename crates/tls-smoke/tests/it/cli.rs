//! The command as `cargo xtask tls-smoke` runs it: settings resolution,
//! output formats, exit codes (Ok(Pass)=0, Ok(Fail)=1, Err=2).

use std::path::{Path, PathBuf};

use clap::Parser;
use rollout_config::{Context, Overrides, Settings};
use rollout_core::{Format, Verbosity, Verdict};

use crate::support::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: tls_smoke::Args,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ctx(root: &Path, format: Format) -> Context {
    let ws = workspace();
    let overrides = Overrides {
        config: None,
        root: Some(root.to_path_buf()),
    };
    Context {
        out: rollout_core::Out::stdout(),
        settings: Settings::resolve(&ws, &ws, &overrides, &|_| None).expect("settings"),
        format,
        verbosity: Verbosity::Quiet,
    }
}

/// Runs `tls-smoke ARGS...`; returns the result and stdout.
fn run(root: &Path, format: Format, args: &[&str]) -> (anyhow::Result<Verdict>, String) {
    let cli = Cli::try_parse_from(std::iter::once("tls-smoke").chain(args.iter().copied()))
        .expect("arguments");
    let mut out = Vec::new();
    let result = tls_smoke::run(&ctx(root, format), cli.args, &mut out);
    (result, String::from_utf8(out).expect("utf-8"))
}

/// The bundled sample's transport, in a fresh root with dev certs made by
/// the `certs` subcommand: what a fresh clone does.
fn sample_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = workspace().join("examples/townlet-sample/configs/demo/poc_demo_tls.yaml");
    let dest = dir.path().join("configs/demo/poc_demo_tls.yaml");
    std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    std::fs::copy(sample, &dest).expect("copy sample config");
    dir
}

#[test]
fn certs_then_loopback_passes_and_prints_version_and_cipher() {
    let root = sample_root();
    let out_dir = root.path().join("certs");
    let out_arg = out_dir.to_str().expect("utf-8");
    let (r, stdout) = run(
        root.path(),
        Format::Human,
        &["certs", "--out", out_arg, "--host", "demo.local"],
    );
    assert_eq!(r.expect("certs"), Verdict::Pass);
    assert!(
        stdout.contains("dev certificates for `demo.local` written to"),
        "{stdout}"
    );

    let (r, stdout) = run(
        root.path(),
        Format::Human,
        &[
            "--loopback",
            "--sim-config",
            "configs/demo/poc_demo_tls.yaml",
        ],
    );
    assert_eq!(r.expect("smoke"), Verdict::Pass, "{stdout}");
    let last = stdout.lines().last().expect("verdict line");
    assert!(
        last.starts_with(
            "tls-smoke passed: demo.local:8765 (loopback collector) negotiated TLSv1.3 TLS13_"
        ),
        "{stdout}"
    );
    for id in [
        "transport",
        "trust",
        "client-cert",
        "validity",
        "collector",
        "connect",
        "handshake",
        "client-auth",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("pass ") && l[5..].starts_with(id)),
            "{id} in {stdout}"
        );
    }

    // JSON: the documented fields.
    let (r, stdout) = run(root.path(), Format::Json, &["--loopback"]);
    assert_eq!(r.expect("smoke"), Verdict::Pass);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["schema"], 1);
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["mode"], "loopback");
    assert_eq!(v["endpoint"], "demo.local:8765");
    assert_eq!(v["server_name"], "demo.local");
    assert_eq!(v["session"]["protocol"], "TLSv1.3");
    assert_eq!(v["client_auth"]["accepted"], true);
    assert_eq!(v["server_chain"][0]["subject"], "CN=demo.local");
    assert!(
        v["server_chain"][0]["sha256"]
            .as_str()
            .is_some_and(|s| s.len() == 95)
    );
    assert!(v["handshake_ms"].as_f64().is_some());
    assert!(v["failure"].is_null());

    // `certs` never overwrites without --force.
    let before = std::fs::read(out_dir.join("demo_ca.pem")).expect("read");
    let cli = Cli::try_parse_from([
        "tls-smoke",
        "certs",
        "--out",
        out_arg,
        "--host",
        "demo.local",
    ])
    .expect("args");
    let err = tls_smoke::run(&ctx(root.path(), Format::Human), cli.args, &mut Vec::new())
        .expect_err("refuses");
    assert!(
        format!("{err:#}").contains("not replacing existing files"),
        "{err:#}"
    );
    assert_eq!(
        std::fs::read(out_dir.join("demo_ca.pem")).expect("read"),
        before
    );
}

#[test]
fn loopback_with_a_wrong_host_fails_with_the_names() {
    let root = sample_root();
    let out = root.path().join("certs");
    let (r, _) = run(
        root.path(),
        Format::Human,
        &[
            "certs",
            "--out",
            out.to_str().expect("utf-8"),
            "--host",
            "other.local",
        ],
    );
    r.expect("certs");
    let (r, stdout) = run(root.path(), Format::Human, &["--loopback"]);
    assert_eq!(r.expect("smoke"), Verdict::Fail, "{stdout}");
    assert!(
        stdout.contains("expected `demo.local`, certificate presents [DNS:other.local]"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .expect("line")
            .ends_with("name mismatch"),
        "{stdout}"
    );
}

#[test]
fn loopback_without_certs_cannot_run_and_says_how_to_make_them() {
    let root = sample_root();
    let (r, stdout) = run(root.path(), Format::Human, &["--loopback"]);
    let err = format!("{:#}", r.expect_err("exit 2"));
    assert!(
        err.contains("`ca_file`") && err.contains("certs/demo_ca.pem` does not exist"),
        "{err}"
    );
    assert!(
        err.contains("hint: generate dev certificates with `cargo xtask tls-smoke certs --out"),
        "{err}"
    );
    assert!(stdout.contains("FAIL trust"), "{stdout}");
    assert!(stdout.contains("tls-smoke could not run"), "{stdout}");
}

#[test]
fn plaintext_remote_endpoint_is_a_config_error() {
    let fx = Fixture::new();
    fx.write(
        "configs/remote.yaml",
        "telemetry:\n  transport:\n    type: tcp\n    endpoint: collector.example:8765\n    enable_tls: false\n    allow_plaintext: true\n    dev_allow_plaintext: true\n",
    );
    let (r, stdout) = run(
        fx.root(),
        Format::Human,
        &["--sim-config", "configs/remote.yaml"],
    );
    let err = format!("{:#}", r.expect_err("exit 2"));
    assert!(
        err.starts_with("Townlet would refuse this telemetry transport: "),
        "{err}"
    );
    assert!(err.contains("remote.yaml:4:15: `telemetry.transport.endpoint`: plaintext tcp is only permitted for localhost endpoints"), "{err}");
    assert!(
        err.contains("hint: enable TLS for remote collectors"),
        "{err}"
    );
    assert!(stdout.is_empty());
}

#[test]
fn plaintext_localhost_passes_with_the_warning() {
    let fx = Fixture::new();
    fx.write(
        "configs/local.yaml",
        "telemetry:\n  transport:\n    type: tcp\n    endpoint: localhost:8765\n    enable_tls: false\n    allow_plaintext: true\n    dev_allow_plaintext: true\n",
    );
    let (r, stdout) = run(
        fx.root(),
        Format::Human,
        &["--sim-config", "configs/local.yaml"],
    );
    assert_eq!(r.expect("pass"), Verdict::Pass);
    assert!(stdout.contains("warn transport"), "{stdout}");
    assert!(
        stdout.contains("telemetry_tcp_plaintext_enabled endpoint=localhost:8765"),
        "{stdout}"
    );
}

#[test]
fn missing_sim_config_says_where_it_looked() {
    let fx = Fixture::new();
    let (r, _) = run(
        fx.root(),
        Format::Human,
        &["--sim-config", "configs/nope.yaml"],
    );
    let err = format!("{:#}", r.expect_err("exit 2"));
    assert!(err.contains("configs/nope.yaml` does not exist"), "{err}");
    assert!(
        err.contains("hint: `--sim-config` is relative to the Townlet root"),
        "{err}"
    );
}

/// What the gate does: make dev certificates where the config expects them
/// if missing, then run the loopback smoke as a library call.
#[test]
fn gate_flow_generates_missing_dev_certs_then_passes() {
    let root = sample_root();
    let config = root.path().join("configs/demo/poc_demo_tls.yaml");
    let t = rollout_config::load_transport(&config, root.path()).expect("transport");
    let dir = tls_smoke::dev_certs_dir(&t)
        .expect("ca_file dir")
        .to_path_buf();
    assert!(tls_smoke::ensure_dev_certs(&dir, "demo.local").expect("generate"));
    assert!(!tls_smoke::ensure_dev_certs(&dir, "demo.local").expect("present"));
    let opts = tls_smoke::SmokeOptions {
        target: tls_smoke::SmokeTarget::Loopback {
            server_cert: None,
            server_key: None,
        },
        expiry_warning_days: 30,
    };
    let report = tls_smoke::smoke(&t, &opts);
    assert_eq!(report.verdict, rollout_core::Verdict::Pass, "{report:#?}");
    assert_eq!(report.exit_code, 0);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[test]
fn certs_refuses_an_empty_or_invalid_host_before_writing_anything() {
    let root = sample_root();
    let out_dir = root.path().join("certs");
    let out_arg = out_dir.to_str().expect("utf-8");
    let long = format!("bad host/{}", "a".repeat(291));
    for host in ["", long.as_str(), "demo..local"] {
        let (r, stdout) = run(
            root.path(),
            Format::Human,
            &["certs", "--out", out_arg, "--host", host],
        );
        let message = format!("{:#}", r.expect_err("refused"));
        assert!(
            message.starts_with(
                "`--host`: expected a DNS name (such as `demo.local`) or an IP address"
            ),
            "{message}"
        );
        assert!(message.contains("\nhint: "), "{message}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(!out_dir.exists(), "files written for `{host}`");
    }
    // IP addresses and names are fine.
    for host in ["127.0.0.1", "::1", "demo.local"] {
        let dir = root
            .path()
            .join(format!("certs-{}", host.replace(':', "_")));
        let (r, _) = run(
            root.path(),
            Format::Json,
            &[
                "certs",
                "--out",
                dir.to_str().expect("utf-8"),
                "--host",
                host,
            ],
        );
        assert_eq!(r.expect("certs"), Verdict::Pass, "{host}");
    }
}

#[test]
fn a_subject_with_an_escape_byte_reaches_the_terminal_escaped_and_json_exact() {
    let fx = Fixture::new();
    let evil = "demo\u{1b}[2J\u{1b}]0;owned\u{7}";
    let (cert, key) = fx.ca.leaf(&[HOST], evil, Use::Server, VALID);
    fx.write("certs/evil_server.pem", &cert);
    fx.write_key("certs/evil_server.key", &key);
    fx.demo("demo.local:8765", 3.0);
    let cert_arg = fx.path("certs/evil_server.pem");
    let key_arg = fx.path("certs/evil_server.key");
    let args = [
        "--loopback",
        "--sim-config",
        "configs/demo/poc_demo_tls.yaml",
        "--server-cert",
        cert_arg.to_str().expect("utf-8"),
        "--server-key",
        key_arg.to_str().expect("utf-8"),
    ];
    let (r, stdout) = run(fx.root(), Format::Human, &args);
    assert_eq!(r.expect("smoke"), Verdict::Pass, "{stdout}");
    assert!(stdout.contains("demo"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "raw ESC on stdout: {stdout:?}");
    assert!(!stdout.contains('\u{7}'), "raw BEL on stdout: {stdout:?}");

    let (r, stdout) = run(fx.root(), Format::Json, &args);
    assert_eq!(r.expect("smoke"), Verdict::Pass);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let subject = v["server_chain"][0]["subject"].as_str().expect("subject");
    assert!(
        subject.contains('\u{1b}'),
        "JSON keeps the exact subject: {subject:?}"
    );
}
