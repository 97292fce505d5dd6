//! A member gone rogue: node 2 of the cluster is replaced by a raw memory
//! transport holding node 2's real key (so it is a genuine member and peer),
//! which speaks the wire protocol through public APIs only and sends the
//! exact frames of each attack. The honest nodes (0, the author under
//! attack, and 1) must be unharmed: nothing erased, nothing forged stored,
//! no panic, every attack reported naming the rogue peer.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use futures_util::StreamExt;
use gossip_core::{
    protocol::{codec, AuthorPush, DeltaResponse, DigestResponse, Message, Push},
    raw::{BaseProof, BaseRefusal, ChannelDigest, Delta, StreamDigest},
    Config, EntryHash, Error, Hlc, LogEntry, RetentionPolicy, StreamConfig, SyncError, Transport,
    TransportEvent, VersionVector,
};
use gossip_transport_memory::MemoryTransport;
use integration_tests::{identity, node_id, Cluster, EPOCH_MS};

const TEN: usize = 10;

/// A cluster of three where node 0 wrote ten entries that everyone holds,
/// then node 2 was taken over: returns the cluster and the rogue's transport.
async fn with_a_rogue_member(seed: u64) -> (Cluster, MemoryTransport) {
    let mut cluster = Cluster::start(3, Config::default(), seed).await.unwrap();
    for i in 0..TEN {
        cluster
            .append(0, format!("a{i}").into_bytes())
            .await
            .unwrap();
    }
    cluster
        .wait_converged(TEN, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the ten entries reach everyone");
    cluster.crash(2).await.unwrap();
    let rogue = cluster.network.join(&identity(2)).unwrap();
    (cluster, rogue)
}

/// Sends `message` from the rogue to nodes 0 and 1.
async fn send_to_both(rogue: &MemoryTransport, message: &Message) {
    let frame = codec::encode(message);
    for i in 0..2 {
        rogue.send(&node_id(i), frame.clone()).await.unwrap();
    }
}

/// The next reported error matching `want`, within a few simulated seconds.
async fn reported(
    errors: &mut (impl futures_util::Stream<Item = Result<SyncError, gossip_core::Error>> + Unpin),
    want: impl Fn(&SyncError) -> bool,
) -> SyncError {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let error = errors.next().await.unwrap().unwrap();
            if want(&error) {
                return error;
            }
        }
    })
    .await
    .expect("the attack is reported")
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_forged_compaction_base_erases_nothing_anywhere() {
    let (cluster, rogue) = with_a_rogue_member(21).await;
    // A stream that does compact (keep 20 entries per author), so that only
    // the signatures stand between the rogue and the honest logs.
    let keep_twenty =
        StreamConfig::default().retention(RetentionPolicy::CountBased { max_per_author: 20 });
    // Set once, by the owner: the setting replicates with the control log.
    cluster
        .node(0)
        .channel(cluster.channel.clone())
        .await
        .unwrap()
        .set_stream_config(cluster.stream.clone(), keep_twenty.clone())
        .await
        .unwrap();
    let on_node_1 = cluster
        .node(1)
        .channel(cluster.channel.clone())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while on_node_1
            .info()
            .await
            .unwrap()
            .stream_config(&cluster.stream)
            != &keep_twenty
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the owner's setting reaches node 1");
    let mut errors = cluster.node(1).errors();
    let author = cluster.entries(0).await.unwrap()[0].author.clone();
    // "Node 0 compacted its log through 2^62": the rogue signs the headers
    // itself, having no other key.
    let rogue_key = identity(2);
    let claim = |sequence| {
        LogEntry::new(
            author.clone(),
            sequence,
            Hlc::new(EPOCH_MS, 0).unwrap(),
            vec![],
        )
        .sign(&rogue_key, &cluster.channel, &cluster.stream)
        .signed_header()
    };
    let forged = BaseProof::new(claim(1 << 62), claim((1 << 62) + 100)).unwrap();
    let delta = Delta::new(
        cluster.channel.clone(),
        cluster.stream.clone(),
        vec![forged],
        vec![],
    );
    let response = Message::DeltaResponse(DeltaResponse {
        session: 1,
        deltas: vec![delta],
        more: false,
    });
    send_to_both(&rogue, &response).await;
    let refused = reported(&mut errors, |e| {
        matches!(e.error, Error::BaseRefused { .. })
    })
    .await;
    assert!(
        matches!(
            refused.error,
            Error::BaseRefused {
                reason: BaseRefusal::BadSignature,
                sequence,
                ..
            } if sequence == 1 << 62
        ),
        "{refused}"
    );
    assert_eq!(
        refused.peer.as_ref(),
        Some(&node_id(2)),
        "the rogue is named"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..2 {
        assert_eq!(cluster.entries(i).await.unwrap().len(), TEN, "node {i}");
    }
    // The author still writes, and everyone still takes it.
    cluster.append(0, b"after".to_vec()).await.unwrap();
    cluster
        .wait_converged(TEN + 1, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the author's next entry reaches node 1");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_forged_entry_is_rejected_and_the_real_one_accepted() {
    let (cluster, rogue) = with_a_rogue_member(22).await;
    let mut errors = cluster.node(1).errors();
    let held = cluster.entries(1).await.unwrap();
    let last = held.last().unwrap();
    // The next entry "of node 0", linked correctly, signed by the rogue.
    let forged = LogEntry::new(
        last.author.clone(),
        last.sequence + 1,
        Hlc::new(EPOCH_MS + 1, 0).unwrap(),
        b"forged".to_vec(),
    )
    .linked_to(last.hash(&cluster.channel, &cluster.stream))
    .sign(&identity(2), &cluster.channel, &cluster.stream);
    let push = Message::Push(Push {
        channel: cluster.channel.clone(),
        stream: cluster.stream.clone(),
        entries: vec![forged],
    });
    send_to_both(&rogue, &push).await;
    let error = reported(&mut errors, |e| {
        matches!(e.error, Error::ForgedEntries { .. })
    })
    .await;
    assert!(
        matches!(&error.error, Error::ForgedEntries { author, forged: 1, .. } if *author == node_id(0)),
        "{error}"
    );
    assert_eq!(error.peer.as_ref(), Some(&node_id(2)));
    assert_eq!(cluster.entries(1).await.unwrap().len(), TEN);
    let health = cluster.node(1).health().await.unwrap();
    assert_eq!(health.stats.entries_rejected, 1);
    // The real entry with that sequence is accepted, everywhere.
    let real = cluster.append(0, b"real".to_vec()).await.unwrap();
    cluster
        .wait_converged(TEN + 1, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the real entry is accepted");
    assert_eq!(cluster.entries(1).await.unwrap()[TEN], real);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sequences_near_the_top_of_u64_are_refused_without_a_panic() {
    let (cluster, rogue) = with_a_rogue_member(23).await;
    let mut errors = cluster.node(1).errors();
    // The rogue's own entry at u64::MAX (valid signature: it is its own log).
    let own = LogEntry::new(node_id(2), u64::MAX, Hlc::new(EPOCH_MS, 0).unwrap(), vec![]).sign(
        &identity(2),
        &cluster.channel,
        &cluster.stream,
    );
    let push = Message::Push(Push {
        channel: cluster.channel.clone(),
        stream: cluster.stream.clone(),
        entries: vec![own],
    });
    send_to_both(&rogue, &push).await;
    let error = reported(&mut errors, |e| matches!(e.error, Error::Decode(_))).await;
    assert_eq!(error.peer.as_ref(), Some(&node_id(2)));
    // Still serving, in debug builds too.
    cluster.append(1, b"still here".to_vec()).await.unwrap();
    cluster
        .wait_converged(TEN + 1, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the honest nodes still sync");
    assert_eq!(
        cluster
            .node(1)
            .health()
            .await
            .unwrap()
            .stats
            .malformed_frames,
        1
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_far_future_entry_is_quarantined_not_stored() {
    let (cluster, rogue) = with_a_rogue_member(24).await;
    let mut errors = cluster.node(1).errors();
    // The rogue's own first entry, stamped an hour ahead of everyone.
    let hour_ahead = Hlc::new(EPOCH_MS + 3_600_000 + 60_000, 0).unwrap();
    let own = LogEntry::new(node_id(2), 1, hour_ahead, b"from the future".to_vec()).sign(
        &identity(2),
        &cluster.channel,
        &cluster.stream,
    );
    let push = Message::Push(Push {
        channel: cluster.channel.clone(),
        stream: cluster.stream.clone(),
        entries: vec![own],
    });
    send_to_both(&rogue, &push).await;
    let error = reported(&mut errors, |e| {
        matches!(e.error, Error::FutureEntries { .. })
    })
    .await;
    assert_eq!(error.peer.as_ref(), Some(&node_id(2)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in 0..2 {
        assert_eq!(cluster.entries(i).await.unwrap().len(), TEN, "node {i}");
        let health = cluster.node(i).health().await.unwrap();
        assert_eq!(health.quarantined_entries, 1, "node {i}");
    }
    // An hour passes on the honest nodes' clocks: the entry is now within
    // the drift, and merged at the next gossip tick.
    for m in &cluster.members[..2] {
        m.clock.set_skew_ms(3_600_000);
    }
    cluster
        .wait_converged(TEN + 1, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("released from quarantine");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_author_push_speaks_only_for_its_sender() {
    let (cluster, rogue) = with_a_rogue_member(25).await;
    let mut errors = cluster.node(1).errors();
    // Node 0's real first entry, relayed as the rogue's own author push:
    // the receiver reads it as the rogue's, and node 0's signature does not
    // prove that.
    let real = cluster.entries(1).await.unwrap().remove(0);
    let relayed = AuthorPush::of_run(
        cluster.channel.clone(),
        cluster.stream.clone(),
        &[real],
        false,
    )
    .unwrap();
    send_to_both(&rogue, &Message::AuthorPush(relayed)).await;
    let error = reported(&mut errors, |e| {
        matches!(e.error, Error::ForgedEntries { .. })
    })
    .await;
    assert!(
        matches!(&error.error, Error::ForgedEntries { author, .. } if *author == node_id(2)),
        "{error}"
    );
    assert_eq!(error.peer.as_ref(), Some(&node_id(2)));
    // A link left out that the receiver cannot supply costs the sender a
    // graft back, nothing more: nothing stored, nothing reported.
    let own = LogEntry::new(node_id(2), 5, Hlc::new(EPOCH_MS, 0).unwrap(), b"5".to_vec()).sign(
        &identity(2),
        &cluster.channel,
        &cluster.stream,
    );
    let unlinked = AuthorPush::of_run(
        cluster.channel.clone(),
        cluster.stream.clone(),
        &[own],
        false,
    )
    .unwrap();
    rogue
        .send(&node_id(1), codec::encode(&Message::AuthorPush(unlinked)))
        .await
        .unwrap();
    let graft = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let TransportEvent::Frame { from, frame } = rogue.recv().await.unwrap() {
                if let Ok(Message::Graft(graft)) = codec::decode(&frame, 1 << 20) {
                    return (from, graft);
                }
            }
        }
    })
    .await
    .expect("the run is grafted from its sender");
    assert_eq!(graft.0, node_id(1));
    assert_eq!(
        (
            graft.1.wants[0].author.clone(),
            graft.1.wants[0].after,
            graft.1.wants[0].up_to
        ),
        (node_id(2), 0, 5)
    );
    for i in 0..2 {
        assert_eq!(cluster.entries(i).await.unwrap().len(), TEN, "node {i}");
    }
    let health = cluster.node(1).health().await.unwrap();
    assert_eq!(health.stats.author_pushes_unlinked, 1);
    // The honest nodes still replicate, by author pushes among themselves.
    cluster.append(0, b"after".to_vec()).await.unwrap();
    cluster
        .wait_converged(TEN + 1, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the honest nodes still sync");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn answers_to_a_pull_cannot_grow_the_request_they_are_sent_back() {
    let (cluster, rogue) = with_a_rogue_member(26).await;
    let (channel, stream) = (cluster.channel.clone(), cluster.stream.clone());
    // The rogue's own log, which it may write: one genuine entry per answer.
    let mut own_previous = EntryHash::GENESIS;
    let mut own_next = 1;
    let mut continuations = Vec::new();
    let mut pulling = None;
    tokio::time::timeout(Duration::from_secs(20), async {
        while continuations.len() < 3 {
            let TransportEvent::Frame { from, frame } = rogue.recv().await.unwrap() else {
                continue;
            };
            match codec::decode(&frame, 1 << 20) {
                // "I hold a thousand entries of my own": the honest node
                // pulls them.
                Ok(Message::DigestRequest(request)) if pulling.is_none() => {
                    let mut version = VersionVector::new();
                    version.raise(&node_id(0), TEN as u64);
                    version.raise(&node_id(2), 1000);
                    let digest = StreamDigest::new(stream.clone(), version, VersionVector::new());
                    let response = DigestResponse {
                        session: request.session,
                        digests: vec![ChannelDigest::new(channel.clone(), vec![digest])],
                    };
                    let frame = codec::encode(&Message::DigestResponse(response));
                    rogue.send(&from, frame).await.unwrap();
                    pulling = Some(from);
                }
                Ok(Message::DeltaRequest(request)) if pulling.as_ref() == Some(&from) => {
                    if own_next > 1 {
                        continuations.push(request.clone());
                    }
                    // The answer: 200 entries by invented authors, each the
                    // first of its log, and the rogue's next real entry,
                    // saying there is more.
                    let mut entries: Vec<LogEntry> = (0..200)
                        .map(|i| {
                            let fake = identity(1000 + own_next * 200 + i);
                            let hlc = Hlc::new(EPOCH_MS, 0).unwrap();
                            LogEntry::new(fake.node_id().clone(), 1, hlc, b"fake".to_vec())
                                .sign(&fake, &channel, &stream)
                        })
                        .collect();
                    let own = LogEntry::new(
                        node_id(2),
                        own_next as u64,
                        Hlc::new(EPOCH_MS, own_next as u16).unwrap(),
                        b"own".to_vec(),
                    )
                    .linked_to(own_previous);
                    own_previous = own.hash(&channel, &stream);
                    own_next += 1;
                    entries.push(own.sign(&identity(2), &channel, &stream));
                    let response = DeltaResponse {
                        session: request.session,
                        deltas: vec![Delta::new(channel.clone(), stream.clone(), vec![], entries)],
                        more: true,
                    };
                    let frame = codec::encode(&Message::DeltaResponse(response));
                    rogue.send(&from, frame).await.unwrap();
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the honest node continues its pull while the rogue's own entries advance it");
    // Each continuation states the two real authors only: the invented
    // ones never reach the request.
    for (i, request) in continuations.iter().enumerate() {
        for want in &request.wants {
            let authors: Vec<_> = want.have.iter().map(|(author, _)| author.clone()).collect();
            assert!(
                authors.iter().all(|a| *a == node_id(0) || *a == node_id(2)),
                "continuation {i} states {} authors",
                authors.len()
            );
        }
    }
    let last = &continuations[2].wants[0].have;
    assert_eq!(
        (last.get(&node_id(0)), last.get(&node_id(2))),
        (TEN as u64, 3)
    );
    // Nothing by an invented author was stored; the honest nodes still sync.
    let puller = pulling.unwrap();
    let index = (0..2).find(|i| node_id(*i) == puller).unwrap();
    // The rogue's four genuine entries are taken, one per answer (the
    // last answer may still be on its way).
    let held = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let held = cluster.entries(index).await.unwrap();
            if held.iter().filter(|e| e.author == node_id(2)).count() == 4 {
                return held;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the rogue's own entries are taken");
    assert!(held
        .iter()
        .all(|e| e.author == node_id(0) || e.author == node_id(2)));
    cluster.append(0, b"after".to_vec()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        for i in 0..2 {
            loop {
                let entries = cluster.entries(i).await.unwrap();
                if entries.iter().filter(|e| e.author == node_id(0)).count() > TEN {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    })
    .await
    .expect("the honest nodes still sync");
}
