//! Metrics: frames and bytes per peer and kind, errors by kind, queue drops,
//! send latency, and store operations, read back from metrics-util's
//! debugging recorder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg(feature = "metrics")]

use bytes::Bytes;
use gossip_core::{
    protocol::{MessageKind, PROTOCOL_VERSION},
    ChannelId, Hlc, Identity, LogEntry, NodeId, Store, Transport, TransportErrorKind,
};
use gossip_middleware::{metrics as names, MetricsLayer, StoreMetricsLayer};
use gossip_store_memory::MemoryStore;
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
use metrics::{SharedString, Unit};
use metrics_util::{
    debugging::{DebugValue, DebuggingRecorder},
    CompositeKey,
};

/// One snapshot (the debugging recorder resets what it reports).
type Snapshot = [(CompositeKey, Option<Unit>, Option<SharedString>, DebugValue)];
use tower::Layer;

fn counter(snapshot: &Snapshot, name: &str, labels: &[(&str, &str)]) -> u64 {
    snapshot
        .iter()
        .filter(|(key, ..)| {
            let key = key.key();
            key.name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(v) => *v,
            other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

fn histogram_count(snapshot: &Snapshot, name: &str) -> usize {
    snapshot
        .iter()
        .filter(|(key, ..)| key.key().name() == name)
        .map(|(.., value)| match value {
            DebugValue::Histogram(v) => v.len(),
            other => panic!("{name} is not a histogram: {other:?}"),
        })
        .sum()
}

/// The `peer` label of the seeded node `name`: its id's text form.
fn peer(name: &str) -> &'static str {
    Box::leak(NodeId::from_seed(name).to_string().into_boxed_str())
}

#[test]
fn transport_metrics_per_peer_kind_errors_and_queue_drops() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let network =
                MemoryNetwork::new(MemoryNetworkConfig::default().inbound_queue_capacity(2));
            let a = MetricsLayer::new().layer(network.join(&Identity::from_seed("a")).unwrap());
            let b = MetricsLayer::new().layer(network.join(&Identity::from_seed("b")).unwrap());
            let push = Bytes::from(vec![PROTOCOL_VERSION, MessageKind::Push as u8, 1, 2, 3]);
            let ping = Bytes::from(vec![PROTOCOL_VERSION, MessageKind::Ping as u8]);
            a.send(b.local_id(), push.clone()).await.unwrap();
            a.send(b.local_id(), ping.clone()).await.unwrap();
            // b's inbox holds 2: the third is refused with QueueFull.
            let full = a
                .send(b.local_id(), Bytes::from_static(b"opaque"))
                .await
                .unwrap_err();
            assert_eq!(full.kind(), TransportErrorKind::QueueFull);
            b.recv().await.unwrap();
            b.recv().await.unwrap();
            let stranger = NodeId::from_seed("stranger");
            assert!(a.send(&stranger, ping.clone()).await.is_err());

            let snap = snapshotter.snapshot().into_vec();
            let snapshotter = &snap[..];
            let peer_b = [("peer", peer("b"))];
            assert_eq!(
                counter(
                    snapshotter,
                    names::FRAMES_SENT,
                    &[("peer", peer("b")), ("kind", "push")]
                ),
                1
            );
            assert_eq!(
                counter(
                    snapshotter,
                    names::BYTES_SENT,
                    &[("peer", peer("b")), ("kind", "push")]
                ),
                5
            );
            assert_eq!(
                counter(
                    snapshotter,
                    names::FRAMES_SENT,
                    &[("peer", peer("b")), ("kind", "ping")]
                ),
                1
            );
            assert_eq!(counter(snapshotter, names::FRAMES_SENT, &peer_b), 2);
            assert_eq!(counter(snapshotter, names::QUEUE_DROPS, &peer_b), 1);
            assert_eq!(
                counter(
                    snapshotter,
                    names::TRANSPORT_ERRORS,
                    &[("op", "send"), ("error", "queue_full")]
                ),
                1
            );
            assert_eq!(
                counter(snapshotter, names::TRANSPORT_ERRORS, &[("op", "send")]),
                2
            );
            assert_eq!(
                counter(
                    snapshotter,
                    names::FRAMES_RECEIVED,
                    &[("peer", peer("a")), ("kind", "push")]
                ),
                1
            );
            assert_eq!(
                counter(snapshotter, names::BYTES_RECEIVED, &[("peer", peer("a"))]),
                7
            );
            assert_eq!(histogram_count(snapshotter, names::SEND_DURATION), 4);

            b.close().await.unwrap();
            assert!(b.recv().await.is_err());
            let snap = recorder_snapshot(&recorder);
            let snapshotter = &snap[..];
            assert_eq!(
                counter(
                    snapshotter,
                    names::TRANSPORT_ERRORS,
                    &[("op", "recv"), ("error", "closed")]
                ),
                1
            );
            assert_eq!(a.backend(), "metrics");
            assert_eq!(a.max_frame_len(), a.get_ref().max_frame_len());
        });
    });
}

#[test]
fn untimed_sends_still_count_frames_but_record_no_durations() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let network = MemoryNetwork::new(MemoryNetworkConfig::default());
            let layer = MetricsLayer::new().send_durations(false);
            let a = layer.layer(network.join(&Identity::from_seed("a")).unwrap());
            let b = layer.layer(network.join(&Identity::from_seed("b")).unwrap());
            let push = Bytes::from(vec![PROTOCOL_VERSION, MessageKind::Push as u8, 1]);
            for _ in 0..3 {
                a.send(b.local_id(), push.clone()).await.unwrap();
                b.recv().await.unwrap();
            }
            let snap = snapshotter.snapshot().into_vec();
            let push_from_a = [("peer", peer("a")), ("kind", "push")];
            assert_eq!(
                counter(
                    &snap,
                    names::FRAMES_SENT,
                    &[("peer", peer("b")), ("kind", "push")]
                ),
                3
            );
            assert_eq!(counter(&snap, names::FRAMES_RECEIVED, &push_from_a), 3);
            assert_eq!(counter(&snap, names::BYTES_RECEIVED, &push_from_a), 9);
            assert_eq!(histogram_count(&snap, names::SEND_DURATION), 0);
        });
    });
}

#[test]
fn store_metrics_count_and_time_operations() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = StoreMetricsLayer::new().layer(MemoryStore::new());
            let (c, s) = (
                ChannelId::new("c").unwrap(),
                gossip_core::StreamId::new("s").unwrap(),
            );
            let a = NodeId::from_seed("a");
            let entries: Vec<_> = (1..=3)
                .map(|seq| LogEntry::new(a.clone(), seq, Hlc::new(seq, 0).unwrap(), vec![1, 2]))
                .collect();
            store.append(&c, &s, &entries).await.unwrap();
            // Appending the same entries again fails.
            assert!(store.append(&c, &s, &entries).await.is_err());
            assert_eq!(store.read(&c, &s, None, 10).await.unwrap().len(), 3);
            store.version(&c, &s).await.unwrap();

            let snap = snapshotter.snapshot().into_vec();
            let snapshotter = &snap[..];
            assert_eq!(
                counter(
                    snapshotter,
                    names::STORE_OPERATIONS,
                    &[("op", "append"), ("outcome", "ok")]
                ),
                1
            );
            assert_eq!(
                counter(
                    snapshotter,
                    names::STORE_OPERATIONS,
                    &[("op", "append"), ("outcome", "error")]
                ),
                1
            );
            assert_eq!(
                counter(
                    snapshotter,
                    names::STORE_ERRORS,
                    &[("op", "append"), ("error", "already_exists")]
                ),
                1
            );
            assert_eq!(
                counter(snapshotter, names::STORE_ENTRIES, &[("op", "append")]),
                3
            );
            assert_eq!(
                counter(snapshotter, names::STORE_ENTRIES, &[("op", "read")]),
                3
            );
            assert_eq!(
                counter(snapshotter, names::STORE_OPERATIONS, &[("op", "version")]),
                1
            );
            assert_eq!(histogram_count(snapshotter, names::STORE_DURATION), 4);
            assert_eq!(store.backend(), "metrics");
        });
    });
}

fn recorder_snapshot(
    recorder: &DebuggingRecorder,
) -> Vec<(CompositeKey, Option<Unit>, Option<SharedString>, DebugValue)> {
    recorder.snapshotter().snapshot().into_vec()
}
