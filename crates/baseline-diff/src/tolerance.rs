//! The closeness rule for numbers, written down once.
//!
//! With `b` the baseline value and `c` the candidate value:
//! - `numpy` (default): `|c - b| <= abs + rel * |b|`, numpy's `isclose` and
//!   `assert_allclose`, asymmetric: the relative part scales with the
//!   baseline only.
//! - `symmetric`: `|c - b| <= max(abs, rel * max(|b|, |c|))`, approx's
//!   `relative_eq` (computed with approx), symmetric in `b` and `c`.
//!
//! Before either rule: NaN against NaN is equal under `nan: equal` (the
//! default) and a mismatch under `nan: unequal`; NaN against a number is
//! always a mismatch; an infinity matches only the same infinity, whatever
//! the tolerance. Integer and bool arrays are compared exactly.

use rollout_config::model::{NanPolicy, Tolerance, ToleranceRule};
use serde::Serialize;

/// How close the rule finds a pair of numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closeness {
    Close,
    /// Outside tolerance (both finite).
    Far,
    /// A NaN against a number, or NaN against NaN under `nan: unequal`.
    Nan,
    /// An infinity against a different value.
    Inf,
}

/// The settings of one comparison of numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NumRule {
    pub abs: f64,
    pub rel: f64,
    pub rule: ToleranceRule,
    pub nan: NanPolicy,
}

impl NumRule {
    pub fn new(t: Tolerance, rule: ToleranceRule, nan: NanPolicy) -> Self {
        Self {
            abs: t.abs,
            rel: t.rel,
            rule,
            nan,
        }
    }

    pub fn with(self, t: Tolerance) -> Self {
        Self {
            abs: t.abs,
            rel: t.rel,
            ..self
        }
    }

    /// Compares candidate `c` against baseline `b`.
    #[inline]
    pub fn check(&self, b: f64, c: f64) -> Closeness {
        if b == c {
            return Closeness::Close;
        }
        if b.is_nan() || c.is_nan() {
            return if b.is_nan() && c.is_nan() && self.nan == NanPolicy::Equal {
                Closeness::Close
            } else {
                Closeness::Nan
            };
        }
        if b.is_infinite() || c.is_infinite() {
            return Closeness::Inf;
        }
        let close = match self.rule {
            ToleranceRule::Numpy => (c - b).abs() <= self.abs + self.rel * b.abs(),
            ToleranceRule::Symmetric => {
                approx::relative_eq!(c, b, epsilon = self.abs, max_relative = self.rel)
            }
        };
        if close {
            Closeness::Close
        } else {
            Closeness::Far
        }
    }

    /// The relative difference in the rule's own terms: `|c - b| / |b|`
    /// (numpy) or `|c - b| / max(|b|, |c|)` (symmetric); 0 when equal.
    pub fn relative(&self, b: f64, c: f64) -> f64 {
        let d = (c - b).abs();
        if d == 0.0 {
            return 0.0;
        }
        let scale = match self.rule {
            ToleranceRule::Numpy => b.abs(),
            ToleranceRule::Symmetric => b.abs().max(c.abs()),
        };
        if scale == 0.0 {
            f64::INFINITY
        } else {
            d / scale
        }
    }

    /// One line naming the rule and its numbers, for reports.
    pub fn describe(&self) -> String {
        let nan = match self.nan {
            NanPolicy::Equal => "NaN equals NaN",
            NanPolicy::Unequal => "NaN never equal",
        };
        match self.rule {
            ToleranceRule::Numpy => format!(
                "numpy rule |c - b| <= abs + rel*|b| (b = baseline), abs {}, rel {}; {nan}; inf must match exactly",
                fmt_num(self.abs),
                fmt_num(self.rel)
            ),
            ToleranceRule::Symmetric => format!(
                "symmetric rule |c - b| <= max(abs, rel*max(|b|, |c|)), abs {}, rel {}; {nan}; inf must match exactly",
                fmt_num(self.abs),
                fmt_num(self.rel)
            ),
        }
    }
}

/// `1e-6`, `0.02`, `0`: short forms for tolerances and differences.
pub fn fmt_num(v: f64) -> String {
    if v != 0.0 && v.is_finite() && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Per-path tolerance overrides: the longest matching pattern wins.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    items: Vec<(String, Tolerance)>,
}

impl Overrides {
    pub fn new(map: &std::collections::BTreeMap<String, Tolerance>) -> Self {
        let mut items: Vec<(String, Tolerance)> =
            map.iter().map(|(k, v)| (k.clone(), *v)).collect();
        items.sort_by_key(|(k, _)| std::cmp::Reverse(k.split('.').count()));
        Self { items }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The override for `path`, if any, with the pattern that matched.
    pub fn find(&self, path: &str) -> Option<(&str, Tolerance)> {
        self.items
            .iter()
            .find(|(p, _)| telemetry::pattern_reaches(p, path))
            .map(|(p, t)| (p.as_str(), *t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(abs: f64, rel: f64, r: ToleranceRule) -> NumRule {
        NumRule::new(Tolerance { abs, rel }, r, NanPolicy::Equal)
    }

    #[test]
    fn numpy_rule_is_relative_to_the_baseline() {
        let r = rule(0.0, 0.1, ToleranceRule::Numpy);
        // |110 - 100| = 10 <= 0.1 * 100
        assert_eq!(r.check(100.0, 110.0), Closeness::Close);
        // |100 - 110| = 10 > 0.1 * 100 when the baseline is 100 but not when it is 110
        assert_eq!(r.check(110.0, 100.0), Closeness::Close);
        assert_eq!(r.check(100.0, 111.0), Closeness::Far);
        // asymmetry: b = 90.5, c = 100: 9.5 > 9.05 fails; swapped passes (9.5 <= 10)
        assert_eq!(r.check(90.5, 100.0), Closeness::Far);
        assert_eq!(r.check(100.0, 90.5), Closeness::Close);
    }

    #[test]
    fn symmetric_rule_uses_the_larger_magnitude() {
        let r = rule(0.0, 0.1, ToleranceRule::Symmetric);
        assert_eq!(r.check(90.5, 100.0), Closeness::Close);
        assert_eq!(r.check(100.0, 90.5), Closeness::Close);
        assert_eq!(r.check(89.0, 100.0), Closeness::Far);
        let a = rule(1e-3, 0.0, ToleranceRule::Symmetric);
        assert_eq!(a.check(0.0, 0.0009), Closeness::Close);
        assert_eq!(a.check(0.0, 0.0011), Closeness::Far);
    }

    #[test]
    fn just_inside_and_just_outside_the_absolute_tolerance() {
        let r = rule(1e-6, 0.0, ToleranceRule::Numpy);
        assert_eq!(r.check(1.0, 1.0 + 0.9e-6), Closeness::Close);
        assert_eq!(r.check(1.0, 1.0 + 1.1e-6), Closeness::Far);
    }

    #[test]
    fn nan_and_inf_policy() {
        let r = rule(1.0, 1.0, ToleranceRule::Numpy);
        assert_eq!(r.check(f64::NAN, f64::NAN), Closeness::Close);
        assert_eq!(r.check(f64::NAN, 1.0), Closeness::Nan);
        assert_eq!(r.check(1.0, f64::NAN), Closeness::Nan);
        let strict = NumRule {
            nan: NanPolicy::Unequal,
            ..r
        };
        assert_eq!(strict.check(f64::NAN, f64::NAN), Closeness::Nan);
        assert_eq!(r.check(f64::INFINITY, f64::INFINITY), Closeness::Close);
        assert_eq!(r.check(f64::INFINITY, f64::NEG_INFINITY), Closeness::Inf);
        assert_eq!(r.check(f64::INFINITY, 1e308), Closeness::Inf);
        assert_eq!(r.check(1.0, f64::INFINITY), Closeness::Inf);
    }

    #[test]
    fn the_most_specific_override_wins() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("a".to_string(), Tolerance { abs: 1.0, rel: 0.0 });
        m.insert("a.*.c".to_string(), Tolerance { abs: 2.0, rel: 0.0 });
        let o = Overrides::new(&m);
        assert_eq!(o.find("a.b.c").map(|(_, t)| t.abs), Some(2.0));
        assert_eq!(o.find("a.b").map(|(_, t)| t.abs), Some(1.0));
        assert_eq!(o.find("b"), None);
    }
}
