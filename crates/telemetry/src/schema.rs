//! The key paths of a stream: which fields its payloads have, with array
//! items collapsed (`conflict.queue_history[].tick`). Payloads mostly repeat
//! the shapes of earlier ones, so paths are listed only for values whose
//! shape fingerprint the stream has not shown before.

use std::sync::RwLock;

use rustc_hash::FxHashSet;
use serde_json::Value;

use crate::decode::keyed;
use crate::payload::{Payload, PayloadType, ShapePaths};

/// Every key path below `prefix` (array items collapsed to `[]`), added to
/// `out`.
pub(crate) fn collect_paths(prefix: &mut String, v: &Value, out: &mut FxHashSet<String>) {
    if !out.contains(prefix.as_str()) {
        out.insert(prefix.clone());
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let len = prefix.len();
                prefix.push('.');
                prefix.push_str(k);
                collect_paths(prefix, child, out);
                prefix.truncate(len);
            }
        }
        Value::Array(items) => {
            let len = prefix.len();
            prefix.push_str("[]");
            if !out.contains(prefix.as_str()) {
                out.insert(prefix.clone());
            }
            // Scalar items all have the path `prefix[]`, inserted above.
            for child in items.iter().filter(|c| c.is_object() || c.is_array()) {
                collect_paths(prefix, child, out);
            }
            prefix.truncate(len);
        }
        _ => {}
    }
}

/// The shapes a stream has shown, shared by the threads parsing its lines.
#[derive(Debug, Default)]
pub(crate) struct Seen(RwLock<FxHashSet<u64>>);

impl Seen {
    /// Fills `p.new_shapes` when `p` sets a value of a shape not seen
    /// before. The values a reader does not keep are pruned, so the line's
    /// text (`text`) is read again in full for them.
    pub(crate) fn describe(&self, p: &mut Payload, text: &[u8]) {
        let fingerprints: Vec<u64> = p
            .set
            .iter()
            .zip(&p.shapes)
            .map(|((k, _), s)| keyed(k, *s))
            .collect();
        let new: Vec<usize> = {
            let seen = self.0.read().unwrap_or_else(|e| e.into_inner());
            (0..fingerprints.len())
                .filter(|&i| !seen.contains(&fingerprints[i]))
                .collect()
        };
        if new.is_empty() {
            return;
        }
        // The line decoded once already, so it is valid JSON.
        let Ok(Value::Object(full)) = serde_json::from_slice::<Value>(text) else {
            return;
        };
        let values = match (p.payload_type, full.get("changes")) {
            (PayloadType::Diff, Some(Value::Object(changes))) => changes,
            _ => &full,
        };
        let mut prefix = String::new();
        for &i in &new {
            let key = &p.set[i].0;
            if let Some(v) = values.get(key) {
                let mut paths = FxHashSet::default();
                prefix.clear();
                prefix.push_str(key);
                collect_paths(&mut prefix, v, &mut paths);
                let mut paths: Vec<String> = paths.into_iter().collect();
                paths.sort_unstable();
                p.new_shapes.push(ShapePaths {
                    shape: fingerprints[i],
                    paths,
                });
            }
        }
        let mut seen = self.0.write().unwrap_or_else(|e| e.into_inner());
        seen.extend(new.iter().map(|&i| fingerprints[i]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_collapse_arrays() {
        let mut out = FxHashSet::default();
        let v: Value = serde_json::json!({"h": [{"t": 1}, {"u": 2}], "e": []});
        collect_paths(&mut "c".to_string(), &v, &mut out);
        let mut got: Vec<_> = out.into_iter().collect();
        got.sort();
        assert_eq!(
            got,
            ["c", "c.e", "c.e[]", "c.h", "c.h[]", "c.h[].t", "c.h[].u"]
        );
    }
}
