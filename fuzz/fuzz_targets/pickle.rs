//! Any bytes as the pickle of a numpy object array: screening and decoding
//! must not panic, and what decodes compares equal to itself.
#![no_main]

use baseline_diff::pickle::{decode_object_array, first_difference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(objects) = decode_object_array(data) {
        assert_eq!(first_difference(&objects, &objects), None);
    }
});
