//! The swarm task: the only place the swarm is polled. Commands come in on a
//! bounded channel; frames, peer events and bad input (as errors) go out on
//! the bounded inbound queue; an inbound frame is acknowledged only once it
//! is in that queue.

use std::{collections::HashMap, collections::VecDeque, sync::Arc};

use bytes::Bytes;
use gossip_core::{
    InboundSender, NodeId, PushError, TransportError, TransportErrorKind, TransportEvent,
};
use libp2p::{
    core::transport::ListenerId,
    futures::StreamExt,
    identify,
    request_response::{self, ResponseChannel},
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        DialError, ListenError, SwarmEvent,
    },
    Multiaddr, PeerId, Swarm,
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    behaviour::{Behaviour, BehaviourEvent, IDENTIFY_PROTOCOL},
    codec::{BadFrame, Request},
    state::{bump, error, Shared},
};

/// What the handle asks of the swarm task.
pub(crate) enum Command {
    /// Send `frame` to `peer`, dialing `addresses` if not connected.
    Send {
        peer: PeerId,
        frame: Bytes,
        addresses: Vec<Multiaddr>,
    },
    /// Listen on `address`; answer with the first address the listener reports.
    Listen {
        address: Multiaddr,
        reply: oneshot::Sender<Result<Multiaddr, TransportError>>,
    },
    /// Dial `address` (which may name the peer with `/p2p/…`).
    Dial {
        address: Multiaddr,
        reply: oneshot::Sender<Result<(), TransportError>>,
    },
}

/// An inbound frame waiting for room in the inbound queue, unacknowledged.
struct Pending {
    from: NodeId,
    frame: Bytes,
    channel: ResponseChannel<()>,
}

/// The state of the swarm task.
pub(crate) struct Driver {
    shared: Arc<Shared>,
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: InboundSender,
    pending: VecDeque<Pending>,
    listens: HashMap<ListenerId, oneshot::Sender<Result<Multiaddr, TransportError>>>,
}

impl Driver {
    pub(crate) fn new(
        shared: Arc<Shared>,
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        events: InboundSender,
    ) -> Self {
        Self {
            shared,
            swarm,
            commands,
            events,
            pending: VecDeque::new(),
            listens: HashMap::new(),
        }
    }

    /// Runs until the transport closes (or its handle is dropped).
    pub(crate) async fn run(mut self) {
        let mut shutdown = self.shared.shutdown.subscribe();
        // A second handle on the inbound queue, so that a reserved slot does
        // not borrow `self`.
        let events = self.events.clone();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|closed| *closed) => break,
                permit = events.reserve(), if !self.pending.is_empty() => {
                    let Some(permit) = permit else { break };
                    if let Some(Pending { from, frame, channel }) = self.pending.pop_front() {
                        permit.push(Ok(TransportEvent::Frame { from, frame }));
                        // Err: the request timed out meanwhile; the frame is delivered anyway.
                        let _ = self.swarm.behaviour_mut().frames.send_response(channel, ());
                    }
                }
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
            }
        }
        tracing::debug!(local = %self.shared.local, "swarm task stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Send {
                peer,
                frame,
                addresses,
            } => {
                if !addresses.is_empty() && !self.swarm.is_connected(&peer) {
                    // Dial from a fresh port: reusing the listening port (libp2p's
                    // default) turns two nodes dialing each other at once into a
                    // TCP simultaneous open that fails both handshakes. The
                    // behaviour's own dial for the request then finds this one
                    // running and waits for it.
                    let opts = DialOpts::peer_id(peer)
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .addresses(addresses.clone())
                        .allocate_new_port()
                        .build();
                    if let Err(e) = self.swarm.dial(opts) {
                        if !matches!(e, DialError::DialPeerConditionFalse(_)) {
                            tracing::debug!(local = %self.shared.local, %peer, %e, "dial refused");
                        }
                    }
                }
                self.swarm
                    .behaviour_mut()
                    .frames
                    .send_request_with_addresses(&peer, Request::Frame(frame), addresses);
            }
            Command::Listen { address, reply } => match self.swarm.listen_on(address.clone()) {
                Ok(id) => {
                    self.listens.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(error(
                        TransportErrorKind::Io,
                        format!("cannot listen on {address}"),
                    )
                    .with_source(e)));
                }
            },
            Command::Dial { address, reply } => {
                let result = self.swarm.dial(dial_opts(address.clone())).map_err(|e| {
                    error(
                        TransportErrorKind::Unreachable,
                        format!("cannot dial {address}"),
                    )
                    .with_source(e)
                });
                let _ = reply.send(result);
            }
        }
    }

    /// Reports a peer event without waiting: dropped (and counted) when
    /// the inbound queue is full.
    fn notify(&self, event: TransportEvent) {
        if self.events.try_push(Ok(event)).is_err() {
            bump(&self.shared.counters.dropped_events);
        }
    }

    /// Reports bad input from a peer as an error from `recv`, without
    /// waiting: dropped (and counted) when the inbound queue is full.
    fn report(&self, failure: TransportError) {
        tracing::debug!(local = %self.shared.local, %failure, "bad input");
        if self.events.try_push(Err(failure)).is_err() {
            bump(&self.shared.counters.dropped_events);
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
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
                let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
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
                if first {
                    if let Some(peer) = self.shared.node_of(&peer_id) {
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
                    if let Some(peer) = self.shared.node_of(&peer_id) {
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

    /// A frame the codec refused: counted and reported; never acknowledged,
    /// so its sender learns it failed.
    fn refused(&self, peer: PeerId, bad: &BadFrame) {
        bump(&self.shared.counters.inbound_failures);
        let kind = match bad {
            BadFrame::TooLarge { .. } => {
                bump(&self.shared.counters.oversized_frames);
                TransportErrorKind::FrameTooLarge
            }
            BadFrame::Truncated { .. } => TransportErrorKind::Rejected,
        };
        let from = self
            .shared
            .node_of(&peer)
            .map_or_else(|| peer.to_string(), |node| node.to_string());
        self.report(error(kind, format!("frame from {from} refused: {bad}")));
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

    fn on_frames_event(&mut self, event: request_response::Event<Request, ()>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let request = match request {
                    Request::Frame(frame) => frame,
                    // Dropping the channel fails the sender's request.
                    Request::Refused(bad) => return self.refused(peer, &bad),
                };
                let Some(from) = self.shared.node_of(&peer) else {
                    return;
                };
                if self.pending.is_empty() {
                    if let Err(PushError::Full(Ok(TransportEvent::Frame { from, frame }))) =
                        self.events.try_push(Ok(TransportEvent::Frame {
                            from,
                            frame: request,
                        }))
                    {
                        self.pending.push_back(Pending {
                            from,
                            frame,
                            channel,
                        });
                        return;
                    }
                    let _ = self.swarm.behaviour_mut().frames.send_response(channel, ());
                } else if self.pending.len() < self.shared.config.max_pending_inbound {
                    self.pending.push_back(Pending {
                        from,
                        frame: request,
                        channel,
                    });
                } else {
                    // Dropping the channel fails the sender's request: refused, not lost silently.
                    bump(&self.shared.counters.refused_frames);
                    tracing::debug!(local = %self.shared.local, %peer, "inbound backlog full; frame refused");
                }
            }
            request_response::Event::Message {
                peer,
                message: request_response::Message::Response { .. },
                ..
            } => self.shared.release(&peer),
            request_response::Event::OutboundFailure {
                peer,
                error: failure,
                ..
            } => {
                self.shared.release(&peer);
                bump(&self.shared.counters.failed_frames);
                tracing::debug!(local = %self.shared.local, %peer, %failure, "frame failed");
                if matches!(failure, request_response::OutboundFailure::DialFailure) {
                    let why =
                        error(TransportErrorKind::Unreachable, "dial failed").with_source(failure);
                    self.shared.dial_failed(&peer, why);
                }
            }
            request_response::Event::InboundFailure {
                peer,
                error: failure,
                ..
            } => {
                bump(&self.shared.counters.inbound_failures);
                tracing::debug!(local = %self.shared.local, %peer, %failure, "inbound frame failed");
            }
            request_response::Event::ResponseSent { .. } => {}
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

/// A `DialOpts` for an address, naming the peer when it ends in `/p2p/…`.
pub(crate) fn dial_opts(address: Multiaddr) -> DialOpts {
    match crate::state::split_p2p(&address) {
        (_, Some(peer)) => DialOpts::peer_id(peer)
            .addresses(vec![address])
            .allocate_new_port()
            .build(),
        (_, None) => DialOpts::unknown_peer_id()
            .address(address)
            .allocate_new_port()
            .build(),
    }
}
