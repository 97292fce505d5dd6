//! Ports: the traits plug-ins implement (store, transport) and the clock.

mod append_validator;
mod backoff;
mod clock;
mod inbound;
mod limits;
mod store;
mod transport;
mod transport_errors;

pub use append_validator::{
    AppendPlan, AppendRejection, AppendValidator, AuthorAppend, AuthorPosition,
};
pub use backoff::{jitter_seed, reconnect_delay, ReconnectPolicy};
pub use clock::{Clock, ManualClock, SystemClock};
pub use inbound::{InboundItem, InboundPermit, InboundQueue, InboundSender, PushError};
pub use limits::ConnectionLimits;
pub use store::{DynStore, PeerRecord, Store, StoreCapabilities, StoreResult, StreamStats};
pub use transport::{
    DynTransport, Transport, TransportCapabilities, TransportCounter, TransportEvent,
    TransportResult,
};
