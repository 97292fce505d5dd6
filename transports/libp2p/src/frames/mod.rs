//! [`Frames`]: the network behaviour of the frames protocol. It hands every
//! inbound `/gossip/frames/2` substream to the swarm task, and opens
//! outbound ones on request, on any established connection to the peer.
//! Reading and writing the substreams is the link tasks' job
//! ([`link`](crate::link)).

mod handler;

use std::{
    collections::VecDeque,
    task::{Context, Poll},
};

use libp2p::{
    core::{transport::PortUse, Endpoint},
    swarm::{
        ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, NotifyHandler, Stream,
        THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};

pub(crate) use handler::OpenId;
use handler::{Handler, HandlerIn, HandlerOut};

/// What [`Frames`] reports to the swarm task.
#[derive(Debug)]
pub(crate) enum Event {
    /// `peer` opened a frames substream to us.
    Inbound { peer: PeerId, stream: Stream },
    /// The outbound substream of request `id` is open.
    Opened { id: OpenId, stream: Stream },
    /// The outbound substream of request `id` could not be opened.
    OpenFailed { id: OpenId, why: String },
}

/// The behaviour. Its queue holds what the connections reported since the
/// swarm task last polled it (bounded by connections × substreams).
#[derive(Default)]
pub(crate) struct Frames {
    events: VecDeque<ToSwarm<Event, HandlerIn>>,
}

impl Frames {
    /// Asks for a substream to `peer`, which must be connected (a request
    /// for a peer without connection is dropped by the swarm: the caller
    /// times out). Answered by [`Event::Opened`] or [`Event::OpenFailed`].
    pub(crate) fn open(&mut self, peer: PeerId, id: OpenId) {
        self.events.push_back(ToSwarm::NotifyHandler {
            peer_id: peer,
            handler: NotifyHandler::Any,
            event: HandlerIn::Open(id),
        });
    }
}

impl NetworkBehaviour for Frames {
    type ConnectionHandler = Handler;
    type ToSwarm = Event;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::default())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::default())
    }

    fn on_swarm_event(&mut self, _: FromSwarm<'_>) {}

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        let event = match event {
            HandlerOut::Inbound(stream) => Event::Inbound { peer, stream },
            HandlerOut::Opened(id, stream) => Event::Opened { id, stream },
            HandlerOut::OpenFailed(id, why) => Event::OpenFailed { id, why },
        };
        self.events.push_back(ToSwarm::GenerateEvent(event));
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        match self.events.pop_front() {
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }
}
