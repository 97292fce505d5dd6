//! The pure domain: identifiers, clocks, entries, version vectors, channels,
//! merge, retention, materializers, digests and events. No I/O, no system clock.

pub(crate) mod base32;
mod buffer;
mod channel;
mod checkpoint;
mod control;
mod digest;
mod entry;
mod entry_proof;
pub(crate) mod entry_runs;
mod events;
mod hlc;
mod ids;
mod invitation;
mod materializer;
mod merge;
mod node_id;
mod retention;
mod rng;
mod signed_run;
mod verify;
mod version_vector;

pub use buffer::{BufferLimits, OutOfOrderBuffer};
pub use channel::{Channel, StreamConfig, DEFAULT_MAX_PAYLOAD_BYTES};
pub use checkpoint::{BaseProof, BaseRefusal, SignedHeader};
pub use control::{
    ControlOp, ControlState, Cutoff, Member, Permission, Role, MAX_ADDRESS_LEN,
    MAX_CONTROL_OP_BYTES, MAX_LABEL_LEN, MAX_MEMBER_ADDRESSES,
};
pub use digest::{ChannelDigest, Delta, DigestHash, DigestPart, StreamDigest};
pub(crate) use entry::deserialize_sequence;
pub use entry::{EntryKey, LogEntry, MAX_SEQUENCE};
pub use entry_proof::EntryHash;
pub use events::{DomainEvent, PeerStatus, SyncError};
pub use hlc::{Hlc, HlcClock, MAX_PHYSICAL_MS};
pub use ids::{ChannelId, StreamId, MAX_CHANNEL_NAME_LEN, MAX_ID_LEN};
pub use invitation::{Invitation, INVITATION_PREFIX, MAX_INVITATION_ADDRESSES};
pub use materializer::{Fold, Materialized, StateMaterializer};
pub(crate) use merge::merge_hashed_entries;
pub use merge::{
    duplicate_ranges, merge_entries, EquivocationProof, HeldEntries, MergeInput, MergeOutcome,
    MergeOutput,
};
pub use node_id::{NodeId, Signature, NODE_ID_PREFIX, NODE_ID_TEXT_LEN};
pub use retention::RetentionPolicy;
pub use rng::SeededRng;
pub use signed_run::{drop_unprovable_tails, provable_units, run_ends, SIGNED_RUN_BYTES};
pub use verify::{verify_entries, ProvenEntry, Verification};
pub use version_vector::{SeqRange, VersionVector};
