//! Comparison of observation tensors: names, dtypes, shapes, then element by
//! element under the tolerance rule (see [`crate::tolerance`]).

use ndarray::ArrayD;
use serde_json::Value;

use crate::npz::{Array, Data, Kind, NpzError, NpzFile, shape_text};
use crate::report::{Check, Extreme, Mismatch, Status, TensorStats, num};
use crate::tolerance::{Closeness, NumRule, Overrides, fmt_num};

/// Settings for comparing arrays.
#[derive(Debug, Clone)]
pub struct TensorSettings {
    pub rule: NumRule,
    pub overrides: Overrides,
    /// Mismatches listed in full per array.
    pub examples: usize,
}

/// Compares two archives' arrays by name; one check per array name.
pub fn compare_archives(s: &TensorSettings, base: &[Array], cand: &[Array]) -> Vec<Check> {
    let candidate_names: Vec<&str> = cand.iter().map(|array| array.name.as_str()).collect();
    let mut checks = Vec::new();
    for b in base {
        match cand.iter().find(|c| c.name == b.name) {
            Some(c) => checks.push(compare_arrays(s, b, c)),
            None => checks.push(missing_check(b, &candidate_names)),
        }
    }
    for c in cand {
        if !base.iter().any(|b| b.name == c.name) {
            checks.push(extra_check(c));
        }
    }
    checks
}

/// Which archive a read error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Baseline,
    Candidate,
}

/// [`compare_archives`] over two archive files, one pair of arrays in memory
/// at a time.
pub fn compare_npz_files<R: std::io::Read + std::io::Seek>(
    s: &TensorSettings,
    base: &mut NpzFile<R>,
    cand: &mut NpzFile<R>,
) -> Result<Vec<Check>, (Side, NpzError)> {
    let base_names: Vec<String> = base.names().map(str::to_string).collect();
    let candidate_names: Vec<String> = cand.names().map(str::to_string).collect();
    let candidate_refs: Vec<&str> = candidate_names.iter().map(String::as_str).collect();
    let mut checks = Vec::new();
    for name in &base_names {
        let baseline_array = base.read(name).map_err(|e| (Side::Baseline, e))?;
        if cand.contains(name) {
            let candidate_array = cand.read(name).map_err(|e| (Side::Candidate, e))?;
            checks.push(compare_arrays(s, &baseline_array, &candidate_array));
        } else {
            checks.push(missing_check(&baseline_array, &candidate_refs));
        }
    }
    for name in &candidate_names {
        if !base_names.contains(name) {
            let candidate_array = cand.read(name).map_err(|e| (Side::Candidate, e))?;
            checks.push(extra_check(&candidate_array));
        }
    }
    Ok(checks)
}

fn missing_check(b: &Array, candidate_names: &[&str]) -> Check {
    let mut check = Check::new(
        format!("array {}", b.name),
        Status::Fail,
        format!(
            "missing in the candidate (baseline: {} {})",
            b.dtype.name(),
            shape_text(&b.shape)
        ),
    );
    check.details.push(format!(
        "the candidate has: {}",
        names(candidate_names).unwrap_or_else(|| "no arrays".into())
    ));
    check
}

fn extra_check(c: &Array) -> Check {
    Check::new(
        format!("array {}", c.name),
        Status::Fail,
        format!(
            "only in the candidate ({} {}), not in the baseline",
            c.dtype.name(),
            shape_text(&c.shape)
        ),
    )
}

fn names(arrays: &[&str]) -> Option<String> {
    if arrays.is_empty() {
        return None;
    }
    Some(
        arrays
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// Object arrays (pickled Python objects, such as Townlet's `metadata`):
/// decoded without running code and compared as Python's `==` would; when
/// either cannot be decoded safely, by their pickled bytes.
fn compare_objects(name: &str, b: &Array, c: &Array) -> Check {
    let (Data::Object(bb), Data::Object(cb)) = (&b.data, &c.data) else {
        return Check::new(
            name,
            Status::Fail,
            format!(
                "dtype differs: {} in the baseline, {} in the candidate",
                b.dtype.name(),
                c.dtype.name()
            ),
        );
    };
    match (
        crate::pickle::decode_object_array(bb),
        crate::pickle::decode_object_array(cb),
    ) {
        (Ok(x), Ok(y)) => match crate::pickle::first_difference(&x, &y) {
            None => Check::new(
                name,
                Status::Pass,
                format!(
                    "object {}: {} objects equal (decoded from the pickle)",
                    shape_text(&x.shape),
                    x.items.len()
                ),
            ),
            Some(d) => {
                let mut ch = Check::new(
                    name,
                    Status::Fail,
                    format!("objects differ at {}{}: {}", b.name, d.path, d.what),
                );
                let (vb, vc) = d.values.clone().unwrap_or_default();
                ch.mismatches.push(Mismatch {
                    at: format!("{}{}", b.name, d.path),
                    path: Some(d.path.clone()),
                    tick: None,
                    index: None,
                    baseline: Value::from(vb),
                    candidate: Value::from(vc),
                    candidate_line: None,
                });
                ch.details.push(format!(
                    "first difference: {}{}: {}",
                    b.name, d.path, d.what
                ));
                ch
            }
        },
        (x, y) => {
            let why = [("baseline", x.err()), ("candidate", y.err())]
                .into_iter()
                .filter_map(|(side, e)| {
                    e.map(|e| format!("the {side}'s pickle cannot be decoded safely: {e}"))
                })
                .collect::<Vec<_>>()
                .join("; ");
            if bb == cb {
                let mut ch = Check::new(
                    name,
                    Status::Pass,
                    "object array: the pickled bytes are identical (not decoded)",
                );
                ch.details.push(why);
                ch
            } else {
                let mut ch = Check::new(
                    name,
                    Status::Fail,
                    format!("object array: the pickled bytes differ, and {why}"),
                );
                ch.details.push(
                    "hint: store plain dicts, lists, strings and numbers in object arrays so that they can be compared".into(),
                );
                ch
            }
        }
    }
}

/// Compares two arrays of the same name.
pub fn compare_arrays(s: &TensorSettings, b: &Array, c: &Array) -> Check {
    let name = format!("array {}", b.name);
    if b.dtype.kind == Kind::Object || c.dtype.kind == Kind::Object {
        return compare_objects(&name, b, c);
    }
    if let Some(why) = incomparable(b, c) {
        return Check::new(name, Status::Fail, why);
    }
    let (rule, override_note) = match s.overrides.find(&b.name) {
        Some((p, t)) => (s.rule.with(t), Some(format!("tolerance override '{p}'"))),
        None => (s.rule, None),
    };
    let mut acc = Acc::new(s.examples);
    match (&b.data, &c.data) {
        (Data::F32(x), Data::F32(y)) => floats(&mut acc, &rule, x, y),
        (Data::F64(x), Data::F64(y)) => floats(&mut acc, &rule, x, y),
        (Data::I8(x), Data::I8(y)) => exact(&mut acc, x, y, |v| Value::from(*v)),
        (Data::I16(x), Data::I16(y)) => exact(&mut acc, x, y, |v| Value::from(*v)),
        (Data::I32(x), Data::I32(y)) => exact(&mut acc, x, y, |v| Value::from(*v)),
        (Data::I64(x), Data::I64(y)) => exact(&mut acc, x, y, |v| Value::from(*v)),
        (Data::U8(x), Data::U8(y)) => exact(&mut acc, x, y, |v| Value::from(*v)),
        (Data::U16(x), Data::U16(y)) => exact(&mut acc, x, y, |v| Value::from(*v)),
        (Data::U32(x), Data::U32(y)) => exact(&mut acc, x, y, |v| Value::from(*v)),
        (Data::U64(x), Data::U64(y)) => exact(&mut acc, x, y, |v| Value::from(*v)),
        (Data::Bool(x), Data::Bool(y)) => exact(&mut acc, x, y, |v| Value::from(*v)),
        _ => {
            return Check::new(name, Status::Fail, "internal: data does not match dtype");
        }
    }
    let elements: u64 = b.shape.iter().map(|&d| d as u64).product();
    let pct = if elements == 0 {
        0.0
    } else {
        acc.mismatches as f64 * 100.0 / elements as f64
    };
    let stats = TensorStats {
        dtype: b.dtype.name(),
        shape: b.shape.clone(),
        elements,
        mismatches: acc.mismatches,
        mismatch_percent: pct,
        max_abs_diff: acc.max_abs.take(),
        max_rel_diff: acc.max_rel.take(),
        nan_mismatches: acc.nan,
        inf_mismatches: acc.inf,
        abs_tol: rule.abs,
        rel_tol: rule.rel,
    };
    let exact_kind = !matches!(b.dtype.kind, Kind::Float);
    let tol = format!("abs {}, rel {}", fmt_num(rule.abs), fmt_num(rule.rel));
    let mut ch = if acc.mismatches == 0 {
        passed(name, &stats, exact_kind, &tol)
    } else {
        failed(name, &stats, &acc, exact_kind, &tol)
    };
    if let Some(note) = override_note {
        ch.details.insert(0, note);
    }
    ch.mismatches = acc.examples;
    ch.tensor = Some(stats);
    ch
}

/// Why two arrays cannot be compared element by element: their dtypes or
/// their shapes differ.
fn incomparable(b: &Array, c: &Array) -> Option<String> {
    if !b.dtype.same_type(&c.dtype) {
        return Some(format!(
            "dtype differs: {} ('{}') in the baseline, {} ('{}') in the candidate",
            b.dtype.name(),
            b.dtype.descr,
            c.dtype.name(),
            c.dtype.descr
        ));
    }
    if b.shape != c.shape {
        return Some(format!(
            "shape differs: {} in the baseline, {} in the candidate",
            shape_text(&b.shape),
            shape_text(&c.shape)
        ));
    }
    None
}

/// The check of arrays that are equal within tolerance.
fn passed(name: String, stats: &TensorStats, exact_kind: bool, tol: &str) -> Check {
    let elements = stats.elements;
    let mut summary = if exact_kind {
        format!(
            "{} {}: {elements} elements, all equal",
            stats.dtype,
            shape_text(&stats.shape)
        )
    } else {
        format!(
            "{} {}: {elements} elements, all within {tol}",
            stats.dtype,
            shape_text(&stats.shape)
        )
    };
    if let Some(m) = &stats.max_abs_diff
        && m.value > 0.0
    {
        summary.push_str(&format!(", max abs diff {}", fmt_num(m.value)));
    }
    Check::new(name, Status::Pass, summary)
}

/// The check of arrays that differ: how many elements, the largest
/// differences, NaN and infinity mismatches, the first mismatches.
fn failed(name: String, stats: &TensorStats, acc: &Acc, exact_kind: bool, tol: &str) -> Check {
    let elements = stats.elements;
    let mut ch = Check::new(
        name,
        Status::Fail,
        format!(
            "{} {}: {} of {elements} elements differ ({}){}",
            stats.dtype,
            shape_text(&stats.shape),
            acc.mismatches,
            percent(stats.mismatch_percent),
            if exact_kind {
                String::new()
            } else {
                format!(" beyond {tol}")
            }
        ),
    );
    if let Some(m) = &stats.max_abs_diff {
        ch.details.push(format!(
            "max abs diff {} at {:?} (baseline {}, candidate {})",
            fmt_num(m.value),
            m.index,
            m.baseline,
            m.candidate
        ));
    }
    if let Some(m) = &stats.max_rel_diff {
        ch.details.push(format!(
            "max rel diff {} at {:?} (baseline {}, candidate {})",
            fmt_num(m.value),
            m.index,
            m.baseline,
            m.candidate
        ));
    }
    if acc.nan > 0 {
        ch.details.push(format!("{} NaN mismatches", acc.nan));
    }
    if acc.inf > 0 {
        ch.details.push(format!("{} infinity mismatches", acc.inf));
    }
    for m in &acc.examples {
        ch.details.push(format!(
            "at {}: baseline {}, candidate {}",
            m.at, m.baseline, m.candidate
        ));
    }
    if acc.mismatches > acc.examples.len() as u64 {
        ch.details.push(format!(
            "... and {} more",
            acc.mismatches - acc.examples.len() as u64
        ));
    }
    ch
}

fn percent(p: f64) -> String {
    if p > 0.0 && p < 0.01 {
        "<0.01%".into()
    } else {
        format!("{p:.2}%")
    }
}

struct Acc {
    mismatches: u64,
    nan: u64,
    inf: u64,
    max_abs: Option<Extreme>,
    max_rel: Option<Extreme>,
    examples: Vec<Mismatch>,
    limit: usize,
}

impl Acc {
    fn new(limit: usize) -> Self {
        Self {
            mismatches: 0,
            nan: 0,
            inf: 0,
            max_abs: None,
            max_rel: None,
            examples: Vec::new(),
            limit,
        }
    }

    fn example(&mut self, shape: &[usize], i: usize, b: Value, c: Value) {
        if self.examples.len() < self.limit {
            let index = unravel(i, shape);
            self.examples.push(Mismatch {
                at: format!("{index:?}"),
                path: None,
                tick: None,
                index: Some(index),
                baseline: b,
                candidate: c,
                candidate_line: None,
            });
        }
    }
}

/// The multi-index of the `i`-th element in logical (row-major) order.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[k] = i % d;
            i /= d;
        }
    }
    idx
}

trait Float: Copy {
    fn f64(self) -> f64;
}
impl Float for f32 {
    fn f64(self) -> f64 {
        self as f64
    }
}
impl Float for f64 {
    fn f64(self) -> f64 {
        self
    }
}

fn floats<T: Float>(acc: &mut Acc, rule: &NumRule, b: &ArrayD<T>, c: &ArrayD<T>) {
    let mut max_abs = 0.0f64;
    let mut max_rel = 0.0f64;
    let mut max_abs_at: Option<(usize, f64, f64)> = None;
    let mut max_rel_at: Option<(usize, f64, f64)> = None;
    let shape = b.shape();
    for (i, (&x, &y)) in b.iter().zip(c.iter()).enumerate() {
        let (x, y) = (x.f64(), y.f64());
        if x == y {
            continue;
        }
        let verdict = rule.check(x, y);
        if x.is_finite() && y.is_finite() {
            let d = (y - x).abs();
            if d > max_abs {
                max_abs = d;
                max_abs_at = Some((i, x, y));
            }
            let r = rule.relative(x, y);
            if r > max_rel {
                max_rel = r;
                max_rel_at = Some((i, x, y));
            }
        }
        match verdict {
            Closeness::Close => {}
            v => {
                acc.mismatches += 1;
                match v {
                    Closeness::Nan => acc.nan += 1,
                    Closeness::Inf => acc.inf += 1,
                    _ => {}
                }
                acc.example(shape, i, num(x), num(y));
            }
        }
    }
    acc.max_abs = max_abs_at.map(|(i, x, y)| Extreme {
        value: max_abs,
        index: unravel(i, shape),
        baseline: num(x),
        candidate: num(y),
    });
    acc.max_rel = max_rel_at.map(|(i, x, y)| Extreme {
        value: max_rel,
        index: unravel(i, shape),
        baseline: num(x),
        candidate: num(y),
    });
}

fn exact<T: PartialEq + Copy>(
    acc: &mut Acc,
    b: &ArrayD<T>,
    c: &ArrayD<T>,
    json: impl Fn(&T) -> Value,
) {
    let shape = b.shape();
    for (i, (x, y)) in b.iter().zip(c.iter()).enumerate() {
        if x != y {
            acc.mismatches += 1;
            acc.example(shape, i, json(x), json(y));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npz::Dtype;
    use rollout_config::model::{NanPolicy, Tolerance, ToleranceRule};

    fn settings() -> TensorSettings {
        TensorSettings {
            rule: NumRule::new(
                Tolerance {
                    abs: 1e-6,
                    rel: 0.0,
                },
                ToleranceRule::Numpy,
                NanPolicy::Equal,
            ),
            overrides: Overrides::default(),
            examples: 3,
        }
    }

    fn f32s(name: &str, shape: &[usize], v: Vec<f32>) -> Array {
        Array {
            name: name.into(),
            dtype: Dtype {
                descr: "<f4".into(),
                kind: Kind::Float,
                size: 4,
            },
            shape: shape.to_vec(),
            fortran_order: false,
            data: Data::F32(ArrayD::from_shape_vec(shape.to_vec(), v).expect("shape")),
        }
    }

    #[test]
    fn reports_the_multi_index_of_the_largest_difference() {
        let b = f32s("map", &[2, 3], vec![0.0; 6]);
        let mut v = vec![0.0; 6];
        v[4] = 0.5;
        v[1] = 1e-7;
        let c = f32s("map", &[2, 3], v);
        let ch = compare_arrays(&settings(), &b, &c);
        assert_eq!(ch.status, Status::Fail);
        let t = ch.tensor.as_ref().expect("stats");
        assert_eq!(t.mismatches, 1);
        assert_eq!(
            t.max_abs_diff.as_ref().map(|m| m.index.clone()),
            Some(vec![1, 1])
        );
        assert_eq!(ch.mismatches[0].index, Some(vec![1, 1]));
        assert!(
            ch.summary.contains("1 of 6 elements differ (16.67%)"),
            "{}",
            ch.summary
        );
    }

    #[test]
    fn nan_equal_by_default_inf_exact() {
        let b = f32s("x", &[3], vec![f32::NAN, f32::INFINITY, 1.0]);
        let c = f32s("x", &[3], vec![f32::NAN, f32::INFINITY, 1.0]);
        assert_eq!(compare_arrays(&settings(), &b, &c).status, Status::Pass);
        let c2 = f32s("x", &[3], vec![1.0, f32::NEG_INFINITY, 1.0]);
        let ch = compare_arrays(&settings(), &b, &c2);
        let t = ch.tensor.expect("stats");
        assert_eq!(
            (t.mismatches, t.nan_mismatches, t.inf_mismatches),
            (2, 1, 1)
        );
        assert_eq!(ch.mismatches[0].baseline, Value::from("NaN"));
    }

    #[test]
    fn shape_and_dtype_mismatch() {
        let b = f32s("x", &[2], vec![0.0; 2]);
        let c = f32s("x", &[1, 2], vec![0.0; 2]);
        let ch = compare_arrays(&settings(), &b, &c);
        assert_eq!(
            ch.summary,
            "shape differs: (2,) in the baseline, (1, 2) in the candidate"
        );
        let mut d = f32s("x", &[2], vec![0.0; 2]);
        d.dtype = Dtype {
            descr: "<f8".into(),
            kind: Kind::Float,
            size: 8,
        };
        d.data = Data::F64(ArrayD::zeros(vec![2]));
        let ch = compare_arrays(&settings(), &b, &d);
        assert!(
            ch.summary.starts_with("dtype differs: float32"),
            "{}",
            ch.summary
        );
    }
}
