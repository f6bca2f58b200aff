//! `monitor chart`: one row per environment: runtime_variant over ticks (a
//! green band when every tick reports the expected variant, red where one
//! does not, hatched grey where the telemetry lost ticks), drops per 100
//! ticks against the warning and critical thresholds (the drop alert's own
//! measure), and queue depth with the exit queue and its limit, each with a
//! legend. SVG only (plotters' SVG backend) to keep the build light.

use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use plotters::prelude::*;

use crate::rules::{Point, RuleSettings, SourceEval, TickRange};

const ROW: u32 = 260;
const WIDTH: u32 = 1500;
const OK: RGBColor = RGBColor(46, 160, 67);
const BAD: RGBColor = RGBColor(214, 39, 40);
const UNKNOWN: RGBColor = RGBColor(190, 190, 190);
const GAP: RGBColor = RGBColor(90, 90, 90);
const DROPS: RGBColor = RGBColor(220, 120, 0);
const EXIT_QUEUE: RGBColor = RGBColor(128, 0, 160);

struct Env<'a> {
    name: &'a str,
    points: Vec<Point>,
    /// Ticks missing from the environment's telemetry.
    gaps: Vec<TickRange>,
    exit_queue_limit: Option<u64>,
}

fn group(evals: &[SourceEval]) -> Vec<Env<'_>> {
    let mut envs: Vec<Env<'_>> = Vec::new();
    for e in evals {
        let slot = match envs.iter().position(|x| x.name == e.env()) {
            Some(i) => &mut envs[i],
            None => {
                envs.push(Env {
                    name: e.env(),
                    points: Vec::new(),
                    gaps: Vec::new(),
                    exit_queue_limit: None,
                });
                let last = envs.len() - 1;
                &mut envs[last]
            }
        };
        slot.points.extend_from_slice(e.points());
        slot.gaps.extend(e.gap_ranges());
        slot.exit_queue_limit = slot.exit_queue_limit.or(e.exit_queue_limit());
    }
    for env in &mut envs {
        env.points.sort_by_key(|p| p.tick);
    }
    envs
}

/// Draws the chart into `out`.
pub fn draw(evals: &[SourceEval], rules: &RuleSettings, out: &Path) -> Result<()> {
    let envs = group(evals);
    if envs.iter().all(|e| e.points.is_empty()) {
        bail!("no ticks in the inputs: nothing to draw");
    }
    let mut svg = String::new();
    {
        let height = ROW * envs.len() as u32 + 50;
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (title, body) = root.split_vertically(50);
        let bad_envs: Vec<&str> = envs
            .iter()
            .filter(|e| e.points.iter().any(|p| p.variant_ok == Some(false)))
            .map(|e| e.name)
            .collect();
        let (heading, colour) = if bad_envs.is_empty() {
            (
                format!(
                    "runtime_variant: every environment with a variant reports '{}'",
                    rules.variant
                ),
                OK,
            )
        } else {
            (
                format!(
                    "runtime_variant NOT '{}' in: {}",
                    rules.variant,
                    bad_envs.join(", ")
                ),
                BAD,
            )
        };
        title
            .draw_text(
                &heading,
                &("sans-serif", 26).into_font().color(&colour),
                (20, 14),
            )
            .map_err(plot_err)?;
        let rows = body.split_evenly((envs.len(), 1));
        for (env, area) in envs.iter().zip(rows) {
            draw_env(env, rules, &area)?;
        }
        root.present().map_err(plot_err)?;
    }
    rollout_core::fs::write_atomic(out, svg.as_bytes())
        .with_context(|| format!("cannot write the chart `{}`", out.display()))
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the chart: {e:?}")
}

/// The panel's legend, in the same box on every panel.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)
}

fn draw_env<DB: DrawingBackend>(
    env: &Env<'_>,
    rules: &RuleSettings,
    area: &DrawingArea<DB, plotters::coord::Shift>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let pts = &env.points;
    let (lo, hi) = match (pts.first(), pts.last()) {
        (Some(a), Some(b)) => (a.tick, b.tick.max(a.tick.saturating_add(1))),
        _ => (0, 1),
    };
    let bad = pts.iter().filter(|p| p.variant_ok == Some(false)).count();
    let known = pts.iter().filter(|p| p.variant_ok.is_some()).count();
    let missing: u64 = env.gaps.iter().map(|g| g.end - g.start + 1).sum();
    let (label, colour) = if bad > 0 {
        (
            format!(
                "{}: NOT {} at {bad} of {known} ticks",
                env.name, rules.variant
            ),
            BAD,
        )
    } else if known > 0 {
        (format!("{}: all {}", env.name, rules.variant), OK)
    } else {
        (
            format!("{}: runtime_variant not reported", env.name),
            UNKNOWN,
        )
    };
    let label = if missing > 0 {
        format!("{label}; {missing} ticks lost")
    } else {
        label
    };
    let cols = area.split_evenly((1, 3));
    variant_panel(env, &cols[0], (lo, hi), (&label, colour))?;
    drops_panel(env, rules, &cols[1], (lo, hi))?;
    queue_panel(env, &cols[2], (lo, hi))?;
    Ok(())
}

/// The `runtime_variant` band: green where the expected variant is
/// reported, red where another one is, grey before any report; ticks the
/// telemetry lost are hatched dark grey over it, so a lossy run shows.
fn variant_panel<DB: DrawingBackend>(
    env: &Env<'_>,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    (lo, hi): (u64, u64),
    (label, colour): (&str, RGBColor),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (pts, gaps) = (&env.points, &env.gaps);
    let mut chart = ChartBuilder::on(area)
        .caption(label, ("sans-serif", 20).into_font().color(&colour))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(10)
        .build_cartesian_2d(lo..hi.saturating_add(1), 0u32..1u32)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("tick")
        .draw()
        .map_err(plot_err)?;
    // Only ticks that report a variant count; a tick missing between
    // two reports keeps the earlier one's colour (payloads only change
    // what they change), and grey marks ticks before any report.
    let known: Vec<(u64, bool)> = pts
        .iter()
        .filter_map(|p| p.variant_ok.map(|ok| (p.tick, ok)))
        .collect();
    let mut bands: Vec<(u64, u64, RGBColor)> = Vec::new();
    if let Some(&(first, _)) = known.first()
        && first > lo
    {
        bands.push((lo, first, UNKNOWN));
    }
    for (i, &(tick, ok)) in known.iter().enumerate() {
        let c = if ok { OK } else { BAD };
        let end = known.get(i + 1).map_or(hi.saturating_add(1), |n| n.0);
        match bands.last_mut() {
            Some(b) if b.2 == c && b.1 == tick => b.1 = end,
            _ => bands.push((tick, end, c)),
        }
    }
    if known.is_empty() {
        bands.push((lo, hi.saturating_add(1), UNKNOWN));
    }
    chart
        .draw_series(
            bands
                .into_iter()
                .map(|(a, b, c)| Rectangle::new([(a, 0), (b, 1)], c.filled())),
        )
        .map_err(plot_err)?;
    if !gaps.is_empty() {
        chart
            .draw_series(gaps.iter().map(|g| {
                Rectangle::new(
                    [
                        (g.start.max(lo), 0),
                        (g.end.saturating_add(1).min(hi.saturating_add(1)), 1),
                    ],
                    GAP.mix(0.75).filled(),
                )
            }))
            .map_err(plot_err)?
            .label("ticks lost")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], GAP.filled()));
        legend(&mut chart)?;
    }
    Ok(())
}

/// Drops over the last 100 ticks at each point, from the cumulative
/// `dropped` of `tick_health` (the drop alert's measure).
fn drop_rates(pts: &[Point]) -> Vec<(u64, f64)> {
    let cumulative: Vec<(u64, u64)> = pts
        .iter()
        .filter_map(|p| p.dropped.map(|d| (p.tick, d)))
        .collect();
    let mut from = 0;
    cumulative
        .iter()
        .map(|&(tick, dropped)| {
            // Ticks as large as u64::MAX are read: no overflow here.
            while cumulative[from].0.saturating_add(100) < tick {
                from += 1;
            }
            let before = cumulative[from].1.min(dropped);
            (tick, (dropped - before) as f64)
        })
        .collect()
}

/// Drops per 100 ticks with the warning and critical thresholds; a note
/// instead of empty axes when no log reported drops.
fn drops_panel<DB: DrawingBackend>(
    env: &Env<'_>,
    rules: &RuleSettings,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    (lo, hi): (u64, u64),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let rates = drop_rates(&env.points);
    if rates.is_empty() {
        area.draw_text(
            &format!(
                "{}: no tick_health log, so no drop counts (telemetry gaps are in the band)",
                env.name
            ),
            &("sans-serif", 16).into_font().color(&BLACK),
            (10, 20),
        )
        .map_err(plot_err)?;
        return Ok(());
    }
    let thresholds = [rules.drops.warning, rules.drops.critical];
    let max = rates
        .iter()
        .map(|r| r.1)
        .chain(thresholds.iter().flatten().copied())
        .fold(1.0_f64, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{}: dropped payloads per 100 ticks", env.name),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(lo..hi, 0.0..max * 1.1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("tick")
        .draw()
        .map_err(plot_err)?;
    chart
        .draw_series(LineSeries::new(rates, DROPS.stroke_width(2)))
        .map_err(plot_err)?
        .label("drops per 100 ticks")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], DROPS.stroke_width(2)));
    for (threshold, name, colour) in [
        (rules.drops.warning, "warning", RGBColor(230, 170, 0)),
        (rules.drops.critical, "critical", BAD),
    ] {
        if let Some(level) = threshold {
            chart
                .draw_series(LineSeries::new(
                    [(lo, level), (hi, level)],
                    colour.stroke_width(1),
                ))
                .map_err(plot_err)?
                .label(format!("{name} above {level}"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour));
        }
    }
    legend(&mut chart)?;
    Ok(())
}

/// Queue depth and exit queue.
fn queue_panel<DB: DrawingBackend>(
    env: &Env<'_>,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    (lo, hi): (u64, u64),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let pts = &env.points;
    let max = pts
        .iter()
        .flat_map(|p| [p.queue, p.exit_queue])
        .flatten()
        .chain(env.exit_queue_limit)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{}: queue and exit queue", env.name),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(lo..hi, 0..max.saturating_add(max / 10).saturating_add(1))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("tick")
        .draw()
        .map_err(plot_err)?;
    let q: Vec<(u64, u64)> = pts
        .iter()
        .filter_map(|p| p.queue.map(|v| (p.tick, v)))
        .collect();
    let e: Vec<(u64, u64)> = pts
        .iter()
        .filter_map(|p| p.exit_queue.map(|v| (p.tick, v)))
        .collect();
    chart
        .draw_series(LineSeries::new(q, BLUE.stroke_width(2)))
        .map_err(plot_err)?
        .label("queue")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(e, EXIT_QUEUE.stroke_width(2)))
        .map_err(plot_err)?
        .label("exit queue")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], EXIT_QUEUE.stroke_width(2)));
    if let Some(limit) = env.exit_queue_limit {
        chart
            .draw_series(LineSeries::new(
                [(lo, limit), (hi, limit)],
                BAD.stroke_width(1),
            ))
            .map_err(plot_err)?
            .label(format!("exit queue limit {limit}"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BAD));
    }
    legend(&mut chart)?;
    Ok(())
}
