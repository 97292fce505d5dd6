//! What the store benchmarks share (`gossip-store-sqlite` and
//! `gossip-store-rocksdb` include this file with `#[path]`): the workload,
//! criterion settings, the loaded stream the read benchmarks use, and the
//! resident-memory probe.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use bytes::Bytes;
use criterion::{measurement::WallTime, BenchmarkGroup, Throughput};
use gossip_core::{
    ChannelId, EntryHash, EntryKey, Hlc, LogEntry, NodeId, Signature, Store, StreamId,
};

/// `(payload bytes, entries per batch)` of the append benchmarks.
pub(crate) const SIZES: [(usize, usize); 3] = [(256, 1000), (4096, 250), (32 * 1024, 32)];

/// Authors of the loaded stream.
pub(crate) const AUTHORS: usize = 8;

/// Page size of the read benchmarks.
pub(crate) const PAGE: usize = 256;

/// Payload of the loaded stream's entries.
const LOADED_PAYLOAD: usize = 64;

/// Entries per append while loading.
const LOAD_BATCH: u64 = 1000;

/// The first timestamp of every workload.
const EPOCH_MS: u64 = 1_704_067_200_000;

/// Entries of the loaded stream: `GOSSIP_BENCH_ENTRIES`, default 1 000 000.
pub(crate) fn loaded_entries() -> u64 {
    std::env::var("GOSSIP_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &u64| n >= AUTHORS as u64 * LOAD_BATCH)
        .unwrap_or(1_000_000)
}

/// `256 B`, `4 KiB`, `32 KiB`.
pub(crate) fn size_name(bytes: usize) -> String {
    if bytes >= 1024 {
        format!("{}KiB", bytes / 1024)
    } else {
        format!("{bytes}B")
    }
}

/// Short measurements: a full run takes minutes, not hours.
pub(crate) fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

/// The runtime the async stores run on.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates `gossip-<label>-<pid>`, empty.
    pub(crate) fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("gossip-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    /// A path inside the directory.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `N` bytes that look random (xorshift from `seed`): hashes and signatures
/// do not compress, and the benchmarks should not pretend they do.
fn noise<const N: usize>(seed: u64) -> [u8; N] {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    std::array::from_fn(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state.to_be_bytes()[0]
    })
}

/// An entry as nodes append them: linked to its author's previous entry and
/// signed. The link and the signature are stand-ins of the right size (no
/// store checks them): signing would measure Ed25519, not the store.
pub(crate) fn entry(author: &NodeId, seq: u64, timestamp: Hlc, payload: Bytes) -> LogEntry {
    let mut entry = LogEntry::new(author.clone(), seq, timestamp, payload);
    if seq > 1 {
        entry.previous = EntryHash::from_bytes(noise(seq - 1));
    }
    entry.signature = Some(Signature::from_bytes(noise(!seq)));
    entry
}

/// One author appending to one stream: each call hands out the next batch.
pub(crate) struct Workload {
    pub(crate) channel: ChannelId,
    pub(crate) stream: StreamId,
    pub(crate) author: NodeId,
    payload: Bytes,
    last: u64,
}

impl Workload {
    /// A workload of `payload`-byte entries (signed, linked), from sequence 1.
    pub(crate) fn new(payload: usize) -> Self {
        Self {
            channel: ChannelId::new("bench").unwrap(),
            stream: StreamId::new("stream").unwrap(),
            author: NodeId::from_seed("author"),
            payload: Bytes::from((0..payload).map(|i| (i % 251) as u8).collect::<Vec<u8>>()),
            last: 0,
        }
    }

    /// The next `n` entries of the author.
    pub(crate) fn next_batch(&mut self, n: usize) -> Vec<LogEntry> {
        let first = self.last + 1;
        self.last += n as u64;
        (first..=self.last)
            .map(|seq| {
                entry(
                    &self.author,
                    seq,
                    Hlc::new(EPOCH_MS + seq, 0).unwrap(),
                    self.payload.clone(),
                )
            })
            .collect()
    }
}

/// The process's resident memory in KiB (`VmRSS`), 0 where unknown.
pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The stream the read benchmarks use.
pub(crate) struct Loaded {
    pub(crate) channel: ChannelId,
    pub(crate) stream: StreamId,
    pub(crate) authors: Vec<NodeId>,
    /// Entries per author.
    pub(crate) per_author: u64,
}

/// Appends [`loaded_entries`] signed, linked entries of [`AUTHORS`] authors
/// (interleaved batches, increasing timestamps) and prints `VmRSS` along the way and
/// after reading the whole stream back in pages.
pub(crate) async fn load(store: &dyn Store, label: &str) -> Loaded {
    let total = loaded_entries();
    let loaded = Loaded {
        channel: ChannelId::new("loaded").unwrap(),
        stream: StreamId::new("stream").unwrap(),
        authors: (0..AUTHORS)
            .map(|i| NodeId::from_seed(format!("author-{i}")))
            .collect(),
        per_author: total / AUTHORS as u64 / LOAD_BATCH * LOAD_BATCH,
    };
    let payload = Bytes::from(vec![0x5a; LOADED_PAYLOAD]);
    let start = Instant::now();
    let rss_start = rss_kib();
    println!("{label}: loading {total} entries ({AUTHORS} authors, {LOADED_PAYLOAD} B); VmRSS {rss_start} KiB");
    let batches_per_author = loaded.per_author / LOAD_BATCH;
    let mut written = 0u64;
    let mut next_report = total / 10;
    for round in 0..batches_per_author {
        for (i, author) in loaded.authors.iter().enumerate() {
            let batch: Vec<LogEntry> = (1..=LOAD_BATCH)
                .map(|k| {
                    let seq = round * LOAD_BATCH + k;
                    let ms = EPOCH_MS + (seq - 1) * AUTHORS as u64 + i as u64;
                    entry(author, seq, Hlc::new(ms, 0).unwrap(), payload.clone())
                })
                .collect();
            store
                .append(&loaded.channel, &loaded.stream, &batch)
                .await
                .unwrap();
            written += LOAD_BATCH;
            if written >= next_report {
                println!(
                    "{label}: {written:>8} entries held; VmRSS {} KiB",
                    rss_kib()
                );
                next_report += total / 10;
            }
        }
    }
    println!(
        "{label}: loaded {written} entries in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let (mut after, mut read) = (None::<EntryKey>, 0u64);
    loop {
        let page = store
            .read(&loaded.channel, &loaded.stream, after.as_ref(), 1000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.key());
        read += page.len() as u64;
    }
    assert_eq!(read, written);
    println!(
        "{label}: read all {read} entries back in pages of 1000; VmRSS {} KiB (at start {rss_start} KiB)",
        rss_kib()
    );
    loaded
}

/// Paged read, per-author range read and the version vector, on `loaded`.
pub(crate) fn read_benches(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    store: &dyn Store,
    loaded: &Loaded,
) {
    configure(group);
    let (c, s) = (&loaded.channel, &loaded.stream);

    group.throughput(Throughput::Elements(PAGE as u64));
    let mut after: Option<EntryKey> = None;
    group.bench_function(format!("page_{PAGE}"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let page = store.read(c, s, after.as_ref(), PAGE).await.unwrap();
                    // Walk the whole stream, then start over.
                    after = page.last().map(LogEntry::key);
                }
                start.elapsed()
            })
        });
    });

    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let span = loaded.per_author.saturating_sub(PAGE as u64).max(1);
    group.bench_function(format!("author_range_{PAGE}"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let author = &loaded.authors[(rng % AUTHORS as u64) as usize];
                    let from = (rng >> 8) % span;
                    let got = store.read_author(c, s, author, from, PAGE).await.unwrap();
                    assert_eq!(got.len(), PAGE);
                }
                start.elapsed()
            })
        });
    });

    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("version_{AUTHORS}_authors"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let v = store.version(c, s).await.unwrap();
                    assert_eq!(v.len(), AUTHORS);
                }
                start.elapsed()
            })
        });
    });
}
