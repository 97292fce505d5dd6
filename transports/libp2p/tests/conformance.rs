//! The transport conformance suite from `gossip-core`'s testkit, run on the
//! libp2p transport over loopback, directly and erased to `Arc<dyn Transport>`.
//! Each node's libp2p key is its identity's key, so its peer id and its
//! node id are the same key.

use std::time::Duration;

use bytes::Bytes;
use gossip_core::{
    testkit::transport::{Impostor, ImpostorAttempt},
    Identity, NodeId, Transport,
};
use gossip_transport_libp2p::{libp2p::Multiaddr, Libp2pConfig, Libp2pTransport};

/// Listens on 127.0.0.1 (port 0) for each id and gives every transport the
/// addresses of all the others.
async fn network(ids: Vec<Identity>, config: Libp2pConfig) -> Vec<Libp2pTransport> {
    let loopback: Multiaddr = match "/ip4/127.0.0.1/tcp/0".parse() {
        Ok(address) => address,
        Err(error) => panic!("loopback multiaddr: {error}"),
    };
    let mut transports = Vec::with_capacity(ids.len());
    let mut book = Vec::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        let config = config
            .clone()
            .seed(i as u64)
            .mdns(false)
            .backoff(Duration::from_millis(50), Duration::from_secs(1));
        let transport = match Libp2pTransport::new(&id, config) {
            Ok(transport) => transport,
            Err(error) => panic!("create {}: {error}", id.node_id()),
        };
        let address = match transport.listen_on(loopback.clone()).await {
            Ok(address) => address,
            Err(error) => panic!("listen on loopback: {error}"),
        };
        match address.with_p2p(transport.peer_id()) {
            Ok(address) => book.push((id.node_id().clone(), address)),
            Err(address) => panic!("{address} names another peer"),
        }
        transports.push(transport);
    }
    for transport in &transports {
        for (id, address) in &book {
            if id != transport.local_id() {
                if let Err(error) = transport.add_peer_address(id.clone(), address.clone()) {
                    panic!("add {id} at {address}: {error}");
                }
            }
        }
    }
    transports
}

/// A libp2p node of its own that dials the target. Noise proves the key
/// behind the peer id, so there is no claim to make: the attacker can only
/// speak as itself. It is kept alive until the test ends.
#[derive(Default)]
struct StrangerWithItsOwnKey {
    alive: std::sync::Mutex<Vec<Libp2pTransport>>,
}

#[async_trait::async_trait]
impl Impostor<Libp2pTransport> for StrangerWithItsOwnKey {
    async fn impersonate(
        &self,
        target: &Libp2pTransport,
        _victim: &NodeId,
        attacker: &Identity,
        frame: Bytes,
    ) -> ImpostorAttempt {
        let stranger = match Libp2pTransport::new(attacker, Libp2pConfig::default().mdns(false)) {
            Ok(stranger) => stranger,
            Err(error) => panic!("create the attacker: {error}"),
        };
        for address in target.listen_addrs() {
            if let Err(error) = stranger.add_peer_address(target.local_id().clone(), address) {
                panic!("address of the target: {error}");
            }
        }
        // Delivery to a node that does not know us is not promised; the
        // suite only checks under which id it arrives, if it does.
        let _ = stranger.send(target.local_id(), frame).await;
        if let Ok(mut alive) = self.alive.lock() {
            alive.push(stranger);
        }
        ImpostorAttempt::SpokeAsItself
    }
}

gossip_core::transport_conformance!(
    |ids: Vec<gossip_core::Identity>| async move { network(ids, Libp2pConfig::default()).await },
    impostor = StrangerWithItsOwnKey::default(),
);

/// The suite with small frames and queues, where `QueueFull` back-pressure
/// and readers waiting for room in the inbound queue really happen. (Not
/// `declared_capabilities` here: it sends 200 frames before reading any, and
/// with 4 inbound slots, a Yamux window and 8 queued frames the sender
/// rightly gets `QueueFull` until the receiver reads.)
mod small_limits {
    use super::*;
    use gossip_core::testkit::{fixtures::run, transport};

    async fn small(ids: Vec<Identity>) -> Vec<Libp2pTransport> {
        let config = Libp2pConfig::default()
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
        run(transport::recv_is_cancel_safe(small));
    }
}
