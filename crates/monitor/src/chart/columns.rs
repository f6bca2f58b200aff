//! The chart's series cut to the width it is drawn at: per column of
//! pixels, the lowest and highest value (so a one-tick spike still shows
//! and a flat stretch is two points), and the variant band's worst colour.
//! However long the input, each series has at most two points per column
//! and the band at most one rectangle per column: the SVG's size is bounded.

/// Columns a panel's x axis is cut into: a little more than the pixels of
/// its plotting area (about 420 at the chart's width).
pub(super) const COLUMNS: u64 = 480;

/// The ticks of one column (at least 1).
pub(super) fn width((lo, hi): (u64, u64)) -> u64 {
    let span = u128::from(hi - lo) + 1;
    u64::try_from(span.div_ceil(u128::from(COLUMNS))).unwrap_or(u64::MAX)
}

/// The column of `tick` on an axis from `lo` to `hi` (inclusive).
fn column(tick: u64, (lo, hi): (u64, u64)) -> u64 {
    let span = u128::from(hi - lo) + 1;
    let at = u128::from(tick.clamp(lo, hi) - lo);
    // Below COLUMNS, so it fits.
    (at * u128::from(COLUMNS) / span) as u64
}

/// The first tick of column `c`.
fn column_start(c: u64, (lo, hi): (u64, u64)) -> u64 {
    let span = u128::from(hi - lo) + 1;
    let offset = (u128::from(c) * span).div_ceil(u128::from(COLUMNS));
    // At most `hi - lo + 1`, so within u64 once added to lo (saturating at
    // the top of the range).
    lo.saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
}

/// One column being cut: its number, its lowest and its highest sample.
type Column<T> = (u64, (u64, T), (u64, T));

/// The line through the lowest and highest sample of each column, in tick
/// order. `samples` are `(tick, low, high)` sorted by tick (a thinned
/// point stands for several ticks with their extremes).
pub(super) fn envelope<T: Copy + PartialOrd>(
    samples: impl IntoIterator<Item = (u64, T, T)>,
    axis: (u64, u64),
) -> Vec<(u64, T)> {
    let mut out = Vec::new();
    // The current column: its number, lowest and highest sample.
    let mut current: Option<Column<T>> = None;
    let flush = |c: Option<Column<T>>, out: &mut Vec<(u64, T)>| {
        if let Some((_, low, high)) = c {
            let (first, second) = if low.0 <= high.0 {
                (low, high)
            } else {
                (high, low)
            };
            out.push(first);
            if second.1 != first.1 || second.0 != first.0 {
                out.push(second);
            }
        }
    };
    for (tick, low, high) in samples {
        let c = column(tick, axis);
        match &mut current {
            Some((at, lowest, highest)) if *at == c => {
                if low < lowest.1 {
                    *lowest = (tick, low);
                }
                if high > highest.1 {
                    *highest = (tick, high);
                }
            }
            _ => {
                flush(current.take(), &mut out);
                current = Some((c, (tick, low), (tick, high)));
            }
        }
    }
    flush(current, &mut out);
    out
}

/// Bands `(from, to, colour)` (ticks `from..to`) as at most one rectangle
/// per column: each column takes the colour of highest `rank` among the
/// bands over it, and neighbours of one colour are joined.
pub(super) fn bands<C: Copy + PartialEq>(
    bands: &[(u64, u64, C)],
    axis: (u64, u64),
    rank: impl Fn(C) -> u8,
) -> Vec<(u64, u64, C)> {
    let mut columns: Vec<Option<C>> = vec![None; COLUMNS as usize];
    for &(from, to, colour) in bands {
        if to <= from {
            continue;
        }
        let (first, last) = (column(from, axis), column(to - 1, axis));
        for slot in &mut columns[first as usize..=last as usize] {
            if slot.is_none_or(|c| rank(colour) > rank(c)) {
                *slot = Some(colour);
            }
        }
    }
    let mut out: Vec<(u64, u64, C)> = Vec::new();
    for (c, colour) in (0..COLUMNS).zip(columns) {
        let Some(colour) = colour else { continue };
        let (start, end) = (column_start(c, axis), column_start(c + 1, axis));
        match out.last_mut() {
            Some(last) if last.2 == colour && last.1 == start => last.1 = end,
            _ => out.push((start, end, colour)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_tick_spike_survives_and_the_line_is_bounded() {
        let samples = (0..100_000u64).map(|t| {
            let v = if t == 54_321 { 500 } else { t % 7 };
            (t, v, v)
        });
        let line = envelope(samples, (0, 99_999));
        assert!(line.len() <= 2 * COLUMNS as usize, "{}", line.len());
        assert!(line.contains(&(54_321, 500)));
        assert!(line.iter().any(|&(_, v)| v == 0));
    }

    #[test]
    fn a_flat_series_is_one_point_per_column_at_most() {
        let line = envelope((0..10u64).map(|t| (t, 1.0, 1.0)), (0, 9));
        assert_eq!(line.len(), 10);
        let line = envelope((0..100_000u64).map(|t| (t, 1.0, 1.0)), (0, 99_999));
        assert_eq!(line.len(), COLUMNS as usize);
    }

    #[test]
    fn the_worst_colour_of_a_column_wins_and_runs_join() {
        // Alternating one-tick bands of 0 and 1 over 100k ticks, a 2 at one
        // tick.
        let mut list: Vec<(u64, u64, u8)> =
            (0..100_000u64).map(|t| (t, t + 1, (t % 2) as u8)).collect();
        list.push((77_777, 77_778, 2));
        let out = bands(&list, (0, 100_000), |c| c);
        assert!(out.len() <= 3, "{out:?}");
        assert!(
            out.iter()
                .any(|b| b.2 == 2 && b.0 <= 77_777 && 77_777 < b.1)
        );
        assert_eq!(out.first().map(|b| b.0), Some(0));
        assert_eq!(out.last().map(|b| b.1), Some(100_001));
    }

    #[test]
    fn ticks_at_the_top_of_u64_do_not_overflow() {
        let axis = (u64::MAX - 10, u64::MAX);
        let line = envelope([(u64::MAX - 10, 1u64, 1), (u64::MAX, 2, 2)], axis);
        assert_eq!(line.len(), 2);
        let out = bands(&[(u64::MAX - 10, u64::MAX, 1u8)], axis, |c| c);
        assert_eq!(out.len(), 1);
    }
}
