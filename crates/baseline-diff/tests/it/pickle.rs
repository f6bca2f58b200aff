//! Object arrays: the pickled metadata numpy stores, decoded and compared.

use baseline_diff::compare_paths;
use baseline_diff::pickle;
use baseline_diff::report::Status;
use rollout_config::Outcome;

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
    assert_eq!(r.verdict, Outcome::Fail);
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
