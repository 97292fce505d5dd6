//! Properties of [`MemoryStore`] under random inputs: compaction only ever
//! removes per-author prefixes, and the read order does not depend on the
//! order in which entries arrived.

// Helpers of a test crate: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::future::Future;

use gossip_core::{
    testkit::fixtures::{channel, hlc, in_read_order, node, payload, read_all, stream},
    LogEntry, NodeId, Store, StreamStats, VersionVector,
};
use gossip_store_memory::MemoryStore;
use proptest::prelude::*;

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn authors(n: usize) -> Vec<NodeId> {
    (0..n).map(|i| node(&format!("n{i}"))).collect()
}

/// Per author, a log of entries 1..=len with small random timestamps (so
/// that ties across authors are frequent).
fn logs() -> impl Strategy<Value = Vec<Vec<LogEntry>>> {
    prop::collection::vec(prop::collection::vec((0u64..20, 0u16..3), 0..25), 1..5).prop_map(
        |per_author| {
            let ids = authors(per_author.len());
            per_author
                .into_iter()
                .zip(&ids)
                .map(|(stamps, author)| {
                    stamps
                        .into_iter()
                        .zip(1u64..)
                        .map(|((ms, l), seq)| {
                            LogEntry::new(author.clone(), seq, hlc(ms, l), payload(author, seq))
                        })
                        .collect()
                })
                .collect()
        },
    )
}

/// Interleaves the logs following `schedule` (each pick names an author; an
/// exhausted author passes to the next one), keeping each author's order,
/// and splits the result into batches of the given sizes.
fn deliveries(logs: &[Vec<LogEntry>], schedule: &[usize], sizes: &[usize]) -> Vec<Vec<LogEntry>> {
    let mut cursors = vec![0usize; logs.len()];
    let total: usize = logs.iter().map(Vec::len).sum();
    let mut order = Vec::with_capacity(total);
    let mut picks = schedule.iter().cycle();
    while order.len() < total {
        let start = picks.next().copied().unwrap_or(0);
        let author = (0..logs.len())
            .map(|k| (start + k) % logs.len())
            .find(|&i| cursors[i] < logs[i].len())
            .unwrap();
        order.push(logs[author][cursors[author]].clone());
        cursors[author] += 1;
    }
    let mut batches = Vec::new();
    let mut sizes = sizes.iter().cycle();
    let mut rest = order.as_slice();
    while !rest.is_empty() {
        let take = (*sizes.next().unwrap()).clamp(1, rest.len());
        let (batch, tail) = rest.split_at(take);
        batches.push(batch.to_vec());
        rest = tail;
    }
    batches
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Two stores fed the same entries in different orders and batchings
    /// (each author's order kept) list identical `read` output, versions
    /// and stats.
    #[test]
    fn read_order_does_not_depend_on_arrival(
        logs in logs(),
        schedule_a in prop::collection::vec(0usize..5, 1..40),
        schedule_b in prop::collection::vec(0usize..5, 1..40),
        sizes_a in prop::collection::vec(1usize..8, 1..10),
        sizes_b in prop::collection::vec(1usize..8, 1..10),
        page in 1usize..10,
    ) {
        let (c, s) = (channel("c"), stream("s"));
        let listed = |schedule: &[usize], sizes: &[usize]| {
            block_on(async {
                let store = MemoryStore::new();
                for batch in deliveries(&logs, schedule, sizes) {
                    store.append(&c, &s, &batch).await.unwrap();
                }
                (
                    read_all(&store, &c, &s, page).await,
                    store.version(&c, &s).await.unwrap(),
                    store.stats(&c, &s).await.unwrap(),
                )
            })
        };
        let a = listed(&schedule_a, &sizes_a);
        let b = listed(&schedule_b, &sizes_b);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.0, in_read_order(logs.concat()));
    }

    /// Any series of compactions with random bases, with appends in between,
    /// leaves each author exactly the entries above its (never lowered) base:
    /// only per-author prefixes are ever removed.
    #[test]
    fn compaction_only_removes_prefixes(
        logs in logs(),
        rounds in prop::collection::vec(
            (prop::collection::vec((0usize..5, 0u64..30), 0..5), 0usize..6),
            1..6,
        ),
    ) {
        let (c, s, other) = (channel("c"), stream("s"), stream("other"));
        let ids = authors(logs.len());
        block_on(async {
            let store = MemoryStore::new();
            store.append(&c, &other, &logs.concat()).await.unwrap();
            // Model: per author, the base and the number of entries appended.
            let mut base = vec![0u64; logs.len()];
            let mut appended = vec![0usize; logs.len()];
            for (bases, grow) in rounds {
                // Append up to `grow` more entries per author, following the
                // version (after a base beyond the log, from the base on).
                for (i, log) in logs.iter().enumerate() {
                    let from = appended[i].max(usize::try_from(base[i]).unwrap());
                    let upto = (from + grow).min(log.len());
                    if from < upto {
                        store.append(&c, &s, &log[from..upto]).await.unwrap();
                        appended[i] = upto;
                    }
                }
                let target: VersionVector = bases
                    .iter()
                    .filter(|(i, _)| *i < ids.len())
                    .map(|(i, b)| (ids[*i].clone(), *b))
                    .collect();
                let mut expected_removed = 0u64;
                for (i, id) in ids.iter().enumerate() {
                    let t = target.get(id);
                    if t > base[i] {
                        // Held: (base, appended]; removed: those <= t.
                        expected_removed += t.min(appended[i] as u64).saturating_sub(base[i]);
                        base[i] = t;
                    }
                }
                let removed = store.compact(&c, &s, &target).await.unwrap();
                prop_assert_eq!(removed, expected_removed);

                let mut held = Vec::new();
                for (i, id) in ids.iter().enumerate() {
                    let skip = usize::try_from(base[i]).unwrap().min(appended[i]);
                    let mine = logs[i][skip..appended[i]].to_vec();
                    let got = store.read_author(&c, &s, id, 0, usize::MAX).await.unwrap();
                    prop_assert_eq!(&got, &mine, "author {}", id);
                    held.extend(mine);
                }
                prop_assert_eq!(read_all(&store, &c, &s, 7).await, in_read_order(held.clone()));
                let bytes = held.iter().map(LogEntry::size_bytes).sum();
                prop_assert_eq!(
                    store.stats(&c, &s).await.unwrap(),
                    StreamStats::new(held.len() as u64, bytes)
                );
                let model_base: VersionVector =
                    ids.iter().cloned().zip(base.iter().copied()).collect();
                prop_assert_eq!(store.base(&c, &s).await.unwrap(), model_base);
                let model_version: VersionVector = ids
                    .iter()
                    .cloned()
                    .zip((0..ids.len()).map(|i| base[i].max(appended[i] as u64)))
                    .collect();
                prop_assert_eq!(store.version(&c, &s).await.unwrap(), model_version);
            }
            // The other stream was never touched.
            prop_assert_eq!(
                read_all(&store, &c, &other, 50).await,
                in_read_order(logs.concat())
            );
            Ok(())
        })?;
    }
}
