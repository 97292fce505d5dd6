//! Metrics: counters and histograms through the [`metrics`](https://docs.rs/metrics)
//! facade, for transports ([`Metrics`]) and stores ([`StoreMetrics`]).
//!
//! Nothing is recorded until the application installs a recorder (e.g.
//! `metrics-exporter-prometheus`, see `examples/prometheus.rs`). Measured
//! cost (`benches/layers.rs`, release, 1 KiB frames over a loopback
//! transport, see `BENCHMARKS.md`): about 70 ns per frame without a recorder
//! and 135 ns with the Prometheus recorder, of which timing sends into
//! [`SEND_DURATION`] is most; with
//! [`MetricsLayer::send_durations(false)`](MetricsLayer::send_durations)
//! about 55–60 ns per frame either way. Metric handles are cached per peer
//! and kind (one map lookup per frame, no label allocation).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use gossip_core::{Identity, NodeId, Transport};
//! use gossip_middleware::MetricsLayer;
//! use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
//! use tower::Layer;
//!
//! let network = MemoryNetwork::new(MemoryNetworkConfig::default());
//! let a = MetricsLayer::new().layer(network.join(&Identity::from_seed("a"))?);
//! let _b = network.join(&Identity::from_seed("b"))?;
//! a.send(&NodeId::from_seed("b"), "frame".into()).await?; // counted under peer="b", kind="unknown"
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Transport metrics
//!
//! | name | type | labels |
//! |---|---|---|
//! | [`FRAMES_SENT`] | counter | `peer`, `kind` |
//! | [`BYTES_SENT`] | counter | `peer`, `kind` |
//! | [`FRAMES_RECEIVED`] | counter | `peer`, `kind` |
//! | [`BYTES_RECEIVED`] | counter | `peer`, `kind` |
//! | [`TRANSPORT_ERRORS`] | counter | `op` (`send`/`recv`), `error` (the error kind, snake case) |
//! | [`QUEUE_DROPS`] | counter | `peer`: sends refused with `QueueFull` |
//! | [`SEND_DURATION`] | histogram, seconds | `peer` |
//! | [`PEER_EVENTS`] | counter | `event` (`discovered`/`connected`/`disconnected`) |
//!
//! `kind` is the message kind named by byte 1 of a gossip frame
//! (`ping`, `push`, `delta_response`, …) when byte 0 is the protocol version,
//! and `unknown` otherwise. Layers below metrics see transformed frames: put
//! the metrics layer **outside (above) compression and encryption** so it sees
//! plain gossip frames — under encryption every kind would read `unknown`,
//! and byte counts would be those of the plaintext, not of the wire (add a
//! second metrics layer at the bottom of the stack to count wire bytes).
//!
//! # Store metrics
//!
//! | name | type | labels |
//! |---|---|---|
//! | [`STORE_OPERATIONS`] | counter | `op` (method name), `outcome` (`ok`/`error`) |
//! | [`STORE_ERRORS`] | counter | `op`, `error` (the error kind, snake case) |
//! | [`STORE_DURATION`] | histogram, seconds | `op` |
//! | [`STORE_ENTRIES`] | counter | `op` (`append`/`read`/`read_author`): entries moved |

mod labels;
mod layer;
mod service;
mod store;

pub use layer::{MetricsLayer, StoreMetricsLayer};
pub use service::{Metrics, MAX_PEER_LABELS};
pub use store::StoreMetrics;

/// Frames sent successfully.
pub const FRAMES_SENT: &str = "gossip_transport_frames_sent_total";
/// Bytes of frames sent successfully.
pub const BYTES_SENT: &str = "gossip_transport_bytes_sent_total";
/// Frames received.
pub const FRAMES_RECEIVED: &str = "gossip_transport_frames_received_total";
/// Bytes of frames received.
pub const BYTES_RECEIVED: &str = "gossip_transport_bytes_received_total";
/// Failed sends and receives.
pub const TRANSPORT_ERRORS: &str = "gossip_transport_errors_total";
/// Sends refused because the peer's queue was full.
pub const QUEUE_DROPS: &str = "gossip_transport_queue_drops_total";
/// Time spent in one `send` or `send_many` call (a batch is one sample).
pub const SEND_DURATION: &str = "gossip_transport_send_duration_seconds";
/// Peer events delivered by the transport.
pub const PEER_EVENTS: &str = "gossip_transport_peer_events_total";
/// Store operations.
pub const STORE_OPERATIONS: &str = "gossip_store_operations_total";
/// Failed store operations.
pub const STORE_ERRORS: &str = "gossip_store_errors_total";
/// Time spent in store operations.
pub const STORE_DURATION: &str = "gossip_store_operation_duration_seconds";
/// Entries appended or read.
pub const STORE_ENTRIES: &str = "gossip_store_entries_total";

/// Describes every metric (help text, unit) to the installed recorder. The
/// layers call it when they build a wrapper; call it yourself if you install
/// a recorder later.
pub fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        FRAMES_SENT,
        Unit::Count,
        "Frames sent, by peer and message kind"
    );
    describe_counter!(
        BYTES_SENT,
        Unit::Bytes,
        "Bytes sent, by peer and message kind"
    );
    describe_counter!(
        FRAMES_RECEIVED,
        Unit::Count,
        "Frames received, by peer and message kind"
    );
    describe_counter!(
        BYTES_RECEIVED,
        Unit::Bytes,
        "Bytes received, by peer and message kind"
    );
    describe_counter!(
        TRANSPORT_ERRORS,
        Unit::Count,
        "Transport errors, by operation and kind"
    );
    describe_counter!(
        QUEUE_DROPS,
        Unit::Count,
        "Sends refused because the peer's queue was full"
    );
    describe_histogram!(SEND_DURATION, Unit::Seconds, "Time spent in send, by peer");
    describe_counter!(PEER_EVENTS, Unit::Count, "Peer events from the transport");
    describe_counter!(
        STORE_OPERATIONS,
        Unit::Count,
        "Store operations, by operation and outcome"
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Store errors, by operation and kind"
    );
    describe_histogram!(
        STORE_DURATION,
        Unit::Seconds,
        "Time spent in store operations"
    );
    describe_counter!(STORE_ENTRIES, Unit::Count, "Entries appended or read");
}
