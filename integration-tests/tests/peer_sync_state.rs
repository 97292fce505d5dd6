//! Where every replica stands: `health()` shows, per peer and stream, what
//! the peer lacks (entries, bytes, age of the oldest) and when it last
//! synced; `PeerCaughtUp` reports a peer that holds everything again; the
//! clock-skew estimate follows a peer's clock; a durable append returns
//! once enough members hold its entry.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use futures_util::StreamExt;
use gossip_core::{
    Config, Coordinator, DomainEvent, Durability, Error, NodeId, PeerHealth, PeerStreamSync,
};
use integration_tests::{node_id, Cluster};

const INTERVAL: Duration = Duration::from_millis(200);

async fn peer(node: &Coordinator, id: &NodeId) -> PeerHealth {
    let health = node.health().await.unwrap();
    health.peers.into_iter().find(|p| p.id == *id).unwrap()
}

/// What `peer` knows of the cluster's data stream (the channel's control
/// stream is listed too).
fn data(p: &PeerHealth, cluster: &Cluster) -> PeerStreamSync {
    let found = p.streams.iter().find(|s| s.stream == cluster.stream);
    found
        .cloned()
        .unwrap_or_else(|| panic!("no data stream: {p:?}"))
}

/// Waits (simulated time) until `node` knows `id` lacks nothing.
async fn until_caught_up(node: &Coordinator, id: &NodeId) -> PeerHealth {
    for _ in 0..200 {
        let p = peer(node, id).await;
        if !p.streams.is_empty() && p.caught_up() {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{id} never known to be caught up: {:?}",
        peer(node, id).await
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn health_shows_what_each_peer_lacks_and_since_when() {
    let config = Config::default().gossip_interval(INTERVAL);
    let mut cluster = Cluster::start(3, config, 7).await.unwrap();
    let (one, two) = (node_id(1), node_id(2));
    cluster.append(0, b"first".to_vec()).await.unwrap();
    cluster
        .wait_converged(1, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("converged");
    // Both peers are learnt to hold everything: by push, then anti-entropy.
    for id in [&one, &two] {
        let p = until_caught_up(cluster.node(0), id).await;
        assert_eq!(p.lacking_entries(), 0);
        assert_eq!(p.lag_ms(), None);
        let s = data(&p, &cluster);
        assert_eq!(s.channel, cluster.channel);
        assert_eq!(s.version.get(&node_id(0)), 1);
    }
    tokio::time::sleep(INTERVAL * 10).await;
    let synced = peer(cluster.node(0), &one).await.last_sync_ms_ago;
    assert!(
        synced.is_some_and(|ago| ago <= INTERVAL.as_millis() as u64 * 5),
        "anti-entropy exchanges keep it fresh: {synced:?}"
    );

    // Node 2 goes away; node 0 writes five entries, 200 ms apart.
    cluster.crash(2).await.unwrap();
    let payloads: Vec<Vec<u8>> = (0..5).map(|i| vec![b'x'; 100 + i]).collect();
    let first_written = tokio::time::Instant::now();
    for payload in &payloads {
        cluster.append(0, payload.clone()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let behind = peer(cluster.node(0), &two).await;
    let s = data(&behind, &cluster);
    assert_eq!(s.lacking_entries, 5, "{behind:?}");
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    assert_eq!(s.lacking_bytes, bytes as u64);
    // The lag is the age of the oldest entry it lacks (clocks here follow
    // simulated time: exact to the millisecond).
    let age = first_written.elapsed().as_millis() as u64;
    let lag = s.lag_ms.expect("it lacks entries");
    assert!(
        lag.abs_diff(age) <= 1,
        "lag {lag} ms, oldest lacking {age} ms old"
    );
    assert!(!behind.caught_up());
    // Node 1 got them all by push and says so.
    until_caught_up(cluster.node(0), &one).await;

    // Node 2 comes back, catches up, and node 0 reports it.
    let mut events = cluster.node(0).events();
    cluster.boot(2).await.unwrap();
    let caught_up = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            if let Ok(DomainEvent::PeerCaughtUp { peer, channel }) = event {
                if peer == two {
                    return channel;
                }
            }
        }
        panic!("event stream ended");
    })
    .await
    .expect("node 2 reported caught up");
    assert_eq!(caught_up, cluster.channel);
    let back = peer(cluster.node(0), &two).await;
    assert!(back.caught_up(), "{back:?}");
    assert_eq!(data(&back, &cluster).version.get(&node_id(0)), 6);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_clock_skew_estimate_follows_a_peer_clock() {
    let config = Config::default().gossip_interval(INTERVAL);
    let cluster = Cluster::start(2, config, 8).await.unwrap();
    let one = node_id(1);
    assert_eq!(peer(cluster.node(0), &one).await.clock_skew_ms, None);
    // Node 1's clock runs 400 ms ahead: its pushed entries say so.
    cluster.members[1].clock.set_skew_ms(400);
    for i in 0..3 {
        cluster.append(1, vec![i]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster
        .wait_converged(3, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("converged");
    let skew = peer(cluster.node(0), &one).await.clock_skew_ms;
    // Each sample is the offset less the one-way delay (a few ms here).
    assert!(
        skew.is_some_and(|s| (380..=400).contains(&s)),
        "estimated {skew:?}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_durable_append_returns_once_enough_members_hold_it() {
    // Rounds far apart: the receipt cannot wait for a periodic one.
    let config = Config::default().gossip_interval(Duration::from_secs(30));
    let mut cluster = Cluster::start(3, config, 9).await.unwrap();
    let stream = cluster.stream(0).await.unwrap();
    let started = tokio::time::Instant::now();
    let entry = stream
        .append_durable(b"safe".to_vec(), Durability::copies(2))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "confirmed by the exchange behind the push, not a periodic round: {:?}",
        started.elapsed()
    );
    assert_eq!(entry.sequence, 1);
    let one = peer(cluster.node(0), &node_id(1)).await;
    let two = peer(cluster.node(0), &node_id(2)).await;
    assert!(
        [one, two]
            .iter()
            .any(|p| data(p, &cluster).version.get(&node_id(0)) >= 1),
        "a peer is known to hold it"
    );
    // All three: still reachable.
    stream
        .append_durable(b"everywhere".to_vec(), Durability::copies(3))
        .await
        .unwrap();

    // With one of three down, three copies cannot be confirmed: a typed
    // error after the timeout, the entry appended all the same.
    cluster.crash(2).await.unwrap();
    let wait = Durability::copies(3).timeout(Duration::from_secs(2));
    let error = stream
        .append_durable(b"two of three".to_vec(), wait)
        .await
        .unwrap_err();
    let Error::NotDurable {
        entry,
        held_by,
        wanted,
    } = error
    else {
        panic!("not NotDurable: {error:?}");
    };
    assert_eq!((held_by, wanted), (2, 3));
    assert_eq!(&entry.payload[..], b"two of three");
    let held = cluster.entries(0).await.unwrap();
    assert!(held.iter().any(|e| e.payload == entry.payload));
    // One copy is a plain append.
    stream
        .append_durable(b"local".to_vec(), Durability::copies(1))
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_node_paused_for_30_s_is_left_alone_and_catches_up_after_resume() {
    let config = Config::default().gossip_interval(INTERVAL);
    let cluster = Cluster::start(3, config, 10).await.unwrap();
    let two = node_id(2);
    let mut events = cluster.node(0).events();
    cluster.node(2).pause().await.unwrap();
    for i in 0..30u8 {
        cluster.append(0, vec![i]).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let away = peer(cluster.node(0), &two).await;
    assert_eq!(away.status, gossip_core::PeerStatus::Dormant, "{away:?}");
    assert_eq!(data(&away, &cluster).lacking_entries, 30);
    cluster.node(2).resume().await.unwrap();
    cluster
        .wait_converged(30, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the resumed node catches up");
    until_caught_up(cluster.node(0), &two).await;
    // Node 0 saw it go dormant and come back, nothing worse.
    let mut seen = Vec::new();
    while let Some(Some(Ok(event))) = futures_util::FutureExt::now_or_never(events.next()) {
        if let DomainEvent::PeerStatusChanged { peer, status } = event {
            if peer == two {
                seen.push(status);
            }
        }
    }
    use gossip_core::PeerStatus::{Dormant, Reachable};
    assert_eq!(seen, [Dormant, Reachable]);
}
