//! Hostile inputs given to every command that reads a file: FIFOs, devices
//! (also through symlinks), endless streams and oversized files. Each must
//! end quickly with exit 2 and a message naming the file, under a memory
//! limit far below what reading them whole would take.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;

/// Address space allowed to the command: generous for the allocator's and
/// threads' reservations, far below what reading `/dev/zero` would reach.
const ADDRESS_SPACE_KIB: u64 = 4 << 20;

/// The xtask binary under `ulimit -v`, with stdin from `stdin` (else none).
fn limited(stdin: Option<&Path>, args: &[&std::ffi::OsStr]) -> Command {
    let bin = assert_cmd::cargo::cargo_bin("xtask");
    let script = match stdin {
        Some(_) => format!("ulimit -v {ADDRESS_SPACE_KIB}; exec \"$@\" <\"$STDIN_PATH\""),
        None => format!("ulimit -v {ADDRESS_SPACE_KIB}; exec \"$@\" </dev/null"),
    };
    let mut cmd = Command::from_std(plumbing::process::command("bash"));
    cmd.arg("-c").arg(script).arg("xtask").arg(bin).args(args);
    if let Some(path) = stdin {
        cmd.env("STDIN_PATH", path);
    }
    cmd.env_remove("TOWNLET_ROOT")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(60));
    cmd
}

struct Hostile {
    dir: tempfile::TempDir,
}

impl Hostile {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        nix::unistd::mkfifo(&dir.path().join("fifo"), nix::sys::stat::Mode::S_IRWXU)
            .expect("mkfifo");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).expect("symlink");
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    /// A Townlet config whose `ca_file` is `ca_file`.
    fn tls_config(&self, ca_file: &Path) -> PathBuf {
        self.write(
            &format!("tls-{}.yaml", ca_file.file_name().expect("name").to_string_lossy()),
            &format!(
                "telemetry:\n  transport:\n    type: tcp\n    endpoint: localhost:8765\n    enable_tls: true\n    ca_file: {}\n",
                ca_file.display()
            ),
        )
    }
}

fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

fn expect_refusal(mut cmd: Command, file: &Path, reason: &str) {
    let shown = format!("`{}`", file.display());
    cmd.assert().code(2).stderr(
        predicate::str::contains(shown.clone())
            .and(predicate::str::contains(reason))
            .or(predicate::str::contains(format!("{}: the", file.display()))
                .and(predicate::str::contains(reason))),
    );
}

#[test]
fn configs_that_are_fifos_or_devices_are_refused() {
    let hostile = Hostile::new();
    for (name, reason) in [("fifo", "is a FIFO"), ("zero", "is a character device")] {
        let path = hostile.path(name);
        expect_refusal(
            limited(None, &[os("config"), os("--config"), path.as_os_str()]),
            &path,
            reason,
        );
        expect_refusal(
            limited(None, &[os("config"), os("--sim-config"), path.as_os_str()]),
            &path,
            reason,
        );
    }
}

#[test]
fn tls_smoke_refuses_a_config_or_ca_file_that_is_a_fifo_or_a_device() {
    let hostile = Hostile::new();
    for (name, reason) in [("fifo", "is a FIFO"), ("zero", "is a character device")] {
        let path = hostile.path(name);
        expect_refusal(
            limited(
                None,
                &[os("tls-smoke"), os("--sim-config"), path.as_os_str()],
            ),
            &path,
            reason,
        );
        limited(
            None,
            &[os("tls-smoke"), os("--sim-config"), path.as_os_str()],
        )
        .assert()
        .stderr(predicate::str::contains(
            "hint: point `--sim-config` (or `tls_smoke.sim_config`) at the Townlet YAML file itself",
        ));
        let config = hostile.tls_config(&path);
        limited(
            None,
            &[os("tls-smoke"), os("--sim-config"), config.as_os_str()],
        )
        .assert()
        .code(2)
        .stdout(predicate::str::contains("could not run"))
        .stderr(
            predicate::str::contains(reason)
                .and(predicate::str::contains(
                    "hint: point `ca_file` at the PEM file itself",
                ))
                .and(predicate::str::contains("tls-smoke certs").not()),
        );
    }
}

#[test]
fn baseline_diff_refuses_fifos_devices_and_endless_lines() {
    let hostile = Hostile::new();
    let baseline = hostile.write(
        "baseline.jsonl",
        "{\"schema_version\":\"0.9.0\",\"tick\":1,\"runtime_variant\":\"facade\"}\n",
    );
    // A regular file of 2 GiB of zero bytes, sparse on disk: no newline.
    let zeros = hostile.path("zeros.jsonl");
    std::fs::File::create(&zeros)
        .and_then(|file| file.set_len(2 << 30))
        .expect("sparse file");
    nix::unistd::mkfifo(&hostile.path("fifo.jsonl"), nix::sys::stat::Mode::S_IRWXU)
        .expect("mkfifo");
    std::os::unix::fs::symlink("/dev/zero", hostile.path("zero.jsonl")).expect("symlink");
    for (name, reason) in [
        ("fifo.jsonl", "is a FIFO"),
        ("zero.jsonl", "is a character device"),
        ("zeros.jsonl", "is longer than 64 MiB"),
    ] {
        let candidate = hostile.path(name);
        limited(
            None,
            &[
                os("baseline-diff"),
                os("--baseline"),
                baseline.as_os_str(),
                os("--candidate"),
                candidate.as_os_str(),
            ],
        )
        .assert()
        .code(2)
        .stderr(predicate::str::contains(reason));
    }
}

#[test]
fn monitor_refuses_fifos_devices_and_endless_stdin() {
    let hostile = Hostile::new();
    for (flag, name, reason) in [
        ("--telemetry", "fifo", "is a FIFO"),
        ("--log", "zero", "is a character device"),
    ] {
        let path = hostile.path(name);
        limited(None, &[os("monitor"), os(flag), path.as_os_str()])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(reason));
    }
    for (flag, reason) in [
        ("--telemetry", "is longer than 64 MiB"),
        ("--log", "line longer than 1 MiB"),
    ] {
        limited(
            Some(Path::new("/dev/zero")),
            &[os("monitor"), os(flag), os("-")],
        )
        .assert()
        .code(2)
        .stderr(predicate::str::contains(reason));
    }
}

#[test]
fn bless_refuses_symlinks_and_cleans_up_after_killed_blesses() {
    let hostile = Hostile::new();
    let candidate = hostile.path("candidate");
    std::fs::create_dir(&candidate).expect("mkdir");
    std::fs::write(candidate.join("a.json"), "{}").expect("write");
    std::os::unix::fs::symlink("/etc/hostname", candidate.join("host.txt")).expect("symlink");
    let baseline = hostile.path("baseline");
    // What a bless killed with SIGKILL leaves: its pid is long gone.
    let stale = hostile.path(".baseline.bless-999999999");
    std::fs::create_dir(&stale).expect("mkdir");
    let bless = |candidate: &Path| {
        limited(
            None,
            &[
                os("baseline-diff"),
                os("--bless"),
                os("--baseline"),
                baseline.as_os_str(),
                os("--candidate"),
                candidate.as_os_str(),
            ],
        )
    };
    bless(&candidate)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`host.txt` is a symlink to `/etc/hostname`",
        ));
    assert!(!baseline.exists(), "nothing blessed");
    assert!(!stale.exists(), "the killed bless's temporary is removed");
    std::fs::remove_file(candidate.join("host.txt")).expect("rm");
    bless(&candidate).assert().success();
    assert!(baseline.join("manifest.json").is_file());
}

#[test]
fn deep_nesting_and_unknown_tags_are_refused_at_once_with_exit_2() {
    let hostile = Hostile::new();
    let depth = 1_000_000;
    let deep_sim = hostile.write(
        "deep-sim.yaml",
        &format!("extra: {}{}\n", "[".repeat(depth), "]".repeat(depth)),
    );
    let depth = 100_000;
    let deep_rollout = hostile.write(
        "deep-rollout.yaml",
        &format!(
            "capture:\n  sim_config: x.yaml\n  set:\n    a.b: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    );
    let tagged = hostile.write("tagged.yaml", "runtime_variant: !include other.yaml\n");
    for (flag, path, line, message) in [
        ("--sim-config", &deep_sim, 1, "nested more than 128 deep"),
        ("--config", &deep_rollout, 4, "nested more than 128 deep"),
        ("--config", &tagged, 1, "unknown YAML tag `!include`"),
    ] {
        let started = std::time::Instant::now();
        limited(None, &[os("config"), os(flag), path.as_os_str()])
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains(format!("{}:{line}:", path.display()))
                    .and(predicate::str::contains(message)),
            );
        // It used to take 17 s (rollout) and more than 60 s (sim config).
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{flag} {} took {:?}",
            path.display(),
            started.elapsed()
        );
    }
}

#[test]
fn durations_too_long_for_a_clock_are_exit_2_not_a_panic() {
    let hostile = Hostile::new();
    // `timeout: 1e300` panicked every command that loaded the config (exit 101).
    let config = hostile.write(
        "rollout.yaml",
        "gate:\n  steps:\n    - id: a\n      command: echo\n      timeout: 1e300\n",
    );
    limited(None, &[os("config"), os("--config"), config.as_os_str()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}:5:16: `gate.steps[0].timeout`: expected a duration of at most 7 days (`7d`, 604800 seconds), found 1e300",
            config.display()
        )));
    for args in [
        &[
            "tls-smoke",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
            "--duration",
            "1e300",
        ][..],
        &[
            "monitor",
            "--follow",
            "--stop-after-idle",
            "99999999999999h",
            "--log",
            "/dev/null",
        ][..],
    ] {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|arg| os(arg)).collect();
        limited(None, &args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "expected a duration of at most 7 days",
            ));
    }
}

#[test]
fn outputs_that_are_devices_or_fifos_are_written_in_place_never_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let hostile = Hostile::new();
    let baseline = hostile.write(
        "t.jsonl",
        "{\"schema_version\":\"0.9.0\",\"tick\":1,\"runtime_variant\":\"facade\"}\n",
    );
    let log = hostile.write(
        "run.log",
        "INFO tick_health tick=1 queue=0 dropped=0 exit_queue=0\n",
    );
    // A private `/dev/full` (char 1,7): the atomic writer renamed its
    // temporary over the device, and as root replaced `/dev/full` itself.
    let full = hostile.path("full");
    nix::sys::stat::mknod(
        &full,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 7),
    )
    .expect("mknod (the tests run as root, as CI does)");
    let runs: [&[&std::ffi::OsStr]; 3] = [
        &[
            os("baseline-diff"),
            os("--baseline"),
            baseline.as_os_str(),
            os("--candidate"),
            baseline.as_os_str(),
            os("--output"),
            full.as_os_str(),
        ],
        &[
            os("monitor"),
            os("--log"),
            log.as_os_str(),
            os("--prom-textfile"),
            full.as_os_str(),
        ],
        &[
            os("monitor"),
            os("chart"),
            os("--log"),
            log.as_os_str(),
            os("--out"),
            full.as_os_str(),
        ],
    ];
    for args in runs {
        limited(None, args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "cannot write `{}`",
                full.display()
            )));
        let kind = std::fs::symlink_metadata(&full).expect("stat").file_type();
        assert!(kind.is_char_device(), "{args:?} replaced the device");
    }
    // A FIFO gets the report, and stays a FIFO.
    let fifo = hostile.path("fifo");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read fifo"))
    };
    limited(
        None,
        &[
            os("baseline-diff"),
            os("--baseline"),
            baseline.as_os_str(),
            os("--candidate"),
            baseline.as_os_str(),
            os("--format"),
            os("json"),
            os("--output"),
            fifo.as_os_str(),
        ],
    )
    .assert()
    .code(0);
    assert!(reader.join().expect("reader").contains("\"verdict\""));
    let kind = std::fs::symlink_metadata(&fifo).expect("stat").file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced by a regular file");
}
