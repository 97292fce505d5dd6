//! The swarm task: the only place the swarm is polled. Commands come in on a
//! bounded channel; frames, peer events and bad input (as errors) go out on
//! the bounded inbound queue; an inbound frame is acknowledged only once it
//! is in that queue. What it does about each swarm event is in
//! [`swarm_events`].

mod swarm_events;

use std::{collections::HashMap, collections::VecDeque, sync::Arc};

use bytes::Bytes;
use gossip_core::{InboundSender, NodeId, TransportError, TransportErrorKind, TransportEvent};
use libp2p::{
    core::transport::ListenerId,
    futures::StreamExt,
    request_response::ResponseChannel,
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        DialError,
    },
    Multiaddr, PeerId, Swarm,
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    behaviour::Behaviour,
    codec::Request,
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
