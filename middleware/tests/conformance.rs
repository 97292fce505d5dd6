//! The transport conformance suite from `gossip-core`'s testkit, on the
//! memory transport, through every layer alone and through the full stack
//! (metrics → compression → encryption → faults off → memory), directly and
//! erased to `Arc<dyn Transport>`. zstd runs with the `compression-zstd`
//! feature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg(all(
    feature = "encryption",
    feature = "compression",
    feature = "metrics",
    feature = "faults",
    feature = "tower"
))]

use gossip_core::Identity;
use gossip_middleware::NetworkKey;
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig, MemoryTransport};

fn memory(ids: Vec<Identity>) -> Vec<MemoryTransport> {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    ids.into_iter()
        .map(|id| network.join(&id).expect("join a fresh id"))
        .collect()
}

fn key() -> NetworkKey {
    NetworkKey::new(1, [0x5A; 32])
}

mod encryption {
    use super::*;
    use gossip_middleware::EncryptionLayer;
    use tower::Layer;

    gossip_core::transport_conformance!(|ids: Vec<Identity>| async move {
        let layer = EncryptionLayer::new(key());
        memory(ids)
            .into_iter()
            .map(|t| layer.layer(t))
            .collect::<Vec<_>>()
    });
}

mod encryption_chacha {
    use super::*;
    use gossip_middleware::{Cipher, EncryptionLayer};
    use tower::Layer;

    gossip_core::transport_conformance!(|ids: Vec<Identity>| async move {
        let layer = EncryptionLayer::new(key()).cipher(Cipher::ChaCha20Poly1305);
        memory(ids)
            .into_iter()
            .map(|t| layer.layer(t))
            .collect::<Vec<_>>()
    });
}

mod compression_lz4 {
    use super::*;
    use gossip_middleware::CompressionLayer;
    use tower::Layer;

    gossip_core::transport_conformance!(|ids: Vec<Identity>| async move {
        // Threshold 0: every frame goes through the compressor.
        let layer = CompressionLayer::lz4().threshold(0);
        memory(ids)
            .into_iter()
            .map(|t| layer.layer(t))
            .collect::<Vec<_>>()
    });
}

#[cfg(feature = "compression-zstd")]
mod compression_zstd {
    use super::*;
    use gossip_middleware::CompressionLayer;
    use tower::Layer;

    gossip_core::transport_conformance!(|ids: Vec<Identity>| async move {
        let layer = CompressionLayer::zstd(3).threshold(0);
        memory(ids)
            .into_iter()
            .map(|t| layer.layer(t))
            .collect::<Vec<_>>()
    });
}

mod metrics {
    use super::*;
    use gossip_middleware::MetricsLayer;
    use tower::Layer;

    gossip_core::transport_conformance!(|ids: Vec<Identity>| async move {
        memory(ids)
            .into_iter()
            .map(|t| MetricsLayer::new().layer(t))
            .collect::<Vec<_>>()
    });
}

mod faults_off {
    use super::*;
    use gossip_middleware::{FaultConfig, FaultsLayer};
    use tower::Layer;

    gossip_core::transport_conformance!(|ids: Vec<Identity>| async move {
        let layer = FaultsLayer::new(FaultConfig::none().seed(3));
        memory(ids)
            .into_iter()
            .map(|t| layer.layer(t))
            .collect::<Vec<_>>()
    });
}

mod tower_send_path {
    use super::*;
    use gossip_middleware::SendLayer;
    use std::time::Duration;
    use tower::{
        limit::{ConcurrencyLimitLayer, RateLimitLayer},
        timeout::TimeoutLayer,
        Layer, ServiceBuilder,
    };

    gossip_core::transport_conformance!(|ids: Vec<Identity>| async move {
        let layer = SendLayer::new(
            ServiceBuilder::new()
                .layer(TimeoutLayer::new(Duration::from_secs(5)))
                .layer(ConcurrencyLimitLayer::new(8))
                .layer(RateLimitLayer::new(1_000_000, Duration::from_secs(1))),
        );
        memory(ids)
            .into_iter()
            .map(|t| layer.layer(t))
            .collect::<Vec<_>>()
    });
}

mod full_stack {
    use super::*;
    use gossip_middleware::{
        CompressionLayer, EncryptionLayer, FaultConfig, FaultsLayer, MetricsLayer,
    };
    use tower::ServiceBuilder;

    gossip_core::transport_conformance!(|ids: Vec<Identity>| async move {
        let encryption = EncryptionLayer::new(key());
        let faults = FaultsLayer::new(FaultConfig::none());
        memory(ids)
            .into_iter()
            .map(|t| {
                ServiceBuilder::new()
                    .layer(MetricsLayer::new())
                    .layer(CompressionLayer::lz4().threshold(0))
                    .layer(encryption.clone())
                    .layer(faults.clone())
                    .service(t)
            })
            .collect::<Vec<_>>()
    });

    #[test]
    fn max_frame_len_shrinks_by_each_layer_overhead() {
        let ids = vec![Identity::from_seed("a")];
        let inner = memory(ids).pop().unwrap();
        let inner_max = gossip_core::Transport::max_frame_len(&inner);
        let stack = ServiceBuilder::new()
            .layer(MetricsLayer::new())
            .layer(CompressionLayer::lz4())
            .layer(EncryptionLayer::new(key()))
            .layer(FaultsLayer::new(FaultConfig::none()))
            .service(inner);
        use gossip_core::Transport;
        assert_eq!(stack.max_frame_len(), inner_max - 1 - 29);
        assert_eq!(stack.backend(), "metrics");
        assert_eq!(stack.get_ref().backend(), "compression");
        assert_eq!(stack.get_ref().get_ref().backend(), "encryption");
        assert_eq!(stack.get_ref().get_ref().get_ref().backend(), "faults");
        assert_eq!(
            stack.local_id().as_str(),
            gossip_core::NodeId::from_seed("a").as_str()
        );
        assert_eq!(
            stack.capabilities(),
            stack.get_ref().get_ref().get_ref().get_ref().capabilities()
        );
    }
}

/// The full stack with the tower send path in the middle.
mod full_stack_with_tower {
    use super::*;
    use gossip_middleware::{
        CompressionLayer, EncryptionLayer, FaultConfig, FaultsLayer, MetricsLayer, SendLayer,
    };
    use std::time::Duration;
    use tower::{timeout::TimeoutLayer, ServiceBuilder};

    gossip_core::transport_conformance!(|ids: Vec<Identity>| async move {
        let encryption = EncryptionLayer::new(key());
        let faults = FaultsLayer::new(FaultConfig::none());
        #[cfg(feature = "compression-zstd")]
        let compression = CompressionLayer::zstd(1);
        #[cfg(not(feature = "compression-zstd"))]
        let compression = CompressionLayer::lz4();
        memory(ids)
            .into_iter()
            .map(|t| {
                ServiceBuilder::new()
                    .layer(MetricsLayer::new())
                    .layer(SendLayer::new(TimeoutLayer::new(Duration::from_secs(5))))
                    .layer(compression)
                    .layer(encryption.clone())
                    .layer(faults.clone())
                    .service(t)
            })
            .collect::<Vec<_>>()
    });
}
