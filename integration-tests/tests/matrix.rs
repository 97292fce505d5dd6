//! The store × transport × stack matrix: every compiled-in cell runs the same
//! scenario suite (see `integration_tests::matrix`). Tests are named
//! `store::transport::stack::scenario`:
//!
//! ```text
//! cargo test -p integration-tests --test matrix -- sqlite::tcp
//! cargo test -p integration-tests --test matrix -- ::full::churn
//! GOSSIP_MATRIX=memory,encrypted cargo test -p integration-tests --test matrix
//! ```
//!
//! The RocksDB cells exist with the `rocksdb` feature.

/// The scenarios of one cell; `restart` only for durable stores.
macro_rules! scenarios {
    ($store:expr, $transport:expr, $stack:expr, $durability:ident) => {
        scenarios!(@tests $store, $transport, $stack;
            converge => Converge,
            partition_heal => PartitionHeal,
            long_history => LongHistory,
            membership => Membership,
            churn => Churn,
        );
        scenarios!(@restart $durability, $store, $transport, $stack);
    };
    (@restart durable, $store:expr, $transport:expr, $stack:expr) => {
        scenarios!(@tests $store, $transport, $stack; restart => Restart,);
    };
    (@restart volatile, $store:expr, $transport:expr, $stack:expr) => {};
    (@tests $store:expr, $transport:expr, $stack:expr; $($name:ident => $scenario:ident,)*) => {
        $(
            #[test]
            fn $name() {
                integration_tests::matrix::run(
                    integration_tests::matrix::Cell::new($store, $transport, $stack),
                    integration_tests::matrix::Scenario::$scenario,
                );
            }
        )*
    };
}

/// The four stacks over one store and transport.
macro_rules! stacks {
    ($store:expr, $transport:expr, $durability:ident) => {
        mod plain {
            scenarios!(
                $store,
                $transport,
                integration_tests::matrix::Stack::Plain,
                $durability
            );
        }
        mod compressed {
            scenarios!(
                $store,
                $transport,
                integration_tests::matrix::Stack::Compressed,
                $durability
            );
        }
        mod encrypted {
            scenarios!(
                $store,
                $transport,
                integration_tests::matrix::Stack::Encrypted,
                $durability
            );
        }
        mod full {
            scenarios!(
                $store,
                $transport,
                integration_tests::matrix::Stack::Full,
                $durability
            );
        }
    };
}

/// Every transport under one store.
macro_rules! transports {
    ($store:expr, $durability:ident) => {
        mod memory {
            stacks!(
                $store,
                integration_tests::matrix::TransportKind::Memory,
                $durability
            );
        }
        mod tcp {
            stacks!(
                $store,
                integration_tests::matrix::TransportKind::Tcp,
                $durability
            );
        }
        mod libp2p {
            stacks!(
                $store,
                integration_tests::matrix::TransportKind::Libp2p,
                $durability
            );
        }
    };
}

mod memory {
    transports!(integration_tests::matrix::StoreKind::Memory, volatile);
}

mod sqlite {
    transports!(integration_tests::matrix::StoreKind::Sqlite, durable);
}

#[cfg(feature = "rocksdb")]
mod rocksdb {
    transports!(integration_tests::matrix::StoreKind::RocksDb, durable);
}
