//! Integration tests of `cargo xtask monitor`'s library: fixtures written
//! here in Townlet's formats, real files in temp dirs, real promtool.

mod chart;
mod fixtures;
mod follow;
mod learn;
mod output;
mod prom;
mod rules;
