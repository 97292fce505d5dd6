#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// gossip-core's root, flat at this root (ids, entries, Coordinator, ports,
// errors), and its modules (`raw` for engine plumbing, `domain`, `ports`,
// `protocol`, `node`, `testkit` with the conformance macros).
pub use gossip_core::*;

/// `gossip-core` itself, for paths that name the core explicitly
/// (`gossip::core::protocol`, `gossip::core::domain`).
pub use gossip_core as core;

pub mod layers;
pub mod stores;
pub mod transports;

#[cfg(feature = "stores-memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "stores-memory")))]
pub use stores::memory::MemoryStore;
#[cfg(feature = "stores-rocksdb")]
#[cfg_attr(docsrs, doc(cfg(feature = "stores-rocksdb")))]
pub use stores::rocksdb::{RocksDbStore, RocksDbStoreOptions};
#[cfg(feature = "stores-sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "stores-sqlite")))]
pub use stores::sqlite::{SqliteStore, SqliteStoreOptions, SqliteSynchronous};

#[cfg(feature = "transports-libp2p")]
#[cfg_attr(docsrs, doc(cfg(feature = "transports-libp2p")))]
pub use transports::libp2p::{Libp2pConfig, Libp2pTransport};
#[cfg(feature = "transports-memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "transports-memory")))]
pub use transports::memory::{MemoryNetwork, MemoryNetworkConfig, MemoryTransport};
#[cfg(feature = "transports-tcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "transports-tcp")))]
pub use transports::tcp::{NetworkPsk, TcpConfig, TcpTransport};

/// `tower`'s builder, to stack layers over a transport or a store:
/// `ServiceBuilder::new().layer(MetricsLayer::new()).layer(EncryptionLayer::new(key)).service(tcp)`.
/// The same type as [`layers::ServiceBuilder`]; see [`layers`] for the order of a stack.
#[cfg(any(
    feature = "layers-encryption",
    feature = "layers-compression",
    feature = "layers-metrics",
    feature = "layers-faults"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "layers-encryption",
        feature = "layers-compression",
        feature = "layers-metrics",
        feature = "layers-faults"
    )))
)]
pub use layers::ServiceBuilder;

#[cfg(feature = "layers-compression")]
#[cfg_attr(docsrs, doc(cfg(feature = "layers-compression")))]
pub use layers::compression::{Compression, CompressionLayer};
#[cfg(feature = "layers-encryption")]
#[cfg_attr(docsrs, doc(cfg(feature = "layers-encryption")))]
pub use layers::encryption::{
    Cipher, Encryption, EncryptionHandle, EncryptionLayer, NetworkKey, StoreEncryption,
    StoreEncryptionLayer,
};
#[cfg(feature = "layers-faults")]
#[cfg_attr(docsrs, doc(cfg(feature = "layers-faults")))]
pub use layers::faults::{FaultConfig, FaultStats, Faults, FaultsHandle, FaultsLayer};
#[cfg(feature = "layers-metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "layers-metrics")))]
pub use layers::metrics::{Metrics, MetricsLayer, StoreMetrics, StoreMetricsLayer};

/// The repository's README, compiled and run as a doctest so that its quick
/// start keeps working (`cargo test -p gossip --all-features --doc`).
#[cfg(all(doctest, feature = "stores-memory", feature = "transports-memory"))]
#[doc = include_str!("../../README.md")]
pub struct RepositoryReadme;

// The core's API is at the root and under `core`, plug-ins flat and in their
// module, and all of it `Send + Sync`: checked by the compiler on every build.
const _: () = {
    const fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Coordinator>();
    send_sync::<crate::core::Coordinator>();
    #[cfg(feature = "stores-memory")]
    send_sync::<MemoryStore>();
    #[cfg(feature = "stores-memory")]
    send_sync::<stores::memory::MemoryStore>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_api_is_at_the_root_and_under_core() {
        let id = Identity::from_seed("a").node_id().clone();
        assert_eq!(NodeId::new(id.as_str()).ok(), Some(id));
        assert!(crate::core::NodeId::new("a").is_err());
    }

    #[cfg(all(feature = "stores-memory", feature = "transports-memory"))]
    #[tokio::test]
    async fn a_node_assembles_from_facade_paths_only() -> std::result::Result<(), Error> {
        let network = MemoryNetwork::new(MemoryNetworkConfig::default());
        let identity = Identity::generate();
        let node = Coordinator::builder(identity.clone())
            .store(MemoryStore::new())
            .transport(network.join(&identity)?)
            .build()
            .await?;
        let stream = node
            .create_channel("c")
            .await?
            .stream(StreamId::new("s")?)
            .await?;
        stream.append(b"x".to_vec()).await?;
        assert_eq!(stream.entries().await?.len(), 1);
        node.dispose().await
    }

    #[cfg(all(
        feature = "stores-memory",
        feature = "transports-memory",
        feature = "layers-metrics"
    ))]
    #[tokio::test]
    async fn service_builder_at_the_root_stacks_layers_over_a_transport(
    ) -> std::result::Result<(), Error> {
        let network = MemoryNetwork::new(MemoryNetworkConfig::default());
        let (a, b) = (Identity::from_seed("a"), Identity::from_seed("b"));
        let (mut nodes, mut streams) = (Vec::new(), Vec::new());
        for (me, peer) in [(&a, b.node_id()), (&b, a.node_id())] {
            let transport = ServiceBuilder::new()
                .layer(MetricsLayer::new())
                .service(network.join(me)?);
            let node = Coordinator::builder(me.clone())
                .store(MemoryStore::new())
                .transport(transport)
                .build()
                .await?;
            node.add_peer(peer.clone()).await?;
            // a owns the channel and adds b, which joins it.
            let channel = if me.node_id() == a.node_id() {
                let channel = node.create_channel("c").await?;
                channel.add_member(peer.clone(), Role::Writer).await?;
                channel
            } else {
                let owner = a.node_id().clone();
                let id = ChannelId::derive(&owner, "c")?;
                node.join(&Invitation::new(id, owner.clone(), owner, Vec::new())?)
                    .await?
            };
            streams.push(channel.stream(StreamId::new("s")?).await?);
            node.start().await?;
            nodes.push(node);
        }
        streams[0].append(b"x".to_vec()).await?;
        // The entry crossed the layered transports.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while streams[1].entries().await?.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "b never received a's entry"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for node in &nodes {
            node.dispose().await?;
        }
        Ok(())
    }
}
