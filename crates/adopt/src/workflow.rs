//! `.github/workflows/rollout.yml` for Townlet's own repository: the gate on
//! every push and pull request, with the Python environment and the cargo
//! build cached, the reports uploaded, and the release tag planned (a dry
//! run). Made from one template; no event data reaches a `run:` script.

/// The Python version CI uses when the pyproject does not say.
pub(crate) const DEFAULT_PYTHON: &str = "3.11";

/// The workflow, with `python` as the version `actions/setup-python`
/// installs.
pub(crate) fn workflow(python: &str) -> String {
    TEMPLATE.replace("@PYTHON@", python)
}

/// The lowest `X.Y` that `requires-python` of the pyproject `text` allows
/// (`>=3.11` gives `3.11`), or `None` when it names none.
pub(crate) fn python_version(text: &str) -> Option<String> {
    let document: toml::Table = toml::from_str(text).ok()?;
    let requires = document.get("project")?.get("requires-python")?.as_str()?;
    requires.split(',').find_map(|clause| {
        let clause = clause.trim();
        let version = ["~=", ">=", "=="]
            .iter()
            .find_map(|operator| clause.strip_prefix(operator))?
            .trim();
        let mut parts = version.split('.');
        let major = parts.next()?;
        let minor = parts.next()?;
        let is_number = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        (is_number(major) && is_number(minor)).then(|| format!("{major}.{minor}"))
    })
}

const TEMPLATE: &str = r#"# The M4 rollout gate of this repository, run by the rollout tooling that
# lives at its root (Cargo.toml, xtask/, crates/, configs/rollout.yaml).
# Written by `cargo xtask adopt`; to update it, run
# `cargo xtask adopt PATH --force` from a newer checkout of the tooling.
name: rollout

on:
  push:
  pull_request:
  workflow_dispatch:

permissions:
  contents: read
  # The test reporter publishes the gate's JUnit as a check run.
  checks: write

jobs:
  gate:
    runs-on: ubuntu-latest
    timeout-minutes: 90
    steps:
      - uses: actions/checkout@v4
        with:
          # The merge policy and the tag plan need history and tags.
          fetch-depth: 0
      - id: python
        uses: actions/setup-python@v5
        with:
          python-version: "@PYTHON@"
      - uses: dtolnay/rust-toolchain@stable
      - name: Cargo cache
        uses: actions/cache@v4
        with:
          path: |
            ~/.cargo/registry
            ~/.cargo/git
            target/
            !target/rollout/
            !target/gate-junit.xml
            !target/gate-summary.md
          key: cargo-${{ runner.os }}-${{ hashFiles('Cargo.lock') }}
          restore-keys: cargo-${{ runner.os }}-
      # The gate creates .venv with `target.provision` of configs/rollout.yaml
      # when it is missing.
      - name: Python environment cache
        uses: actions/cache@v4
        with:
          path: .venv
          key: venv-${{ runner.os }}-py${{ steps.python.outputs.python-version }}-${{ hashFiles('pyproject.toml', 'configs/rollout.yaml') }}
      - name: Validation gate
        run: cargo xtask gate --junit target/gate-junit.xml --summary target/gate-summary.md
      - name: Gate test report
        if: ${{ !cancelled() }}
        uses: dorny/test-reporter@v1
        with:
          name: gate
          path: target/gate-junit.xml
          reporter: java-junit
          fail-on-error: false
      - name: Gate artifacts
        if: ${{ !cancelled() }}
        uses: actions/upload-artifact@v4
        with:
          name: gate
          path: |
            target/rollout/**/gate-report.json
            target/rollout/**/*.log
            target/gate-junit.xml
            target/gate-summary.md
          if-no-files-found: warn
      # The release tag's plan and checks (a dry run: nothing is tagged). It
      # exits 1 while the release is not ready, which does not fail the job.
      - name: Release tag plan
        if: ${{ !cancelled() }}
        run: |
          status=0
          cargo xtask tag || status=$?
          if [ "$status" -eq 1 ]; then
            echo "::notice title=tag::not ready to tag yet: see the checks of the plan above"
            exit 0
          fi
          exit "$status"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_python_version_comes_from_requires_python() {
        let pyproject = "[project]\nname = \"townlet\"\nrequires-python = \">=3.11\"\n";
        assert_eq!(python_version(pyproject).as_deref(), Some("3.11"));
        let ranged = "[project]\nrequires-python = \"<4, >=3.10.2\"\n";
        assert_eq!(python_version(ranged).as_deref(), Some("3.10"));
        assert_eq!(python_version("[project]\nname = \"x\"\n"), None);
        assert_eq!(
            python_version("[project]\nrequires-python = \">=3\"\n"),
            None
        );
        assert_eq!(python_version("not toml ["), None);
    }

    #[test]
    fn the_template_is_filled_and_runs_no_event_data() {
        let text = workflow("3.12");
        assert!(text.contains("python-version: \"3.12\""));
        assert!(!text.contains("@PYTHON@"));
        for line in text.lines().filter(|line| line.contains("${{")) {
            assert!(!line.contains("github.event"), "{line}");
        }
    }
}
