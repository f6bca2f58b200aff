//! Fixture writers.
