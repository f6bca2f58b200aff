//! Any bytes as an `.npz` archive and as a `.npy` array: never a panic; what
//! reads compares equal to itself.
#![no_main]

use baseline_diff::npz::{read_npy, read_npz};
use baseline_diff::report::Status;
use baseline_diff::tensor::{TensorSettings, compare_archives};
use baseline_diff::tolerance::{NumRule, Overrides};
use libfuzzer_sys::fuzz_target;
use rollout_config::model::{NanPolicy, Tolerance, ToleranceRule};

fuzz_target!(|data: &[u8]| {
    let settings = TensorSettings {
        rule: NumRule::new(Tolerance::default(), ToleranceRule::Numpy, NanPolicy::Equal),
        overrides: Overrides::default(),
        examples: 3,
    };
    if let Ok(arrays) = read_npz(data) {
        for c in compare_archives(&settings, &arrays, &arrays) {
            assert!(matches!(c.status, Status::Pass | Status::Skip), "{c:?}");
        }
    }
    match read_npy("x", data) {
        Ok(a) => {
            let one = [a];
            for c in compare_archives(&settings, &one, &one) {
                assert!(matches!(c.status, Status::Pass | Status::Skip), "{c:?}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
