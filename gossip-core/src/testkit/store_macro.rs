//! The [`store_conformance!`](crate::store_conformance) macro.

/// Generates the store conformance tests for a plug-in store: one `#[test]`
/// per function of [`testkit::store`](crate::testkit::store), run once on the
/// store as the factory builds it and once erased to a
/// [`DynStore`](crate::DynStore).
///
/// The first argument declares the store's capabilities:
///
/// - `volatile`: every behaviour test, plus `declared_capabilities_match`
///   (which fails if the store reports itself durable);
/// - `durable`: the same plus `reopen_keeps_everything` and
///   `reopen_keeps_truncation`, which close the store, drop it and call the
///   factory again with the same directory.
///
/// The second is the factory: a closure taking a fresh, empty temp directory
/// (`std::path::PathBuf`, removed after the test) and returning a future of
/// the store. Annotate the argument's type. Names used in it resolve as in the
/// module that calls the macro.
///
/// The expansion is a module `store_conformance` with submodules `direct` and
/// `boxed`, e.g. `store_conformance::boxed::append_is_atomic`. Each test is a
/// plain `#[test]` that runs the suite on its own multi-threaded tokio runtime
/// ([`fixtures::run`](crate::testkit::fixtures::run)), so the calling crate
/// needs only `gossip-core` with the `testkit` feature as a dev-dependency,
/// no tokio of its own. One call per module: to test several configurations,
/// wrap each call in its own `mod` (the factory sees that module's imports).
///
/// # Examples
///
/// In `tests/conformance.rs` of a store crate:
///
/// ```ignore
/// use gossip_store_memory::MemoryStore;
///
/// gossip_core::store_conformance!(volatile, |_dir: std::path::PathBuf| async {
///     MemoryStore::new()
/// });
/// ```
///
/// A durable store:
///
/// ```ignore
/// use gossip_store_sqlite::SqliteStore;
///
/// gossip_core::store_conformance!(durable, |dir: std::path::PathBuf| async move {
///     SqliteStore::open(dir.join("db")).await.unwrap()
/// });
/// ```
#[macro_export]
macro_rules! store_conformance {
    (volatile, $factory:expr $(,)?) => {
        $crate::__store_conformance!(@module false, $factory, []);
    };
    (durable, $factory:expr $(,)?) => {
        $crate::__store_conformance!(@module true, $factory, [reopen_keeps_everything, reopen_keeps_truncation]);
    };
}

/// Implementation detail of [`store_conformance!`](crate::store_conformance).
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance {
    (@module $durable:literal, $factory:expr, [$($extra:ident),*]) => {
        /// The store conformance suite (`gossip_core::testkit::store`).
        mod store_conformance {
            #[allow(unused_imports)]
            use super::*;

            /// The store as the factory builds it.
            mod direct {
                #[allow(unused_imports)]
                use super::*;

                $crate::__store_conformance!(@tests $durable, $factory, [$($extra),*]);
            }

            /// The store erased to `gossip_core::DynStore`.
            mod boxed {
                #[allow(unused_imports)]
                use super::*;

                $crate::__store_conformance!(
                    @tests $durable,
                    $crate::testkit::store::boxed($factory),
                    [$($extra),*]
                );
            }
        }
    };
    (@tests $durable:literal, $factory:expr, [$($extra:ident),*]) => {
        $crate::__store_conformance!(@each $factory;
            append_is_atomic,
            append_rejects_non_contiguous,
            append_rejects_already_held,
            empty_append_is_noop,
            append_creates_stream,
            read_pages_in_read_order_exactly_once,
            read_unknown_stream_is_empty,
            read_author_after_with_limit,
            read_author_skips_compacted,
            version_is_highest_held_or_base,
            base_is_raised_by_compaction_only,
            failed_append_does_not_show_in_version,
            stats_count_entries_and_bytes,
            streams_lists_written_streams,
            compact_removes_only_prefixes,
            compact_below_base_is_noop,
            compact_beyond_high_then_append_follows_base,
            truncate_removes_only_the_suffix,
            truncate_beyond_the_end_is_noop,
            truncate_below_base_keeps_the_base,
            truncate_then_append_follows,
            channels_save_load_delete,
            peers_save_load_remove,
            clock_never_lowers,
            clear_removes_everything,
            concurrent_appends_to_different_streams,
            concurrent_appends_to_same_stream_never_mix,
            many_entries_paged,
            $($extra,)*
        );

        #[test]
        fn declared_capabilities_match() {
            $crate::testkit::fixtures::run(
                $crate::testkit::store::declared_capabilities_match($factory, $durable),
            );
        }
    };
    (@each $factory:expr; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::testkit::fixtures::run($crate::testkit::store::$name($factory));
            }
        )*
    };
}
