//! [`transport_conformance!`](crate::transport_conformance): the suite as tests.

/// Generates the transport conformance tests for a plug-in.
///
/// Takes a factory expression (`Fn(Vec<Identity>) -> impl Future<Output =
/// Vec<T>>`, `T: Transport`, one transport per identity, in order, each
/// speaking for its identity; its future must be `'static`) and expands to a
/// module `transport_conformance` with submodules `direct` and `boxed` (each
/// transport erased to `Arc<dyn Transport>`), one `#[test]` per behaviour in
/// [`testkit::transport`](crate::testkit::transport). The factory is written
/// as in the caller's module: the generated modules import its names.
///
/// ```ignore
/// gossip_core::transport_conformance!(|identities: Vec<gossip_core::Identity>| async move {
///     let network = MemoryNetwork::new(MemoryNetworkConfig::default());
///     identities.iter().map(|i| network.join(i).expect("join")).collect::<Vec<_>>()
/// });
/// ```
///
/// With `impostor = …` (an expression of a type implementing
/// [`Impostor`](crate::testkit::transport::Impostor) for the transport), the
/// `direct` module also runs
/// [`an_impostor_is_refused_and_never_heard_as_its_victim`](crate::testkit::transport::an_impostor_is_refused_and_never_heard_as_its_victim):
/// every transport that carries frames between processes should supply one.
///
/// ```ignore
/// gossip_core::transport_conformance!(factory, impostor = HelloNamingTheVictim);
/// ```
#[macro_export]
macro_rules! transport_conformance {
    ($factory:expr $(, impostor = $impostor:expr)? $(,)?) => {
        mod transport_conformance {
            #[allow(unused_imports)]
            use super::*;

            mod direct {
                #[allow(unused_imports)]
                use super::*;
                $crate::__transport_conformance_tests!($factory);
                $(
                    #[::core::prelude::v1::test]
                    fn an_impostor_is_refused_and_never_heard_as_its_victim() {
                        $crate::testkit::fixtures::run(
                            $crate::testkit::transport::an_impostor_is_refused_and_never_heard_as_its_victim(
                                $factory, $impostor,
                            ),
                        );
                    }
                )?
            }

            mod boxed {
                #[allow(unused_imports)]
                use super::*;
                $crate::__transport_conformance_tests!($crate::testkit::transport::boxed($factory));
            }
        }
    };
}

/// The list of tests [`transport_conformance!`] generates. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __transport_conformance_tests {
    ($factory:expr) => {
        $crate::__transport_conformance_tests!(@tests $factory;
            delivers_frames_with_sender_id,
            frame_of_exactly_max_len_arrives,
            larger_frame_is_frame_too_large_and_nothing_sent,
            unknown_peer_is_error_not_hang,
            per_link_order_when_ordered,
            recv_many_takes_bursts_within_its_limit,
            send_many_sends_batches_and_stops_at_the_first_refusal,
            declared_capabilities,
            recv_is_cancel_safe,
            close_fails_send_and_wakes_recv,
            close_is_idempotent,
            many_peers_at_once,
            concurrent_send_and_recv,
            max_frame_len_is_positive_and_stable,
            empty_frame_roundtrips,
        );
    };
    (@tests $factory:expr; $($test:ident),* $(,)?) => {
        $(
            #[::core::prelude::v1::test]
            fn $test() {
                $crate::testkit::fixtures::run(
                    $crate::testkit::transport::$test($factory),
                );
            }
        )*
    };
}
