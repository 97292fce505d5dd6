#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// gossip-core's whole public API, flat at the root (ids, Coordinator, ports,
// errors, and the conformance macros under `testkit`).
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
pub use transports::tcp::{TcpConfig, TcpTransport};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn core_api_is_at_the_root_and_under_core() {
        is_send_sync::<Coordinator>();
        is_send_sync::<crate::core::Coordinator>();
        assert!(NodeId::new("a").is_ok());
        assert!(crate::core::NodeId::new("").is_err());
    }

    #[cfg(feature = "stores-memory")]
    #[test]
    fn memory_store_is_flat_and_in_its_module() {
        is_send_sync::<MemoryStore>();
        is_send_sync::<stores::memory::MemoryStore>();
    }

    #[cfg(all(feature = "stores-memory", feature = "transports-memory"))]
    #[tokio::test]
    async fn a_node_assembles_from_facade_paths_only() -> std::result::Result<(), Error> {
        let network = MemoryNetwork::new(MemoryNetworkConfig::default());
        let id = NodeId::new("a")?;
        let node = Coordinator::builder(id.clone())
            .store(MemoryStore::new())
            .transport(network.join(id)?)
            .build()
            .await?;
        let stream = node
            .create_channel(ChannelId::new("c")?)
            .await?
            .stream(StreamId::new("s")?)
            .await?;
        stream.append(b"x".to_vec()).await?;
        assert_eq!(stream.entries().await?.len(), 1);
        node.dispose().await
    }
}
