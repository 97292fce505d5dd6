#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod error;
pub mod frame;

#[cfg(feature = "compression")]
pub mod compression;
#[cfg(feature = "encryption")]
pub mod encryption;
#[cfg(feature = "faults")]
pub mod faults;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "tower")]
pub mod outbound;

pub use error::{Error, Result};

#[cfg(feature = "compression")]
pub use compression::{Compression, CompressionLayer};
#[cfg(feature = "encryption")]
pub use encryption::{
    Cipher, Encryption, EncryptionHandle, EncryptionLayer, NetworkKey, StoreEncryption,
    StoreEncryptionLayer,
};
#[cfg(feature = "faults")]
pub use faults::{FaultConfig, FaultStats, Faults, FaultsHandle, FaultsLayer};
#[cfg(feature = "metrics")]
pub use metrics::{Metrics, MetricsLayer, StoreMetrics, StoreMetricsLayer};
#[cfg(feature = "tower")]
pub use outbound::{SendLayer, SendService, ServiceTransport};
