//! The log-line parser and the rules it feeds must take any bytes without
//! panicking: each line is parsed, then fed to an evaluator, whose alerts
//! and metrics are then built.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monitor::rules::{DropThresholds, Kind, RuleSettings, SourceEval};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut settings = RuleSettings::new("facade", DropThresholds::none());
    settings.exit_queue_limit = Some(5);
    let mut eval = SourceEval::new("fuzz", "fuzz.log", Kind::Log, settings).collect_points();
    for (i, line) in text.split('\n').enumerate() {
        let _event = telemetry::log::parse(line);
        let _tick = eval.log_line(i as u64 + 1, line);
    }
    let _alerts = eval.alerts();
    let _metrics = eval.metrics();
});
