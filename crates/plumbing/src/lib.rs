//! Plumbing shared by the commands that run other programs.
//!
//! Owns: supervising child processes ([`process`]): each in its own process
//! group with its output in a log file or captured, a deadline and
//! cancellation, the whole group stopped on timeout or interrupt (and by a
//! guardian process when the command is killed), and terminal runs in a
//! pseudo-terminal; step logs of bounded size, read from their end ([`steplog`]); git access to the Townlet checkout
//! ([`git`]), each command returning data; and the gate report
//! ([`report`], `target/rollout/gate-report.json`), the contract between the
//! gate that writes it and `tag` that reads it; and the lock that keeps two
//! commands from writing one output directory at once ([`lock`]).
//!
//! Does not own: what is run or how its output is judged (the gate, the
//! capture, release checks).

pub mod git;
pub mod lock;
pub mod process;
pub mod report;
pub mod steplog;
