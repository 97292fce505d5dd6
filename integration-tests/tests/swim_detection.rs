//! SWIM over the node: a stopped node is suspected, then unreachable, and
//! reachable again after it restarts; loss alone never evicts anyone.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use gossip_core::{Config, PeerStatus};
use gossip_transport_memory::LinkFaults;
use integration_tests::{node_id, Cluster};

async fn status(cluster: &Cluster, observer: usize, peer: usize) -> PeerStatus {
    let health = cluster.node(observer).health().await.unwrap();
    health
        .peers
        .iter()
        .find(|p| p.id == node_id(peer))
        .map(|p| p.status)
        .expect("known peer")
}

/// Polls every 50 ms of simulated time until `observer` sees `peer` as `want`.
async fn wait_status(
    cluster: &Cluster,
    observer: usize,
    peer: usize,
    want: PeerStatus,
    limit: Duration,
) -> Option<Duration> {
    let start = tokio::time::Instant::now();
    while start.elapsed() <= limit {
        if status(cluster, observer, peer).await == want {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stopped_node_is_suspected_then_unreachable_then_back() {
    let n = 4;
    let config = Config::default();
    // The bound SWIM guarantees for this configuration: round-robin probing
    // reaches the silent member `threshold` times within `threshold + 1`
    // passes over the members (each period stretched by at most Lifeguard's
    // highest local health multiplier), then the suspicion runs out.
    let unreachable_bound = config.swim.detection_bound(n - 1);
    let suspect_bound = unreachable_bound - config.swim.max_suspicion_timeout();

    let mut cluster = Cluster::start(n, config, 11).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status(&cluster, 0, 3).await, PeerStatus::Reachable);

    cluster.crash(3).await.unwrap();
    let suspected = wait_status(&cluster, 0, 3, PeerStatus::Suspected, suspect_bound).await;
    assert!(
        suspected.is_some(),
        "not suspected within {suspect_bound:?}"
    );
    let unreachable = wait_status(&cluster, 0, 3, PeerStatus::Unreachable, unreachable_bound).await;
    assert!(
        unreachable.is_some(),
        "not unreachable within {unreachable_bound:?}"
    );
    for observer in 1..3 {
        assert_eq!(status(&cluster, observer, 3).await, PeerStatus::Unreachable);
    }

    cluster.boot(3).await.unwrap();
    let back = wait_status(
        &cluster,
        0,
        3,
        PeerStatus::Reachable,
        Duration::from_secs(10),
    )
    .await;
    assert!(back.is_some(), "restarted node not reachable again");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn no_node_is_declared_unreachable_under_30_percent_loss() {
    let n = 6;
    let cluster = Cluster::start(n, Config::default(), 12).await.unwrap();
    cluster
        .network
        .set_default_faults(LinkFaults::none().drop(0.3));
    for _ in 0..(5 * 60) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for observer in 0..n {
            let health = cluster.node(observer).health().await.unwrap();
            for peer in &health.peers {
                assert_ne!(
                    peer.status,
                    PeerStatus::Unreachable,
                    "{} declared {} unreachable under loss alone",
                    node_id(observer),
                    peer.id
                );
            }
        }
    }
}
