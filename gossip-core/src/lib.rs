#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod domain;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod identity;
pub mod node;
pub mod ports;
pub mod protocol;
pub mod raw;
mod serde_bounded;
mod shared_payload;
#[cfg(feature = "testkit")]
pub mod testkit;

// The crate root is what applications use; engine plumbing is under `raw`.
// Every item is listed by name: a new public item of a module does not reach
// the root unless it is added here on purpose.

// Identities, identifiers, entries, clocks and version vectors.
pub use domain::{
    ChannelId, EntryHash, EntryKey, Hlc, LogEntry, NodeId, SeqRange, Signature, StreamId,
    VersionVector, MAX_ID_LEN, MAX_PHYSICAL_MS, MAX_SEQUENCE, NODE_ID_PREFIX, NODE_ID_TEXT_LEN,
};
pub use identity::{Identity, KeyFileErrorKind};
// Channels, their streams' settings and retention.
pub use domain::{Channel, RetentionPolicy, StreamConfig, DEFAULT_MAX_PAYLOAD_BYTES};
// Membership and settings: the control log and its fold.
pub use domain::{
    ControlOp, ControlState, Cutoff, Invitation, Member, Permission, Role, INVITATION_PREFIX,
    MAX_ADDRESS_LEN, MAX_CHANNEL_NAME_LEN, MAX_CONTROL_OP_BYTES, MAX_INVITATION_ADDRESSES,
    MAX_LABEL_LEN, MAX_MEMBER_ADDRESSES,
};
// Materializers and what nodes report.
pub use domain::{DomainEvent, Fold, Materialized, PeerStatus, StateMaterializer, SyncError};
// The node: builder, handles, configuration, health.
pub use domain::BufferLimits;
pub use node::{
    ChannelHandle, Config, Coordinator, CoordinatorBuilder, Durability, Health, InboundBudget,
    LazyPushConfig, MaterializedView, NoStore, NodeState, NodeStats, PeerHealth, PeerStreamSync,
    ResourceUsage, ServeBudget, StreamHandle, Subscription, SwimConfig,
};
// The ports plug-ins implement, and the clock.
pub use ports::{
    Clock, DynStore, DynTransport, ManualClock, PeerRecord, Store, StoreCapabilities, StoreResult,
    StreamStats, SystemClock, Transport, TransportCapabilities, TransportCounter, TransportEvent,
    TransportResult,
};
// The contracts every store and transport shares, for plug-ins here and elsewhere:
// the append rules, the inbound queue, connection limits and reconnect backoff.
pub use ports::{
    AppendPlan, AppendRejection, AppendValidator, AuthorAppend, AuthorPosition, ConnectionLimits,
    InboundItem, InboundPermit, InboundQueue, InboundSender, PushError, ReconnectPolicy,
};
// Errors.
pub use error::{
    DecodeError, Error, IdKind, Result, StoreError, StoreErrorKind, TransportError,
    TransportErrorKind,
};

// The handles applications move across tasks are `Send + Sync`: checked by the
// compiler on every build.
const _: () = {
    const fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Coordinator>();
    send_sync::<ChannelHandle>();
    send_sync::<StreamHandle>();
    send_sync::<Subscription<LogEntry>>();
    send_sync::<Config>();
    send_sync::<Identity>();
    send_sync::<NodeId>();
    send_sync::<Error>();
    send_sync::<DynStore>();
    send_sync::<DynTransport>();
};
