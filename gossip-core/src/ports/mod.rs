//! Ports: the traits plug-ins implement (store, transport) and the clock.

mod append_validator;
mod backoff;
mod clock;
mod store;
mod transport;

pub use append_validator::{
    AppendPlan, AppendRejection, AppendValidator, AuthorAppend, AuthorPosition,
};
pub use backoff::{jitter_seed, reconnect_delay};
pub use clock::{Clock, ManualClock, SystemClock};
pub use store::{DynStore, PeerRecord, Store, StoreCapabilities, StoreResult, StreamStats};
pub use transport::{
    DynTransport, Transport, TransportCapabilities, TransportEvent, TransportResult,
};
