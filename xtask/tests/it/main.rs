//! The binary as users run it: exit codes, global options, messages.

mod adopt;
mod bisect;
mod cli;
mod escapes;
mod gate;
mod hostile;
mod in_tree;
mod lock;
mod machine;
mod stream;
mod workflow;
