//! The store conformance suite: one public `async fn` per behaviour of the
//! [`Store`] trait, and the [`store_conformance!`](crate::store_conformance)
//! macro that turns them all into tests for a plug-in crate with one call.
//!
//! A store is "done" when the macro's tests pass. In the store crate's
//! `tests/conformance.rs`, with `gossip-core` (feature `testkit`) as a
//! dev-dependency — tokio is not needed, the suite brings its own runtime
//! (`gossip-store-memory` runs exactly this):
//!
//! ```ignore
//! use gossip_store_memory::MemoryStore;
//!
//! // A store that keeps nothing across restarts:
//! gossip_core::store_conformance!(volatile, |_dir: std::path::PathBuf| async {
//!     MemoryStore::new()
//! });
//! ```
//!
//! A durable store opens its files under the fresh directory it is given; the
//! reopen test calls the factory a second time with the same directory:
//!
//! ```ignore
//! gossip_core::store_conformance!(durable, |dir: std::path::PathBuf| async move {
//!     SqliteStore::open(dir.join("db")).await.unwrap()
//! });
//! ```
//!
//! Every function takes a factory `Fn(PathBuf) -> impl Future<Output = impl
//! Store>`, calls it with a fresh temp directory ([`TestDir`], removed at the
//! end) and panics on the first violation. To run one by hand:
//! `fixtures::run(store::append_is_atomic(factory))`; [`boxed`] adapts a
//! factory to the erased [`DynStore`] form.
//!
//! The functions, by method of [`Store`]:
//!
//! - `append`: [`append_is_atomic`], [`append_rejects_non_contiguous`],
//!   [`append_rejects_already_held`], [`empty_append_is_noop`],
//!   [`append_creates_stream`];
//! - `read`: [`read_pages_in_read_order_exactly_once`],
//!   [`read_unknown_stream_is_empty`];
//! - `read_author`: [`read_author_after_with_limit`],
//!   [`read_author_skips_compacted`];
//! - `version`, `base`: [`version_is_highest_held_or_base`],
//!   [`failed_append_does_not_show_in_version`],
//!   [`base_is_raised_by_compaction_only`];
//! - `stats`, `streams`: [`stats_count_entries_and_bytes`],
//!   [`streams_lists_written_streams`];
//! - `compact`: [`compact_removes_only_prefixes`], [`compact_below_base_is_noop`],
//!   [`compact_beyond_high_then_append_follows_base`];
//! - `truncate_author`: [`truncate_removes_only_the_suffix`],
//!   [`truncate_beyond_the_end_is_noop`], [`truncate_below_base_keeps_the_base`],
//!   [`truncate_then_append_follows`];
//! - channels, peers, clock: [`channels_save_load_delete`],
//!   [`peers_save_load_remove`], [`clock_never_lowers`];
//! - `clear`: [`clear_removes_everything`];
//! - the store as a whole: [`concurrent_appends_to_different_streams`],
//!   [`concurrent_appends_to_same_stream_never_mix`], [`many_entries_paged`];
//! - `close` and capabilities: [`reopen_keeps_everything`] and
//!   [`reopen_keeps_truncation`] (durable stores only),
//!   [`declared_capabilities_match`].

use std::{future::Future, path::PathBuf, sync::Arc};

use futures_util::{future::Map, FutureExt};

use super::fixtures::TestDir;
use crate::ports::{DynStore, Store};

/// Adapts a factory so that it yields the store erased to a [`DynStore`]:
/// runs the suite through the boxed form, which proves that forwarding
/// through `Arc<dyn Store>` loses nothing.
pub fn boxed<F, Fut, S>(factory: F) -> impl Fn(PathBuf) -> Map<Fut, fn(S) -> DynStore>
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    move |dir| factory(dir).map(erase::<S> as fn(S) -> DynStore)
}

fn erase<S: Store>(store: S) -> DynStore {
    Arc::new(store)
}

async fn open<F, Fut, S>(factory: &F, dir: &TestDir) -> S
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    factory(dir.path().to_path_buf()).await
}

mod append;
mod compact;
mod durability;
mod read;
mod records;
mod scale;
mod truncate;

pub use append::*;
pub use compact::*;
pub use durability::*;
pub use read::*;
pub use records::*;
pub use scale::*;
pub use truncate::*;
