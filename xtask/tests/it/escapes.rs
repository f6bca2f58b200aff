//! Text from data never acts on the terminal: a step's output, a commit
//! subject and a value on the command line reach the user escaped, and a
//! step that prints megabytes without a newline shows a short tail.

use assert_cmd::Command;

/// Any byte that would act on a terminal: C0 controls but tab and line
/// feed, DEL, and the C1 controls as UTF-8.
fn acting(text: &[u8]) -> Option<usize> {
    let c0 = text
        .iter()
        .position(|&b| (b < 0x20 && b != b'\t' && b != b'\n') || b == 0x7f);
    let c1 = text
        .windows(2)
        .position(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]));
    c0.or(c1)
}

fn xtask() -> Command {
    let mut cmd = Command::cargo_bin("xtask").expect("bin");
    cmd.env_remove("TOWNLET_ROOT")
        .env_remove("GITHUB_ACTIONS")
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn a_failing_steps_tail_is_escaped_and_cut_to_a_readable_width() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("townlet")).expect("mkdir");
    // 20 MB without a newline, then ESC sequences (colour, window title,
    // clear screen), a C1 CSI, a bidi override and a carriage return.
    let script = "import sys; w = sys.stdout.write; w('x' * 20_000_000); \
        w('\\n\\x1b[31mred\\x1b]0;owned\\x07 \\x9b2J \\u202etxt.exe\\rpass\\n'); \
        sys.exit(3)";
    let config = dir.path().join("rollout.yaml");
    std::fs::write(
        &config,
        format!(
            "target:\n  root: townlet\n  python: python3\ngate:\n  steps:\n    - id: noisy\n      command: [python3, -c, {script:?}]\n"
        ),
    )
    .expect("write");
    let out = xtask()
        .args(["gate", "--color", "never", "--config"])
        .arg(&config)
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(
        acting(&out.stdout),
        None,
        "raw control byte on stdout: {stdout:?}"
    );
    assert_eq!(acting(&out.stderr), None, "raw control byte on stderr");
    assert!(
        stdout.contains("\\x1b[31mred\\x1b]0;owned\\x07 \\u{9b}2J \\u{202e}txt.exe\\rpass"),
        "{stdout}"
    );
    let longest = stdout.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(longest < 500, "a tail line of {longest} characters");
    assert!(stdout.contains("MiB more on this line]"), "{stdout}");
}

/// A git repository with a facade commit whose subject holds ESC, and a
/// workspace whose config targets it.
fn repository_with_hostile_subject(dir: &std::path::Path) -> std::path::PathBuf {
    let repo = dir.join("townlet");
    std::fs::create_dir_all(repo.join("src/townlet/world")).expect("mkdir");
    let git = |args: &[&str]| {
        let status = plumbing::process::command("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.org")
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("src/townlet/world/grid.py"), "GRID = 1\n").expect("write");
    git(&["add", "-A"]);
    git(&[
        "commit",
        "-q",
        "-m",
        "world: \u{1b}]0;owned\u{7}\u{1b}[2Jgrid",
    ]);
    let config = dir.join("rollout.yaml");
    std::fs::write(&config, "target:\n  root: townlet\n").expect("write");
    config
}

#[test]
fn the_tag_plan_and_error_messages_show_data_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = repository_with_hostile_subject(dir.path());
    let out = xtask()
        .args(["tag", "--config"])
        .arg(&config)
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(acting(&out.stdout), None, "raw control byte: {stdout:?}");
    assert!(
        stdout.contains("world: \\x1b]0;owned\\x07\\x1b[2Jgrid"),
        "the rollback section names the commit: {stdout}"
    );

    // A value from the command line, quoted back in an error.
    let out = xtask()
        .args(["tag", "--name", "v1\u{1b}[31m\u{9b}", "--config"])
        .arg(&config)
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(acting(&out.stderr), None, "raw control byte: {stderr:?}");
    assert!(stderr.contains("v1\\x1b[31m\\u{9b}"), "{stderr}");

    // A 100 KB value is quoted back cut to a readable width.
    let long = format!("v{}", "9".repeat(100_000));
    let out = xtask()
        .args(["tag", "--name", &long, "--config"])
        .arg(&config)
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        &stderr[..stderr.len().min(300)]
    );
    let widest = stderr.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest < 2100, "an error line of {widest} characters");
    assert!(
        stderr.contains("more on this line]"),
        "{}",
        &stderr[..stderr.len().min(300)]
    );

    // And in clap's own usage errors.
    let out = xtask()
        .args(["gate", "--format", "\u{1b}[2J\u{9b}"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(acting(&out.stderr), None, "{:?}", out.stderr);
}

#[test]
fn config_shows_values_from_the_configs_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A Townlet checkout (`target.requires`).
    std::fs::create_dir_all(dir.path().join("townlet/scripts")).expect("mkdir");
    std::fs::write(
        dir.path().join("townlet/pyproject.toml"),
        "[project]\nname = \"townlet\"\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("townlet/scripts/run_simulation.py"), "").expect("write");
    // `config` printed the runtime variant and the endpoint raw.
    let rollout = dir.path().join("rollout.yaml");
    std::fs::write(
        &rollout,
        "runtime_variant: \"fac\\e[31made\\u202e\"\ntarget:\n  root: townlet\n",
    )
    .expect("write");
    let sim = dir.path().join("sim.yaml");
    std::fs::write(
        &sim,
        "telemetry:\n  transport:\n    type: tcp\n    endpoint: \"lo\\ecalhost\\u202e:8765\"\n",
    )
    .expect("write");
    let out = xtask()
        .arg("config")
        .arg("--config")
        .arg(&rollout)
        .arg("--sim-config")
        .arg(&sim)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(acting(&out.stdout), None, "raw control byte: {stdout:?}");
    assert!(stdout.contains("fac\\x1b[31made\\u{202e}"), "{stdout}");
    assert!(stdout.contains("lo\\x1bcalhost\\u{202e}:8765"), "{stdout}");
}

#[test]
fn a_usage_error_shows_an_escape_sequence_in_a_value_escaped_not_dropped() {
    // clap's plain text dropped whole sequences: the user read
    // `invalid value ''` and `unrecognized subcommand 'gate'`.
    for (args, shown) in [
        (
            &["config", "--format", "\u{1b}[31m"][..],
            "invalid value '\\x1b[31m' for '--format <FORMAT>'",
        ),
        (
            &["\u{1b}[31mgate"][..],
            "unrecognized subcommand '\\x1b[31mgate'",
        ),
        (
            &["tls-smoke", "certs", "--days", "\u{1b}[1m"][..],
            "invalid value '\\x1b[1m' for '--days <DAYS>'",
        ),
    ] {
        let out = xtask().args(args).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(acting(&out.stderr), None, "raw control byte: {stderr:?}");
        assert!(stderr.contains(shown), "{args:?}: {stderr}");
    }
}
