//! The checks of a stream comparison made from what the two sides learnt:
//! `runtime_variant`, the schema (key paths) and the tick alignment.

use std::sync::Arc;

use rollout_config::model::AddedPaths;
use rustc_hash::FxHashSet as HashSet;
use serde_json::Value;

use super::{Judged, MAX_SCHEMA_PATHS, Side, StreamSettings, VARIANT, count};
use crate::jsondoc::short;
use crate::report::{Check, Mismatch, Ranges, Status, TickAlignment};

pub(super) fn variant_check(s: &StreamSettings<'_>, b: &Side, c: &Side) -> Check {
    let v = &c.variant;
    let name = "runtime_variant";
    let expected = &s.runtime_variant;
    if !v.wrong.is_empty() || !v.gone.is_empty() {
        let mut parts = Vec::new();
        if v.wrong_ticks.count > 0 {
            parts.push(format!(
                "{} another value than '{expected}' ({} {})",
                count(v.wrong_ticks.count, "payload reports", "payloads report"),
                if v.wrong_ticks.count == 1 {
                    "tick"
                } else {
                    "ticks"
                },
                v.wrong_ticks.text()
            ));
        }
        if !v.gone.is_empty() {
            let ticks: Vec<String> = v.gone.iter().map(|(t, _)| t.to_string()).collect();
            parts.push(format!(
                "it disappears after being present at tick {}",
                ticks.join(", ")
            ));
        }
        let mut ch = Check::new(name, Status::Fail, parts.join("; "));
        for (tick, line, value) in v.wrong.iter().take(s.examples.max(1)) {
            ch.details.push(format!(
                "tick {tick} (candidate line {line}): runtime_variant {}, expected '{expected}'",
                short(value)
            ));
            ch.mismatches
                .push(variant_mismatch(*tick, *line, expected, value.clone()));
        }
        for (tick, line) in v.gone.iter().take(s.examples.max(1)) {
            ch.details.push(format!(
                "tick {tick} (candidate line {line}): runtime_variant removed"
            ));
            ch.mismatches
                .push(variant_mismatch(*tick, *line, expected, Value::Null));
        }
        return ch;
    }
    if v.carried == 0 {
        let why = no_variant_reason(c);
        if b.variant.carried > 0 {
            return Check::new(
                name,
                Status::Fail,
                format!(
                    "no candidate payload carries runtime_variant ({why}), but {} baseline payloads do: cannot confirm '{expected}'",
                    b.variant.carried
                ),
            );
        }
        return Check::new(name, Status::Skip, format!("not checked: {why}"));
    }
    Check::new(
        name,
        Status::Pass,
        format!(
            "all {} candidate payloads carrying it report '{expected}'",
            v.carried
        ),
    )
}

/// Why no payload of a stream carries `runtime_variant`.
fn no_variant_reason(side: &Side) -> String {
    let versions = if side.versions.is_empty() {
        "without a schema_version".to_string()
    } else {
        format!("of schema {}", side.versions.join(", "))
    };
    match side.first {
        None => "the stream is empty".into(),
        Some(_) if side.full_seen => {
            format!("its full states {versions} have no runtime_variant key")
        }
        Some((tick, _)) => format!(
            "it has no snapshot: it begins with a diff at tick {tick} (the snapshot was lost), and no diff sets runtime_variant"
        ),
    }
}

/// A candidate payload whose `runtime_variant` is not the expected one
/// (`null` when it was removed).
fn variant_mismatch(tick: u64, line: u64, expected: &str, candidate: Value) -> Mismatch {
    Mismatch {
        at: format!("tick {tick}"),
        path: Some(VARIANT.into()),
        tick: Some(tick),
        index: None,
        baseline: Value::from(expected),
        candidate,
        candidate_line: Some(line),
    }
}

pub(super) fn schema_check(
    s: &StreamSettings<'_>,
    b: &Side,
    c: &Side,
    judged: &Judged,
    aligned: u64,
) -> Check {
    if let Some((which, side)) = [("baseline", b), ("candidate", c)]
        .into_iter()
        .find(|(_, side)| side.paths_overflow)
    {
        return too_many_paths(which, side);
    }
    let d = SchemaDiff::of(b, c, judged);
    let (removed, added) = (&d.removed, &d.added);
    let status = if !removed.is_empty() || (!added.is_empty() && s.added == AddedPaths::Fail) {
        Status::Fail
    } else if !added.is_empty() && s.added == AddedPaths::Warn {
        Status::Warn
    } else {
        Status::Pass
    };
    let judged_count = d.baseline_paths.max(d.candidate_paths);
    let mut summary = if removed.is_empty() && added.is_empty() {
        format!("{judged_count} key paths, the same on both sides at the {aligned} ticks both have")
    } else {
        format!(
            "{} key paths removed, {} added at the {aligned} ticks both have (baseline {}, candidate {})",
            removed.len(),
            added.len(),
            d.baseline_paths,
            d.candidate_paths
        )
    };
    if d.not_judged > 0 {
        summary.push_str(&format!(
            "; {} not judged (only at ticks one stream lacks, or in keys it does not know there)",
            d.not_judged
        ));
    }
    let mut ch = Check::new("schema", status, summary);
    let limit = s.examples.max(1) * 4;
    list_roots(&mut ch.details, "removed", &roots(removed), limit);
    if s.added != AddedPaths::Ignore || status != Status::Pass {
        list_roots(&mut ch.details, "added", &roots(added), limit);
    }
    if d.not_judged > 0 {
        ch.details.push(format!(
            "{} key paths not judged: they occur only at ticks one stream lacks, or in top-level keys whose state the other stream does not know at the ticks both have (it began with diffs or lost payloads)",
            d.not_judged
        ));
    }
    ch
}

/// How the key paths of two streams differ, at the ticks both have.
struct SchemaDiff<'a> {
    /// Key paths judged on each side.
    baseline_paths: usize,
    candidate_paths: usize,
    /// Judged paths only the baseline has, and only the candidate, sorted.
    removed: Vec<&'a str>,
    added: Vec<&'a str>,
    /// Paths of either stream that were not judged.
    not_judged: usize,
}

impl<'a> SchemaDiff<'a> {
    fn of(b: &'a Side, c: &'a Side, judged: &Judged) -> Self {
        // The key paths of the reconstructed states at the ticks both
        // streams have, for the keys both know about there: a tick or a diff
        // one stream lost does not count as a change of schema.
        let judged_paths = |side: &'a Side, shapes: &HashSet<u64>| -> HashSet<&'a Arc<str>> {
            shapes
                .iter()
                .filter_map(|f| side.shape_paths.get(f))
                .flatten()
                .collect()
        };
        let pb = judged_paths(b, &judged.baseline);
        let pc = judged_paths(c, &judged.candidate);
        let mut removed: Vec<&str> = pb
            .iter()
            .filter(|p| !pc.contains(*p))
            .map(|p| &***p)
            .collect();
        let mut added: Vec<&str> = pc
            .iter()
            .filter(|p| !pb.contains(*p))
            .map(|p| &***p)
            .collect();
        let not_judged = b
            .paths
            .iter()
            .chain(c.paths.iter().filter(|p| !b.paths.contains(*p)))
            .filter(|p| !pb.contains(p) && !pc.contains(p))
            .count();
        removed.sort_unstable();
        added.sort_unstable();
        Self {
            baseline_paths: pb.len(),
            candidate_paths: pc.len(),
            removed,
            added,
            not_judged,
        }
    }
}

/// `removed: a.b (and 3 paths below it)`, the first `limit` of them.
fn list_roots(details: &mut Vec<String>, word: &str, roots: &[(&str, usize)], limit: usize) {
    for (p, below) in roots.iter().take(limit) {
        details.push(format!("{word}: {p}{}", below_text(*below)));
    }
    if roots.len() > limit {
        details.push(format!("... and {} more {word}", roots.len() - limit));
    }
}

/// The schema of a stream with more distinct key paths than are kept: not
/// judged, with the parent that has most of them (whose keys are likely ids).
fn too_many_paths(which: &str, side: &Side) -> Check {
    let mut children: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for p in &side.paths {
        if let Some(i) = p.rfind('.') {
            *children.entry(&p[..i]).or_default() += 1;
        }
    }
    let mut ch = Check::new(
        "schema",
        Status::Warn,
        format!(
            "not judged: the {which} has more than {MAX_SCHEMA_PATHS} distinct key paths, more than are kept"
        ),
    );
    if let Some((parent, n)) = children
        .into_iter()
        .max_by_key(|(p, n)| (*n, std::cmp::Reverse(*p)))
    {
        ch.details.push(format!(
            "{n} of the kept paths are directly below `{parent}`: its keys look like ids (each one makes new paths)"
        ));
    }
    ch
}

/// The paths whose parent is not in the list, each with how many listed
/// paths lie below it.
fn roots<'a>(sorted: &[&'a str]) -> Vec<(&'a str, usize)> {
    let set: HashSet<&str> = sorted.iter().copied().collect();
    let parent = |p: &str| -> Option<String> {
        if let Some(stripped) = p.strip_suffix("[]") {
            return Some(stripped.to_string());
        }
        p.rfind('.').map(|i| p[..i].to_string())
    };
    let root_of = |p: &str| -> String {
        let mut cur = p.to_string();
        while let Some(up) = parent(&cur) {
            if set.contains(up.as_str()) {
                cur = up;
            } else {
                break;
            }
        }
        cur
    };
    let mut out: Vec<(&'a str, usize)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for p in sorted {
        let r = root_of(p);
        if r == *p {
            index.insert(r, out.len());
            out.push((p, 0));
        } else if let Some(&i) = index.get(&r) {
            out[i].1 += 1;
        }
    }
    out
}

fn below_text(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => " (and 1 path below it)".into(),
        n => format!(" (and {n} paths below it)"),
    }
}

pub(super) fn ticks_check(s: &StreamSettings<'_>, a: &TickAlignment, b: &Side, c: &Side) -> Check {
    let text = |r: &[(u64, u64)], n: u64| {
        Ranges {
            ranges: r.to_vec(),
            count: n,
        }
        .text()
    };
    let status = if a.missing > s.max_missing_ticks {
        Status::Fail
    } else if a.aligned == 0 || a.missing > 0 {
        Status::Warn
    } else {
        Status::Pass
    };
    let mut summary = if a.missing > 0 {
        let allowed = if s.max_missing_ticks == 0 {
            "none may be".to_string()
        } else {
            format!("at most {} may be", s.max_missing_ticks)
        };
        format!(
            "{} {} missing from the candidate ({}; {allowed}); {} of {} baseline ticks aligned",
            a.missing,
            if a.missing == 1 {
                "tick is"
            } else {
                "ticks are"
            },
            text(&a.missing_ranges, a.missing),
            a.aligned,
            b.ticks
        )
    } else {
        format!(
            "{} ticks in the baseline, {} in the candidate, {} aligned",
            b.ticks, c.ticks, a.aligned
        )
    };
    if a.candidate_only > 0 {
        summary.push_str(&format!(
            "; {} only in the candidate ({})",
            a.candidate_only,
            text(&a.candidate_only_ranges, a.candidate_only)
        ));
    }
    let mut ch = Check::new("ticks", status, summary);
    if a.missing > 0 {
        ch.details.push(format!(
            "the candidate has {} payloads for {} ticks of the baseline; Townlet writes one payload per tick, so the missing ones were lost (telemetry backpressure drops the oldest payloads)",
            a.aligned, b.ticks
        ));
        ch.details.push(
            "hint: capture again without loss (a larger `telemetry.transport.buffer.max_buffer_bytes` in `capture.set`), or raise `baseline.max_missing_ticks`".into(),
        );
    }
    if c.lost.count > 0 && c.lost.count != a.missing {
        ch.details.push(format!(
            "the candidate's own payloads skip {} ticks ({})",
            c.lost.count,
            c.lost.text()
        ));
    }
    if b.lost.count > 0 {
        ch.details.push(format!(
            "the baseline itself lacks {} ticks ({})",
            b.lost.count,
            b.lost.text()
        ));
    }
    if a.aligned == 0 {
        ch.details
            .push("no tick is present in both streams, so no field was compared".into());
    }
    ch
}
