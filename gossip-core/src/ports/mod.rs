//! Ports: the traits plug-ins implement (store, transport) and the clock.

mod clock;
mod store;
mod transport;

pub use clock::{Clock, ManualClock, SystemClock};
pub use store::{DynStore, PeerRecord, Store, StoreCapabilities, StoreResult, StreamStats};
pub use transport::{
    DynTransport, Transport, TransportCapabilities, TransportEvent, TransportResult,
};
