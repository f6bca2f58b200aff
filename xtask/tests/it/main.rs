//! The binary as users run it: exit codes, global options, messages.

mod adopt;
mod cli;
mod escapes;
mod gate;
mod hostile;
mod lock;
mod machine;
mod workflow;
