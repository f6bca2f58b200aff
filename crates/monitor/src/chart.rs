//! `monitor chart`: a headline on `runtime_variant` over every environment,
//! then one row per environment: a status line with the alerts its inputs
//! raised (a critical plaintext endpoint among them), and three panels:
//! `runtime_variant` over ticks (green where the expected variant is
//! reported, red where another one is, grey where none is, dark grey where
//! the telemetry lost ticks), drops per 100 ticks against the warning and
//! critical thresholds (the drop alert's own measure), and queue depth with
//! the exit queue and its limit. Legends sit above each plot, every axis has
//! a title. Series are cut to the width they are drawn at ([`columns`]), so
//! the SVG's size does not grow with the input's length. SVG only (plotters'
//! SVG backend) to keep the build light.

mod columns;

use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;
use rollout_core::{Severity, printable};

use crate::rules::{Alert, Point, RuleSettings, SourceEval, TickRange, VariantTicks};

const WIDTH: u32 = 1500;
const HEADLINE: u32 = 50;
/// The panels of one environment.
const PANELS: u32 = 260;
/// One line of an environment's status.
const STATUS_LINE: u32 = 22;
/// Alerts listed per environment; more are counted.
const STATUS_ALERTS: usize = 4;
/// The caption and legend above each plot.
const PANEL_HEAD: u32 = 48;
const OK: RGBColor = RGBColor(46, 160, 67);
const BAD: RGBColor = RGBColor(214, 39, 40);
const AMBER: RGBColor = RGBColor(190, 120, 0);
const UNKNOWN: RGBColor = RGBColor(190, 190, 190);
const GAP: RGBColor = RGBColor(90, 90, 90);
const DROPS: RGBColor = RGBColor(220, 120, 0);
const EXIT_QUEUE: RGBColor = RGBColor(128, 0, 160);
const WARNING_LINE: RGBColor = RGBColor(230, 170, 0);

type Area<'a, DB> = DrawingArea<DB, Shift>;

struct Env<'a> {
    name: &'a str,
    points: Vec<Point>,
    /// Ticks missing from the environment's telemetry.
    gaps: Vec<TickRange>,
    exit_queue_limit: Option<u64>,
    /// Over the inputs that report a runtime variant.
    variant: VariantTicks,
    alerts: Vec<Alert>,
}

impl Env<'_> {
    fn status_lines(&self) -> u32 {
        self.alerts.len().clamp(1, STATUS_ALERTS + 1) as u32
    }

    fn height(&self) -> u32 {
        STATUS_LINE * self.status_lines() + 8 + PANELS
    }
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
                    variant: VariantTicks::default(),
                    alerts: Vec::new(),
                });
                let last = envs.len() - 1;
                &mut envs[last]
            }
        };
        slot.points.extend(e.points());
        slot.gaps.extend(e.gap_ranges());
        slot.exit_queue_limit = slot.exit_queue_limit.or(e.exit_queue_limit());
        let v = e.variant_ticks();
        if v.reported > 0 {
            slot.variant.present += v.present;
            slot.variant.reported += v.reported;
            slot.variant.unexpected += v.unexpected;
        }
        slot.alerts.extend(e.alerts());
    }
    for env in &mut envs {
        env.points.sort_by_key(|p| p.tick);
        env.alerts.sort_by_key(|a| std::cmp::Reverse(a.severity));
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
        let height = HEADLINE + envs.iter().map(Env::height).sum::<u32>();
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (title, mut body) = root.split_vertically(HEADLINE);
        let (heading, colour) = headline(&envs, rules);
        title
            .draw_text(
                &heading,
                &("sans-serif", 26).into_font().color(&colour),
                (20, 14),
            )
            .map_err(plot_err)?;
        for env in &envs {
            let (row, rest) = body.split_vertically(env.height());
            draw_env(env, rules, &row)?;
            body = rest;
        }
        root.present().map_err(plot_err)?;
    }
    rollout_core::fs::write_atomic(out, svg.as_bytes())
        .with_context(|| format!("cannot write the chart `{}`", out.display()))
}

/// The headline: red when an environment reports another variant, green
/// only when every environment reports the expected one, amber when some
/// or all report none (nothing shows they run it).
fn headline(envs: &[Env<'_>], rules: &RuleSettings) -> (String, RGBColor) {
    let names = |pick: &dyn Fn(&Env<'_>) -> bool| -> Vec<String> {
        envs.iter()
            .filter(|e| pick(e))
            .map(|e| printable(e.name).into_owned())
            .collect()
    };
    let bad = names(&|e| e.variant.unexpected > 0);
    let silent = names(&|e| e.variant.reported == 0);
    let expected = printable(&rules.variant).into_owned();
    if !bad.is_empty() {
        let heading = format!("runtime_variant NOT '{expected}' in: {}", bad.join(", "));
        (heading, BAD)
    } else if silent.len() == envs.len() {
        let heading =
            format!("runtime_variant: no environment reports a variant (expected '{expected}')");
        (heading, AMBER)
    } else if !silent.is_empty() {
        let heading = format!(
            "runtime_variant: '{expected}' where reported; not reported in: {}",
            silent.join(", ")
        );
        (heading, AMBER)
    } else {
        let heading = format!("runtime_variant: every environment reports '{expected}'");
        (heading, OK)
    }
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the chart: {e:?}")
}

/// What a legend shows of a series.
#[derive(Clone, Copy)]
enum Mark {
    Line(RGBColor),
    Box(RGBColor),
}

/// A caption and, under it, the legend: both above the plot, never on it.
fn panel_head<DB: DrawingBackend>(
    area: &Area<'_, DB>,
    (caption, colour): (&str, RGBColor),
    items: &[(String, Mark)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.draw_text(
        caption,
        &("sans-serif", 17).into_font().color(&colour),
        (12, 4),
    )
    .map_err(plot_err)?;
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    let mut x = 14;
    for (label, mark) in items {
        let y = 32;
        match *mark {
            Mark::Line(c) => area.draw(&PathElement::new([(x, y), (x + 18, y)], c.stroke_width(3))),
            Mark::Box(c) => area.draw(&Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled())),
        }
        .map_err(plot_err)?;
        area.draw_text(label, &font, (x + 22, y - 8))
            .map_err(plot_err)?;
        x += 30 + 7 * label.chars().count() as i32;
    }
    Ok(())
}

fn draw_env<DB: DrawingBackend>(
    env: &Env<'_>,
    rules: &RuleSettings,
    area: &Area<'_, DB>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (status, panels) = area.split_vertically(STATUS_LINE * env.status_lines() + 8);
    status_lines(env, &status)?;
    let pts = &env.points;
    let axis = match (pts.first(), pts.last()) {
        (Some(a), Some(b)) => (a.tick, b.tick.max(a.tick.saturating_add(1))),
        _ => (0, 1),
    };
    let cols = panels.split_evenly((1, 3));
    variant_panel(env, rules, &cols[0], axis)?;
    drops_panel(env, rules, &cols[1], axis)?;
    queue_panel(env, &cols[2], axis)?;
    Ok(())
}

/// The environment's alerts, the worst first, one per line; or that it
/// raised none.
fn status_lines<DB: DrawingBackend>(env: &Env<'_>, area: &Area<'_, DB>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.draw(&PathElement::new(
        [(0, 1), (WIDTH as i32, 1)],
        RGBColor(200, 200, 200),
    ))
    .map_err(plot_err)?;
    let name = printable(env.name);
    let mut lines: Vec<(String, RGBColor)> = env
        .alerts
        .iter()
        .take(STATUS_ALERTS)
        .map(|a| {
            let (word, colour) = match a.severity {
                Severity::Critical => ("CRITICAL", BAD),
                _ => ("WARNING", AMBER),
            };
            let mut text = format!("{name}: {word} {}: {}", a.rule, printable(&a.message));
            if text.chars().count() > 190 {
                text = text.chars().take(189).chain(['…']).collect();
            }
            (text, colour)
        })
        .collect();
    if env.alerts.len() > STATUS_ALERTS {
        let more = env.alerts.len() - STATUS_ALERTS;
        lines.push((format!("{name}: … and {more} more alerts"), BLACK));
    }
    if lines.is_empty() {
        lines.push((format!("{name}: no alerts"), OK));
    }
    for (i, (text, colour)) in lines.iter().enumerate() {
        let y = 6 + STATUS_LINE as i32 * i as i32;
        area.draw_text(text, &("sans-serif", 16).into_font().color(colour), (14, y))
            .map_err(plot_err)?;
    }
    Ok(())
}

/// The variant panel's caption: how many of the ticks present report
/// another variant, or that all do report the expected one, or none.
fn variant_label(env: &Env<'_>, rules: &RuleSettings) -> (String, RGBColor) {
    let v = env.variant;
    let name = printable(env.name);
    let expected = printable(&rules.variant);
    let unknown = v.present - v.reported.min(v.present);
    let not_known = if unknown > 0 {
        format!(" (not known at {unknown})")
    } else {
        String::new()
    };
    let (label, colour) = if v.unexpected > 0 {
        (
            format!(
                "{name}: NOT {expected} at {} of {} ticks{not_known}",
                v.unexpected, v.present
            ),
            BAD,
        )
    } else if v.reported > 0 && unknown == 0 {
        (format!("{name}: all {expected}"), OK)
    } else if v.reported > 0 {
        (
            format!(
                "{name}: {expected} at {} of {} ticks{not_known}",
                v.reported, v.present
            ),
            OK,
        )
    } else {
        (format!("{name}: runtime_variant not reported"), AMBER)
    };
    let missing: u64 = env.gaps.iter().map(|g| g.end - g.start + 1).sum();
    if missing > 0 {
        (format!("{label}; {missing} ticks lost"), colour)
    } else {
        (label, colour)
    }
}

/// The bands of the variant: green where the expected variant is reported,
/// red where another one is, grey before any report (and throughout when
/// none is). A tick between two reports keeps the earlier one's colour
/// (payloads only change what they change), except after ticks the
/// telemetry lost: what was lost may have changed it, so the ticks after a
/// gap are grey until the next report, as the caption counts them (`not
/// known at`).
fn variant_bands(
    pts: &[Point],
    gaps: &[TickRange],
    (lo, hi): (u64, u64),
) -> Vec<(u64, u64, RGBColor)> {
    let end = hi.saturating_add(1);
    let known: Vec<(u64, bool)> = pts
        .iter()
        .filter_map(|p| p.variant_ok.map(|ok| (p.tick, ok)))
        .collect();
    let mut bands: Vec<(u64, u64, RGBColor)> = Vec::new();
    let mut push = |from: u64, to: u64, c: RGBColor| {
        if from >= to {
            return;
        }
        match bands.last_mut() {
            Some(b) if b.2 == c && b.1 == from => b.1 = to,
            _ => bands.push((from, to, c)),
        }
    };
    match known.first() {
        None => push(lo, end, UNKNOWN),
        Some(&(first, _)) => push(lo, first, UNKNOWN),
    }
    for (i, &(tick, ok)) in known.iter().enumerate() {
        let c = if ok { OK } else { BAD };
        let to = known.get(i + 1).map_or(end, |n| n.0);
        // The first gap after this report ends what it vouches for.
        match gaps.iter().find(|g| g.start > tick && g.start < to) {
            Some(g) => {
                push(tick, g.start, c);
                push(g.start, to, UNKNOWN);
            }
            None => push(tick, to, c),
        }
    }
    bands
}

fn variant_panel<DB: DrawingBackend>(
    env: &Env<'_>,
    rules: &RuleSettings,
    area: &Area<'_, DB>,
    (lo, hi): (u64, u64),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let end = hi.saturating_add(1);
    let (label, colour) = variant_label(env, rules);
    let (head, plot) = area.split_vertically(PANEL_HEAD);
    let expected = printable(&rules.variant).into_owned();
    let mut items = vec![
        (expected.clone(), Mark::Box(OK)),
        (format!("not {expected}"), Mark::Box(BAD)),
        ("not reported".to_string(), Mark::Box(UNKNOWN)),
    ];
    if !env.gaps.is_empty() {
        items.push(("ticks lost".to_string(), Mark::Box(GAP)));
    }
    panel_head(&head, (&label, colour), &items)?;
    let mut chart = ChartBuilder::on(&plot)
        .margin(8)
        .x_label_area_size(42)
        .y_label_area_size(30)
        .build_cartesian_2d(lo..end, 0u32..1u32)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        // A band, not a scale: no numbers (`y_labels(0)` would make
        // plotters loop), only the axis title.
        .y_labels(1)
        .y_label_formatter(&|_| String::new())
        .x_labels(6)
        .max_light_lines(1)
        .x_desc("tick")
        .y_desc("runtime_variant")
        .draw()
        .map_err(plot_err)?;
    let rank = |c: RGBColor| match c {
        BAD => 3,
        OK => 2,
        _ => 1,
    };
    let bands = columns::bands(
        &variant_bands(&env.points, &env.gaps, (lo, hi)),
        (lo, hi),
        rank,
    );
    // A red column is drawn last and at least three columns wide, so that one
    // tick of another variant among 100k still shows.
    let (red, rest): (Vec<_>, Vec<_>) = bands.into_iter().partition(|b| b.2 == BAD);
    let wide = |(a, b, c): (u64, u64, RGBColor)| {
        (
            a,
            b.max(a.saturating_add(3 * columns::width((lo, hi))))
                .min(end),
            c,
        )
    };
    chart
        .draw_series(
            rest.into_iter()
                .chain(red.into_iter().map(wide))
                .map(|(a, b, c)| Rectangle::new([(a, 0), (b, 1)], c.filled())),
        )
        .map_err(plot_err)?;
    let lost: Vec<(u64, u64, RGBColor)> = env
        .gaps
        .iter()
        .map(|g| (g.start.max(lo), g.end.saturating_add(1).min(end), GAP))
        .collect();
    chart
        .draw_series(
            columns::bands(&lost, (lo, hi), |_| 1)
                .into_iter()
                .map(wide)
                .map(|(a, b, _)| Rectangle::new([(a, 0), (b, 1)], GAP.mix(0.75).filled())),
        )
        .map_err(plot_err)?;
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
    area: &Area<'_, DB>,
    axis: (u64, u64),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let rates = drop_rates(&env.points);
    let name = printable(env.name);
    let (head, plot) = area.split_vertically(PANEL_HEAD);
    if rates.is_empty() {
        head.draw_text(
            &format!("{name}: no tick_health log, so no drop counts"),
            &("sans-serif", 16).into_font().color(&BLACK),
            (12, 4),
        )
        .map_err(plot_err)?;
        head.draw_text(
            "(telemetry gaps are in the runtime_variant band)",
            &("sans-serif", 14).into_font().color(&BLACK),
            (12, 26),
        )
        .map_err(plot_err)?;
        return Ok(());
    }
    let mut items = vec![("drops per 100 ticks".to_string(), Mark::Line(DROPS))];
    let lines: Vec<(f64, RGBColor)> = [
        (rules.drops.warning, "warning", WARNING_LINE),
        (rules.drops.critical, "critical", BAD),
    ]
    .into_iter()
    .filter_map(|(level, name, colour)| {
        let level = level?;
        items.push((
            format!("{name} above {}", crate::rules::fmt_num(level)),
            Mark::Line(colour),
        ));
        Some((level, colour))
    })
    .collect();
    panel_head(
        &head,
        (&format!("{name}: dropped payloads per 100 ticks"), BLACK),
        &items,
    )?;
    let max = rates
        .iter()
        .map(|r| r.1)
        .chain(lines.iter().map(|l| l.0))
        .fold(1.0_f64, f64::max);
    let mut chart = ChartBuilder::on(&plot)
        .margin(8)
        .x_label_area_size(42)
        .y_label_area_size(56)
        .build_cartesian_2d(axis.0..axis.1, 0.0..max * 1.1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(6)
        .max_light_lines(1)
        .x_desc("tick")
        .y_desc("drops per 100 ticks")
        .draw()
        .map_err(plot_err)?;
    let line = columns::envelope(rates.into_iter().map(|(t, r)| (t, r, r)), axis);
    chart
        .draw_series(LineSeries::new(line, DROPS.stroke_width(2)))
        .map_err(plot_err)?;
    for (level, colour) in lines {
        chart
            .draw_series(LineSeries::new(
                [(axis.0, level), (axis.1, level)],
                colour.stroke_width(1),
            ))
            .map_err(plot_err)?;
    }
    Ok(())
}

/// Queue depth and exit queue, each its lowest and highest value per
/// column, with the exit queue limit.
fn queue_panel<DB: DrawingBackend>(
    env: &Env<'_>,
    area: &Area<'_, DB>,
    axis: (u64, u64),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let pts = &env.points;
    let (head, plot) = area.split_vertically(PANEL_HEAD);
    let mut items = vec![
        ("queue".to_string(), Mark::Line(BLUE)),
        ("exit queue".to_string(), Mark::Line(EXIT_QUEUE)),
    ];
    if let Some(limit) = env.exit_queue_limit {
        items.push((format!("exit queue limit {limit}"), Mark::Line(BAD)));
    }
    let name = printable(env.name);
    panel_head(
        &head,
        (&format!("{name}: queue and exit queue"), BLACK),
        &items,
    )?;
    let max = pts
        .iter()
        .flat_map(|p| [p.queue, p.exit_queue])
        .flatten()
        .chain(env.exit_queue_limit)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut chart = ChartBuilder::on(&plot)
        .margin(8)
        .x_label_area_size(42)
        .y_label_area_size(56)
        .build_cartesian_2d(
            axis.0..axis.1,
            0..max.saturating_add(max / 10).saturating_add(1),
        )
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(6)
        .max_light_lines(1)
        .x_desc("tick")
        .y_desc("queue length")
        .draw()
        .map_err(plot_err)?;
    let queue = columns::envelope(
        pts.iter()
            .filter_map(|p| Some((p.tick, p.queue_low.or(p.queue)?, p.queue?))),
        axis,
    );
    let exit_queue = columns::envelope(
        pts.iter()
            .filter_map(|p| Some((p.tick, p.exit_queue_low.or(p.exit_queue)?, p.exit_queue?))),
        axis,
    );
    chart
        .draw_series(LineSeries::new(queue, BLUE.stroke_width(2)))
        .map_err(plot_err)?;
    chart
        .draw_series(LineSeries::new(exit_queue, EXIT_QUEUE.stroke_width(2)))
        .map_err(plot_err)?;
    if let Some(limit) = env.exit_queue_limit {
        chart
            .draw_series(LineSeries::new(
                [(axis.0, limit), (axis.1, limit)],
                BAD.stroke_width(1),
            ))
            .map_err(plot_err)?;
    }
    Ok(())
}
