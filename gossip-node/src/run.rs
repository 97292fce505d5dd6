//! `gossip-node run`: one long-lived node.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use gossip::{
    Config, Coordinator, DomainEvent, Identity, NetworkKey, NodeId, PeerStatus, TransportErrorKind,
};
use tokio::net::TcpListener;

use crate::{
    cli::RunArgs,
    config::{PeerSpec, RunConfig, StoreSpec},
    control,
    error::{one_line, CliError, CliResult},
    metrics_http, node,
};

/// Runs a node until Ctrl-C or SIGTERM.
pub(crate) async fn run(args: RunArgs) -> CliResult<()> {
    let config = RunConfig::load(args)?;
    let identity = Identity::load(&config.identity)?;
    let id = identity.node_id().clone();
    config.check_peers(&id)?;
    let key_bytes = config.key_file.as_deref().map(node::read_key).transpose()?;
    // The network key admits peers in the handshake (Noise PSK) and also
    // seals every frame again with the encryption layer (defence in depth).
    let key = key_bytes.map(|bytes| NetworkKey::new(1, bytes));
    let store = node::open_store(&config.store).await?;

    let metrics = match config.metrics {
        Some(addr) => {
            let listener = bind("metrics", addr).await?;
            let handle = metrics_http::install().map_err(|reason| CliError::Bind {
                what: "metrics",
                addr,
                reason,
            })?;
            let bound = local_addr(&listener, addr);
            tokio::spawn(metrics_http::serve(listener, handle));
            Some(bound)
        }
        None => None,
    };

    let tcp = node::bind_tcp(&identity, config.listen, key_bytes).await?;
    let gossip_addr = tcp.local_addr();
    for peer in &config.peers {
        if let Some(addr) = peer.addr {
            tcp.add_peer_address(peer.id.clone(), addr);
        }
    }
    let peers: Vec<NodeId> = config.peers.iter().map(|p| p.id.clone()).collect();
    let encrypted = key.is_some();
    let transport = node::stack(tcp, key, metrics.is_some());
    let coordinator = node::start_node(
        identity,
        store.clone(),
        transport,
        Config::default(),
        &peers,
        &config.channels,
    )
    .await?;

    let control_listener = bind("control", config.control).await?;
    let control_addr = local_addr(&control_listener, config.control);
    let control_task = tokio::spawn(control::serve(
        control_listener,
        coordinator.clone(),
        store.clone(),
    ));
    let watch_task = tokio::spawn(watch(coordinator.clone(), encrypted));

    print_banner(&config, &id, gossip_addr, control_addr, metrics, encrypted);
    tracing::info!(node = %id, label = config.label.as_deref(), %gossip_addr, %control_addr, "node running");
    for peer in config.peers.iter().filter(|p| p.addr.is_some()) {
        tokio::spawn(probe(peer.clone()));
    }

    shutdown_signal().await;
    tracing::info!("shutting down");
    control_task.abort();
    let stopped = coordinator.stop().await;
    let disposed = coordinator.dispose().await;
    watch_task.abort();
    stopped?;
    disposed?;
    Ok(())
}

async fn bind(what: &'static str, addr: SocketAddr) -> CliResult<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| CliError::Bind {
            what,
            addr,
            reason: error.to_string(),
        })
}

fn local_addr(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}

#[allow(clippy::print_stdout)] // the banner is what the user (and tests) read
fn print_banner(
    config: &RunConfig,
    id: &NodeId,
    gossip_addr: SocketAddr,
    control_addr: SocketAddr,
    metrics: Option<SocketAddr>,
    encrypted: bool,
) {
    let store = match &config.store {
        StoreSpec::Memory => "memory (nothing persisted; --store FILE for SQLite)".to_owned(),
        StoreSpec::Sqlite(path) => format!("sqlite {}", path.display()),
    };
    let channels: Vec<_> = config.channels.iter().map(|c| c.as_str()).collect();
    match &config.label {
        Some(label) => println!("gossip-node {id} ({label}) running"),
        None => println!("gossip-node {id} running"),
    }
    println!(
        "  gossip   {gossip_addr} (TCP{})",
        if encrypted { ", encrypted" } else { "" }
    );
    println!("  control  {control_addr}");
    match metrics {
        Some(addr) => println!("  metrics  http://{addr}/metrics"),
        None => println!("  metrics  off"),
    }
    println!("  store    {store}");
    println!("  channels {}", channels.join(", "));
    for peer in &config.peers {
        match peer.addr {
            Some(addr) => println!("  peer     {} at {addr}", peer.id),
            None => println!("  peer     {} (connects to us)", peer.id),
        }
    }
    println!(
        "try: gossip-node append --control {control_addr} \"hello\"   |   gossip-node tail --control {control_addr}   |   gossip-node status --control {control_addr}"
    );
}

/// How often the same kind of sync error is logged at most.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Logs peer status changes and sync errors, with a hint where one helps.
/// Rejected frames and refused handshakes repeat (every probe, every gossip
/// round, every redial): they are logged once per [`ERROR_LOG_INTERVAL`]
/// with the count of the ones not shown.
async fn watch(node: Coordinator, encrypted: bool) {
    let mut events = node.events();
    let mut errors = node.errors();
    let mut last_rejected: Option<Instant> = None;
    let mut suppressed = 0u64;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(DomainEvent::PeerStatusChanged { peer, status })) => match status {
                    PeerStatus::Reachable => tracing::info!(%peer, "peer reachable"),
                    other => tracing::warn!(%peer, status = %other, "peer not answering"),
                },
                Some(Ok(_)) | Some(Err(_)) => {}
                None => return,
            },
            error = errors.next() => match error {
                Some(Ok(error)) => {
                    let kind = match &error.error {
                        gossip::Error::Transport(t) => Some(t.kind()),
                        _ => None,
                    };
                    let what = match kind {
                        Some(TransportErrorKind::Rejected) => "frame rejected",
                        Some(TransportErrorKind::Handshake) => "connection refused in the handshake",
                        _ => {
                            tracing::debug!(error = %one_line(&error), "sync error");
                            continue;
                        }
                    };
                    if last_rejected.is_some_and(|at| at.elapsed() < ERROR_LOG_INTERVAL) {
                        suppressed += 1;
                        continue;
                    }
                    last_rejected = Some(Instant::now());
                    let hint = if encrypted {
                        "do both nodes use the same --key-file?"
                    } else {
                        "is the peer using --key-file while this node is not?"
                    };
                    tracing::warn!(error = %one_line(&error), hint, suppressed, "{what}");
                    suppressed = 0;
                }
                Some(Err(_)) => {}
                None => return,
            },
        }
    }
}

/// Tells the user early when a configured peer cannot be reached (the node
/// keeps retrying in the background).
async fn probe(peer: PeerSpec) {
    let Some(addr) = peer.addr else { return };
    let attempt =
        tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await;
    let problem = match attempt {
        Ok(Ok(_)) => return,
        Ok(Err(error)) => error.to_string(),
        Err(_) => "timed out after 3 s".to_owned(),
    };
    tracing::warn!(
        peer = %peer.id,
        %addr,
        error = %problem,
        "peer unreachable for now; retrying in the background (is it running, and is the address right?)"
    );
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
