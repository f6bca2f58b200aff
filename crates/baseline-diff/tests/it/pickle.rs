//! Object arrays: the pickled metadata numpy stores, decoded and compared.

use baseline_diff::compare_paths;
use baseline_diff::pickle;
use baseline_diff::report::Status;
use rollout_core::Verdict;

use crate::fixtures::*;

#[test]
fn decodes_a_numpy_object_array_of_one_dict() {
    let o = pickle::decode_object_array(&object_array_pickle(&["need_hunger", "wallet"]))
        .expect("decode");
    assert_eq!(o.shape, [1]);
    assert_eq!(
        pickle::repr(&o.items[0]),
        "{'feature_names': ['need_hunger', 'wallet'], 'map_shape': (4, 11, 11), 'varia..."
    );
}

#[test]
fn reordered_names_differ_at_the_first_moved_one() {
    let a = pickle::decode_object_array(&object_array_pickle(&["need_hunger", "wallet", "x"]))
        .expect("a");
    let b = pickle::decode_object_array(&object_array_pickle(&["wallet", "need_hunger", "x"]))
        .expect("b");
    assert_eq!(pickle::first_difference(&a, &a), None);
    assert_eq!(
        pickle::first_difference(&a, &b),
        Some(pickle::Difference {
            path: "[0]['feature_names'][0]".into(),
            what: "baseline 'need_hunger', candidate 'wallet'".into(),
            values: Some(("'need_hunger'".into(), "'wallet'".into())),
        })
    );
}

/// An observation archive whose metadata lists `names`.
fn archive(dir: &std::path::Path, file: &str, names: &[&str]) -> std::path::PathBuf {
    let p = dir.join(file);
    npz(
        &p,
        &[
            ("map", npy("<f4", &[2], &f32_bytes(&[0.5, 1.0]))),
            ("metadata", npy("|O", &[1], &object_array_pickle(names))),
        ],
        false,
    );
    p
}

#[test]
fn a_reordered_feature_list_in_the_metadata_fails_with_the_first_difference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = archive(dir.path(), "b.npz", &FEATURE_NAMES);
    let mut moved = FEATURE_NAMES;
    moved.swap(1, 2);
    let c = archive(dir.path(), "c.npz", &moved);
    let r = compare_paths(&settings(), &b, &c).expect("compare");
    assert_eq!(r.verdict, Verdict::Fail);
    let m = r.files[0]
        .checks
        .iter()
        .find(|c| c.name == "array metadata")
        .expect("metadata check");
    assert_eq!(m.status, Status::Fail);
    assert_eq!(
        m.summary,
        "objects differ at metadata[0]['feature_names'][1]: baseline 'need_hygiene', candidate 'need_energy'"
    );
    // The same metadata passes, decoded.
    let r = compare_paths(&settings(), &b, &b).expect("compare");
    let m = &r.files[0].checks[1];
    assert_eq!(
        (m.status, m.summary.as_str()),
        (
            Status::Pass,
            "object (1,): 1 objects equal (decoded from the pickle)"
        )
    );
}

#[test]
fn metadata_that_cannot_be_decoded_is_compared_by_bytes_and_fails_when_they_differ() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A pickle naming a class: never decoded, never run.
    let opaque = |tag: &str| {
        let mut v = b"\x80\x04\x8c\x0ctownlet.meta\x94\x8c\x04Meta\x94\x93".to_vec();
        v.extend(b"\x8c\x03");
        v.extend(tag.as_bytes());
        v.extend(b"\x85R.");
        v
    };
    let write = |file: &str, tag: &str| {
        let p = dir.path().join(file);
        npz(&p, &[("metadata", npy("|O", &[1], &opaque(tag)))], false);
        p
    };
    let (a, b) = (write("a.npz", "one"), write("b.npz", "two"));
    let r = compare_paths(&settings(), &a, &b).expect("compare");
    let m = &r.files[0].checks[0];
    assert_eq!(m.status, Status::Fail);
    assert!(
        m.summary.contains("the pickled bytes differ"),
        "{}",
        m.summary
    );
    assert!(m.summary.contains("`townlet.meta.Meta`"), "{}", m.summary);
    let r = compare_paths(&settings(), &a, &a).expect("compare");
    assert_eq!(r.files[0].checks[0].status, Status::Pass);
}

/// The hostile object arrays of issue 20, written by hand: `feature_names`
/// is one 4 MiB string referenced 1000 times through the memo (4 GB
/// decoded), or `seed` is one integer of 10 MiB.
fn hand_made_hostile(dir: &std::path::Path) -> [(std::path::PathBuf, &'static str); 2] {
    let memo_bomb = object_array_pickle_with(&|p| {
        p.extend([b']', b'(', 0x8d]);
        p.extend((4u64 << 20).to_le_bytes());
        p.extend(std::iter::repeat_n(b'a', 4 << 20));
        p.extend([0x94, b'j']);
        // LONG_BINGET of the string's memo slot (the fixture memoizes one
        // value before it).
        p.extend(1u32.to_le_bytes());
        for _ in 0..999 {
            p.extend([b'j', 1, 0, 0, 0]);
        }
        p.push(b'e');
    });
    let big_int = object_array_pickle_with(&|p| {
        p.push(0x8b);
        p.extend((10u32 << 20).to_le_bytes());
        p.extend(std::iter::repeat_n(0x5a, 10 << 20));
    });
    let write = |file: &str, pickle: &[u8]| {
        let path = dir.join(file);
        npz(
            &path,
            &[
                ("map", npy("<f4", &[2], &f32_bytes(&[0.5, 1.0]))),
                ("metadata", npy("|O", &[1], pickle)),
            ],
            true,
        );
        path
    };
    [
        (
            write("memo-bomb.npz", &memo_bomb),
            "decode to more than 16.0 MiB",
        ),
        (
            write("big-int.npz", &big_int),
            "an integer of 10485760 bytes",
        ),
    ]
}

/// The same two files written by numpy itself (`np.savez_compressed` of an
/// object array holding the hostile dict), in a cached virtual environment.
fn numpy_made_hostile(dir: &std::path::Path) -> [(std::path::PathBuf, &'static str); 2] {
    const SCRIPT: &str = r#"
import sys
import numpy as np
kind, path = sys.argv[1], sys.argv[2]
meta = np.empty(1, dtype=object)
if kind == "memo":
    s = "a" * (4 << 20)
    meta[0] = {"variant": "hybrid", "feature_names": [s] * 1000}
else:
    meta[0] = {"variant": "hybrid", "seed": 1 << (8 * (10 << 20) - 2)}
np.savez_compressed(path, map=np.zeros((4, 11, 11), np.float32), metadata=meta)
"#;
    let python = test_support::venv("numpy-venv", "", &["numpy>=1.26,<3"]).join("python");
    let make = |kind: &str, file: &str| {
        let path = dir.join(file);
        let status = plumbing::process::command(&python)
            .args(["-c", SCRIPT, kind])
            .arg(&path)
            .status()
            .expect("run python");
        assert!(status.success(), "numpy could not write `{file}`");
        path
    };
    [
        (
            make("memo", "np-memo-bomb.npz"),
            "decode to more than 16.0 MiB",
        ),
        (
            make("int", "np-big-int.npz"),
            "an integer of 10485760 bytes",
        ),
    ]
}

#[test]
fn hostile_pickles_are_errors_naming_the_file_and_the_array_within_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let baseline = archive(dir.path(), "b.npz", &FEATURE_NAMES);
    let hand_made = hand_made_hostile(dir.path());
    let numpy_made = numpy_made_hostile(dir.path());
    let memo_bomb_size = std::fs::metadata(&numpy_made[0].0).expect("size").len();
    assert!(memo_bomb_size < 64 << 10, "{memo_bomb_size} bytes");
    for (candidate, what) in hand_made.iter().chain(&numpy_made) {
        let started = std::time::Instant::now();
        let error = compare_paths(&settings(), &baseline, candidate).expect_err("refused");
        let took = started.elapsed();
        let error = format!("{error:#}");
        assert!(
            error.contains(&format!("`{}`", candidate.display()))
                && error.contains("entry `metadata.npy`")
                && error.contains(what),
            "{error}"
        );
        assert!(
            took < std::time::Duration::from_secs(1),
            "{took:?}: {error}"
        );
        // Measured in a child process: time and peak RSS of the comparison
        // alone.
        let (wall, peak_kib, _) = test_support::measure::run_measured(
            plumbing::process::command(std::env::current_exe().expect("test binary"))
                .args(["pickle::compare_in_a_child", "--exact", "--test-threads=1"])
                .env(CHILD_BASELINE, &baseline)
                .env(CHILD_CANDIDATE, candidate)
                .stdout(std::process::Stdio::null()),
        );
        assert!(
            wall < std::time::Duration::from_secs(1),
            "{wall:?}: {}",
            candidate.display()
        );
        assert!(
            peak_kib < 256 << 10,
            "peak RSS {peak_kib} KiB: {}",
            candidate.display()
        );
    }
}

const CHILD_BASELINE: &str = "BASELINE_DIFF_TEST_CHILD_BASELINE";
const CHILD_CANDIDATE: &str = "BASELINE_DIFF_TEST_CHILD_CANDIDATE";

/// The comparison alone, run as a child of the test above (which measures
/// its peak RSS); without the child's environment it has nothing to do.
#[test]
fn compare_in_a_child() {
    let (Some(baseline), Some(candidate)) = (
        std::env::var_os(CHILD_BASELINE),
        std::env::var_os(CHILD_CANDIDATE),
    ) else {
        return;
    };
    let result = compare_paths(
        &settings(),
        std::path::Path::new(&baseline),
        std::path::Path::new(&candidate),
    );
    assert!(result.is_err(), "the hostile file was compared");
}
