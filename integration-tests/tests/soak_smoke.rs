//! The soak run of issue 17 for a few seconds (`src/bin/soak.rs` runs it
//! for minutes; BENCHMARKS.md has the figures): eight honest nodes over TCP
//! under an attacking member cycling through every attack lose nothing
//! acknowledged, converge, and count every attack. Run in CI so the soak
//! never rots.

use std::time::Duration;

use integration_tests::soak::{run, SoakOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_soak_loses_nothing_and_counts_every_attack(
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let report = run(SoakOptions::default().duration(Duration::from_secs(20))).await?;
    eprintln!("{}", report.to_markdown());
    assert!(report.acknowledged > 0, "nothing was appended");
    assert_eq!(
        report.lost_count, 0,
        "acknowledged entries lost: {:?}",
        report.lost
    );
    assert!(
        report.converged_after.is_some(),
        "the honest nodes did not converge"
    );
    assert!(
        report.dead_nodes.is_empty(),
        "nodes stopped: {:?}",
        report.dead_nodes
    );
    assert!(
        report.uncounted().is_empty(),
        "attacks not counted: {:?}",
        report.uncounted()
    );
    assert!(report.passed());
    Ok(())
}
