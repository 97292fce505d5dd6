//! The store × transport × stack matrix: one scenario suite run against every
//! compiled-in combination of plug-ins.
//!
//! A [`Cell`] names a store, a transport and a middleware [`Stack`];
//! [`run`] builds a small [`MatrixCluster`] of that cell and plays one
//! [`Scenario`] on it. `tests/matrix.rs` generates one test per cell and
//! scenario, named `store::transport::stack::scenario`, so a slice runs with
//! a filter:
//!
//! ```text
//! cargo test -p integration-tests --test matrix -- sqlite::tcp
//! GOSSIP_MATRIX=sqlite,encrypted cargo test -p integration-tests --test matrix
//! ```
//!
//! The environment variable [`ENV_FILTER`] narrows the cells at run time
//! (see [`Selection`]); cells it leaves out pass without running, but a
//! selection that names something unknown, or that no cell of this build
//! matches, fails every test with a message listing what can be selected: a
//! typo never passes having run nothing.
//!
//! ```no_run
//! use integration_tests::matrix::{run, Cell, Scenario, Stack, StoreKind, TransportKind};
//!
//! run(
//!     Cell::new(StoreKind::Sqlite, TransportKind::Tcp, Stack::Encrypted),
//!     Scenario::PartitionHeal,
//! );
//! ```

mod cluster;
mod scenarios;
mod selection;
mod wire;

use std::{fmt, time::Duration};

pub use cluster::{MatrixCluster, MatrixResult};
pub use scenarios::LONG_HISTORY;
pub use selection::{Selection, SelectionError, ENV_FILTER};

/// The bound on one scenario, in the runtime's time (simulated under paused time).
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(150);

/// How long nodes get to converge after each step of a scenario.
pub const CONVERGE_LIMIT: Duration = Duration::from_secs(45);

/// Which store every node of the cell uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreKind {
    /// `gossip-store-memory`: nothing survives the process, but a node restarted
    /// on a clone of its store finds its entries again.
    Memory,
    /// `gossip-store-sqlite`, one database file per node in a temporary directory.
    Sqlite,
    /// `gossip-store-rocksdb`, one directory per node (feature `rocksdb`).
    #[cfg(feature = "rocksdb")]
    RocksDb,
}

impl StoreKind {
    /// Every store compiled into this build (RocksDB with the `rocksdb` feature).
    pub const ALL: &'static [StoreKind] = &[
        StoreKind::Memory,
        StoreKind::Sqlite,
        #[cfg(feature = "rocksdb")]
        StoreKind::RocksDb,
    ];

    /// The store's name in test paths and in [`ENV_FILTER`].
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Sqlite => "sqlite",
            #[cfg(feature = "rocksdb")]
            StoreKind::RocksDb => "rocksdb",
        }
    }

    /// Whether the store keeps its entries on disk, across processes.
    #[must_use]
    pub fn is_durable(self) -> bool {
        !matches!(self, StoreKind::Memory)
    }
}

/// Which transport carries the cell's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// `gossip-transport-memory`: one in-process network; partitions cut its links.
    Memory,
    /// `gossip-transport-tcp` on loopback, port 0; partitions drop frames in a faults layer.
    Tcp,
    /// `gossip-transport-libp2p` (TCP + Noise + Yamux) on loopback; partitions as for TCP.
    Libp2p,
}

impl TransportKind {
    /// Every transport of the matrix.
    pub const ALL: &'static [TransportKind] = &[
        TransportKind::Memory,
        TransportKind::Tcp,
        TransportKind::Libp2p,
    ];

    /// The transport's name in test paths and in [`ENV_FILTER`].
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Memory => "memory",
            TransportKind::Tcp => "tcp",
            TransportKind::Libp2p => "libp2p",
        }
    }
}

/// Which `gossip-middleware` layers wrap the transport, outermost first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stack {
    /// The bare transport.
    Plain,
    /// lz4 compression.
    Compressed,
    /// AES-256-GCM encryption under a shared network key.
    Encrypted,
    /// metrics → compression → encryption, the recommended order.
    Full,
}

impl Stack {
    /// Every stack of the matrix.
    pub const ALL: &'static [Stack] = &[
        Stack::Plain,
        Stack::Compressed,
        Stack::Encrypted,
        Stack::Full,
    ];

    /// The stack's name in test paths and in [`ENV_FILTER`].
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Stack::Plain => "plain",
            Stack::Compressed => "compressed",
            Stack::Encrypted => "encrypted",
            Stack::Full => "full",
        }
    }
}

/// One behaviour every cell must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scenario {
    /// Three writers on three nodes end with identical streams.
    Converge,
    /// A node cut off from the others misses their entries; after the heal
    /// everyone holds everything.
    PartitionHeal,
    /// A node restarted on the same store (durable stores only) finds its
    /// entries again and catches up with what it missed.
    Restart,
    /// A node joining late catches up with a long history (2,000 entries).
    LongHistory,
    /// A node added to the channel receives its history and is heard; a
    /// removed member's new entries are refused.
    Membership,
    /// Nodes leave and rejoin, in turns, while the others write.
    Churn,
}

impl Scenario {
    /// Every scenario; [`Cell::scenarios`] says which a cell plays.
    pub const ALL: &'static [Scenario] = &[
        Scenario::Converge,
        Scenario::PartitionHeal,
        Scenario::Restart,
        Scenario::LongHistory,
        Scenario::Membership,
        Scenario::Churn,
    ];

    /// The scenario's name in test paths and in [`ENV_FILTER`].
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Converge => "converge",
            Scenario::PartitionHeal => "partition_heal",
            Scenario::Restart => "restart",
            Scenario::LongHistory => "long_history",
            Scenario::Membership => "membership",
            Scenario::Churn => "churn",
        }
    }
}

/// One combination of plug-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Cell {
    /// The store.
    pub store: StoreKind,
    /// The transport.
    pub transport: TransportKind,
    /// The layers over the transport.
    pub stack: Stack,
}

impl Cell {
    /// The cell of `store`, `transport` and `stack`.
    #[must_use]
    pub fn new(store: StoreKind, transport: TransportKind, stack: Stack) -> Self {
        Self {
            store,
            transport,
            stack,
        }
    }

    /// Every cell compiled into this build: each store × transport × stack.
    pub fn all() -> impl Iterator<Item = Cell> {
        StoreKind::ALL.iter().flat_map(|&store| {
            TransportKind::ALL.iter().flat_map(move |&transport| {
                Stack::ALL
                    .iter()
                    .map(move |&stack| Cell::new(store, transport, stack))
            })
        })
    }

    /// The scenarios this cell plays: all of them, but `restart` only on a
    /// durable store (as `tests/matrix.rs` generates them).
    pub fn scenarios(&self) -> impl Iterator<Item = Scenario> + '_ {
        Scenario::ALL
            .iter()
            .copied()
            .filter(|scenario| *scenario != Scenario::Restart || self.store.is_durable())
    }

    /// Whether the cell runs under paused tokio time: only when nothing in it
    /// does real I/O (memory store over the memory transport).
    #[must_use]
    pub fn simulated_time(&self) -> bool {
        self.store == StoreKind::Memory && self.transport == TransportKind::Memory
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}::{}::{}",
            self.store.name(),
            self.transport.name(),
            self.stack.name()
        )
    }
}

/// Runs `scenario` on a fresh cluster of `cell`, on a runtime of its own
/// (paused time when [`Cell::simulated_time`]), unless [`ENV_FILTER`] leaves
/// the cell out.
///
/// # Panics
///
/// When the scenario fails, a node operation fails, or the scenario runs past
/// [`SCENARIO_LIMIT`]: a failure of the test. Also when [`ENV_FILTER`] names
/// something unknown or selects no cell of this build at all, so that a
/// mistyped selection fails instead of passing having run nothing.
pub fn run(cell: Cell, scenario: Scenario) {
    let selection = match Selection::from_env() {
        Ok(selection) => selection,
        Err(error) => panic!("{ENV_FILTER}: {error}"),
    };
    if let Err(error) = selection.check_matches_something() {
        panic!("{ENV_FILTER}: {error}");
    }
    if !selection.selects(&cell, scenario) {
        eprintln!("{cell}::{}: skipped by {ENV_FILTER}", scenario.name());
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(cell.simulated_time())
        .build()
        .expect("a tokio runtime");
    let outcome = runtime.block_on(async {
        tokio::time::timeout(SCENARIO_LIMIT, scenarios::play(cell, scenario)).await
    });
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("{cell}::{}: {error}", scenario.name()),
        Err(_) => panic!(
            "{cell}::{}: did not finish within {SCENARIO_LIMIT:?}",
            scenario.name()
        ),
    }
}
