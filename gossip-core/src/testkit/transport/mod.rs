//! The transport conformance suite: one public async function per behaviour
//! of the [`Transport`] contract, and
//! [`transport_conformance!`](crate::transport_conformance), which turns
//! them into tests for a plug-in with one call.
//!
//! Every function takes a **factory**: given a list of ids, it returns a
//! connected network of fresh transports, one per id, in the same order, all
//! able to reach each other, faults off. The suite reads the transport's
//! [`capabilities`](Transport::capabilities): ordering is checked only when
//! declared `ordered`, exactly-once delivery only when not `may_duplicate`,
//! and [`declared_capabilities`] checks that every declared promise holds.
//! Each function is bounded by [`TEST_TIMEOUT`] and panics on a violation.
//!
//! In a plug-in crate, `tests/conformance.rs` (the macro expands to a module
//! `transport_conformance` with submodules `direct` and `boxed`, the latter
//! running every test through `Arc<dyn Transport>`; the tests are plain
//! `#[test]`s running on [`fixtures::run`](super::fixtures::run), so
//! the plug-in needs no tokio `macros` feature):
//!
//! ```ignore
//! use gossip_core::Identity;
//! use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
//!
//! gossip_core::transport_conformance!(|identities: Vec<Identity>| async move {
//!     let network = MemoryNetwork::new(MemoryNetworkConfig::default());
//!     identities
//!         .iter()
//!         .map(|identity| network.join(identity).expect("join"))
//!         .collect::<Vec<_>>()
//! });
//! ```
//!
//! A single behaviour can also be called directly from any async test:
//! `gossip_core::testkit::transport::empty_frame_roundtrips(factory).await`.
//!
//! `from` in a delivered frame is an id the remote *proved*: the
//! transport's test supplies an [`Impostor`] (its own attack, since only it
//! knows its wire) and [`an_impostor_is_refused_and_never_heard_as_its_victim`]
//! checks the guarantee; the macro runs it with `impostor = …`.
//!
//! The behaviours live in files by topic (delivery and
//! capabilities, refusals, concurrency, close, authentication); [`events`] holds the
//! deadline-bounded `recv` helpers (`next_event`, `next_frame`, `drain`, …)
//! that transport crates use in their own tests.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use crate::{DynTransport, Identity, Transport};

mod authentication;
mod close;
mod concurrency;
mod delivery;
pub mod events;
mod macros;
mod refusals;
mod support;

pub use authentication::{
    an_impostor_is_refused_and_never_heard_as_its_victim, Impostor, ImpostorAttempt,
};
pub use close::{close_fails_send_and_wakes_recv, close_is_idempotent};
pub use concurrency::{concurrent_send_and_recv, many_peers_at_once, recv_is_cancel_safe};
pub use delivery::{
    declared_capabilities, delivers_frames_with_sender_id, empty_frame_roundtrips,
    frame_of_exactly_max_len_arrives, per_link_order_when_ordered,
    recv_many_takes_bursts_within_its_limit,
    send_many_sends_batches_and_stops_at_the_first_refusal,
};
pub use refusals::{
    larger_frame_is_frame_too_large_and_nothing_sent, max_frame_len_is_positive_and_stable,
    unknown_peer_is_error_not_hang,
};

/// The longest any one conformance function may run.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the suite waits for an expected frame (or for a `QueueFull`
/// sender to get through) before failing.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the suite listens to make sure nothing more arrives.
pub const QUIET_PERIOD: Duration = Duration::from_millis(150);

/// The largest `max_frame_len` the suite accepts: it allocates a frame of
/// that size, and "bounded everything" rules out larger ones.
pub const MAX_TESTED_FRAME_LEN: usize = 1 << 30;

/// The boxed future returned by the factory that [`boxed`] builds.
pub type BoxedNetworkFuture = Pin<Box<dyn Future<Output = Vec<DynTransport>>>>;

/// Wraps a factory so that each transport it creates is erased to
/// [`DynTransport`] (`Arc<dyn Transport>`): running the suite through it
/// proves that erasure loses nothing.
pub fn boxed<F, Fut, T>(factory: F) -> impl Fn(Vec<Identity>) -> BoxedNetworkFuture
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>> + 'static,
    T: Transport,
{
    move |identities| {
        let transports = factory(identities);
        Box::pin(async move {
            transports
                .await
                .into_iter()
                .map(|transport| Arc::new(transport) as DynTransport)
                .collect()
        })
    }
}
