//! Assembling a node: store, TCP transport (with layers), peers, owned and
//! joined channels.

use std::{net::SocketAddr, path::Path, sync::Arc};

use gossip::{
    layers::ServiceBuilder, Config, Coordinator, DynStore, EncryptionLayer, Identity, Invitation,
    MemoryStore, MetricsLayer, NetworkKey, NetworkPsk, NodeId, SqliteStore, TcpConfig,
    TcpTransport, Transport,
};

use crate::{
    config::{parse_key, StoreSpec},
    error::{one_line, CliError, CliResult},
    owner_only,
};

/// Opens the store a spec names.
pub(crate) async fn open_store(spec: &StoreSpec) -> CliResult<DynStore> {
    match spec {
        StoreSpec::Memory => Ok(Arc::new(MemoryStore::new())),
        StoreSpec::Sqlite(path) => {
            if path.is_dir() {
                return Err(CliError::Store {
                    path: path.clone(),
                    reason: "it is a directory; name a database file inside it".into(),
                });
            }
            let loose = prepare_store_file(path)?;
            let store = SqliteStore::open(path)
                .await
                .map_err(|error| CliError::Store {
                    path: path.clone(),
                    reason: one_line(&error),
                })?;
            if let Some(mode) = loose {
                tracing::warn!(
                    path = %path.display(),
                    mode = format_args!("{mode:o}"),
                    "the store file can be read or written by others than its owner; `chmod 600` it"
                );
            }
            Ok(Arc::new(store))
        }
    }
}

/// Creates an empty database file (mode 0600) when there is none, so that
/// SQLite, which gives its WAL and journal files the database file's mode,
/// never creates one with the process's umask. Returns the mode of an
/// existing file others may read or write (used all the same, with a
/// warning once open). A missing directory stays an error (a mistyped path
/// is not created).
fn prepare_store_file(path: &Path) -> CliResult<Option<u32>> {
    let failed = |error: std::io::Error| CliError::Store {
        path: path.to_owned(),
        reason: error.to_string(),
    };
    if owner_only::create_file(path).map_err(failed)? {
        return Ok(None);
    }
    let metadata = std::fs::metadata(path).map_err(failed)?;
    Ok(owner_only::loose_mode(&metadata))
}

/// Reads a pre-shared key file (64 hex characters).
pub(crate) fn read_key(path: &Path) -> CliResult<[u8; 32]> {
    let text = std::fs::read_to_string(path).map_err(|error| CliError::Key {
        path: path.to_owned(),
        reason: error.to_string(),
    })?;
    let bytes = parse_key(&text).map_err(|reason| CliError::Key {
        path: path.to_owned(),
        reason,
    })?;
    Ok(bytes)
}

/// Binds a TCP transport: its handshakes prove `identity` and, with a
/// network key, admit only nodes that hold the same key.
pub(crate) async fn bind_tcp(
    identity: &Identity,
    addr: SocketAddr,
    network_key: Option<[u8; 32]>,
) -> CliResult<Arc<TcpTransport>> {
    let mut config = TcpConfig::default();
    if let Some(key) = network_key {
        config = config.network_key(NetworkPsk::new(key));
    }
    TcpTransport::bind(identity, addr, config)
        .await
        .map(Arc::new)
        .map_err(|error| CliError::Bind {
            what: "gossip",
            addr,
            reason: one_line(&error),
        })
}

/// The transport stack: metrics (when `metrics`) → encryption (when a key
/// is given) → TCP.
pub(crate) fn stack(
    tcp: Arc<TcpTransport>,
    key: Option<NetworkKey>,
    metrics: bool,
) -> Box<dyn Transport> {
    match (key, metrics) {
        (Some(key), true) => Box::new(
            ServiceBuilder::new()
                .layer(MetricsLayer::new())
                .layer(EncryptionLayer::new(key))
                .service(tcp),
        ),
        (Some(key), false) => Box::new(
            ServiceBuilder::new()
                .layer(EncryptionLayer::new(key))
                .service(tcp),
        ),
        (None, true) => Box::new(
            ServiceBuilder::new()
                .layer(MetricsLayer::new())
                .service(tcp),
        ),
        (None, false) => Box::new(tcp),
    }
}

/// Builds a node, adds `peers` (to sync with; membership is not touched),
/// creates the channels it owns named in `owned`, joins the channels of
/// `joins`, and starts it. Both are idempotent: a restart on the same store
/// changes nothing. The addresses of each invitation's inviter must be
/// registered with the TCP transport by the caller
/// ([`register_inviter`]).
pub(crate) async fn start_node(
    identity: Identity,
    store: DynStore,
    transport: Box<dyn Transport>,
    config: Config,
    peers: &[NodeId],
    owned: &[String],
    joins: &[Invitation],
) -> CliResult<Coordinator> {
    let node = Coordinator::builder(identity)
        .store(store)
        .transport(transport)
        .config(config)
        .build()
        .await?;
    for peer in peers {
        node.add_peer(peer.clone()).await?;
    }
    for name in owned {
        node.create_channel(name).await?;
    }
    for invitation in joins {
        node.join(invitation).await?;
    }
    node.start().await?;
    Ok(node)
}

/// Tells the TCP transport where the inviter of `invitation` listens: the
/// node knows the inviter as a peer after joining, but the transport keeps
/// its own address book. Returns the addresses that are not `HOST:PORT`
/// with an IP address (other transports' addresses), which are skipped.
pub(crate) fn register_inviter(tcp: &TcpTransport, invitation: &Invitation) -> Vec<String> {
    let mut skipped = Vec::new();
    for address in invitation.addresses() {
        match address.trim().parse::<SocketAddr>() {
            Ok(addr) => tcp.add_peer_address(invitation.inviter().clone(), addr),
            Err(_) => skipped.push(address.clone()),
        }
    }
    skipped
}

/// Registers with the TCP transport the addresses of the saved peers (a
/// peer joined through an invitation keeps its inviter's address in the
/// store), unless `configured` (the `--peer` list) names the peer already.
pub(crate) async fn register_saved_peers(
    tcp: &TcpTransport,
    store: &DynStore,
    configured: &[NodeId],
) -> CliResult<()> {
    for record in store.load_peers().await.map_err(gossip::Error::from)? {
        if configured.contains(&record.id) {
            continue;
        }
        if let Some(addr) = record
            .address
            .and_then(|a| a.trim().parse::<SocketAddr>().ok())
        {
            tcp.add_peer_address(record.id, addr);
        }
    }
    Ok(())
}
