//! Integration tests of the telemetry reader: real files written to a
//! temporary directory, read through the public API.

mod stream;
