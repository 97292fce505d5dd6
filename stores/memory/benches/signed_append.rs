//! What signing costs an append (issue 15): the node's signed batch append
//! against the store port's raw insert of the same entries, a single signed
//! append, and the receiver's verification of a run.
//!
//! ```sh
//! cargo bench -p gossip-store-memory --bench signed_append
//! ```

// Bench code: a failure is a failed run. `criterion_group!` defines an
// undocumented `pub fn`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use gossip_core::{
    raw::verify_entries, ChannelId, Coordinator, EntryHash, Hlc, Identity, LogEntry, Store,
    StreamId,
};
use gossip_store_memory::MemoryStore;

const BATCH: usize = 1_000;
const PAYLOAD: usize = 256;

fn ids() -> (ChannelId, StreamId) {
    (
        ChannelId::derive(Identity::from_seed("bench").node_id(), "bench").unwrap(),
        StreamId::new("s").unwrap(),
    )
}

fn payloads() -> Vec<Bytes> {
    (0..BATCH)
        .map(|i| Bytes::from(vec![(i % 251) as u8; PAYLOAD]))
        .collect()
}

/// `BATCH` entries of `author`, linked and each signed, as a node writes them.
fn signed_log(author: &Identity) -> Vec<LogEntry> {
    let (c, s) = ids();
    let mut previous = EntryHash::GENESIS;
    payloads()
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            let seq = i as u64 + 1;
            let entry = LogEntry::new(
                author.node_id().clone(),
                seq,
                Hlc::new(seq, 0).unwrap(),
                payload,
            )
            .linked_to(previous);
            previous = entry.hash(&c, &s);
            entry.sign_hashed(author, &previous)
        })
        .collect()
}

async fn node(identity: &Identity) -> Coordinator {
    let node = Coordinator::builder(identity.clone())
        .store(MemoryStore::new())
        .build()
        .await
        .unwrap();
    let channel = node.create_channel("bench").await.unwrap();
    assert_eq!(channel.id(), &ids().0, "the benchmark's identity owns it");
    node
}

fn appends(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let identity = Identity::from_seed("bench");
    let entries = signed_log(&identity);
    let (channel, stream) = ids();

    let mut group = c.benchmark_group("append_1000x256B");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("store_raw_insert", |b| {
        b.iter_batched(
            MemoryStore::new,
            |store| {
                runtime
                    .block_on(store.append(&channel, &stream, &entries))
                    .unwrap();
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("node_signed_append_batch", |b| {
        // A fresh node per batch; building and disposing of it is not timed
        // (criterion drops the routine's output outside the measurement).
        b.iter_batched(
            || {
                runtime.block_on(async {
                    let node = node(&identity).await;
                    let handle = node.channel(channel.clone()).await.unwrap();
                    let handle = handle.stream(stream.clone()).await.unwrap();
                    (node, handle, payloads())
                })
            },
            |(node, handle, batch)| {
                runtime.block_on(handle.append_batch(batch)).unwrap();
                (node, handle)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();

    let mut group = c.benchmark_group("append_single_256B");
    let node = runtime.block_on(node(&identity));
    let handle = runtime.block_on(async {
        node.channel(channel.clone())
            .await
            .unwrap()
            .stream(stream.clone())
            .await
            .unwrap()
    });
    let payload = Bytes::from(vec![7u8; PAYLOAD]);
    group.bench_function("node_signed_append", |b| {
        b.iter(|| runtime.block_on(handle.append(payload.clone())).unwrap());
    });
    group.finish();

    let mut group = c.benchmark_group("verify_1000x256B");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("run_each_entry_signed", |b| {
        b.iter(|| verify_entries(&channel, &stream, entries.clone()));
    });
    let last_signed_only: Vec<LogEntry> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut e = e.clone();
            if i + 1 < entries.len() {
                e.signature = None;
            }
            e
        })
        .collect();
    group.bench_function("run_last_entry_signed", |b| {
        b.iter(|| verify_entries(&channel, &stream, last_signed_only.clone()));
    });
    group.bench_function("each_signature_checked", |b| {
        b.iter(|| {
            for e in &entries {
                e.verify_signature(&channel, &stream).unwrap();
            }
        });
    });
    group.finish();
}

criterion_group!(benches, appends);
criterion_main!(benches);
