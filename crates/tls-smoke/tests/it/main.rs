//! Integration tests of tls-smoke: real handshakes on loopback with
//! certificates generated per test.

mod chain;
mod cli;
mod failures;
mod interop;
mod static_checks;
mod support;
