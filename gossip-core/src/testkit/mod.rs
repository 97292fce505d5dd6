//! Conformance suites and test helpers for plug-in authors (feature `testkit`).
//!
//! Not covered by semver: the suites grow as the contracts are refined.
//!
//! - [`store`]: the store conformance suite, one function per behaviour of
//!   [`Store`](crate::Store), and the
//!   [`store_conformance!`](crate::store_conformance) macro that runs it all
//!   from one call in a store crate's tests.
//! - [`transport`]: the transport conformance suite, one function per
//!   behaviour of [`Transport`](crate::Transport), and the
//!   [`transport_conformance!`](crate::transport_conformance) macro.
//! - [`fixtures`]: builders (ids, entries), paging readers, temp dirs and the
//!   runtime the suites run on ([`fixtures::run`]).
//! - [`misbehaving`]: a peer that speaks the wire protocol by hand and
//!   sends any frame at any rate, with the frames of known attacks, to show
//!   a node (on your store or transport) survives them.
//! - [`sim`]: simulation helpers.
//! - [`environment`]: tests that need something of their machine say so
//!   when it is missing ([`environment::not_run_here`]).
//!
//! ```
//! use gossip_core::testkit::fixtures::{entries, in_read_order, node};
//!
//! let (a, b) = (node("a"), node("b"));
//! let mut all = entries(&a, 1..=2, |seq| seq * 10);
//! all.extend(entries(&b, 1..=2, |seq| seq * 5));
//! let ordered = in_read_order(all);
//! assert_eq!(ordered[0].author, b);
//! ```

pub mod environment;
pub mod fixtures;
pub mod misbehaving;
pub mod sim;
pub mod store;
mod store_macro;

pub mod transport;
