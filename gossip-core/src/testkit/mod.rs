//! Conformance suites and test helpers for plug-in authors (feature `testkit`).
//!
//! Not covered by semver: the suites grow as the contracts are refined.

pub mod store;
