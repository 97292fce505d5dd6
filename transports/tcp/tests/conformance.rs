//! The transport conformance suite from `gossip-core`'s testkit, run on the
//! TCP transport over loopback, directly and erased to `Arc<dyn Transport>`.

use std::net::SocketAddr;

use bytes::Bytes;
use gossip_core::{
    testkit::transport::{Impostor, ImpostorAttempt},
    Identity, NodeId,
};
use gossip_transport_tcp::{testing::RawPeer, TcpConfig, TcpTransport};

/// Binds each id on 127.0.0.1 (port 0) and gives every transport the
/// addresses of all the others.
async fn network(ids: Vec<Identity>, config: TcpConfig) -> Vec<TcpTransport> {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut transports = Vec::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        let config = config.clone().seed(i as u64);
        match TcpTransport::bind(&id, loopback, config).await {
            Ok(transport) => transports.push(transport),
            Err(error) => panic!("bind on loopback: {error}"),
        }
    }
    let book: Vec<(NodeId, SocketAddr)> = transports
        .iter()
        .map(|t| (gossip_core::Transport::local_id(t).clone(), t.local_addr()))
        .collect();
    for transport in &transports {
        for (id, address) in &book {
            if id != gossip_core::Transport::local_id(transport) {
                transport.add_peer_address(id.clone(), *address);
            }
        }
    }
    transports
}

/// The impostor dials with a real Noise handshake whose hello names the
/// victim but is signed with the attacker's own key.
struct HelloNamingTheVictim;

#[async_trait::async_trait]
impl Impostor<TcpTransport> for HelloNamingTheVictim {
    async fn impersonate(
        &self,
        target: &TcpTransport,
        victim: &NodeId,
        attacker: &Identity,
        frame: Bytes,
    ) -> ImpostorAttempt {
        let server = target.local_addr();
        let to = gossip_core::Transport::local_id(target);
        match RawPeer::connect_claiming(attacker, victim, server, to, None).await {
            Err(_refused) => ImpostorAttempt::ClaimedOnTheWire,
            Ok(mut peer) => {
                // Accepted under a claimed id: send anyway, so that the
                // suite sees what the transport does with it.
                let _ = peer.send_frame(&frame).await;
                ImpostorAttempt::ClaimedOnTheWire
            }
        }
    }
}

gossip_core::transport_conformance!(
    |ids: Vec<gossip_core::Identity>| async move { network(ids, TcpConfig::default()).await },
    impostor = HelloNamingTheVictim,
);

/// The suite with small frames and queues, where `QueueFull` back-pressure
/// and the blocking inbound queue really happen.
mod small_limits {
    use super::*;
    use gossip_core::testkit::{fixtures::run, transport};

    async fn small(ids: Vec<Identity>) -> Vec<TcpTransport> {
        let config = TcpConfig::default()
            .max_frame_len(100)
            .send_queue_capacity(8)
            .inbound_queue_capacity(4);
        network(ids, config).await
    }

    #[test]
    fn frame_limits() {
        run(transport::frame_of_exactly_max_len_arrives(small));
        run(transport::larger_frame_is_frame_too_large_and_nothing_sent(
            small,
        ));
        run(transport::empty_frame_roundtrips(small));
    }

    #[test]
    fn many_peers_with_back_pressure() {
        run(transport::many_peers_at_once(small));
        run(transport::concurrent_send_and_recv(small));
        run(transport::per_link_order_when_ordered(small));
        run(transport::recv_is_cancel_safe(small));
    }
}
