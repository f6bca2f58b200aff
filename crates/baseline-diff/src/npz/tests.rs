use super::*;

/// A `.npy` as numpy writes it: header padded with spaces to a multiple
/// of 64 bytes, ending in a newline.
pub(crate) fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let mut header = dict.into_bytes();
    let total = 10 + header.len() + 1;
    header.resize(header.len() + (64 - total % 64) % 64, b' ');
    header.push(b'\n');
    let mut out = MAGIC.to_vec();
    out.extend([1, 0]);
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header);
    out.extend(data);
    out
}

#[test]
fn reads_numeric_and_bool_arrays() {
    let data: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    let a = read_npy("x", &npy("<f4", "(2,)", &data)).expect("read");
    assert_eq!(a.shape, [2]);
    assert_eq!(a.dtype.name(), "float32");
    assert!(matches!(a.data, Data::F32(ref v) if v[[1]] == -2.0));
    let b = read_npy("d", &npy("|b1", "(2, 1)", &[1, 0])).expect("read");
    assert!(matches!(b.data, Data::Bool(ref v) if v[[0, 0]]));
    let s = read_npy("s", &npy("<i8", "()", &7i64.to_le_bytes())).expect("scalar");
    assert_eq!(s.shape, Vec::<usize>::new());
}

#[test]
fn object_arrays_are_kept_raw() {
    let a = read_npy("metadata", &npy("|O", "(1,)", b"\x80\x04pickle")).expect("read");
    assert_eq!(a.dtype.kind, Kind::Object);
    assert!(matches!(a.data, Data::Object(ref b) if b == b"\x80\x04pickle"));
}

#[test]
fn a_header_that_lies_about_its_size() {
    let bytes = npy("<f4", "(4, 11, 11)", &[0; 100]);
    let e = read_npy("map", &bytes).expect_err("short");
    assert_eq!(e.offset, Some(128));
    assert_eq!(
        e.to_string(),
        "at byte offset 128 of the .npy data: the header says shape (4, 11, 11) of '<f4' = 1936 bytes, but 100 bytes follow the header"
    );
    let mut cut = npy("<f4", "(1,)", &[0; 4]);
    cut.truncate(40);
    assert!(
        read_npy("m", &cut)
            .expect_err("cut")
            .message
            .contains("header claims")
    );
}

#[test]
fn unsupported_dtypes_are_named() {
    for (descr, what) in [
        ("<c8", "complex"),
        ("<U3", "string"),
        ("<f2", "float16"),
        ("<M8[s]", "date"),
    ] {
        let e = read_npy("z", &npy(descr, "(1,)", &[0; 16])).expect_err(descr);
        assert!(e.message.contains(what), "{descr}: {e}");
    }
    let structured = b"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }";
    let mut bytes = MAGIC.to_vec();
    bytes.extend([1, 0]);
    bytes.extend((structured.len() as u16).to_le_bytes());
    bytes.extend(structured);
    let e = read_npy("s", &bytes).expect_err("structured");
    assert!(e.message.contains("structured"), "{e}");
}

#[test]
fn a_zip_that_is_not_an_npz() {
    let e = read_npz(b"PK not really").expect_err("bad zip");
    assert!(e.to_string().contains("not a readable zip file"), "{e}");
}
