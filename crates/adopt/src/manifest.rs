//! Copied crate manifests that still load without the files left behind:
//! `[[test]]`, `[[bench]]`, `[[example]]` and `[[bin]]` targets whose
//! source was not copied are dropped with `toml_edit`, so the rest of the
//! manifest keeps its comments and layout.

use anyhow::{Context as _, Result};

/// The target tables of a manifest and the directory cargo looks in for a
/// target that names no `path`.
const TARGET_KINDS: [(&str, &str); 4] = [
    ("test", "tests"),
    ("bench", "benches"),
    ("example", "examples"),
    ("bin", "src/bin"),
];

/// `text` (a `Cargo.toml`) without the targets whose source file is not
/// copied; `is_copied` answers for a path relative to the manifest's
/// directory. The text is returned unchanged when every target stays.
pub(crate) fn without_missing_targets(
    text: &str,
    is_copied: &dyn Fn(&str) -> bool,
) -> Result<String> {
    let mut document: toml_edit::DocumentMut =
        text.parse().context("cannot parse the manifest as TOML")?;
    let mut changed = false;
    for (kind, default_dir) in TARGET_KINDS {
        let Some(targets) = document
            .get_mut(kind)
            .and_then(toml_edit::Item::as_array_of_tables_mut)
        else {
            continue;
        };
        let before = targets.len();
        targets.retain(|table| target_is_copied(table, default_dir, is_copied));
        if targets.is_empty() {
            document.remove(kind);
        }
        changed |= document
            .get(kind)
            .and_then(toml_edit::Item::as_array_of_tables)
            .is_none_or(|left| left.len() != before);
    }
    Ok(if changed {
        document.to_string()
    } else {
        text.to_string()
    })
}

/// Whether the source of one target table was copied: its `path`, else
/// cargo's default places for its `name`. A target with neither is kept.
fn target_is_copied(
    table: &toml_edit::Table,
    default_dir: &str,
    is_copied: &dyn Fn(&str) -> bool,
) -> bool {
    if let Some(path) = table.get("path").and_then(toml_edit::Item::as_str) {
        return is_copied(path.trim_start_matches("./"));
    }
    match table.get("name").and_then(toml_edit::Item::as_str) {
        Some(name) => {
            is_copied(&format!("{default_dir}/{name}.rs"))
                || is_copied(&format!("{default_dir}/{name}/main.rs"))
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"[package]
name = "gate"

[lints]
workspace = true

[dependencies]
anyhow.workspace = true # errors

[dev-dependencies]
tempfile.workspace = true

[[test]]
name = "it"
path = "tests/it/main.rs"

# Throughput of the gate's own overhead.
[[bench]]
name = "overhead"
harness = false

[features]
slow = []
"#;

    #[test]
    fn targets_left_behind_are_dropped_and_the_rest_is_kept() {
        let out = without_missing_targets(MANIFEST, &|_| false).expect("edit");
        assert!(!out.contains("[[test]]"), "{out}");
        assert!(!out.contains("[[bench]]"), "{out}");
        assert!(!out.contains("harness"), "{out}");
        assert!(out.contains("anyhow.workspace = true # errors"), "{out}");
        assert!(
            out.contains("[dev-dependencies]\ntempfile.workspace = true"),
            "{out}"
        );
        assert!(out.contains("[features]\nslow = []"), "{out}");
        let parsed: toml_edit::DocumentMut = out.parse().expect("still TOML");
        assert!(parsed.get("test").is_none());
    }

    #[test]
    fn copied_targets_stay_and_the_text_is_untouched() {
        let copied = |path: &str| path == "tests/it/main.rs" || path == "benches/overhead.rs";
        let out = without_missing_targets(MANIFEST, &copied).expect("edit");
        assert_eq!(out, MANIFEST);
    }

    #[test]
    fn a_target_is_found_in_either_default_place() {
        let only_bench = |path: &str| path == "benches/overhead/main.rs";
        let out = without_missing_targets(MANIFEST, &only_bench).expect("edit");
        assert!(out.contains("[[bench]]"), "{out}");
        assert!(!out.contains("[[test]]"), "{out}");
    }

    #[test]
    fn a_manifest_that_is_not_toml_is_an_error() {
        let err = without_missing_targets("[package", &|_| true).expect_err("bad");
        assert!(format!("{err:#}").contains("cannot parse the manifest"));
    }
}
