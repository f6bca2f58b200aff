use super::*;

#[test]
fn python_equality_of_numbers_and_sequences() {
    let one = Value::I64(1);
    assert_eq!(diff("", &one, &Value::F64(1.0)), None);
    assert_eq!(diff("", &Value::Bool(true), &one), None);
    assert!(
        diff(
            "",
            &Value::List(vec![one.clone()]),
            &Value::Tuple(vec![one])
        )
        .is_some()
    );
}

#[test]
fn anything_but_plain_data_is_refused() {
    // A class instance: GLOBAL os.system, then REDUCE.
    let evil = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
    let e = screen(evil).expect_err("refused").to_string();
    assert!(e.contains("`os.system`"), "{e}");
    // A memo reference to a container (the way a pickle bomb grows).
    let shared = b"\x80\x04]\x94(h\x00h\x00e.";
    assert!(
        screen(shared)
            .expect_err("refused")
            .to_string()
            .contains("shares one container")
    );
    // A length beyond the end.
    assert!(
        screen(b"\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f")
            .expect_err("refused")
            .to_string()
            .contains("truncated")
    );
    // NEWOBJ.
    assert!(screen(b"\x80\x04)\x81.").is_err());
    // Deep nesting.
    let mut deep = vec![0x80, 4];
    deep.extend(std::iter::repeat_n(b']', 100));
    deep.extend(std::iter::repeat_n(b'a', 99));
    deep.push(b'.');
    assert!(
        screen(&deep)
            .expect_err("refused")
            .to_string()
            .contains("nest deeper")
    );
}

/// `[s, s, ...]`: one string of `len` bytes, memoized, then referenced
/// `refs` more times through the memo (what `pickle.dumps([s] * n)`
/// writes).
fn memo_bomb(len: usize, refs: usize) -> Vec<u8> {
    let mut p = vec![0x80, 4, b']', b'(', 0x8d];
    p.extend((len as u64).to_le_bytes());
    p.extend(std::iter::repeat_n(b'a', len));
    p.push(0x94);
    for _ in 0..refs {
        p.extend([b'h', 0]);
    }
    p.extend([b'e', b'.']);
    p
}

#[test]
fn memo_references_are_charged_the_value_they_repeat_each_time() {
    // 4 MiB referenced 1000 times: 4 GB decoded, refused at the third
    // reference (the fourth copy, with the list: just over 16 MiB),
    // before serde-pickle sees it.
    let bomb = memo_bomb(4 << 20, 1000);
    let started = std::time::Instant::now();
    let e = screen(&bomb).expect_err("refused");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let PickleError::OverLimit { at, message } = &e else {
        panic!("not an over-limit refusal: {e}")
    };
    assert_eq!(*at, 5 + 8 + (4 << 20) + 1 + 2 * 2, "{e}");
    assert!(message.contains("more than 16.0 MiB"), "{e}");
    assert!(matches!(
        check_limits(&bomb),
        Err(PickleError::OverLimit { .. })
    ));
    assert!(matches!(
        decode_object_array(&bomb),
        Err(PickleError::OverLimit { .. })
    ));
    // The same string referenced a few times is within the budget.
    assert_eq!(screen(&memo_bomb(1 << 20, 3)), Ok(()));
    // A small value referenced many times adds up too.
    assert!(matches!(
        screen(&memo_bomb(1000, 20_000)),
        Err(PickleError::OverLimit { .. })
    ));
}

#[test]
fn integers_longer_than_the_limit_are_refused() {
    let long4 = |len: usize| {
        let mut p = vec![0x80, 4, 0x8b];
        p.extend((len as u32).to_le_bytes());
        p.extend(std::iter::repeat_n(0x11, len));
        p.push(b'.');
        p
    };
    assert_eq!(screen(&long4(MAX_INT_BYTES)), Ok(()));
    let e = screen(&long4(10 << 20)).expect_err("refused");
    assert!(
        matches!(&e, PickleError::OverLimit { at: 2, message } if message.contains("an integer of 10485760 bytes")),
        "{e}"
    );
    // LONG1 of 255 bytes, and the text forms.
    let mut long1 = vec![0x80, 2, 0x8a, 255];
    long1.extend([1; 255]);
    long1.push(b'.');
    assert!(matches!(screen(&long1), Err(PickleError::OverLimit { .. })));
    let text = |op: u8, digits: usize| {
        let mut p = vec![op];
        p.extend(std::iter::repeat_n(b'7', digits));
        p.extend(b"\n.");
        p
    };
    assert_eq!(screen(&text(b'L', MAX_INT_DIGITS)), Ok(()));
    assert!(matches!(
        screen(&text(b'L', 1 << 20)),
        Err(PickleError::OverLimit { .. })
    ));
    assert!(matches!(
        screen(&text(b'I', 1 << 20)),
        Err(PickleError::OverLimit { .. })
    ));
}
