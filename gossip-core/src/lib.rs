#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod domain;
mod error;
pub mod node;
pub mod ports;
pub mod protocol;
mod serde_bounded;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use domain::*;
pub use error::{
    DecodeError, Error, IdKind, Result, StoreError, StoreErrorKind, TransportError,
    TransportErrorKind,
};
pub use node::*;
pub use ports::*;
