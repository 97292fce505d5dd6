//! The swarm task's reactions to swarm events: connections, identify,
//! frames substreams, and the bad input among them.

use gossip_core::{TransportErrorKind, TransportEvent};
use libp2p::{
    identify,
    swarm::{DialError, ListenError, SwarmEvent},
    Multiaddr, PeerId,
};

use crate::{
    behaviour::{BehaviourEvent, IDENTIFY_PROTOCOL},
    frames,
    identity::node_id_from_peer_id,
    link::reader,
    state::{bump, error},
};

use super::Driver;

impl Driver {
    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Frames(event)) => self.on_frames_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                if info.protocol_version == IDENTIFY_PROTOCOL {
                    self.learnt(peer_id, info.listen_addrs);
                } else {
                    self.foreign_protocol(peer_id, &info.protocol_version);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(_)) => {}
            SwarmEvent::Behaviour(BehaviourEvent::Limits(never)) => match never {},
            #[cfg(feature = "mdns")]
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found))) => {
                let mut by_peer: std::collections::HashMap<PeerId, Vec<Multiaddr>> =
                    std::collections::HashMap::new();
                for (peer, address) in found {
                    by_peer.entry(peer).or_default().push(address);
                }
                for (peer, addresses) in by_peer {
                    self.learnt(peer, addresses);
                }
            }
            #[cfg(feature = "mdns")]
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(libp2p::mdns::Event::Expired(_))) => {}
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                let first = self.shared.connected(peer_id, num_established.get());
                tracing::debug!(
                    local = %self.shared.local, peer = %peer_id,
                    remote = %endpoint.get_remote_address(), dialer = endpoint.is_dialer(),
                    "connected"
                );
                self.connection_up(peer_id);
                if first {
                    if let Some(peer) = node_id_from_peer_id(&peer_id) {
                        self.notify(TransportEvent::Connected { peer });
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                self.shared.disconnected(&peer_id, num_established);
                tracing::debug!(
                    local = %self.shared.local, peer = %peer_id, ?cause, "connection closed"
                );
                if num_established == 0 {
                    let why = error(TransportErrorKind::Unreachable, "the connection closed");
                    self.connection_lost(peer_id, &why);
                    if let Some(peer) = node_id_from_peer_id(&peer_id) {
                        self.notify(TransportEvent::Disconnected { peer });
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error: dial_error,
                ..
            } if !matches!(dial_error, DialError::DialPeerConditionFalse(_)) => {
                let why = error(
                    TransportErrorKind::Unreachable,
                    format!("dial failed: {dial_error}"),
                )
                .with_source(dial_error);
                if !self.swarm.is_connected(&peer) {
                    self.connection_lost(peer, &why);
                }
                self.shared.dial_failed(&peer, why);
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error: failure,
                ..
            } => self.incoming_failed(&send_back_addr, failure),
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                tracing::debug!(local = %self.shared.local, %address, "listening");
                self.shared.set_listen_addr(address.clone(), true);
                if let Some(reply) = self.listens.remove(&listener_id) {
                    let _ = reply.send(Ok(address));
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.shared.set_listen_addr(address, false);
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                for address in addresses {
                    self.shared.set_listen_addr(address, false);
                }
                if let Some(reply) = self.listens.remove(&listener_id) {
                    let mut failure = error(TransportErrorKind::Io, "the listener closed");
                    if let Err(e) = reason {
                        failure = failure.with_source(e);
                    }
                    let _ = reply.send(Err(failure));
                }
            }
            SwarmEvent::ListenerError {
                listener_id,
                error: e,
            } => {
                if let Some(reply) = self.listens.remove(&listener_id) {
                    let _ = reply.send(Err(
                        error(TransportErrorKind::Io, "the listener failed").with_source(e)
                    ));
                }
            }
            _ => {}
        }
    }

    /// An inbound connection that failed before it was established: garbage
    /// instead of Noise, a wrong key, a handshake that never completes.
    fn incoming_failed(&self, from: &Multiaddr, failure: ListenError) {
        let kind = match &failure {
            // Our own doing: closing, or a dial that reached ourselves.
            ListenError::Aborted | ListenError::LocalPeerId { .. } => {
                tracing::debug!(local = %self.shared.local, %from, %failure, "inbound connection dropped");
                return;
            }
            ListenError::Denied { .. } => TransportErrorKind::Other,
            ListenError::WrongPeerId { .. } | ListenError::Transport(_) => {
                TransportErrorKind::Handshake
            }
        };
        bump(&self.shared.counters.handshake_failures);
        let message = match kind {
            TransportErrorKind::Other => {
                format!(
                    "inbound connection from {from} refused: {}",
                    chain(&failure)
                )
            }
            _ => format!(
                "inbound connection from {from} closed: handshake failed: {}",
                chain(&failure)
            ),
        };
        self.report(error(kind, message).with_source(failure));
    }

    /// A peer whose identify protocol is not ours: not a gossip node, or one
    /// of another protocol version. Reported, and disconnected.
    fn foreign_protocol(&mut self, peer: PeerId, theirs: &str) {
        bump(&self.shared.counters.handshake_failures);
        let _ = self.swarm.disconnect_peer_id(peer);
        self.report(error(
            TransportErrorKind::Handshake,
            format!(
                "{peer} disconnected: it speaks protocol {theirs:?}, this node {IDENTIFY_PROTOCOL:?}"
            ),
        ));
    }

    /// Addresses learnt for `peer`; reports it when it is new.
    fn learnt(&self, peer: PeerId, addresses: Vec<Multiaddr>) {
        if let Some((node, address)) = self.shared.learn_addresses(peer, addresses) {
            self.notify(TransportEvent::PeerDiscovered {
                peer: node,
                address: address.map(|a| a.to_string()),
            });
        }
    }

    fn on_frames_event(&mut self, event: frames::Event) {
        match event {
            frames::Event::Inbound { peer, stream } => {
                let max = self.shared.config.max_concurrent_streams;
                let Some(turn) = self.shared.readers.admit(peer, max) else {
                    // Dropping the substream resets it.
                    bump(&self.shared.counters.refused_streams);
                    tracing::debug!(local = %self.shared.local, %peer, max, "too many frames substreams; refused");
                    return;
                };
                let reader =
                    reader::read(self.shared.clone(), self.events.clone(), peer, stream, turn);
                tokio::spawn(reader);
            }
            frames::Event::Opened { id, stream } => {
                if let Some((_, reply)) = self.opening.remove(&id) {
                    let _ = reply.send(Ok(stream));
                }
            }
            frames::Event::OpenFailed { id, why } => {
                if let Some((peer, reply)) = self.opening.remove(&id) {
                    let _ = reply.send(Err(error(
                        TransportErrorKind::Unreachable,
                        format!("cannot open a frames substream to {peer}: {why}"),
                    )));
                }
            }
        }
    }
}

/// `failure` and its sources, joined: libp2p's top-level messages say little
/// ("Failed to negotiate transport protocol(s)").
fn chain(failure: &dyn std::error::Error) -> String {
    let mut text = failure.to_string();
    let mut source = failure.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
