//! Choosing the tag name: the configured base (`v0.9.0-m4`) when free, else
//! the one after the highest taken member of its series in semver
//! pre-release order (`v0.9.0-m4.1`, `v0.9.0-m4.2`, …, `.10` after `.9`).

use std::collections::BTreeSet;

/// Position of `name` in the series of `base`: `Some(0)` for the base
/// itself, `Some(n)` for `BASE.n` (also `BASE.n.x…` and `BASE.n+build`,
/// which semver orders with or after `BASE.n`), `None` for names outside the
/// series. Both are read as semver versions (after a `v`), so that the
/// `semver` crate decides what a numeric pre-release identifier is (digits,
/// no leading zero); a base that is not a semver version with a pre-release
/// (`v1.0.0`, `townlet-m4`) takes `BASE.n` with the same rule for `n`.
pub fn series_index(base: &str, name: &str) -> Option<u64> {
    if name == base {
        return Some(0);
    }
    match (version(base), version(name)) {
        (Some(b), Some(n)) if !b.1.pre.is_empty() => semver_index(&b, &n),
        (Some(b), _) if !b.1.pre.is_empty() => None,
        _ => plain_index(base, name),
    }
}

/// `v0.9.0-m4` → its prefix and version.
fn version(tag: &str) -> Option<(&str, semver::Version)> {
    let (prefix, text) = match tag.strip_prefix('v') {
        Some(rest) => ("v", rest),
        None => ("", tag),
    };
    semver::Version::parse(text).ok().map(|v| (prefix, v))
}

fn semver_index(
    (base_prefix, base): &(&str, semver::Version),
    (name_prefix, name): &(&str, semver::Version),
) -> Option<u64> {
    let same_release = base_prefix == name_prefix
        && (base.major, base.minor, base.patch) == (name.major, name.minor, name.patch);
    let base_ids: Vec<&str> = base.pre.as_str().split('.').collect();
    let name_ids: Vec<&str> = name.pre.as_str().split('.').collect();
    if !same_release || !name_ids.starts_with(&base_ids) {
        return None;
    }
    // semver has checked the identifier: all digits means numeric, and a
    // numeric one has no leading zero.
    let next = name_ids.get(base_ids.len())?;
    next.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| next.parse().ok())?
}

/// `BASE.n` for a base that is not a semver pre-release.
fn plain_index(base: &str, name: &str) -> Option<u64> {
    let rest = name.strip_prefix(base)?.strip_prefix('.')?;
    let first = rest.split(['.', '+']).next()?;
    if first.is_empty()
        || !first.bytes().all(|b| b.is_ascii_digit())
        || (first.len() > 1 && first.starts_with('0'))
    {
        return None;
    }
    first.parse().ok()
}

/// The name of member `n` of the series.
pub fn series_name(base: &str, n: u64) -> String {
    if n == 0 {
        base.to_string()
    } else {
        format!("{base}.{n}")
    }
}

/// The next free name after the highest taken member of the series, and the
/// taken members in order.
pub fn next_free<'a>(
    base: &str,
    taken: impl IntoIterator<Item = &'a str>,
) -> (String, Vec<String>) {
    let members: BTreeSet<(u64, &str)> = taken
        .into_iter()
        .filter_map(|t| series_index(base, t).map(|n| (n, t)))
        .collect();
    let name = match members.iter().next_back() {
        None => base.to_string(),
        Some((n, _)) => series_name(base, n + 1),
    };
    (
        name,
        members.into_iter().map(|(_, t)| t.to_string()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "v0.9.0-m4";

    #[test]
    fn base_when_nothing_is_taken() {
        assert_eq!(next_free(B, ["v0.8.0", "v0.9.0-m3"]).0, B);
    }

    #[test]
    fn after_the_highest_with_gaps_in_numeric_order() {
        let (n, taken) = next_free(
            B,
            ["v0.9.0-m4", "v0.9.0-m4.9", "v0.9.0-m4.10", "v0.9.0-m4.2"],
        );
        assert_eq!(n, "v0.9.0-m4.11");
        assert_eq!(
            taken,
            ["v0.9.0-m4", "v0.9.0-m4.2", "v0.9.0-m4.9", "v0.9.0-m4.10"]
        );
        assert_eq!(next_free(B, ["v0.9.0-m4.3"]).0, "v0.9.0-m4.4");
    }

    #[test]
    fn outside_the_series() {
        for other in [
            "v0.9.0-m40",
            "v0.9.0-m4.01",
            "v0.9.0-m4.rc1",
            "v0.9.0-m4.",
            "v0.9.0-m4-1",
        ] {
            assert_eq!(series_index(B, other), None, "{other}");
        }
        assert_eq!(series_index(B, "v0.9.0-m4.2.1"), Some(2));
        assert_eq!(series_index(B, "v0.9.0-m4.2+build.7"), Some(2));
        assert_eq!(next_free(B, ["v0.9.0-m4.2.1"]).0, "v0.9.0-m4.3");
        // Another release, or another prefix, is another series.
        assert_eq!(series_index(B, "v0.9.1-m4.1"), None);
        assert_eq!(series_index(B, "0.9.0-m4.1"), None);
    }

    #[test]
    fn a_base_that_is_not_a_semver_pre_release_counts_the_same_way() {
        assert_eq!(
            next_free("townlet-m4", ["townlet-m4", "townlet-m4.3"]).0,
            "townlet-m4.4"
        );
        assert_eq!(next_free("v1.0.0", ["v1.0.0"]).0, "v1.0.0.1");
        assert_eq!(series_index("townlet-m4", "townlet-m4.03"), None);
    }
}
