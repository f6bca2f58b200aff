//! The gate end to end, with real processes: the sample target with real
//! pytest, ruff and mypy (a virtual environment cached under `target/`),
//! failure injection, timeouts, terminal smokes, scheduling, reports, and the
//! merge policy on real git repositories.

mod debt;
mod merge;
mod sample;
mod scheduling;
mod support;
