//! The transport conformance suite through the full stack (metrics →
//! compression → encryption → faults off) over the TCP transport on
//! loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg(all(
    feature = "encryption",
    feature = "compression",
    feature = "metrics",
    feature = "faults"
))]

use std::net::SocketAddr;

use gossip_core::{Identity, NodeId, Transport};
use gossip_middleware::{
    CompressionLayer, EncryptionLayer, FaultConfig, FaultsLayer, MetricsLayer, NetworkKey,
};
use gossip_transport_tcp::{TcpConfig, TcpTransport};
use tower::ServiceBuilder;

async fn tcp(ids: Vec<Identity>) -> Vec<TcpTransport> {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut transports = Vec::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        let config = TcpConfig::default().seed(i as u64);
        transports.push(
            TcpTransport::bind(&id, loopback, config)
                .await
                .expect("bind"),
        );
    }
    let book: Vec<(NodeId, SocketAddr)> = transports
        .iter()
        .map(|t| (t.local_id().clone(), t.local_addr()))
        .collect();
    for transport in &transports {
        for (id, address) in &book {
            if id != transport.local_id() {
                transport.add_peer_address(id.clone(), *address);
            }
        }
    }
    transports
}

gossip_core::transport_conformance!(|ids: Vec<Identity>| async move {
    let encryption = EncryptionLayer::new(NetworkKey::new(1, [0x3C; 32]));
    let faults = FaultsLayer::new(FaultConfig::none());
    tcp(ids)
        .await
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
