//! The transport conformance suite from `gossip-core`'s testkit, run on the
//! memory transport, directly and erased to `Arc<dyn Transport>`.

use bytes::Bytes;
use gossip_core::{
    testkit::transport::{Impostor, ImpostorAttempt},
    Identity, NodeId, Transport,
};
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig, MemoryTransport};

/// The only attack the in-process network allows: join it (which takes an
/// identity) and send. There is no way to name another node as the sender.
struct StrangerOnTheNetwork;

#[async_trait::async_trait]
impl Impostor<MemoryTransport> for StrangerOnTheNetwork {
    async fn impersonate(
        &self,
        target: &MemoryTransport,
        _victim: &NodeId,
        attacker: &Identity,
        frame: Bytes,
    ) -> ImpostorAttempt {
        let stranger = match target.network().join(attacker) {
            Ok(stranger) => stranger,
            Err(error) => panic!("join as the attacker: {error}"),
        };
        if let Err(error) = stranger.send(target.local_id(), frame).await {
            panic!("send as the attacker: {error}");
        }
        ImpostorAttempt::SpokeAsItself
    }
}

gossip_core::transport_conformance!(
    |ids: Vec<Identity>| async move {
        let network = MemoryNetwork::new(MemoryNetworkConfig::default());
        ids.into_iter()
            .map(|id| network.join(&id).expect("join a fresh id"))
            .collect::<Vec<_>>()
    },
    impostor = StrangerOnTheNetwork,
);

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
