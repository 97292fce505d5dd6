//! Layers: `tower` middleware that wraps a transport (or a store).
//!
//! Each layer is behind its `layers-*` feature (all from `gossip-middleware`);
//! the main types are also re-exported at the crate root
//! (`gossip::EncryptionLayer`). Stack them with [`ServiceBuilder`] (also at
//! the crate root, `gossip::ServiceBuilder`); the first
//! `.layer(..)` is the outermost. The right order is
//! **metrics → compression → encryption → (faults) → transport**: metrics see
//! plain frames, compression sees plaintext, encryption seals the compressed
//! frame.
//!
//! | module | feature | layer → service |
//! |---|---|---|
//! | `encryption` | `layers-encryption` | `EncryptionLayer` → `Encryption<T>`, `StoreEncryptionLayer` |
//! | `compression` | `layers-compression` (lz4), `layers-compression-zstd` (adds zstd) | `CompressionLayer::lz4()` / `::zstd(level)` → `Compression<T>` |
//! | `metrics` | `layers-metrics` | `MetricsLayer` → `Metrics<T>`, `StoreMetricsLayer` |
//! | `faults` | `layers-faults` | `FaultsLayer` → `Faults<T>` (tests) |

#[cfg(any(
    feature = "layers-encryption",
    feature = "layers-compression",
    feature = "layers-metrics",
    feature = "layers-faults"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "layers-encryption",
        feature = "layers-compression",
        feature = "layers-metrics",
        feature = "layers-faults"
    )))
)]
pub use gossip_middleware::{Error, Result};

/// `tower`'s builder and trait, to stack layers without depending on tower.
#[cfg(any(
    feature = "layers-encryption",
    feature = "layers-compression",
    feature = "layers-metrics",
    feature = "layers-faults"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "layers-encryption",
        feature = "layers-compression",
        feature = "layers-metrics",
        feature = "layers-faults"
    )))
)]
pub use tower::{Layer, ServiceBuilder};

/// AEAD frame encryption with a shared network key, replay window, key rotation.
#[cfg(feature = "layers-encryption")]
#[cfg_attr(docsrs, doc(cfg(feature = "layers-encryption")))]
pub mod encryption {
    pub use gossip_middleware::encryption::*;
}

/// Frame compression (lz4, zstd) with a size threshold and a flag byte.
#[cfg(feature = "layers-compression")]
#[cfg_attr(docsrs, doc(cfg(feature = "layers-compression")))]
pub mod compression {
    pub use gossip_middleware::compression::*;
}

/// Counters and histograms through the `metrics` facade.
#[cfg(feature = "layers-metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "layers-metrics")))]
pub mod metrics {
    pub use gossip_middleware::metrics::*;
}

/// Seeded fault injection (drop, duplicate, delay, reorder, partition).
#[cfg(feature = "layers-faults")]
#[cfg_attr(docsrs, doc(cfg(feature = "layers-faults")))]
pub mod faults {
    pub use gossip_middleware::faults::*;
}
