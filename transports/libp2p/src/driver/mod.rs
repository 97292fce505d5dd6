//! The swarm task: the only place the swarm is polled. Commands come in on a
//! bounded channel (listen, dial, open a frames substream); peer events and
//! bad input (as errors) go out on the bounded inbound queue. Frames do not
//! pass through it: each inbound substream gets a reader task and each
//! outbound one is handed to its peer's writer task ([`link`](crate::link)).
//! What it does about each swarm event is in [`swarm_events`].

mod swarm_events;

use std::{collections::HashMap, sync::Arc};

use gossip_core::{InboundSender, TransportError, TransportErrorKind, TransportEvent};
use libp2p::{
    core::transport::ListenerId,
    futures::StreamExt,
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        DialError, Stream,
    },
    Multiaddr, PeerId, Swarm,
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    behaviour::Behaviour,
    frames::OpenId,
    state::{bump, error, Shared},
};

/// What the handle asks of the swarm task.
pub(crate) enum Command {
    /// Open a frames substream to `peer`, dialing `addresses` first when
    /// given (the peer is not connected).
    Open {
        peer: PeerId,
        addresses: Option<Vec<Multiaddr>>,
        reply: Opening,
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

/// Where the substream asked for by [`Command::Open`] goes.
pub(crate) type Opening = oneshot::Sender<Result<Stream, TransportError>>;

/// The state of the swarm task.
pub(crate) struct Driver {
    shared: Arc<Shared>,
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: InboundSender,
    /// Writers waiting for a connection to their peer (one each).
    awaiting_connection: HashMap<PeerId, Vec<Opening>>,
    /// Substreams asked of a connection, by request.
    opening: HashMap<OpenId, (PeerId, Opening)>,
    next_open: OpenId,
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
            awaiting_connection: HashMap::new(),
            opening: HashMap::new(),
            next_open: 0,
            listens: HashMap::new(),
        }
    }

    /// Runs until the transport closes (or its handle is dropped).
    pub(crate) async fn run(mut self) {
        let mut shutdown = self.shared.shutdown.subscribe();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|closed| *closed) => break,
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
            Command::Open {
                peer,
                addresses,
                reply,
            } => self.open(peer, addresses, reply),
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

    /// Asks a connection to `peer` for a frames substream, dialing first
    /// when it is not connected.
    fn open(&mut self, peer: PeerId, addresses: Option<Vec<Multiaddr>>, reply: Opening) {
        if self.swarm.is_connected(&peer) {
            return self.open_on_connection(peer, reply);
        }
        let Some(addresses) = addresses else {
            // Disconnected since the writer looked: it fails, the next send redials.
            let _ = reply.send(Err(error(
                TransportErrorKind::Unreachable,
                format!("{peer} is not connected any more"),
            )));
            return;
        };
        // Dial from a fresh port: reusing the listening port (libp2p's
        // default) turns two nodes dialing each other at once into a TCP
        // simultaneous open that fails both handshakes.
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .addresses(addresses)
            .allocate_new_port()
            .build();
        match self.swarm.dial(opts) {
            Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {
                self.awaiting_connection
                    .entry(peer)
                    .or_default()
                    .push(reply);
            }
            Err(e) => {
                tracing::debug!(local = %self.shared.local, %peer, %e, "dial refused");
                let why = error(
                    TransportErrorKind::Unreachable,
                    format!("cannot dial {peer}"),
                )
                .with_source(e);
                self.shared.dial_failed(&peer, why.clone());
                let _ = reply.send(Err(why));
            }
        }
    }

    fn open_on_connection(&mut self, peer: PeerId, reply: Opening) {
        self.next_open = self.next_open.wrapping_add(1);
        let id = self.next_open;
        self.opening.insert(id, (peer, reply));
        self.swarm.behaviour_mut().frames.open(peer, id);
    }

    /// `peer` is connected: the writers waiting for it get their substreams.
    fn connection_up(&mut self, peer: PeerId) {
        for reply in self.awaiting_connection.remove(&peer).unwrap_or_default() {
            self.open_on_connection(peer, reply);
        }
    }

    /// `peer` cannot be reached (the dial failed) or is gone (its last
    /// connection closed): the writers waiting for it fail.
    fn connection_lost(&mut self, peer: PeerId, why: &TransportError) {
        for reply in self.awaiting_connection.remove(&peer).unwrap_or_default() {
            let _ = reply.send(Err(why.clone()));
        }
        let lost: Vec<OpenId> = self
            .opening
            .iter()
            .filter(|(_, (to, _))| *to == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            if let Some((_, reply)) = self.opening.remove(&id) {
                let _ = reply.send(Err(why.clone()));
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
        self.shared.report(&self.events, failure);
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
