//! `gossip-node demo`: N nodes on loopback converge, with progress bars.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use gossip::{ChannelId, Config, Coordinator, Identity, NodeId, StreamHandle, StreamId};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{
    cli::{DemoArgs, DemoStore},
    config::StoreSpec,
    error::{CliError, CliResult},
    node,
};

/// Entries appended per batch (one atomic store write each).
const BATCH: usize = 50;

/// What the demo measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DemoSummary {
    pub(crate) nodes: usize,
    pub(crate) entries: u64,
    pub(crate) append_time: Duration,
    pub(crate) converge_time: Duration,
    pub(crate) bytes_out: u64,
}

/// Runs the demo and prints its summary.
#[allow(clippy::print_stdout)] // the demo's output is its purpose
pub(crate) async fn demo(args: DemoArgs) -> CliResult<()> {
    let dir = tempfile::Builder::new()
        .prefix("gossip-demo-")
        .tempdir()
        .map_err(|error| CliError::io("creating a temporary directory", error))?;
    let store_label = match args.store {
        DemoStore::Sqlite => format!("SQLite files in {}", dir.path().display()),
        DemoStore::Memory => "in-memory stores".to_owned(),
    };
    println!(
        "gossip demo: {} nodes on 127.0.0.1 over TCP, {store_label}",
        args.nodes
    );
    println!(
        "each node appends its share of {} entries ({} B each) to channel demo / stream events;",
        args.entries, args.payload_bytes
    );
    println!("eager push and anti-entropy spread them until every node holds all of them.\n");

    let channel = ChannelId::new("demo")?;
    let stream = StreamId::new("events")?;
    // Each node is a fresh identity (its key is its id); people call it node-1, node-2, …
    let labels: Vec<String> = (1..=args.nodes).map(|i| format!("node-{i}")).collect();
    let identities: Vec<Identity> = labels.iter().map(|_| Identity::generate()).collect();
    let ids: Vec<NodeId> = identities.iter().map(|i| i.node_id().clone()).collect();

    // Bind every transport first so that each node knows every address.
    let mut transports = Vec::new();
    for identity in &identities {
        transports
            .push(node::bind_tcp(identity, SocketAddr::from(([127, 0, 0, 1], 0)), None).await?);
    }
    let addrs: Vec<SocketAddr> = transports.iter().map(|t| t.local_addr()).collect();
    let mut nodes = Vec::new();
    let each = identities.iter().zip(&labels).zip(transports);
    for (index, ((identity, label), tcp)) in each.enumerate() {
        let id = identity.node_id();
        for (peer, addr) in ids.iter().zip(&addrs) {
            if peer != id {
                tcp.add_peer_address(peer.clone(), *addr);
            }
        }
        let spec = match args.store {
            DemoStore::Sqlite => StoreSpec::Sqlite(dir.path().join(format!("{label}.db"))),
            DemoStore::Memory => StoreSpec::Memory,
        };
        let store = node::open_store(&spec).await?;
        let peers: Vec<NodeId> = ids.iter().filter(|p| *p != id).cloned().collect();
        let config = Config::default().seed(u64::try_from(index).unwrap_or(0) + 1);
        let node = node::start_node(
            identity.clone(),
            store,
            node::stack(tcp, None, false),
            config,
            &peers,
            std::slice::from_ref(&channel),
        )
        .await?;
        nodes.push(node);
    }
    let mut streams = Vec::new();
    for node in &nodes {
        streams.push(
            node.channel(channel.clone())
                .await?
                .stream(stream.clone())
                .await?,
        );
    }

    let total = u64::from(args.entries);
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(15));
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos:>7}/{len} entries")
        .map_err(|error| CliError::Invalid(error.to_string()))?
        .progress_chars("=> ");
    let progress: Vec<ProgressBar> = labels
        .iter()
        .map(|label| {
            let bar = bars.add(ProgressBar::new(total));
            bar.set_style(style.clone());
            bar.set_prefix(label.clone());
            bar
        })
        .collect();

    let started = Instant::now();
    let payload = vec![b'x'; usize::try_from(args.payload_bytes).unwrap_or(64)];
    let writers: Vec<_> = streams
        .iter()
        .enumerate()
        .map(|(index, handle)| {
            let share = share(total, streams.len(), index);
            tokio::spawn(append_share(handle.clone(), share, payload.clone()))
        })
        .collect();
    for writer in writers {
        writer
            .await
            .map_err(|error| CliError::Invalid(format!("a writer task failed: {error}")))??;
    }
    let append_time = started.elapsed();

    let deadline = started + Duration::from_secs(args.timeout);
    let converge_time = loop {
        let mut counts = Vec::new();
        for (handle, bar) in streams.iter().zip(&progress) {
            let held = held(handle).await?;
            bar.set_position(held);
            counts.push(held);
        }
        if counts.iter().all(|&c| c >= total) {
            break started.elapsed();
        }
        if Instant::now() >= deadline {
            bars.clear().ok();
            let detail = labels
                .iter()
                .zip(&counts)
                .map(|(label, c)| format!("{label} {c}/{total}"))
                .collect::<Vec<_>>()
                .join(", ");
            shutdown(&nodes).await;
            return Err(CliError::NotConverged {
                seconds: args.timeout,
                detail,
            });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    for bar in &progress {
        bar.finish();
    }

    // Every node lists the same entries in the same order.
    let reference = streams
        .first()
        .map(|s| s.entries())
        .ok_or_else(|| CliError::Invalid("no nodes".into()))?
        .await?;
    let mut identical = true;
    for handle in streams.iter().skip(1) {
        identical &= handle.entries().await? == reference;
    }
    let mut bytes_out = 0;
    for node in &nodes {
        bytes_out += node.health().await?.stats.bytes_out;
    }
    let summary = DemoSummary {
        nodes: nodes.len(),
        entries: total,
        append_time,
        converge_time,
        bytes_out,
    };
    shutdown(&nodes).await;
    drop(dir); // removes the SQLite files

    println!();
    print_summary(&summary, identical);
    if identical {
        Ok(())
    } else {
        Err(CliError::Invalid(
            "the nodes hold the same number of entries but list them differently".into(),
        ))
    }
}

/// How many of `total` entries writer `index` of `writers` appends.
pub(crate) fn share(total: u64, writers: usize, index: usize) -> u64 {
    let writers = u64::try_from(writers.max(1)).unwrap_or(1);
    let index = u64::try_from(index).unwrap_or(0);
    total / writers + u64::from(index < total % writers)
}

async fn append_share(handle: StreamHandle, count: u64, payload: Vec<u8>) -> CliResult<()> {
    let mut left = count;
    while left > 0 {
        let n = left.min(BATCH as u64);
        let batch = (0..n).map(|_| payload.clone().into()).collect();
        handle.append_batch(batch).await?;
        left -= n;
    }
    Ok(())
}

async fn held(handle: &StreamHandle) -> CliResult<u64> {
    let version = handle.version().await?;
    Ok(version.iter().map(|(_, seq)| seq).sum())
}

async fn shutdown(nodes: &[Coordinator]) {
    for node in nodes {
        let _ = node.stop().await;
        let _ = node.dispose().await;
    }
}

#[allow(clippy::print_stdout)]
fn print_summary(summary: &DemoSummary, identical: bool) {
    let per_entry = summary.bytes_out as f64 / summary.entries.max(1) as f64;
    println!(
        "converged: {} nodes hold all {} entries, {} after the first append (appends took {})",
        summary.nodes,
        summary.entries,
        millis(summary.converge_time),
        millis(summary.append_time),
    );
    println!(
        "on the wire: {} sent in total ({per_entry:.0} B per entry, all nodes, all messages)",
        human_bytes(summary.bytes_out),
    );
    if identical {
        println!("check: every node lists the same entries in the same order");
    }
    println!("\nnext: `gossip-node run --help` starts a long-lived node; gossip-node/README.md shows three terminals syncing.");
}

fn millis(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

/// `1536` → `1.5 KiB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in UNITS.iter().skip(1) {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    if unit == "B" {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (total, writers) in [(10, 3), (1, 5), (300, 3), (7, 7)] {
            let sum: u64 = (0..writers).map(|i| share(total, writers, i)).sum();
            assert_eq!(sum, total);
        }
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
