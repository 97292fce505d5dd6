//! The per-connection half of the frames protocol: accepts inbound
//! `/gossip/frames/2` substreams and opens outbound ones on request, handing
//! each negotiated substream up to [`Frames`](super::Frames). What flows on
//! a substream is none of its business: the link tasks read and write it.

use std::{
    collections::VecDeque,
    task::{Context, Poll},
};

use libp2p::{
    core::upgrade::ReadyUpgrade,
    swarm::{
        handler::{
            ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
        },
        ConnectionHandler, ConnectionHandlerEvent, Stream, StreamProtocol, StreamUpgradeError,
        SubstreamProtocol,
    },
};

use crate::codec::PROTOCOL;

/// Identifies one request for an outbound substream.
pub(crate) type OpenId = u64;

/// What [`Frames`](super::Frames) asks of a connection.
#[derive(Debug)]
pub(crate) enum HandlerIn {
    /// Open an outbound substream for request `OpenId`.
    Open(OpenId),
}

/// What a connection reports to [`Frames`](super::Frames).
#[derive(Debug)]
pub(crate) enum HandlerOut {
    /// The remote opened a substream.
    Inbound(Stream),
    /// The substream of request `OpenId` is open.
    Opened(OpenId, Stream),
    /// The substream of request `OpenId` could not be opened.
    OpenFailed(OpenId, String),
}

/// The connection handler. Its queues hold at most what the swarm handed it
/// between two polls.
#[derive(Default)]
pub(crate) struct Handler {
    requested: VecDeque<OpenId>,
    out: VecDeque<HandlerOut>,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = HandlerIn;
    type ToBehaviour = HandlerOut;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = OpenId;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ())
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, OpenId, Self::ToBehaviour>> {
        if let Some(event) = self.out.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
        }
        if let Some(id) = self.requested.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), id),
            });
        }
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, HandlerIn::Open(id): HandlerIn) {
        self.requested.push_back(id);
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<'_, Self::InboundProtocol, Self::OutboundProtocol, (), OpenId>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                ..
            }) => self.out.push_back(HandlerOut::Inbound(stream)),
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                info: id,
            }) => self.out.push_back(HandlerOut::Opened(id, stream)),
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info: id, error }) => {
                let why = match error {
                    StreamUpgradeError::Timeout => "timed out".to_owned(),
                    StreamUpgradeError::NegotiationFailed => {
                        format!("the peer does not speak {PROTOCOL}")
                    }
                    StreamUpgradeError::Io(e) => e.to_string(),
                    StreamUpgradeError::Apply(never) => match never {},
                };
                self.out.push_back(HandlerOut::OpenFailed(id, why));
            }
            _ => {}
        }
    }
}
