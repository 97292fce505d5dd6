//! The transport conformance suite from `gossip-core`'s testkit, run on the
//! memory transport, directly and erased to `Arc<dyn Transport>`.

use gossip_core::Identity;
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};

gossip_core::transport_conformance!(|ids: Vec<Identity>| async move {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    ids.into_iter()
        .map(|id| network.join(&id).expect("join a fresh id"))
        .collect::<Vec<_>>()
});

/// The suite against a small frame limit and a small inbox, where `QueueFull`
/// back-pressure really happens.
mod small_limits {
    use super::*;
    use gossip_core::testkit::{fixtures::run, transport};
    use gossip_transport_memory::MemoryTransport;

    async fn network(ids: Vec<Identity>) -> Vec<MemoryTransport> {
        let network = MemoryNetwork::new(
            MemoryNetworkConfig::default()
                .max_frame_len(100)
                .inbound_queue_capacity(8),
        );
        ids.into_iter()
            .map(|id| match network.join(&id) {
                Ok(transport) => transport,
                Err(error) => panic!("join a fresh id: {error}"),
            })
            .collect()
    }

    #[test]
    fn frame_limits() {
        run(transport::frame_of_exactly_max_len_arrives(network));
        run(transport::larger_frame_is_frame_too_large_and_nothing_sent(
            network,
        ));
    }

    #[test]
    fn many_peers_with_back_pressure() {
        run(transport::many_peers_at_once(network));
        run(transport::concurrent_send_and_recv(network));
    }
}
