use baseline_diff::report::{Report, Status};
use baseline_diff::{compare_paths, render};
use rollout_config::model::ToleranceRule;
use rollout_core::Verdict;
use rollout_core::{Format, Style};
use serde_json::Value;

use crate::fixtures::*;

fn compare_maps(map_b: &[f32], map_c: &[f32], s: &baseline_diff::CompareSettings) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = dir.path().join("b.npz");
    let c = dir.path().join("c.npz");
    observation_npz(&b, map_b, false);
    observation_npz(&c, map_c, true);
    compare_paths(s, &b, &c).expect("compare")
}

fn array<'a>(r: &'a Report, name: &str) -> &'a baseline_diff::report::Check {
    r.files[0]
        .checks
        .iter()
        .find(|c| c.name == format!("array {name}"))
        .unwrap_or_else(|| panic!("no array {name}"))
}

#[test]
fn identical_archives_pass_with_their_object_arrays_decoded() {
    let r = compare_maps(&base_map(), &base_map(), &settings());
    assert_eq!(r.verdict, Verdict::Pass);
    let m = array(&r, "metadata");
    assert_eq!(m.status, Status::Pass);
    assert!(
        m.summary.contains("decoded from the pickle"),
        "{}",
        m.summary
    );
    for name in ["map", "features", "actions", "dones", "values"] {
        assert_eq!(array(&r, name).status, Status::Pass, "{name}");
    }
    assert_eq!(r.counts.skip, 0);
}

#[test]
fn a_float_just_outside_tolerance_is_located_by_multi_index() {
    let mut c = base_map();
    // element [1, 2, 3] = flat 23; baseline 23/8 = 2.875; numpy rule with
    // abs 1e-6, rel 1e-7: limit 1e-6 + 2.875e-7 = 1.2875e-6
    c[23] += 4e-6;
    let r = compare_maps(&base_map(), &c, &settings());
    assert_eq!(r.verdict, Verdict::Fail);
    let m = array(&r, "map");
    let t = m.tensor.as_ref().expect("stats");
    assert_eq!((t.elements, t.mismatches), (24, 1));
    assert_eq!(
        t.max_abs_diff.as_ref().map(|e| e.index.clone()),
        Some(vec![1, 2, 3])
    );
    assert_eq!(m.mismatches[0].index, Some(vec![1, 2, 3]));
    assert_eq!(m.mismatches[0].baseline, Value::from(2.875));
    // float32 resolution near 2.875 is 2.4e-7: 4 ulps is inside tolerance
    let mut inside = base_map();
    inside[23] += 1e-6;
    let r = compare_maps(&base_map(), &inside, &settings());
    assert_eq!(
        r.verdict,
        Verdict::Pass,
        "{}",
        render(&r, Format::Human, Style::new(false)).expect("r")
    );
}

#[test]
fn the_rule_is_selectable() {
    // b = 90.5, c = 100, rel 0.1: numpy fails (9.5 > 9.05), symmetric passes (9.5 <= 10)
    let mut b = base_map();
    let mut c = base_map();
    b[0] = 90.5;
    c[0] = 100.0;
    let mut s = settings();
    s.tolerance.rel = 0.1;
    assert_eq!(compare_maps(&b, &c, &s).verdict, Verdict::Fail);
    s.rule = ToleranceRule::Symmetric;
    let r = compare_maps(&b, &c, &s);
    assert_eq!(r.verdict, Verdict::Pass);
    assert!(r.rule.starts_with("symmetric rule"), "{}", r.rule);
}

#[test]
fn nan_and_inf() {
    let mut b = base_map();
    b[0] = f32::NAN;
    b[1] = f32::INFINITY;
    let r = compare_maps(&b, &b, &settings());
    assert_eq!(r.verdict, Verdict::Pass, "NaN equals NaN by default");
    let mut c = b.clone();
    c[0] = 0.0;
    c[1] = f32::MAX;
    let mut s = settings();
    s.tolerance.abs = 1e300;
    let r = compare_maps(&b, &c, &s);
    let t = array(&r, "map").tensor.clone().expect("stats");
    assert_eq!(
        (t.mismatches, t.nan_mismatches, t.inf_mismatches),
        (2, 1, 1)
    );
    s.nan = rollout_config::model::NanPolicy::Unequal;
    let r = compare_maps(&b, &b, &s);
    assert_eq!(
        array(&r, "map").tensor.as_ref().map(|t| t.nan_mismatches),
        Some(1)
    );
}

#[test]
fn shape_and_dtype_mismatch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = dir.path().join("b.npz");
    let c = dir.path().join("c.npz");
    npz(
        &b,
        &[
            ("map", npy("<f4", &[2, 2], &f32_bytes(&[0.0; 4]))),
            ("x", npy("<f4", &[1], &f32_bytes(&[0.0]))),
        ],
        false,
    );
    npz(
        &c,
        &[
            ("map", npy("<f4", &[4], &f32_bytes(&[0.0; 4]))),
            ("x", npy("<f8", &[1], &f64_bytes(&[0.0]))),
        ],
        false,
    );
    let r = compare_paths(&settings(), &b, &c).expect("compare");
    assert_eq!(
        array(&r, "map").summary,
        "shape differs: (2, 2) in the baseline, (4,) in the candidate"
    );
    assert_eq!(
        array(&r, "x").summary,
        "dtype differs: float32 ('<f4') in the baseline, float64 ('<f8') in the candidate"
    );
    // missing and extra arrays
    npz(
        &c,
        &[
            ("map", npy("<f4", &[2, 2], &f32_bytes(&[0.0; 4]))),
            ("y", npy("<f4", &[1], &f32_bytes(&[0.0]))),
        ],
        false,
    );
    let r = compare_paths(&settings(), &b, &c).expect("compare");
    assert!(
        array(&r, "x")
            .summary
            .starts_with("missing in the candidate")
    );
    assert!(array(&r, "y").summary.starts_with("only in the candidate"));
}

#[test]
fn per_array_overrides() {
    let mut c = base_map();
    c[5] += 0.01;
    let mut s = settings();
    s.overrides.insert(
        "map".into(),
        rollout_config::model::Tolerance { abs: 0.1, rel: 0.0 },
    );
    let r = compare_maps(&base_map(), &c, &s);
    assert_eq!(r.verdict, Verdict::Pass);
    assert_eq!(array(&r, "map").details, ["tolerance override 'map'"]);
}

#[test]
fn bad_archives_are_errors_naming_file_and_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.npz");
    observation_npz(&good, &base_map(), false);
    let check = |name: &str, expected: &str| {
        let e = compare_paths(&settings(), &good, &dir.path().join(name)).expect_err(name);
        let text = format!("{e:#}");
        assert!(
            text.contains(name) && text.contains(expected),
            "{name}: {text}"
        );
    };
    std::fs::write(dir.path().join("text.npz"), "not a zip").expect("write");
    check("text.npz", "not an .npz archive: not a readable zip file");
    npz(&dir.path().join("other.npz"), &[], false);
    {
        let f = std::fs::File::create(dir.path().join("other.npz")).expect("create");
        let mut z = zip::ZipWriter::new(f);
        z.start_file("readme.txt", zip::write::SimpleFileOptions::default())
            .expect("start");
        std::io::Write::write_all(&mut z, b"hi").expect("write");
        z.finish().expect("finish");
    }
    check("other.npz", "entry `readme.txt`: not an .npz archive");
    npz(
        &dir.path().join("lies.npz"),
        &[("map", npy("<f4", &[4, 11, 11], &[0; 100]))],
        false,
    );
    check(
        "lies.npz",
        "entry `map.npy`: at byte offset 128 of the .npy data: the header says shape (4, 11, 11) of '<f4' = 1936 bytes, but 100 bytes follow the header",
    );
    npz(
        &dir.path().join("complex.npz"),
        &[("z", npy("<c8", &[1], &[0; 8]))],
        false,
    );
    check("complex.npz", "unsupported dtype '<c8' (complex)");
}

#[test]
fn single_npy_files_compare_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = dir.path().join("b.npy");
    let c = dir.path().join("c.npy");
    std::fs::write(&b, npy("<i8", &[2], &i64_bytes(&[1, 2]))).expect("write");
    std::fs::write(&c, npy("<i8", &[2], &i64_bytes(&[1, 3]))).expect("write");
    let r = compare_paths(&settings(), &b, &c).expect("compare");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.files[0].checks[0].mismatches[0].index, Some(vec![1]));
}

/// Rewrites the uncompressed size the zip declares for its (only) entry, in
/// the local header and the central directory, as a crafted archive would.
fn declare_size(path: &std::path::Path, declared: u32) {
    let mut bytes = std::fs::read(path).expect("read");
    let find = |bytes: &[u8], signature: &[u8; 4]| {
        bytes
            .windows(4)
            .position(|window| window == signature)
            .expect("zip signature")
    };
    let local = find(&bytes, b"PK\x03\x04");
    bytes[local + 22..local + 26].copy_from_slice(&declared.to_le_bytes());
    let central = find(&bytes, b"PK\x01\x02");
    bytes[central + 24..central + 28].copy_from_slice(&declared.to_le_bytes());
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn zip_bombs_are_refused_before_inflating() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.npz");
    observation_npz(&good, &base_map(), false);
    let error_of = |name: &str| {
        format!(
            "{:#}",
            compare_paths(&settings(), &good, &dir.path().join(name)).expect_err(name)
        )
    };
    // An entry declaring 3.75 GiB: refused from the central directory.
    let huge = dir.path().join("huge.npz");
    observation_npz(&huge, &base_map(), true);
    declare_size(&huge, 0xF000_0000);
    let text = error_of("huge.npz");
    assert!(
        text.contains("entry `map.npy`: the zip declares 4026531840 bytes, more than the 128 MiB limit for one array"),
        "{text}"
    );
    // A header whose shape does not account for the declared size: refused
    // after reading the header only.
    let shape = dir.path().join("shape.npz");
    npz(
        &shape,
        &[("map", npy("<f4", &[1 << 24], &f32_bytes(&[0.0; 16])))],
        true,
    );
    let text = error_of("shape.npz");
    assert!(
        text.contains("the header says shape (16777216,) of '<f4' = 67108864 bytes, but 64 bytes follow the header"),
        "{text}"
    );
    // An entry that inflates to more than it declares is cut off.
    let lying = dir.path().join("lying.npz");
    npz(
        &lying,
        &[("map", npy("<f4", &[16], &f32_bytes(&[0.0; 16])))],
        true,
    );
    declare_size(&lying, 100);
    let text = error_of("lying.npz");
    assert!(
        text.contains("lying.npz`: entry `map.npy`: at byte offset 8 of the .npy data: the header claims 118 bytes but only 91 follow"),
        "{text}"
    );
    // A header and declared size that agree, with more data than both.
    let longer = dir.path().join("longer.npz");
    let entry = npy("<f4", &[16], &f32_bytes(&[0.0; 32]));
    let declared = (entry.len() - 64) as u32;
    npz(&longer, &[("map", entry)], true);
    declare_size(&longer, declared);
    let text = error_of("longer.npz");
    assert!(
        text.contains(&format!(
            "the entry inflates to more than the {declared} bytes the zip declares"
        )),
        "{text}"
    );
}
