//! Writers of fixtures in the real formats.

use std::io::Write;
use std::path::{Path, PathBuf};

use baseline_diff::CompareSettings;
use rollout_config::model::BaselineSection;
use serde_json::{Value, json};

pub(crate) fn settings() -> CompareSettings {
    CompareSettings::from_config(&BaselineSection::default(), "facade")
}

/// A `.npy` exactly as numpy 1.x/2.x writes it (format 1.0, header padded
/// with spaces to a multiple of 64 bytes and ended by a newline).
pub(crate) fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape = baseline_diff::npz::shape_text(shape);
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let mut header = dict.into_bytes();
    let total = 10 + header.len() + 1;
    header.resize(header.len() + (64 - total % 64) % 64, b' ');
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header);
    out.extend(data);
    out
}

pub(crate) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn i64_bytes(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A zip of `.npy` entries, stored (`np.savez`) or deflated
/// (`np.savez_compressed`).
pub(crate) fn npz(path: &Path, entries: &[(&str, Vec<u8>)], compressed: bool) {
    let file = std::fs::File::create(path).expect("create npz");
    let mut zip = zip::ZipWriter::new(file);
    let method = if compressed {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        zip.start_file(format!("{name}.npy"), options)
            .expect("start entry");
        zip.write_all(bytes).expect("write entry");
    }
    zip.finish().expect("finish zip");
}

/// `np.save` of `np.array([{'variant': 'hybrid', 'map_shape': (4, 11,
/// 11), 'feature_names': names}], dtype=object)`, written by hand in
/// the opcodes numpy 2 uses (protocol 4 without framing).
pub(crate) fn object_array_pickle(names: &[&str]) -> Vec<u8> {
    object_array_pickle_with(&|p| {
        p.extend([b']', b'(']);
        for n in names {
            short_unicode(p, n);
        }
        p.push(b'e');
    })
}

/// `SHORT_BINUNICODE` of `t`.
fn short_unicode(p: &mut Vec<u8>, t: &str) {
    p.push(0x8c);
    p.push(t.len() as u8);
    p.extend(t.as_bytes());
}

/// [`object_array_pickle`] whose `feature_names` value is written by
/// `feature_names` (opcodes that push one value).
pub(crate) fn object_array_pickle_with(feature_names: &dyn Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut p = vec![0x80, 4];
    let s = short_unicode;
    s(&mut p, "numpy._core.multiarray");
    s(&mut p, "_reconstruct");
    p.push(0x93);
    s(&mut p, "numpy");
    p.push(0x94); // memo 0 = 'numpy'
    s(&mut p, "ndarray");
    p.push(0x93);
    p.extend([b'K', 0, 0x85, b'C', 1, b'b', 0x87, b'R']);
    p.extend([b'(', b'K', 1, b'K', 1, 0x85]);
    p.extend([b'h', 0]); // 'numpy'
    s(&mut p, "dtype");
    p.push(0x93);
    s(&mut p, "O8");
    p.extend([0x89, 0x88, 0x87, b'R']);
    p.extend([b'(', b'K', 3]);
    s(&mut p, "|");
    p.extend([b'N', b'N', b'N', b'J', 0xff, 0xff, 0xff, 0xff]);
    p.extend([b'J', 0xff, 0xff, 0xff, 0xff, b'K', 63, b't', b'b']);
    p.extend([0x89, b']', b'}', b'(']);
    s(&mut p, "variant");
    s(&mut p, "hybrid");
    s(&mut p, "map_shape");
    p.extend([b'K', 4, b'K', 11, b'K', 11, 0x87]);
    s(&mut p, "feature_names");
    feature_names(&mut p);
    p.extend([b'u', b'a', b't', b'b', b'.']);
    p
}

/// An observation archive like Townlet's `baseline_hybrid.npz`: float32 map
/// and features, an object array of metadata, plus int64 and bool arrays.
pub(crate) fn observation_npz(path: &Path, map: &[f32], compressed: bool) {
    let features: Vec<f32> = (0..81).map(|i| i as f32 * 0.25).collect();
    npz(
        path,
        &[
            ("map", npy("<f4", &[2, 3, 4], &f32_bytes(map))),
            ("features", npy("<f4", &[81], &f32_bytes(&features))),
            (
                "metadata",
                npy("|O", &[1], &object_array_pickle(&FEATURE_NAMES)),
            ),
            ("actions", npy("<i8", &[3], &i64_bytes(&[1, 2, 3]))),
            ("dones", npy("|b1", &[3], &[0, 0, 1])),
            ("values", npy("<f8", &[2], &f64_bytes(&[0.5, -1.5]))),
        ],
        compressed,
    );
}

/// Feature names of the fixture's metadata.
pub(crate) const FEATURE_NAMES: [&str; 4] =
    ["need_hunger", "need_hygiene", "need_energy", "wallet"];

pub(crate) fn base_map() -> Vec<f32> {
    (0..24).map(|i| i as f32 / 8.0).collect()
}

/// A snapshot (schema 0.9.7) at `tick`.
pub(crate) fn snapshot(tick: u64, variant: &str, cooldown: f64) -> Value {
    json!({
        "schema_version": "0.9.7",
        "tick": tick,
        "runtime_variant": variant,
        "queue_metrics": {"cooldown_events": cooldown, "ghost_step_events": 0, "rotation_events": 0},
        "employment": {"pending": [], "pending_count": 0, "exits_today": 0, "queue_limit": 8},
        "conflict": {"queues": {"cooldown_events": 0, "ghost_step_events": 0, "rotation_events": 0}, "queue_history": []},
        "embedding_metrics": {"allocations_total": 2.0, "forced_reuse_rate": 0.0},
        "jobs": {"alice": {"wallet": 2.0}},
        "payload_type": "snapshot"
    })
}

/// A diff replacing `queue_metrics` (and whatever `extra` holds).
pub(crate) fn diff(tick: u64, cooldown: f64, extra: Value, removed: &[&str]) -> Value {
    let mut changes = json!({
        "queue_metrics": {"cooldown_events": cooldown, "ghost_step_events": 0, "rotation_events": 0}
    });
    if let (Some(c), Value::Object(e)) = (changes.as_object_mut(), extra) {
        c.extend(e);
    }
    let mut d = json!({"schema_version": "0.9.7", "tick": tick, "payload_type": "diff", "changes": changes});
    if !removed.is_empty() {
        d["removed"] = json!(removed);
    }
    d
}

pub(crate) fn jsonl(path: &Path, lines: &[Value]) -> PathBuf {
    let mut text = String::new();
    for l in lines {
        text.push_str(&serde_json::to_string(l).expect("json"));
        text.push('\n');
    }
    std::fs::write(path, text).expect("write jsonl");
    path.to_path_buf()
}

/// A hybrid-like stream: snapshot at tick 1, diffs for `ticks`.
pub(crate) fn stream(ticks: &[u64]) -> Vec<Value> {
    let mut out = vec![snapshot(1, "facade", 0.0)];
    for &t in ticks {
        out.push(diff(t, (t / 10) as f64, json!({}), &[]));
    }
    out
}
