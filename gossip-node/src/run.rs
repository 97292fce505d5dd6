//! `gossip-node run`: one long-lived node.

use std::{
    collections::HashMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use gossip::{
    ChannelId, Config, Coordinator, DomainEvent, Identity, NetworkKey, NodeId, PeerStatus, Role,
    TransportErrorKind,
};
use tokio::net::TcpListener;

use crate::{
    cli::RunArgs,
    config::{PeerSpec, RunConfig, StoreSpec},
    control::{self, ControlContext, ControlToken},
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
    let peers: Vec<NodeId> = config.peers.iter().map(|p| p.id.clone()).collect();
    // Inviters met by earlier joins first, so that `--peer` addresses win.
    node::register_saved_peers(&tcp, &store, &peers).await?;
    for peer in &config.peers {
        if let Some(addr) = peer.addr {
            tcp.add_peer_address(peer.id.clone(), addr);
        }
    }
    for invitation in &config.joins {
        for skipped in node::register_inviter(&tcp, invitation) {
            tracing::warn!(inviter = %invitation.inviter(), address = %skipped, "invitation address is not HOST:PORT with an IP address; skipped");
        }
    }
    let encrypted = key.is_some();
    let transport = node::stack(tcp.clone(), key, metrics.is_some());
    let coordinator = node::start_node(
        identity,
        store.clone(),
        transport,
        Config::default(),
        &peers,
        &config.channels,
        &config.joins,
    )
    .await?;
    let channels = channel_lines(&coordinator).await?;
    if metrics.is_some() {
        tokio::spawn(metrics_http::export_peer_sync(coordinator.clone()));
    }

    let control_listener = bind("control", config.control).await?;
    let control_addr = local_addr(&control_listener, config.control);
    // A new token at every start, replacing the last one: clients of an
    // earlier run, or anyone who saw its token, are refused.
    let token = ControlToken::generate()?;
    token.write(&config.token_file)?;
    let control_task = tokio::spawn(control::serve(
        control_listener,
        ControlContext {
            node: coordinator.clone(),
            tcp,
            gossip_addr,
            token,
        },
    ));
    let watch_task = tokio::spawn(watch(coordinator.clone(), encrypted));

    let banner = Banner {
        id: &id,
        gossip_addr,
        control_addr,
        metrics,
        encrypted,
        channels: &channels,
    };
    print_banner(&config, &banner);
    tracing::info!(node = %id, label = config.label.as_deref(), %gossip_addr, %control_addr, "node running");
    for peer in config.peers.iter().filter(|p| p.addr.is_some()) {
        tokio::spawn(probe(peer.clone()));
    }

    shutdown_signal().await;
    tracing::info!("shutting down");
    control_task.abort();
    if let Err(error) = std::fs::remove_file(&config.token_file) {
        tracing::debug!(%error, "control token file not removed");
    }
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

/// One line per channel the node holds: its id and this node's role in it.
async fn channel_lines(node: &Coordinator) -> CliResult<Vec<String>> {
    let mut lines = Vec::new();
    for id in node.channels().await? {
        let role = node.channel(id.clone()).await?.role().await?;
        lines.push(match role {
            Some(role) => format!("{id} ({role})"),
            None => {
                format!("{id} (joined; waiting for its control log to say this node is a member)")
            }
        });
    }
    Ok(lines)
}

/// What the start-up banner shows besides the configuration.
struct Banner<'a> {
    /// This node's id.
    id: &'a NodeId,
    /// Where its gossip (TCP) listens.
    gossip_addr: SocketAddr,
    /// Where its control endpoint listens.
    control_addr: SocketAddr,
    /// Where its Prometheus endpoint listens, if on.
    metrics: Option<SocketAddr>,
    /// Whether a network key encrypts its frames.
    encrypted: bool,
    /// The channels it holds, from [`channel_lines`].
    channels: &'a [String],
}

#[allow(clippy::print_stdout)] // the banner is what the user (and tests) read
fn print_banner(config: &RunConfig, banner: &Banner<'_>) {
    let Banner {
        id,
        gossip_addr,
        control_addr,
        metrics,
        encrypted,
        channels,
    } = *banner;
    let store = match &config.store {
        StoreSpec::Memory => "memory (nothing persisted; --store FILE for SQLite)".to_owned(),
        StoreSpec::Sqlite(path) => format!("sqlite {}", path.display()),
    };
    match &config.label {
        Some(label) => println!("gossip-node {id} ({label}) running"),
        None => println!("gossip-node {id} running"),
    }
    println!(
        "  gossip   {gossip_addr} (TCP{})",
        if encrypted { ", encrypted" } else { "" }
    );
    println!("  control  {control_addr}");
    println!("  token    {}", config.token_file.display());
    match metrics {
        Some(addr) => println!("  metrics  http://{addr}/metrics"),
        None => println!("  metrics  off"),
    }
    println!("  store    {store}");
    if channels.is_empty() {
        println!("  channels none yet (--channel NAME creates one this node owns; `gossip-node join` joins one)");
    }
    for channel in channels {
        println!("  channel  {channel}");
    }
    for peer in &config.peers {
        match peer.addr {
            Some(addr) => println!("  peer     {} at {addr}", peer.id),
            None => println!("  peer     {} (connects to us)", peer.id),
        }
    }
    println!(
        "try: export GOSSIP_CONTROL={control_addr} GOSSIP_TOKEN_FILE={}; gossip-node invite NODE_ID   |   gossip-node append \"hello\"   |   gossip-node tail   |   gossip-node status",
        config.token_file.display()
    );
}

/// How often the same kind of sync error is logged at most.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A log line that may repeat, shown at most once per
/// [`ERROR_LOG_INTERVAL`].
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// `Some(how many were not shown since the last one)` when the line may
    /// be shown now.
    fn allow(&mut self) -> Option<u64> {
        if self
            .last
            .is_some_and(|at| at.elapsed() < ERROR_LOG_INTERVAL)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Logs peer status changes, changes of this node's role in a channel,
/// entries refused from non-members (sync errors), and other sync errors, with a hint where one
/// helps. Rejected frames, refused handshakes and refused entries repeat
/// (every probe, every gossip round, every redial, every push): each kind
/// is logged once per [`ERROR_LOG_INTERVAL`] with the count of the ones not
/// shown.
async fn watch(node: Coordinator, encrypted: bool) {
    let mut events = node.events();
    let mut errors = node.errors();
    let mut rejected = Throttle::default();
    let mut refused = Throttle::default();
    let mut roles: HashMap<ChannelId, Option<Role>> = HashMap::new();
    for channel in node.channels().await.unwrap_or_default() {
        let role = async { node.channel(channel.clone()).await?.role().await };
        if let Ok(role) = role.await {
            roles.insert(channel, role);
        }
    }
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(DomainEvent::PeerStatusChanged { peer, status })) => match status {
                    PeerStatus::Reachable => tracing::info!(%peer, "peer reachable"),
                    other => tracing::warn!(%peer, status = %other, "peer not answering"),
                },
                Some(Ok(DomainEvent::ChannelChanged { channel })) => {
                    role_changed(&node, &mut roles, channel).await;
                }
                Some(Ok(_)) | Some(Err(_)) => {}
                None => return,
            },
            error = errors.next() => match error {
                Some(Ok(error)) => {
                    if let gossip::Error::NonMember { .. } = &error.error {
                        if let Some(suppressed) = refused.allow() {
                            tracing::warn!(
                                error = %one_line(&error),
                                suppressed,
                                "entries refused: the node that sent or wrote them is not a member of the channel (removed, or not let in yet)"
                            );
                        }
                        continue;
                    }
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
                    let Some(suppressed) = rejected.allow() else {
                        continue;
                    };
                    let hint = if encrypted {
                        "do both nodes use the same --key-file?"
                    } else {
                        "is the peer using --key-file while this node is not?"
                    };
                    tracing::warn!(error = %one_line(&error), hint, suppressed, "{what}");
                }
                Some(Err(_)) => {}
                None => return,
            },
        }
    }
}

/// Logs this node's role in `channel` when it differs from the last one
/// seen (`roles`): let in after a join, promoted, removed.
async fn role_changed(
    node: &Coordinator,
    roles: &mut HashMap<ChannelId, Option<Role>>,
    channel: ChannelId,
) {
    let Ok(handle) = node.channel(channel.clone()).await else {
        return;
    };
    let Ok(role) = handle.role().await else {
        return;
    };
    let members = handle.members().await.map_or(0, |members| members.len());
    let before = roles.insert(channel.clone(), role);
    if before == Some(role) {
        tracing::debug!(%channel, members, "channel membership changed");
        return;
    }
    match role {
        Some(role) => {
            tracing::info!(%channel, %role, members, "this node is a member of the channel")
        }
        None => {
            tracing::warn!(%channel, members, "this node is not a member of the channel (removed, or not let in yet)")
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
