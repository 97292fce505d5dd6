//! A malicious member against the node's limits (issue 17): node 2 of a
//! three-node cluster is replaced by a [`MisbehavingPeer`] holding node 2's
//! real key (a genuine member, so every check that is not about membership
//! is exercised), which sends the exact frames of each attack. Every test
//! asserts that the honest nodes keep converging, that the abuse is bounded
//! and counted in `health()`, and that it is reported naming the attacker.
//!
//! Convergence is measured in simulated time with and without the attack
//! running (printed; `--nocapture` shows it).

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use futures_util::StreamExt;
use gossip_core::protocol::lazy_push::LazyPushConfig;
use gossip_core::{
    protocol::{codec, Message},
    testkit::misbehaving::{frames, MisbehavingPeer},
    BufferLimits, Config, Error, Hlc, LogEntry, ServeBudget, StreamId, SyncError,
};
use gossip_transport_memory::{MemoryNetworkConfig, MemoryTransport};
use integration_tests::{identity, node_id, Cluster, EPOCH_MS};

const TEN: usize = 10;
/// How long honest convergence may take, attack or not (simulated time).
const LIMIT: Duration = Duration::from_secs(10);

/// A cluster of three where node 0 wrote ten entries that everyone holds,
/// then node 2 was taken over by a misbehaving peer.
async fn with_a_rogue_member(
    seed: u64,
    config: Config,
) -> (Cluster, MisbehavingPeer<MemoryTransport>) {
    let mut cluster = Cluster::start(3, config, seed).await.unwrap();
    for i in 0..TEN {
        cluster
            .append(0, format!("a{i}").into_bytes())
            .await
            .unwrap();
    }
    cluster
        .wait_converged(TEN, LIMIT)
        .await
        .unwrap()
        .expect("the ten entries reach everyone");
    cluster.crash(2).await.unwrap();
    let rogue = MisbehavingPeer::new(cluster.network.join(&identity(2)).unwrap());
    (cluster, rogue)
}

/// Appends on node 1 and waits until nodes 0 and 1 hold `expected`: how
/// long an honest entry takes to reach the other honest node.
async fn honest_round(cluster: &Cluster, expected: usize) -> Duration {
    cluster.append(1, b"honest".to_vec()).await.unwrap();
    cluster
        .wait_converged(expected, LIMIT)
        .await
        .unwrap()
        .expect("the honest nodes converge")
}

/// The next reported error matching `want`.
async fn reported(
    errors: &mut (impl futures_util::Stream<Item = Result<SyncError, Error>> + Unpin),
    want: impl Fn(&SyncError) -> bool,
) -> SyncError {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            // A flood may outrun the reader: what it missed is skipped.
            if let Ok(error) = errors.next().await.unwrap() {
                if want(&error) {
                    return error;
                }
            }
        }
    })
    .await
    .expect("the attack is reported")
}

/// Entries carried by the delta responses among `frames`.
fn delta_entries(frames: &[(gossip_core::NodeId, bytes::Bytes)]) -> usize {
    frames
        .iter()
        .filter_map(|(_, f)| match codec::decode(f, usize::MAX) {
            Ok(Message::DeltaResponse(r)) => {
                Some(r.deltas.iter().map(|d| d.entries.len()).sum::<usize>())
            }
            _ => None,
        })
        .sum()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn digest_responses_and_delta_requests_nobody_asked_for_get_nothing() {
    let (cluster, rogue) = with_a_rogue_member(31, Config::default()).await;
    let mut errors = cluster.node(0).errors();
    let without = honest_round(&cluster, TEN + 1).await;
    let target = node_id(0);
    let attack = async {
        // 20-byte frames, each of which used to make node 0 send all it holds.
        for session in 0..2_000u64 {
            let forged = [
                frames::empty_digest_response(1_000 + session, &cluster.channel),
                frames::empty_delta_request(1_000 + session, &cluster.channel, &cluster.stream),
            ];
            for message in &forged {
                rogue.send(&target, message).await.unwrap();
            }
            if session % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let (with, ()) = tokio::join!(honest_round(&cluster, TEN + 2), attack);
    eprintln!(
        "unsolicited sync: honest convergence {without:?} without the attack, {with:?} under it"
    );
    let replies = rogue.received_within(Duration::from_secs(1)).await;
    assert_eq!(
        delta_entries(&replies),
        0,
        "not one entry served to the rogue"
    );
    let stats = cluster.node(0).health().await.unwrap().stats;
    assert_eq!(
        stats.unsolicited_sync, 4_000,
        "every forged frame is counted"
    );
    let error = reported(&mut errors, |e| {
        matches!(e.error, Error::UnsolicitedSync { .. })
    })
    .await;
    assert_eq!(error.peer.as_ref(), Some(&node_id(2)));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_member_asking_for_everything_again_and_again_is_served_only_its_budget() {
    let budget = ServeBudget::default()
        .entries_per_second(200)
        .burst_seconds(1);
    let (cluster, rogue) = with_a_rogue_member(32, Config::default().serve_budget(budget)).await;
    let mut errors = cluster.node(0).errors();
    let without = honest_round(&cluster, TEN + 1).await;
    let target = node_id(0);
    let seconds = 5;
    let attack = async {
        let mut served = 0;
        // Every 50 ms a genuine session (a digest request that differs),
        // then 20 requests for the whole stream on it: 4 000 entries a
        // second asked for, where 200 are allowed.
        for session in 0..(seconds * 20) {
            rogue
                .send(&target, &frames::digest_request(session, &cluster.channel))
                .await
                .unwrap();
            let ask = frames::empty_delta_request(session, &cluster.channel, &cluster.stream);
            for _ in 0..20 {
                rogue.send(&target, &ask).await.unwrap();
            }
            served += delta_entries(&rogue.received_within(Duration::from_millis(50)).await);
        }
        served
    };
    let (with, served) = tokio::join!(honest_round(&cluster, TEN + 2), attack);
    eprintln!("amplification: honest convergence {without:?} without the attack, {with:?} under it; {served} entries served in {seconds} s");
    let bound = 200 * (seconds as usize + 1) + TEN + 2;
    assert!(served > 0, "the rogue is still a member: it gets its share");
    assert!(
        served <= bound,
        "{served} entries served, budget allows {bound}"
    );
    let stats = cluster.node(0).health().await.unwrap().stats;
    assert!(stats.serve_throttled > 0);
    let error = reported(&mut errors, |e| matches!(e.error, Error::ServeThrottled(_))).await;
    assert_eq!(error.peer.as_ref(), Some(&node_id(2)));
}

/// Entries carried by the pushes among `frames`.
fn pushed_entries(frames: &[(gossip_core::NodeId, bytes::Bytes)]) -> usize {
    frames
        .iter()
        .filter_map(|(_, f)| match codec::decode(f, usize::MAX) {
            Ok(Message::Push(p)) => Some(p.entries.len()),
            _ => None,
        })
        .sum()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn announcement_and_graft_floods_stay_bounded_and_the_node_keeps_serving() {
    // A fanout of 1: the three members push along a tree and announce
    // lazily (lazy push, issue 18).
    let budget = ServeBudget::default()
        .entries_per_second(200)
        .burst_seconds(1);
    let lazy = LazyPushConfig::default().max_missing(64);
    let config = Config::default()
        .push_fanout(1)
        .lazy_push(lazy)
        .serve_budget(budget);
    let (cluster, rogue) = with_a_rogue_member(35, config).await;
    let without = honest_round(&cluster, TEN + 1).await;
    let target = node_id(0);
    let authors = [node_id(0), node_id(1), node_id(2)];
    let seconds = 5;
    let attack = async {
        let (mut served, mut most_missing) = (0, 0);
        // Every 50 ms: 256 announcements of entries nobody wrote, and 20
        // grafts of everything node 0 wrote (4 000 entries a second asked
        // for, where 200 are allowed).
        for round in 0..(seconds * 20) {
            let announcements = frames::announcements(&cluster.channel, &authors, round);
            rogue.send(&target, &announcements).await.unwrap();
            let graft = frames::graft_everything(&cluster.channel, &cluster.stream, &target);
            for _ in 0..20 {
                rogue.send(&target, &graft).await.unwrap();
            }
            served += pushed_entries(&rogue.received_within(Duration::from_millis(50)).await);
            let health = cluster.node(0).health().await.unwrap();
            most_missing = most_missing.max(health.lazy_missing);
        }
        (served, most_missing)
    };
    let (with, (served, most_missing)) = tokio::join!(honest_round(&cluster, TEN + 2), attack);
    eprintln!(
        "lazy push flood: honest convergence {without:?} without the attack, {with:?} under it; \
         {served} entries served in {seconds} s; at most {most_missing} missing entries tracked"
    );
    // The rogue's quarter of the tracking (16), plus what the honest member
    // announced (its quarter at most).
    assert!(most_missing <= 32, "{most_missing} missing entries tracked");
    let bound = 200 * (seconds + 1) + TEN + 2;
    assert!(
        served > 0,
        "the rogue is still a member: grafts are answered"
    );
    assert!(
        served <= bound,
        "{served} entries served, budget allows {bound}"
    );
    let health = cluster.node(0).health().await.unwrap();
    assert!(health.stats.lazy_refused > 0, "{:?}", health.stats);
    assert!(health.stats.serve_throttled > 0, "{:?}", health.stats);
    // The tracking expires, and the node keeps serving honest members.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(cluster.node(0).health().await.unwrap().lazy_missing, 0);
    honest_round(&cluster, TEN + 3).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn streams_beyond_the_channel_limit_are_refused_and_honest_ones_keep_syncing() {
    let config = Config::default().max_streams_per_channel(16);
    let (cluster, rogue) = with_a_rogue_member(33, config).await;
    let mut errors = cluster.node(0).errors();
    let without = honest_round(&cluster, TEN + 1).await;
    let pushes = frames::entries_in_new_streams(&identity(2), &cluster.channel, 500, 32);
    let attack = async {
        for (i, push) in pushes.iter().enumerate() {
            rogue.send(&node_id(0), push).await.unwrap();
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let (with, ()) = tokio::join!(honest_round(&cluster, TEN + 2), attack);
    eprintln!("stream flood: honest convergence {without:?} without the attack, {with:?} under it");
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..2 {
        let usage = cluster.node(i).resource_usage().await.unwrap();
        assert!(
            usage.streams <= 16,
            "node {i} holds {} streams",
            usage.streams
        );
    }
    let stats = cluster.node(0).health().await.unwrap().stats;
    // The control stream, the shared stream and 14 of the rogue's fit.
    assert!(stats.limit_refused >= 500 - 14, "{stats:?}");
    let error = reported(&mut errors, |e| {
        matches!(e.error, Error::LimitReached { .. })
    })
    .await;
    assert_eq!(error.peer.as_ref(), Some(&node_id(2)));
    // An existing stream still takes an honest author's entries.
    honest_round(&cluster, TEN + 3).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn gap_entries_fill_only_the_senders_share_of_the_buffer_then_expire() {
    let buffer = BufferLimits::default()
        .per_peer(40)
        .max_age(Duration::from_secs(30));
    let (mut cluster, rogue) = with_a_rogue_member(34, Config::default().buffer(buffer)).await;
    // Entries of the rogue's own key, validly signed, at sequences 5..15 of
    // twenty streams: none can ever be applied.
    for i in 0..20 {
        let stream = StreamId::new(format!("gap-{i}")).unwrap();
        let push = frames::gap_entries(&identity(2), &cluster.channel, &stream, 5, 10, 64);
        rogue.send(&node_id(0), &push).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = cluster.node(0).health().await.unwrap();
    assert_eq!(health.buffered_entries, 40, "the rogue's share, no more");
    assert_eq!(health.stats.buffer_refused, 160);

    // An honest author whose entries arrive out of order still gets them
    // buffered and applied: node 1's key, speaking through a raw transport.
    cluster.crash(1).await.unwrap();
    let honest = MisbehavingPeer::new(cluster.network.join(&identity(1)).unwrap());
    let stream = StreamId::new("reordered").unwrap();
    let first = LogEntry::new(
        node_id(1),
        1,
        Hlc::new(EPOCH_MS, 0).unwrap(),
        b"one".to_vec(),
    )
    .sign(&identity(1), &cluster.channel, &stream);
    let second = LogEntry::new(
        node_id(1),
        2,
        Hlc::new(EPOCH_MS + 1, 0).unwrap(),
        b"two".to_vec(),
    )
    .linked_to(first.hash(&cluster.channel, &stream))
    .sign(&identity(1), &cluster.channel, &stream);
    for entry in [second, first] {
        let push = Message::Push(gossip_core::protocol::Push {
            channel: cluster.channel.clone(),
            stream: stream.clone(),
            entries: vec![entry],
        });
        honest.send(&node_id(0), &push).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = cluster
        .node(0)
        .channel(cluster.channel.clone())
        .await
        .unwrap()
        .stream(stream)
        .await
        .unwrap()
        .entries()
        .await
        .unwrap();
    assert_eq!(
        held.len(),
        2,
        "the reordered honest entries were buffered, then applied"
    );

    // The rogue's entries wait no longer than the buffer's max age.
    tokio::time::sleep(Duration::from_secs(31)).await;
    let health = cluster.node(0).health().await.unwrap();
    assert_eq!(health.buffered_entries, 0);
    assert_eq!(health.stats.buffer_expired, 40);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_digest_larger_than_a_frame_still_syncs_in_parts() {
    // Small frames, no eager push: only anti-entropy carries the entries,
    // and the digest of 300 streams needs several frames.
    let network = MemoryNetworkConfig::default()
        .seed(35)
        .max_frame_len(4 * 1024);
    let config = Config::default().eager_push(false).max_payload_bytes(1024);
    let cluster = Cluster::start_on(network, 2, config).await.unwrap();
    let channel = cluster
        .node(0)
        .channel(cluster.channel.clone())
        .await
        .unwrap();
    for i in 0..300 {
        let stream = channel
            .stream(StreamId::new(format!("s{i:03}")).unwrap())
            .await
            .unwrap();
        stream.append(b"x".to_vec()).await.unwrap();
    }
    let started = tokio::time::Instant::now();
    loop {
        let usage = cluster.node(1).resource_usage().await.unwrap();
        if usage.entries >= 300 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "node 1 holds {usage:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "a 300-stream digest in 4 KiB frames converged in {:?}",
        started.elapsed()
    );
    let (a, b) = (
        cluster.node(0).resource_usage().await.unwrap(),
        cluster.node(1).resource_usage().await.unwrap(),
    );
    assert_eq!((a.streams, a.entries), (b.streams, b.entries));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn garbage_at_any_rate_is_counted_and_the_node_keeps_serving() {
    let (cluster, rogue) = with_a_rogue_member(36, Config::default()).await;
    let without = honest_round(&cluster, TEN + 1).await;
    let garbage = [
        bytes::Bytes::from_static(&[]),
        bytes::Bytes::from_static(&[0xff; 64]),
        bytes::Bytes::from_static(&[
            gossip_core::protocol::PROTOCOL_VERSION,
            7,
            0xff,
            0xff,
            0xff,
            0xff,
            0x0f,
        ]),
    ];
    let attack = async {
        let mut sent = 0;
        for round in 0..300 {
            for frame in &garbage {
                sent += rogue.flood(&node_id(0), frame, 10, 10).await.sent;
            }
            if round % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        sent
    };
    let (with, sent) = tokio::join!(honest_round(&cluster, TEN + 2), attack);
    eprintln!("garbage: honest convergence {without:?} without the attack, {with:?} under it");
    let stats = cluster.node(0).health().await.unwrap().stats;
    assert_eq!(stats.malformed_frames as usize, sent);
}
