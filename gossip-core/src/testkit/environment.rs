//! Tests that need something of their machine (root to mount a small file
//! system, a location even root cannot write): [`not_run_here`] reports, where
//! that is missing, that the test did not check what it is for.
//!
//! A passing test's output is captured by the test harness, so a skipped check
//! would otherwise pass unseen. [`not_run_here`] writes to the process's
//! stderr directly (shown even for passing tests) and, where
//! [`REQUIRE_ENVIRONMENT`] is `1` (as in this workspace's CI, which runs as
//! root), fails the test instead.
//!
//! ```
//! use gossip_core::testkit::environment::{not_run_here, REQUIRE_ENVIRONMENT};
//!
//! fn can_mount() -> bool { false }
//!
//! # if std::env::var(REQUIRE_ENVIRONMENT).as_deref() != Ok("1") {
//! if !can_mount() {
//!     not_run_here("disk_full_is_an_error", "cannot mount a tmpfs (needs root)");
//!     return;
//! }
//! # }
//! ```

use std::io::Write;

/// The environment variable that turns [`not_run_here`] into a test failure
/// when set to `1`.
pub const REQUIRE_ENVIRONMENT: &str = "GOSSIP_TEST_REQUIRE_ENVIRONMENT";

/// Says that `test` could not check what it is for on this machine, and why.
///
/// # Panics
///
/// When [`REQUIRE_ENVIRONMENT`] is `1`: there, a test that cannot run is a
/// failure of the environment, which must be fixed rather than skipped.
pub fn not_run_here(test: &str, reason: &str) {
    let required = is_required(std::env::var(REQUIRE_ENVIRONMENT).ok().as_deref());
    assert!(!required, "{}", failure(test, reason));
    // Straight to the process's stderr: the test harness captures `eprintln!`
    // of passing tests, and this line must be seen.
    let _ = writeln!(std::io::stderr(), "{}", warning(test, reason));
}

fn is_required(value: Option<&str>) -> bool {
    value.map(str::trim) == Some("1")
}

fn failure(test: &str, reason: &str) -> String {
    format!("{test}: NOT RUN: {reason} ({REQUIRE_ENVIRONMENT}=1 requires every test to run)")
}

fn warning(test: &str, reason: &str) -> String {
    format!(
        "warning: {test}: NOT RUN on this machine: {reason} \
         (set {REQUIRE_ENVIRONMENT}=1 to make this a failure)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_value_one_requires_every_test_to_run() {
        assert!(is_required(Some("1")));
        assert!(!is_required(None));
        assert!(!is_required(Some("0")));
        assert!(!is_required(Some("")));
    }

    #[test]
    fn messages_name_the_test_the_reason_and_the_variable() {
        for text in [
            failure("disk_full", "no mount"),
            warning("disk_full", "no mount"),
        ] {
            assert!(text.contains("disk_full"), "{text}");
            assert!(text.contains("NOT RUN"), "{text}");
            assert!(text.contains("no mount"), "{text}");
            assert!(text.contains(REQUIRE_ENVIRONMENT), "{text}");
        }
    }
}
