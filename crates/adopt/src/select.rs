//! Which files of the tooling's workspace an adopted tree gets, and how
//! each is written: pure rules over relative paths (`/`-separated).

/// What to copy besides the tooling itself.
#[derive(Debug, Clone)]
pub(crate) struct Extras {
    /// The tooling's tests, benches and fuzz targets (`--with-tests`).
    pub(crate) tests: bool,
    /// The bundled sample and its baselines (`--with-sample`).
    pub(crate) sample: bool,
    /// The sample's directory under `examples/` (`townlet-sample`).
    pub(crate) sample_dir: String,
    /// The sample's target name: its baselines are `baselines/<name>/`.
    pub(crate) sample_target: String,
}

/// How a selected file is written into the adopted tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Byte for byte.
    Copy,
    /// A crate manifest: targets naming files that were not copied are
    /// dropped.
    Manifest,
    /// `configs/rollout.yaml`: its target becomes the checkout itself.
    Config,
}

/// The directories of a crate that hold its tests, benches and fuzz
/// targets, copied only with `--with-tests`.
const TEST_DIRS: [&str; 3] = ["tests", "benches", "fuzz"];

/// The role of `path` (relative to the workspace), or `None` when the
/// adopted tree does not get it.
pub(crate) fn classify(path: &str, selection: &Extras) -> Option<Role> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["Cargo.toml"] => Some(Role::Manifest),
        ["Cargo.lock" | "clippy.toml"] | [".cargo", _, ..] => Some(Role::Copy),
        ["configs", "rollout.yaml"] => Some(Role::Config),
        ["xtask", rest @ ..] => in_crate(rest, selection),
        ["crates", _, rest @ ..] if !rest.is_empty() => in_crate(rest, selection),
        ["baselines", name, _, ..] => {
            (*name != selection.sample_target || selection.sample).then_some(Role::Copy)
        }
        ["fuzz", _, ..] => selection.tests.then_some(Role::Copy),
        ["examples", name, _, ..] if *name == selection.sample_dir => {
            selection.sample.then_some(Role::Copy)
        }
        _ => None,
    }
}

/// The role of a file of a crate, by its path inside the crate.
fn in_crate(rest: &[&str], selection: &Extras) -> Option<Role> {
    match rest {
        ["Cargo.toml"] => Some(Role::Manifest),
        [dir, _, ..] if TEST_DIRS.contains(dir) => selection.tests.then_some(Role::Copy),
        [_, ..] => Some(Role::Copy),
        [] => None,
    }
}

/// Names of files a walk of a workspace that is not a git checkout skips
/// (what the tooling's `.gitignore` ignores).
pub(crate) fn is_litter(name: &str) -> bool {
    matches!(name, ".git" | "__pycache__" | ".venv" | "certs")
        || name.ends_with(".pyc")
        || name.ends_with(".pending-snap")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(tests: bool, sample: bool) -> Extras {
        Extras {
            tests,
            sample,
            sample_dir: "townlet-sample".into(),
            sample_target: "townlet-sample".into(),
        }
    }

    #[test]
    fn the_tooling_is_copied_and_its_tests_are_not() {
        let plain = selection(false, false);
        for (path, role) in [
            ("Cargo.toml", Some(Role::Manifest)),
            ("Cargo.lock", Some(Role::Copy)),
            ("clippy.toml", Some(Role::Copy)),
            (".cargo/config.toml", Some(Role::Copy)),
            ("configs/rollout.yaml", Some(Role::Config)),
            ("configs/prometheus/townlet.rules.yml", None),
            ("xtask/Cargo.toml", Some(Role::Manifest)),
            ("xtask/src/main.rs", Some(Role::Copy)),
            ("xtask/tests/it/main.rs", None),
            ("xtask/benches/bounded.rs", None),
            ("crates/gate/Cargo.toml", Some(Role::Manifest)),
            ("crates/gate/src/lib.rs", Some(Role::Copy)),
            ("crates/gate/src/snapshots/x.snap", Some(Role::Copy)),
            ("crates/gate/tests/it/main.rs", None),
            ("crates/gate/benches/overhead.rs", None),
            ("crates/monitor/fuzz/fuzz_targets/logline.rs", None),
            ("baselines/townlet/mypy-debt.txt", Some(Role::Copy)),
            ("baselines/townlet-sample/mypy-debt.txt", None),
            ("examples/townlet-sample/pyproject.toml", None),
            ("fuzz/Cargo.toml", None),
            (".github/workflows/rollout.yml", None),
            (".ci/run", None),
            ("docs/config.md", None),
            ("README.md", None),
            (".gitignore", None),
        ] {
            assert_eq!(classify(path, &plain), role, "{path}");
        }
    }

    #[test]
    fn flags_add_the_tests_and_the_sample() {
        let all = selection(true, true);
        for path in [
            "xtask/tests/it/main.rs",
            "crates/gate/benches/overhead.rs",
            "crates/monitor/fuzz/fuzz_targets/logline.rs",
            "fuzz/Cargo.toml",
            "baselines/townlet-sample/mypy-debt.txt",
            "examples/townlet-sample/pyproject.toml",
        ] {
            assert_eq!(classify(path, &all), Some(Role::Copy), "{path}");
        }
        assert_eq!(classify("examples/other/x", &all), None);
        assert_eq!(classify("docs/config.md", &all), None);
    }
}
