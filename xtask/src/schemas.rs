//! The JSON Schemas of every JSON document the commands write, generated
//! from the types and checked in under `docs/schemas/`. The test fails when
//! a type changes without its schema; `UPDATE_SCHEMAS=1 cargo test -p xtask
//! schemas` rewrites the files (review the diff like a snapshot's).

use std::path::{Path, PathBuf};

/// Each document's file stem under `docs/schemas/` and its schema.
fn all() -> Vec<(&'static str, schemars::Schema)> {
    let [tls_smoke, tls_smoke_certs, tls_smoke_serve] = tls_smoke::json_schemas();
    let [signoff, signoff_status] = release::signoff::json_schemas();
    vec![
        (
            "gate-report",
            rollout_core::output::json_schema::<plumbing::report::GateReport>(),
        ),
        ("config", rollout_config::show::json_schema()),
        ("tls-smoke", tls_smoke),
        ("tls-smoke-certs", tls_smoke_certs),
        ("tls-smoke-serve", tls_smoke_serve),
        (
            "baseline-diff",
            rollout_core::output::json_schema::<baseline_diff::Report>(),
        ),
        (
            "baseline-diff-bisect",
            rollout_core::output::json_schema::<baseline_diff::BisectReport>(),
        ),
        (
            "monitor",
            rollout_core::output::json_schema::<monitor::Report>(),
        ),
        (
            "monitor-follow-alert",
            rollout_core::output::json_schema::<monitor::follow::FollowAlert<'static>>(),
        ),
        ("tag", release::tag::json_schema()),
        ("signoff", signoff),
        ("signoff-status", signoff_status),
        (
            "adopt",
            rollout_core::output::json_schema::<adopt::AdoptReport>(),
        ),
    ]
}

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .join("docs/schemas")
}

#[test]
fn every_schema_in_docs_is_the_one_its_type_generates() {
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some_and(|v| v == "1");
    let dir = schemas_dir();
    let mut stale = Vec::new();
    let mut names = Vec::new();
    for (name, schema) in all() {
        let generated = serde_json::to_string_pretty(&schema).expect("serialise") + "\n";
        let path = dir.join(format!("{name}.schema.json"));
        names.push(path.file_name().expect("name").to_owned());
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        if checked_in == generated {
            continue;
        }
        if update {
            std::fs::create_dir_all(&dir).expect("mkdir docs/schemas");
            std::fs::write(&path, &generated).expect("write schema");
        } else {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "these schemas differ from their types: {stale:?}\n\
         hint: run `UPDATE_SCHEMAS=1 cargo test -p xtask schemas` and review the diff"
    );
    // No schema of a document that no longer exists.
    let mut orphans = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("docs/schemas") {
        let name = entry.expect("entry").file_name();
        if !names.contains(&name) {
            orphans.push(name);
        }
    }
    assert!(orphans.is_empty(), "schemas of no document: {orphans:?}");
}

#[test]
fn every_schema_requires_a_schema_version() {
    for (name, schema) in all() {
        let required = schema
            .get("required")
            .and_then(|r| r.as_array())
            .unwrap_or_else(|| panic!("{name}: no required fields"));
        assert!(
            required.iter().any(|field| field == "schema"),
            "{name}: the document has no `schema` field"
        );
    }
}
