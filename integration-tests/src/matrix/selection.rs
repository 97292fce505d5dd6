//! [`Selection`]: which cells and scenarios [`ENV_FILTER`] lets run.

use std::fmt;

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
/// empty: everything runs. An unknown name is an error ([`SelectionError`]),
/// and so is a selection that no compiled-in cell matches
/// ([`Selection::check_matches_something`]).
///
/// ```
/// use integration_tests::matrix::{Cell, Scenario, Selection, Stack, StoreKind, TransportKind};
///
/// let sqlite_tcp = Cell::new(StoreKind::Sqlite, TransportKind::Tcp, Stack::Plain);
/// let memory_tcp = Cell::new(StoreKind::Memory, TransportKind::Tcp, Stack::Plain);
/// let selection = Selection::parse("sqlite, tcp")?;
/// assert!(selection.selects(&sqlite_tcp, Scenario::Converge));
/// assert!(!selection.selects(&memory_tcp, Scenario::Converge));
/// assert!(Selection::parse("")?.selects(&memory_tcp, Scenario::Churn));
/// assert!(Selection::parse("transport=tcp,churn")?.selects(&memory_tcp, Scenario::Churn));
///
/// // A typo is an error naming what can be selected, never an empty run.
/// let typo = Selection::parse("sqlight").unwrap_err();
/// assert!(typo.to_string().contains("sqlite"));
/// // Known names whose combination matches no cell (restart needs a durable store).
/// let empty = Selection::parse("store=memory,restart")?;
/// assert!(empty.check_matches_something().is_err());
/// # Ok::<(), integration_tests::matrix::SelectionError>(())
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
    /// Reads [`ENV_FILTER`]; unset selects everything.
    ///
    /// # Errors
    ///
    /// As [`Selection::parse`]; a value that is not Unicode is an error too.
    pub fn from_env() -> Result<Self, SelectionError> {
        match std::env::var(ENV_FILTER) {
            Ok(value) => Self::parse(&value),
            Err(std::env::VarError::NotPresent) => Ok(Self::default()),
            Err(std::env::VarError::NotUnicode(value)) => Err(SelectionError::Unknown(vec![value
                .to_string_lossy()
                .into_owned()])),
        }
    }

    /// Parses a list as described on [`Selection`].
    ///
    /// # Errors
    ///
    /// [`SelectionError::Unknown`] naming every name (or `axis=name`) that is
    /// no store, transport, stack or scenario: a misspelled name must not
    /// skip every cell and pass.
    pub fn parse(list: &str) -> Result<Self, SelectionError> {
        let mut selection = Self::default();
        let mut unknown = Vec::new();
        for token in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let token = token.to_ascii_lowercase();
            let (axis, name) = match token.split_once('=') {
                Some((axis, name)) => (Some(axis.trim().to_owned()), name.trim().to_owned()),
                None => (None, token.clone()),
            };
            let wants = |which: &str, known: &[&str]| match &axis {
                Some(axis) => axis == which && known.contains(&name.as_str()),
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
                unknown.push(token);
            }
        }
        if unknown.is_empty() {
            Ok(selection)
        } else {
            Err(SelectionError::Unknown(unknown))
        }
    }

    /// Whether at least one scenario of one compiled-in cell ([`Cell::all`],
    /// [`Cell::scenarios`]) is selected.
    ///
    /// # Errors
    ///
    /// [`SelectionError::MatchesNothing`], listing the cells of this build.
    pub fn check_matches_something(&self) -> Result<(), SelectionError> {
        let any = Cell::all().any(|cell| cell.scenarios().any(|s| self.selects(&cell, s)));
        if any {
            Ok(())
        } else {
            Err(SelectionError::MatchesNothing)
        }
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

/// Why a [`Selection`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectionError {
    /// Names that are no store, transport, stack or scenario.
    Unknown(Vec<String>),
    /// Every name is known, but no cell of this build matches them together.
    MatchesNothing,
}

impl fmt::Display for SelectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectionError::Unknown(names) => write!(f, "unknown names {names:?}")?,
            SelectionError::MatchesNothing => write!(f, "the selection matches no cell")?,
        }
        write!(
            f,
            "; stores {STORES:?} (rocksdb with the `rocksdb` feature), transports \
             {TRANSPORTS:?}, stacks {STACKS:?}, scenarios {SCENARIOS:?} (restart on durable \
             stores only); cells of this build:"
        )?;
        for cell in Cell::all() {
            write!(f, " {cell}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SelectionError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{Stack, StoreKind, TransportKind};

    fn cell(store: StoreKind, transport: TransportKind) -> Cell {
        Cell::new(store, transport, Stack::Full)
    }

    #[test]
    fn axes_narrow_and_names_on_one_axis_widen() {
        let s = Selection::parse("sqlite,tcp,libp2p").unwrap();
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
        let bare = Selection::parse("memory").unwrap();
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
        let store = Selection::parse("store=memory").unwrap();
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
    fn unknown_names_are_an_error_naming_them_and_the_valid_cells() {
        let error = Selection::parse("sqlite,sqlight,axis=tcp,store=tcp").unwrap_err();
        assert_eq!(
            error,
            SelectionError::Unknown(vec![
                "sqlight".into(),
                "axis=tcp".into(),
                "store=tcp".into()
            ])
        );
        let message = error.to_string();
        assert!(message.contains("sqlight"), "{message}");
        assert!(message.contains("memory::tcp::plain"), "{message}");
    }

    #[test]
    fn a_selection_matching_no_cell_is_an_error() {
        let nothing = Selection::parse("store=memory,restart").unwrap();
        assert_eq!(
            nothing.check_matches_something(),
            Err(SelectionError::MatchesNothing)
        );
        assert!(Selection::parse("sqlite,restart")
            .unwrap()
            .check_matches_something()
            .is_ok());
        assert!(Selection::default().check_matches_something().is_ok());
    }
}
