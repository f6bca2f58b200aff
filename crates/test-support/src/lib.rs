//! Helpers for the workspace's tests (a dev-dependency only): Python virtual
//! environments with real tools, created once under `target/` and shared by
//! every test binary.
//!
//! Does not own: any fixture format; tests write their own fixtures.

pub mod measure;

use std::path::{Path, PathBuf};

use std::sync::Mutex;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

static LOCAL: Mutex<()> = Mutex::new(());

/// A virtual environment `target/NAME` with `pip install ARGS...` done, and
/// its `bin/` directory returned. It is made again only when `args` or `key`
/// (for example the content of a requirements file) change; a file lock
/// keeps concurrent test binaries from building it twice.
pub fn venv(name: &str, key: &str, args: &[&str]) -> PathBuf {
    let _guard = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    let target = workspace().join("target");
    let dir = target.join(name);
    let bin = dir.join("bin");
    let stamp = dir.join(".stamp");
    let want = format!("{}\n{key}", args.join("\n"));
    let ready =
        || std::fs::read_to_string(&stamp).is_ok_and(|s| s == want) && bin.join("python").is_file();
    if ready() {
        return bin;
    }
    std::fs::create_dir_all(&target).expect("create target/");
    let lock = std::fs::File::create(target.join(format!("{name}.lock"))).expect("lock file");
    lock.lock().expect("lock");
    if !ready() {
        let _ = std::fs::remove_dir_all(&dir);
        let status = plumbing::process::command("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .status()
            .expect("run python3 -m venv");
        assert!(status.success(), "python3 -m venv {} failed", dir.display());
        let status = plumbing::process::command(bin.join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(args)
            .status()
            .expect("run pip");
        assert!(status.success(), "pip install {args:?} failed");
        std::fs::write(&stamp, &want).expect("stamp");
    }
    bin
}

/// The interpreter of a virtual environment with the sample's dev tools
/// (pytest, ruff, mypy, numpy, PyYAML), created once under
/// `target/test-venv`. Installed without `-e`: tests' copies of the sample
/// import their own `src` through PYTHONPATH.
pub fn sample_python() -> PathBuf {
    let sample = workspace().join("examples/townlet-sample");
    let spec = format!("{}[dev]", sample.display());
    // The pyproject is the key: a change of pins rebuilds the environment.
    let pins = std::fs::read_to_string(sample.join("pyproject.toml")).expect("sample pyproject");
    venv("test-venv", &pins, &[&spec]).join("python")
}

/// An npm package installed once under `target/NAME` (`npm install SPEC`);
/// returns its `node_modules` directory.
pub fn npm_package(name: &str, spec: &str) -> PathBuf {
    let _guard = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    let target = workspace().join("target");
    let dir = target.join(name);
    let stamp = dir.join(".stamp");
    let ready = || std::fs::read_to_string(&stamp).is_ok_and(|s| s == spec);
    if !ready() {
        std::fs::create_dir_all(&target).expect("create target/");
        let lock = std::fs::File::create(target.join(format!("{name}.lock"))).expect("lock file");
        lock.lock().expect("lock");
        if !ready() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("mkdir");
            let status = plumbing::process::command("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .arg(spec)
                .status()
                .expect("run npm");
            assert!(status.success(), "npm install {spec} failed");
            std::fs::write(&stamp, spec).expect("stamp");
        }
    }
    dir.join("node_modules")
}

/// Whether process `pid` is gone (no such process, or a zombie awaiting
/// reaping), waiting up to five seconds for it to go: a killed process
/// takes a moment to exit on a loaded machine.
pub fn process_gone(pid: &str) -> bool {
    plumbing::process::gone_within(pid, std::time::Duration::from_secs(5))
}

/// Jenkins' junit-10 schema, `junit-10.xsd`, taken once from the source
/// distribution of pytest on PyPI (whose own JUnit tests validate against
/// it) into `target/junit-10.xsd`.
pub fn junit10_schema() -> PathBuf {
    const PYTEST_SDIST: &str = "pytest==8.3.5";
    let bin = xmlschema_bin();
    let _guard = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    let target = workspace().join("target");
    let schema = target.join("junit-10.xsd");
    if schema.is_file() {
        return schema;
    }
    let lock = std::fs::File::create(target.join("junit-10.lock")).expect("lock file");
    lock.lock().expect("lock");
    if !schema.is_file() {
        let script = r#"
import os, pathlib, subprocess, sys, tarfile, tempfile
spec, dest = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as d:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--no-binary", ":all:", spec, "-d", d], check=True)
    sdist = next(pathlib.Path(d).glob("pytest-*.tar.gz"))
    with tarfile.open(sdist) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("/testing/example_scripts/junit-10.xsd"))
        data = t.extractfile(member).read()
with open(dest + ".part", "wb") as f:
    f.write(data)
os.replace(dest + ".part", dest)
"#;
        let status = plumbing::process::command(bin.join("python"))
            .args(["-c", script, PYTEST_SDIST])
            .arg(&schema)
            .status()
            .expect("run python");
        assert!(
            status.success(),
            "could not take junit-10.xsd from {PYTEST_SDIST}"
        );
    }
    schema
}

fn xmlschema_bin() -> PathBuf {
    venv("xmlschema-venv", "", &["xmlschema>=3,<5"])
}

/// Validates a JUnit document against the junit-10 schema with the
/// `xmlschema` package; panics with the schema's complaint.
pub fn assert_valid_junit10(xml: &str) {
    let schema = junit10_schema();
    let file = tempfile::Builder::new()
        .suffix(".xml")
        .tempfile()
        .expect("a temporary file");
    std::fs::write(file.path(), xml).expect("write the JUnit");
    let script = "import sys, xmlschema\nschema = xmlschema.XMLSchema10(sys.argv[1])\nerrors = [str(e) for e in schema.iter_errors(sys.argv[2])]\nprint('\\n'.join(errors))\nsys.exit(1 if errors else 0)\n";
    let out = plumbing::process::command(xmlschema_bin().join("python"))
        .args(["-c", script])
        .arg(&schema)
        .arg(file.path())
        .output()
        .expect("run xmlschema");
    assert!(
        out.status.success(),
        "the JUnit is not valid under junit-10.xsd:\n{}{}\n{xml}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs git in `dir` with a fixed identity and no user or system
/// configuration, and returns its stdout without the final line break
/// (`git status --porcelain` lines keep their leading blank); panics with git's
/// stderr when it fails. For tests that lay out repositories.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = plumbing::process::command("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    /// The schema is really applied: `skipped` is not an attribute of
    /// `<testsuites>` under junit-10, and a `<testsuite>` needs `failures`.
    #[test]
    fn the_junit_schema_rejects_what_junit10_does_not_allow() {
        super::assert_valid_junit10(
            r#"<testsuites tests="1"><testsuite name="a" tests="1" failures="0" errors="0"><testcase name="t"/></testsuite></testsuites>"#,
        );
        for invalid in [
            r#"<testsuites skipped="0"><testsuite name="a" tests="1" failures="0" errors="0"><testcase name="t"/></testsuite></testsuites>"#,
            r#"<testsuites><testsuite name="a" tests="1" errors="0"><testcase name="t"/></testsuite></testsuites>"#,
        ] {
            let caught = std::panic::catch_unwind(|| super::assert_valid_junit10(invalid));
            assert!(caught.is_err(), "accepted: {invalid}");
        }
    }
}
