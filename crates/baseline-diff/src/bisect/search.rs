//! The search, as data: which commits of the first-parent path to capture
//! next for one difference, and what the captures so far say about it.
//! Index 0 is the good commit (assumed without any difference: the baseline
//! was blessed from it), the last index the bad commit (captured first).

use std::collections::BTreeSet;

/// What is known about the commit at one index of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Known {
    /// Not captured yet.
    Unknown,
    /// Its capture could not run (`git bisect skip`).
    Skipped,
    /// Captured and compared: the differences it shows.
    Shows(BTreeSet<String>),
}

/// Where the search for one difference stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bounds {
    /// The last index known to be without the difference.
    pub(super) lo: usize,
    /// The first index known to show it.
    pub(super) hi: usize,
    /// Indices between them not captured yet, in order.
    pub(super) untested: Vec<usize>,
}

/// How the search for one difference ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Found {
    /// `first` is the first index that shows it, `last_without` the one
    /// before it.
    Named { first: usize, last_without: usize },
    /// Any of `candidates` may be the first: the commits between are
    /// skipped.
    Ambiguous {
        last_without: usize,
        candidates: Vec<usize>,
    },
}

/// The bounds of `difference` given what is known; `known[0]` is the good
/// commit. The last index shows every difference that is searched for.
pub(super) fn bounds(known: &[Known], difference: &str) -> Bounds {
    let last = known.len().saturating_sub(1);
    let hi = (1..=last)
        .find(|&i| matches!(&known[i], Known::Shows(d) if d.contains(difference)))
        .unwrap_or(last);
    let lo = (1..hi)
        .rev()
        .find(|&i| matches!(&known[i], Known::Shows(d) if !d.contains(difference)))
        .unwrap_or(0);
    let untested = (lo + 1..hi)
        .filter(|&i| known[i] == Known::Unknown)
        .collect();
    Bounds { lo, hi, untested }
}

/// The search's result when nothing is left to capture between the bounds.
pub(super) fn found(b: &Bounds) -> Option<Found> {
    if !b.untested.is_empty() {
        return None;
    }
    Some(if b.hi == b.lo + 1 {
        Found::Named {
            first: b.hi,
            last_without: b.lo,
        }
    } else {
        Found::Ambiguous {
            last_without: b.lo,
            candidates: (b.lo + 1..=b.hi).collect(),
        }
    })
}

/// The indices to capture next, at most `parallel` (1 or 2): the middle of
/// the untested commits, or, with two, the points that cut the possible
/// answers (each untested commit, or `hi`) into three equal parts.
pub(super) fn next_probes(b: &Bounds, parallel: usize) -> Vec<usize> {
    let n = b.untested.len();
    if n == 0 {
        return Vec::new();
    }
    // Outcomes: the first commit with the difference is untested[k] for
    // some k, or hi: n + 1 of them. Probe k cuts them into k + 1 and n - k.
    let outcomes = n + 1;
    if parallel < 2 || n == 1 {
        let k = (outcomes.div_ceil(2) - 1).min(n - 1);
        return vec![b.untested[k]];
    }
    let k1 = ((outcomes + 1) / 3).saturating_sub(1).min(n - 2);
    let k2 = ((2 * outcomes + 1) / 3)
        .saturating_sub(1)
        .clamp(k1 + 1, n - 1);
    vec![b.untested[k1], b.untested[k2]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shows(ds: &[&str]) -> Known {
        Known::Shows(ds.iter().map(|d| d.to_string()).collect())
    }

    /// Runs the search on a history where difference `d` appears at
    /// `appears[d]` and `skipped` cannot capture; returns what it found and
    /// how many captures it made.
    fn search(len: usize, appears: usize, skipped: &[usize], parallel: usize) -> (Found, usize) {
        let truth = |i: usize| {
            if skipped.contains(&i) {
                Known::Skipped
            } else if i >= appears {
                shows(&["d"])
            } else {
                shows(&[])
            }
        };
        let mut known = vec![Known::Unknown; len];
        known[0] = shows(&[]);
        known[len - 1] = truth(len - 1);
        let mut captures = 0;
        loop {
            let b = bounds(&known, "d");
            if let Some(f) = found(&b) {
                return (f, captures);
            }
            for i in next_probes(&b, parallel) {
                known[i] = truth(i);
                captures += 1;
            }
        }
    }

    #[test]
    fn a_binary_search_names_every_position_in_log2_captures() {
        for appears in 1..36 {
            let (f, n) = search(36, appears, &[], 1);
            assert_eq!(
                f,
                Found::Named {
                    first: appears,
                    last_without: appears - 1
                }
            );
            assert!(n <= 6, "{appears}: {n} captures");
        }
    }

    #[test]
    fn two_at_once_take_fewer_rounds_and_find_the_same() {
        for appears in 1..36 {
            let (f, n) = search(36, appears, &[], 2);
            assert_eq!(
                f,
                Found::Named {
                    first: appears,
                    last_without: appears - 1
                }
            );
            // log3(35) rounds of two.
            assert!(n <= 8, "{appears}: {n} captures");
        }
    }

    #[test]
    fn skipped_commits_next_to_the_boundary_make_it_ambiguous() {
        let (f, _) = search(10, 5, &[3, 4], 1);
        assert_eq!(
            f,
            Found::Ambiguous {
                last_without: 2,
                candidates: vec![3, 4, 5]
            }
        );
        let (f, _) = search(10, 5, &[7], 2);
        assert_eq!(
            f,
            Found::Named {
                first: 5,
                last_without: 4
            }
        );
    }

    #[test]
    fn what_is_known_for_one_difference_narrows_another() {
        let known = vec![
            shows(&[]),
            shows(&[]),
            Known::Unknown,
            shows(&["a"]),
            Known::Skipped,
            Known::Unknown,
            shows(&["a", "b"]),
        ];
        let a = bounds(&known, "a");
        assert_eq!((a.lo, a.hi, a.untested.clone()), (1, 3, vec![2]));
        let b = bounds(&known, "b");
        assert_eq!((b.lo, b.hi, b.untested.clone()), (3, 6, vec![5]));
        assert_eq!(next_probes(&b, 2), vec![5]);
    }
}
