//! Integration tests of `cargo xtask monitor`'s library: fixtures written
//! here in Townlet's formats, real files in temp dirs, real promtool, amtool and tsc.

// A test reads best as one story from fixture to assertion; the 100-line
// limit is for library code (docs/STYLE.md).
#![allow(clippy::too_many_lines)]

mod alertmanager;
mod chart;
mod dashboard;
mod fixtures;
mod follow;
mod learn;
mod logql_eval;
mod loki;
mod long_lines;
mod outcome;
mod output;
mod prom;
mod rules;
