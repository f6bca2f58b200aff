//! Each command's arguments (clap lives here and nowhere else) and their
//! resolution into the settings the command's crate runs with: flags over
//! the environment over the config file over defaults. A relative path on
//! the command line is anchored at the working directory
//! (`rollout_core::path::on_command_line`).

pub(crate) mod baseline_diff;
