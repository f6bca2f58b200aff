//! Each command's arguments (clap lives here and nowhere else) and their
//! resolution into the settings the command's crate runs with: flags over
//! the environment over the config file over defaults. A relative path on
//! the command line is anchored at the working directory
//! (`rollout_core::path::on_command_line`).

pub(crate) mod adopt;
pub(crate) mod baseline_diff;
pub(crate) mod config;
pub(crate) mod gate;
pub(crate) mod monitor;
pub(crate) mod signoff;
pub(crate) mod tag;
pub(crate) mod tls_smoke;
