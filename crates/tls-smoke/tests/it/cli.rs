//! The command as `cargo xtask tls-smoke` runs it, from resolved settings:
//! output formats, outcomes and their exit codes (pass 0, fail 1, could
//! not run 2: an `error` outcome or `Err`), and the outcome the gate's TLS
//! step reads.

use std::path::{Path, PathBuf};

use rollout_config::{Context, Overrides, Settings};
use rollout_core::{Format, Outcome, Status, Verbosity, Verdict};
use tls_smoke::{CertsSettings, SmokeTarget};

use crate::support::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A context for the Townlet root `root` whose output is captured.
fn ctx(root: &Path, format: Format) -> (Context, rollout_core::out::Captured) {
    let ws = workspace();
    let overrides = Overrides {
        config: None,
        root: Some(root.to_path_buf()),
    };
    let (out, captured) = rollout_core::Out::memory();
    let ctx = Context {
        out,
        settings: Settings::resolve(&ws, &ws, &overrides, &|_| None).expect("settings"),
        format,
        verbosity: Verbosity::Quiet,
    };
    (ctx, captured)
}

/// The smoke's settings as the command line resolves them without flags
/// but `target` (and `--sim-config`, relative to the Townlet root).
fn settings(root: &Path, sim_config: Option<&str>, target: SmokeTarget) -> tls_smoke::Settings {
    tls_smoke::Settings {
        sim_config: root.join(sim_config.unwrap_or("configs/demo/poc_demo_tls.yaml")),
        target,
        generate_dev_certs: false,
        accept_dev_certs: false,
        expiry_warning_days: 30,
    }
}

fn loopback() -> SmokeTarget {
    SmokeTarget::Loopback {
        server_cert: None,
        server_key: None,
    }
}

/// Runs the smoke; returns the outcome and what it printed.
fn smoke(
    root: &Path,
    format: Format,
    settings: tls_smoke::Settings,
) -> (anyhow::Result<Outcome>, String) {
    let (ctx, captured) = ctx(root, format);
    let result = tls_smoke::run(&ctx, settings);
    (result, captured.text())
}

/// Runs `tls-smoke certs --out DIR --host HOST`.
fn certs(root: &Path, format: Format, out: &Path, host: &str) -> (anyhow::Result<Outcome>, String) {
    let (ctx, captured) = ctx(root, format);
    let settings = CertsSettings {
        out: Some(out.to_path_buf()),
        host: Some(host.to_string()),
        force: false,
        days: 365,
        sim_config: root.join("configs/demo/poc_demo_tls.yaml"),
    };
    let result = tls_smoke::run_certs(&ctx, settings);
    (result, captured.text())
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
    let (r, stdout) = certs(root.path(), Format::Human, &out_dir, "demo.local");
    assert_eq!(r.expect("certs").verdict, Verdict::Pass);
    assert!(
        stdout.contains("dev certificates for `demo.local` written to"),
        "{stdout}"
    );

    let (r, stdout) = smoke(
        root.path(),
        Format::Human,
        settings(
            root.path(),
            Some("configs/demo/poc_demo_tls.yaml"),
            loopback(),
        ),
    );
    assert_eq!(r.expect("smoke").verdict, Verdict::Pass, "{stdout}");
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
    let (r, stdout) = smoke(
        root.path(),
        Format::Json,
        settings(root.path(), None, loopback()),
    );
    assert_eq!(r.expect("smoke").verdict, Verdict::Pass);
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
    let (r, _) = certs(root.path(), Format::Human, &out_dir, "demo.local");
    let err = r.expect_err("refuses");
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
    let (r, _) = certs(root.path(), Format::Human, &out, "other.local");
    r.expect("certs");
    let (r, stdout) = smoke(
        root.path(),
        Format::Human,
        settings(root.path(), None, loopback()),
    );
    let outcome = r.expect("smoke");
    assert_eq!(outcome.verdict, Verdict::Fail, "{stdout}");
    assert_eq!(outcome.exit_code(), 1);
    assert_eq!(outcome.status(), Status::Fail);
    // The gate step's summary is the first error, its details the lines
    // under the failed checks.
    assert!(
        outcome
            .summary
            .starts_with("server certificate does not match the name")
            && outcome.summary.ends_with(" (loopback collector)"),
        "{}",
        outcome.summary
    );
    let details: Vec<&String> = outcome.not_passing().flat_map(|c| &c.details).collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("certificate presents [DNS:other.local]")),
        "{details:#?}"
    );
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
    let (r, stdout) = smoke(
        root.path(),
        Format::Human,
        settings(root.path(), None, loopback()),
    );
    let outcome = r.expect("a report");
    assert_eq!(outcome.exit_code(), 2);
    let err = format!(
        "{:#}",
        tls_smoke::could_not_run(&outcome).expect("could not run")
    );
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
    let (r, stdout) = smoke(
        fx.root(),
        Format::Human,
        settings(
            fx.root(),
            Some("configs/remote.yaml"),
            SmokeTarget::Endpoint,
        ),
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
    let (r, stdout) = smoke(
        fx.root(),
        Format::Human,
        settings(fx.root(), Some("configs/local.yaml"), SmokeTarget::Endpoint),
    );
    let outcome = r.expect("pass");
    assert_eq!(outcome.verdict, Verdict::Pass);
    // A warning of the smoke does not warn the gate step; the check keeps
    // it in its details.
    assert_eq!(outcome.status(), Status::Pass);
    let transport = outcome
        .checks
        .iter()
        .find(|c| c.id == "transport")
        .expect("transport check");
    assert!(
        transport
            .details
            .iter()
            .any(|d| d.contains("telemetry_tcp_plaintext_enabled")),
        "{transport:#?}"
    );
    assert_eq!(transport.places[0].code.as_deref(), Some("plaintext"));
    assert!(transport.places[0].line.is_some(), "{transport:#?}");
    assert!(stdout.contains("warn transport"), "{stdout}");
    assert!(
        stdout.contains("telemetry_tcp_plaintext_enabled endpoint=localhost:8765"),
        "{stdout}"
    );
}

#[test]
fn missing_sim_config_says_where_it_looked() {
    let fx = Fixture::new();
    let (r, _) = smoke(
        fx.root(),
        Format::Human,
        settings(fx.root(), Some("configs/nope.yaml"), SmokeTarget::Endpoint),
    );
    let err = format!("{:#}", r.expect_err("exit 2"));
    assert!(err.contains("configs/nope.yaml` does not exist"), "{err}");
    assert!(
        err.contains("hint: `tls_smoke.sim_config` is relative to the Townlet root"),
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

/// The gate's TLS step through `run`: dev certificates generated next to
/// `ca_file`, the step log (a note, then the report) and the outcome the
/// step shows: `warn` on dev certificates unless `accept_dev_certs`.
#[test]
fn gate_step_through_run_warns_on_generated_dev_certs_unless_accepted() {
    let root = sample_root();
    let step = tls_smoke::Settings {
        generate_dev_certs: true,
        ..settings(root.path(), None, loopback())
    };
    let (r, log) = smoke(root.path(), Format::Human, step.clone());
    let outcome = r.expect("smoke");
    let dir = root.path().join("certs");
    let first = log.lines().next().expect("note");
    assert_eq!(
        first,
        format!(
            "generated dev certificates for demo.local in `{}`",
            dir.display()
        )
    );
    assert_eq!(
        (outcome.verdict, outcome.status()),
        (Verdict::Pass, Status::Warn)
    );
    assert!(
        outcome.summary.starts_with("pass: TLSv1.3 TLS13_"),
        "{}",
        outcome.summary
    );
    assert!(
        outcome.summary.ends_with(
            " with demo.local (loopback collector), client certificate accepted (dev certificates generated now: the real ones were not tested)"
        ),
        "{}",
        outcome.summary
    );
    let warned: Vec<&str> = outcome.not_passing().map(|c| c.id.as_str()).collect();
    assert_eq!(warned, ["dev-certs"]);

    // The log is what the gate wrote before: the note, then the report
    // rendered without colour (timings aside).
    let t = rollout_config::load_transport(&step.sim_config, root.path()).expect("transport");
    let report = tls_smoke::smoke(
        &t,
        &tls_smoke::SmokeOptions {
            target: loopback(),
            expiry_warning_days: 30,
        },
    );
    let mut rendered = format!("{first}\n").into_bytes();
    tls_smoke::report::render(&report, &rollout_core::Style::new(false), &mut rendered)
        .expect("render");
    let numbers_aside = |text: &str| {
        let mut out = String::new();
        for c in text.chars() {
            let digit = c.is_ascii_digit();
            if !(digit && out.ends_with('#')) {
                out.push(if digit { '#' } else { c });
            }
        }
        out
    };
    assert_eq!(
        numbers_aside(&log),
        numbers_aside(&String::from_utf8(rendered).expect("utf-8"))
    );

    // Present now: not generated again; accepted, a plain pass.
    let accepted = tls_smoke::Settings {
        accept_dev_certs: true,
        ..step
    };
    let (r, log) = smoke(root.path(), Format::Human, accepted);
    let outcome = r.expect("smoke");
    assert!(!log.starts_with("generated"), "{log}");
    assert_eq!(outcome.status(), Status::Pass);
    assert!(
        outcome.summary.starts_with("TLSv1.3 TLS13_"),
        "{}",
        outcome.summary
    );
    assert!(
        outcome.summary.ends_with(
            "(dev certificates of `tls-smoke certs`, CA 'Townlet tls-smoke dev CA': the real ones were not tested)"
        ),
        "{}",
        outcome.summary
    );
    assert_eq!(outcome.not_passing().count(), 0);
}

#[test]
fn certs_refuses_an_empty_or_invalid_host_before_writing_anything() {
    let root = sample_root();
    let out_dir = root.path().join("certs");
    let long = format!("bad host/{}", "a".repeat(291));
    for host in ["", long.as_str(), "demo..local"] {
        let (r, stdout) = certs(root.path(), Format::Human, &out_dir, host);
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
        let (r, _) = certs(root.path(), Format::Json, &dir, host);
        assert_eq!(r.expect("certs").verdict, Verdict::Pass, "{host}");
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
    let target = SmokeTarget::Loopback {
        server_cert: Some(fx.path("certs/evil_server.pem")),
        server_key: Some(fx.path("certs/evil_server.key")),
    };
    let args = settings(fx.root(), None, target);
    let (r, stdout) = smoke(fx.root(), Format::Human, args.clone());
    assert_eq!(r.expect("smoke").verdict, Verdict::Pass, "{stdout}");
    assert!(stdout.contains("demo"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "raw ESC on stdout: {stdout:?}");
    assert!(!stdout.contains('\u{7}'), "raw BEL on stdout: {stdout:?}");

    let (r, stdout) = smoke(fx.root(), Format::Json, args);
    assert_eq!(r.expect("smoke").verdict, Verdict::Pass);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let subject = v["server_chain"][0]["subject"].as_str().expect("subject");
    assert!(
        subject.contains('\u{1b}'),
        "JSON keeps the exact subject: {subject:?}"
    );
}
