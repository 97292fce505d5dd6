//! `gossip-node demo`: N nodes on loopback: node-1 creates a channel and
//! invites the others, who join by invitation; then they append and
//! converge, with progress bars.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use gossip::{
    ChannelHandle, Config, Coordinator, Identity, Invitation, NodeId, Role, StreamHandle, StreamId,
    TcpTransport,
};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{
    cli::{DemoArgs, DemoStore},
    config::StoreSpec,
    error::{CliError, CliResult},
    node,
};

/// Entries appended per batch (one atomic store write each).
const BATCH: usize = 50;

/// The channel node-1 owns and invites the others to.
const CHANNEL: &str = "demo";

/// How long to wait between two looks at the nodes' roles or entries.
const POLL: Duration = Duration::from_millis(25);

/// What the demo measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DemoSummary {
    pub(crate) nodes: usize,
    pub(crate) entries: u64,
    /// From node-1 creating the channel until every node knew it was a writer.
    pub(crate) membership_time: Duration,
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
        "node-1 creates channel {CHANNEL} and invites the others as writers; each joins by invitation,"
    );
    println!(
        "then appends its share of {} entries ({} B each) to stream events;",
        args.entries, args.payload_bytes
    );
    println!("eager push and anti-entropy spread them until every node holds all of them.\n");

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
    let each = identities
        .iter()
        .zip(&labels)
        .zip(transports.iter().cloned());
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
        // Peers (for SWIM and sync), but no channel yet: membership comes next.
        let node = node::start_node(
            identity.clone(),
            store,
            node::stack(tcp, None, false),
            config,
            &peers,
            &[],
            &[],
        )
        .await?;
        nodes.push(node);
    }

    let membership_started = Instant::now();
    let channels = match admit(&nodes, &labels, &transports, &addrs).await {
        Ok(channels) => channels,
        Err(error) => {
            shutdown(&nodes).await;
            return Err(error);
        }
    };
    let deadline = membership_started + Duration::from_secs(args.timeout);
    if let Err(error) = await_writers(&channels, &labels, deadline, args.timeout).await {
        shutdown(&nodes).await;
        return Err(error);
    }
    let membership_time = membership_started.elapsed();
    let mut streams = Vec::new();
    for channel in &channels {
        streams.push(channel.stream(stream.clone()).await?);
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
        tokio::time::sleep(POLL).await;
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
        membership_time,
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

/// node-1 creates the channel; for every other node, prints that node-1
/// invites it, makes the invitation (as writer, reaching node-1 at its
/// listen address), and has the node join with the invitation's text, the
/// way a device joins with what it was shown. Returns each node's handle of
/// the channel, in node order.
#[allow(clippy::print_stdout)] // the invitations are part of the show
async fn admit(
    nodes: &[Coordinator],
    labels: &[String],
    transports: &[std::sync::Arc<TcpTransport>],
    addrs: &[SocketAddr],
) -> CliResult<Vec<ChannelHandle>> {
    let no_nodes = || CliError::Invalid("no nodes".into());
    let (owner, others) = nodes.split_first().ok_or_else(no_nodes)?;
    let owner_label = labels.first().ok_or_else(no_nodes)?;
    let owner_addr = addrs.first().ok_or_else(no_nodes)?.to_string();
    let channel = owner.create_channel(CHANNEL).await?;
    println!("{owner_label} created channel {}", channel.id());
    let mut channels = vec![channel.clone()];
    let each = others
        .iter()
        .zip(labels.iter().skip(1))
        .zip(transports.iter().skip(1));
    for ((node, label), tcp) in each {
        let invitation = channel
            .invite_at(
                node.local_id().clone(),
                Role::Writer,
                vec![owner_addr.clone()],
            )
            .await?;
        let text = invitation.to_string();
        println!(
            "{owner_label} invites {label} as a writer: {}",
            abbreviate(&text, 40)
        );
        let invitation: Invitation = text.parse()?;
        node::register_inviter(tcp, &invitation);
        channels.push(node.join(&invitation).await?);
    }
    Ok(channels)
}

/// Waits until every node knows (from the control log) that it may write,
/// or `deadline`.
async fn await_writers(
    channels: &[ChannelHandle],
    labels: &[String],
    deadline: Instant,
    timeout: u64,
) -> CliResult<()> {
    loop {
        let mut waiting = Vec::new();
        for (channel, label) in channels.iter().zip(labels) {
            if !channel.role().await?.is_some_and(Role::may_write) {
                waiting.push(label.as_str());
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CliError::NotAdmitted {
                seconds: timeout,
                waiting: waiting.join(", "),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The first `keep` characters of `text` and `…` (all of it if short).
fn abbreviate(text: &str, keep: usize) -> String {
    match text.char_indices().nth(keep) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or(text)),
        None => text.to_owned(),
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
        "membership: every node knew it was a writer {} after node-1 created the channel ({} joined by invitation)",
        millis(summary.membership_time),
        summary.nodes.saturating_sub(1),
    );
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
    fn invitations_are_abbreviated() {
        assert_eq!(abbreviate("gossip-invite1abc", 8), "gossip-i…");
        assert_eq!(abbreviate("short", 8), "short");
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
