//! Judging a terminal smoke from what appeared on the screen: the expected
//! texts, a number that must advance (`Tick: N`), and no Python traceback.

use regex::Regex;

/// The marker of a Python traceback.
pub(crate) const TRACEBACK: &str = "Traceback (most recent call last)";

/// What the screen must show.
#[derive(Debug, Clone)]
pub(crate) struct Expectations {
    pub texts: Vec<String>,
    pub advancing: Option<Regex>,
}

/// What the screen showed, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Judgement {
    pub missing: Vec<String>,
    /// The values of the advancing number, in order of appearance (deduped).
    pub values: Vec<u64>,
    pub advanced: bool,
    /// The traceback's last line (the exception), when one appeared.
    pub traceback: Option<String>,
}

impl Judgement {
    pub(crate) fn passed(&self) -> bool {
        self.missing.is_empty() && self.advanced && self.traceback.is_none()
    }
}

pub(crate) fn judge(screen: &str, exp: &Expectations) -> Judgement {
    let missing = exp
        .texts
        .iter()
        .filter(|t| !screen.contains(t.as_str()))
        .cloned()
        .collect();
    let mut values: Vec<u64> = Vec::new();
    if let Some(re) = &exp.advancing {
        for caps in re.captures_iter(screen) {
            if let Some(v) = caps.get(1).and_then(|m| m.as_str().parse().ok())
                && values.last() != Some(&v)
            {
                values.push(v);
            }
        }
    }
    let advanced = exp.advancing.is_none() || values.windows(2).any(|w| w[1] > w[0]);
    let traceback = screen.find(TRACEBACK).map(|at| {
        // The exception line is the first non-indented line after the frames.
        screen[at..]
            .lines()
            .skip(1)
            .find(|l| !l.starts_with(' ') && !l.trim().is_empty())
            .unwrap_or(TRACEBACK)
            .trim()
            .to_string()
    });
    Judgement {
        missing,
        values,
        advanced,
        traceback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp() -> Expectations {
        Expectations {
            texts: vec!["Telemetry".into()],
            advancing: Some(Regex::new(r"Tick: (\d+)").expect("re")),
        }
    }

    #[test]
    fn a_dashboard_with_advancing_ticks_passes() {
        let screen =
            "╭── Telemetry ──╮\n│ Tick: 2 │\n╭── Telemetry ──╮\n│ Tick: 2 │\n│ Tick: 3 │\n";
        let j = judge(screen, &exp());
        assert!(j.passed(), "{j:?}");
        assert_eq!(j.values, [2, 3]);
    }

    #[test]
    fn a_frozen_tick_or_a_missing_panel_fails() {
        let j = judge("Telemetry\nTick: 4\nTick: 4\n", &exp());
        assert!(!j.advanced);
        let j = judge("Tick: 1\nTick: 2\n", &exp());
        assert_eq!(j.missing, ["Telemetry"]);
    }

    #[test]
    fn a_traceback_fails_and_names_the_exception() {
        let screen = "Telemetry\nTick: 1\nTick: 2\nTraceback (most recent call last):\n  File \"x.py\", line 3, in <module>\n    boom()\nRuntimeError: sample crash\n";
        let j = judge(screen, &exp());
        assert!(!j.passed());
        assert_eq!(j.traceback.as_deref(), Some("RuntimeError: sample crash"));
    }
}
