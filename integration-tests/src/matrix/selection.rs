//! [`Selection`]: which cells and scenarios [`ENV_FILTER`] lets run.

use super::{Cell, Scenario};

/// The environment variable that narrows the matrix at run time: a
/// comma-separated list of names, e.g. `GOSSIP_MATRIX=sqlite,tcp`.
pub const ENV_FILTER: &str = "GOSSIP_MATRIX";

/// A parsed [`ENV_FILTER`].
///
/// Each name is a store (`memory`, `sqlite`, `rocksdb`), a transport
/// (`memory`, `tcp`, `libp2p`), a stack (`plain`, `compressed`, `encrypted`,
/// `full`) or a scenario (`converge`, `partition_heal`, `restart`,
/// `long_history`, `membership`, `churn`), optionally qualified by its axis
/// (`store=memory`, `transport=memory`, `stack=full`, `scenario=churn`). A
/// cell runs when, on every axis the list names, its value is listed: names
/// on one axis widen, names on different axes narrow. A bare `memory` selects
/// the cells whose store or transport is memory (so `memory,tcp` is the memory
/// store over TCP, `sqlite,memory` SQLite over the memory transport). Unset or
/// empty: everything runs.
///
/// ```
/// use integration_tests::matrix::{Cell, Scenario, Selection, Stack, StoreKind, TransportKind};
///
/// let sqlite_tcp = Cell::new(StoreKind::Sqlite, TransportKind::Tcp, Stack::Plain);
/// let memory_tcp = Cell::new(StoreKind::Memory, TransportKind::Tcp, Stack::Plain);
/// let selection = Selection::parse("sqlite, tcp");
/// assert!(selection.selects(&sqlite_tcp, Scenario::Converge));
/// assert!(!selection.selects(&memory_tcp, Scenario::Converge));
/// assert!(Selection::parse("").selects(&memory_tcp, Scenario::Churn));
/// assert!(Selection::parse("transport=tcp,churn").selects(&memory_tcp, Scenario::Churn));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    stores: Vec<String>,
    transports: Vec<String>,
    stacks: Vec<String>,
    scenarios: Vec<String>,
    either_memory: bool,
}

const STORES: &[&str] = &["memory", "sqlite", "rocksdb"];
const TRANSPORTS: &[&str] = &["memory", "tcp", "libp2p"];
const STACKS: &[&str] = &["plain", "compressed", "encrypted", "full"];
const SCENARIOS: &[&str] = &[
    "converge",
    "partition_heal",
    "restart",
    "long_history",
    "membership",
    "churn",
];

impl Selection {
    /// Reads [`ENV_FILTER`]; unset or not Unicode selects everything.
    #[must_use]
    pub fn from_env() -> Self {
        std::env::var(ENV_FILTER)
            .map(|value| Self::parse(&value))
            .unwrap_or_default()
    }

    /// Parses a list as described on [`Selection`]. Unknown names select
    /// nothing on no axis, so a misspelled name skips every cell rather than
    /// silently running them all.
    #[must_use]
    pub fn parse(list: &str) -> Self {
        let mut selection = Self::default();
        for token in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let token = token.to_ascii_lowercase();
            let (axis, name) = match token.split_once('=') {
                Some((axis, name)) => (Some(axis.trim().to_owned()), name.trim().to_owned()),
                None => (None, token.clone()),
            };
            let wants = |which: &str, known: &[&str]| match &axis {
                Some(axis) => axis == which,
                None => known.contains(&name.as_str()),
            };
            if token == "memory" {
                selection.either_memory = true;
                continue;
            }
            let mut placed = false;
            for (which, known, list) in [
                ("store", STORES, &mut selection.stores),
                ("transport", TRANSPORTS, &mut selection.transports),
                ("stack", STACKS, &mut selection.stacks),
                ("scenario", SCENARIOS, &mut selection.scenarios),
            ] {
                if wants(which, known) {
                    list.push(name.clone());
                    placed = true;
                }
            }
            if !placed {
                // Unknown: an axis no cell can satisfy.
                selection.scenarios.push(format!("unknown:{token}"));
            }
        }
        selection
    }

    /// Whether `scenario` on `cell` runs.
    #[must_use]
    pub fn selects(&self, cell: &Cell, scenario: Scenario) -> bool {
        let on = |list: &[String], value: &str| list.is_empty() || list.iter().any(|n| n == value);
        let store = cell.store.name();
        let transport = cell.transport.name();
        (!self.either_memory || store == "memory" || transport == "memory")
            && on(&self.stores, store)
            && on(&self.transports, transport)
            && on(&self.stacks, cell.stack.name())
            && on(&self.scenarios, scenario.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{Stack, StoreKind, TransportKind};

    fn cell(store: StoreKind, transport: TransportKind) -> Cell {
        Cell::new(store, transport, Stack::Full)
    }

    #[test]
    fn axes_narrow_and_names_on_one_axis_widen() {
        let s = Selection::parse("sqlite,tcp,libp2p");
        assert!(s.selects(
            &cell(StoreKind::Sqlite, TransportKind::Libp2p),
            Scenario::Restart
        ));
        assert!(!s.selects(
            &cell(StoreKind::Sqlite, TransportKind::Memory),
            Scenario::Restart
        ));
        assert!(!s.selects(
            &cell(StoreKind::Memory, TransportKind::Tcp),
            Scenario::Restart
        ));
    }

    #[test]
    fn bare_memory_names_either_axis_and_qualified_names_one() {
        let bare = Selection::parse("memory");
        assert!(bare.selects(
            &cell(StoreKind::Memory, TransportKind::Tcp),
            Scenario::Churn
        ));
        assert!(bare.selects(
            &cell(StoreKind::Sqlite, TransportKind::Memory),
            Scenario::Churn
        ));
        assert!(!bare.selects(
            &cell(StoreKind::Sqlite, TransportKind::Tcp),
            Scenario::Churn
        ));
        let store = Selection::parse("store=memory");
        assert!(store.selects(
            &cell(StoreKind::Memory, TransportKind::Tcp),
            Scenario::Churn
        ));
        assert!(!store.selects(
            &cell(StoreKind::Sqlite, TransportKind::Memory),
            Scenario::Churn
        ));
    }

    #[test]
    fn unknown_names_select_nothing() {
        let s = Selection::parse("sqlight");
        assert!(!s.selects(
            &cell(StoreKind::Sqlite, TransportKind::Tcp),
            Scenario::Converge
        ));
    }
}
