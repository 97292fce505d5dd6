//! The state shared by a transport's handle and its tasks: the
//! [`PeerTable`] under its lock, the inbound queue, the shutdown signal and
//! the counters.
//!
//! Every transition happens under one short-held lock, never across an
//! `.await`; the tasks in [`connection`](crate::connection) do the I/O.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::{Duration, Instant},
};

use gossip_core::{
    Identity, InboundQueue, InboundSender, NodeId, TransportError, TransportErrorKind,
    TransportEvent,
};
use tokio::sync::watch;

use crate::{
    connection::{Admission, Refusal},
    peer_table::{Effects, PeerTable},
    secure::handshake::{Hello, LocalKeys},
    NetworkPsk, TcpConfig, TcpStats, BACKEND,
};

/// Counters behind [`TcpStats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) connections_opened: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) oversized_frames: AtomicU64,
    pub(crate) dropped_events: AtomicU64,
    pub(crate) discarded_frames: AtomicU64,
    pub(crate) connections_refused_total_cap: AtomicU64,
    pub(crate) connections_refused_per_ip_cap: AtomicU64,
    pub(crate) handshakes_refused_total_cap: AtomicU64,
    pub(crate) handshakes_refused_per_ip_cap: AtomicU64,
}

impl Counters {
    fn refused(&self, refusal: Refusal) -> &AtomicU64 {
        match refusal {
            Refusal::Connections => &self.connections_refused_total_cap,
            Refusal::ConnectionsPerAddress => &self.connections_refused_per_ip_cap,
            Refusal::Pending => &self.handshakes_refused_total_cap,
            Refusal::PendingPerAddress => &self.handshakes_refused_per_ip_cap,
        }
    }
}

/// Refusals are reported at most this often per cap: a flood of them must
/// not fill the inbound queue (the counters count every one).
const REFUSAL_REPORT_INTERVAL: Duration = Duration::from_secs(1);

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Everything a transport's tasks share.
pub(crate) struct Shared {
    pub(crate) local: NodeId,
    pub(crate) config: TcpConfig,
    pub(crate) local_addr: SocketAddr,
    pub(crate) hello: Hello,
    /// The handshake keys: the Noise static key vouched for by the identity.
    pub(crate) keys: LocalKeys,
    table: Mutex<PeerTable>,
    /// What `recv` returns, closed with the transport.
    pub(crate) inbound: InboundQueue,
    /// The filling end of `inbound`, for the connection tasks.
    pub(crate) events: InboundSender,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) closed: AtomicBool,
    pub(crate) counters: Counters,
    /// Inbound connections and handshakes, counted against their caps.
    pub(crate) admission: Arc<Admission>,
    /// When each kind of refusal was last reported.
    refusals_reported: Mutex<[Option<Instant>; 4]>,
}

impl Shared {
    pub(crate) fn new(
        identity: &Identity,
        config: TcpConfig,
        local_addr: SocketAddr,
    ) -> Result<Self, TransportError> {
        let psk = config.network_key.as_ref().map(NetworkPsk::bytes);
        let keys = LocalKeys::new(identity, psk).map_err(|failure| {
            error(TransportErrorKind::Other, "cannot make the handshake keys").with_source(failure)
        })?;
        let local = identity.node_id().clone();
        let inbound = InboundQueue::new(BACKEND, config.limits.inbound_queue_capacity);
        let events = inbound.sender();
        let hello = Hello::ours(
            local.clone(),
            config.limits.max_frame_len,
            local_addr.port(),
        );
        Ok(Self {
            keys,
            table: Mutex::new(PeerTable::new(local.clone(), &config)),
            local,
            local_addr,
            hello,
            inbound,
            events,
            shutdown: watch::Sender::new(false),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
            admission: Arc::new(Admission::new(&config)),
            refusals_reported: Mutex::new([None; 4]),
            config,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, PeerTable> {
        // The table stays consistent at every step, so a panic elsewhere
        // (a bug) does not make it unusable.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// A new receiver of the shutdown signal.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Queues a peer event for `recv` without waiting: when the inbound queue
    /// is full the event is dropped and counted (see the crate docs).
    pub(crate) fn notify(&self, event: TransportEvent) {
        if let Err(error) = self.events.try_push(Ok(event)) {
            bump(&self.counters.dropped_events, 1);
            tracing::debug!(local = %self.local, event = ?error.into_inner(), "inbound queue full: peer event dropped");
        }
    }

    /// Reports a peer's bad input (a failed handshake, a frame over the
    /// maximum, a truncated frame) to `recv` without waiting, so the node
    /// above puts it on its error stream. Dropped (and counted) when the
    /// inbound queue is full.
    pub(crate) fn report(&self, kind: TransportErrorKind, message: String) {
        if self.events.try_push(Err(error(kind, message))).is_err() {
            bump(&self.counters.dropped_events, 1);
        }
    }

    pub(crate) fn count_connect_failure(&self, handshake: bool) {
        if handshake {
            bump(&self.counters.handshake_failures, 1);
        } else {
            bump(&self.counters.connect_failures, 1);
        }
    }

    /// Counts an inbound connection refused by a cap, and reports it unless
    /// a refusal of the same kind was reported less than
    /// [`REFUSAL_REPORT_INTERVAL`] ago.
    pub(crate) fn refused(&self, refusal: Refusal, remote: SocketAddr) {
        let counter = self.counters.refused(refusal);
        bump(counter, 1);
        let now = Instant::now();
        let report = {
            let mut reported = self
                .refusals_reported
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match reported.get_mut(refusal as usize) {
                Some(last) if last.is_none_or(|at| now >= at + REFUSAL_REPORT_INTERVAL) => {
                    *last = Some(now);
                    true
                }
                _ => false,
            }
        };
        tracing::debug!(local = %self.local, %remote, cap = refusal.setting(), "inbound connection refused");
        if report {
            let total = counter.load(Ordering::Relaxed);
            self.report(
                TransportErrorKind::Handshake,
                format!(
                    "inbound connection from {remote} refused: {} reached ({total} refused so far)",
                    refusal.setting()
                ),
            );
        }
    }

    pub(crate) fn count_oversized(&self) {
        bump(&self.counters.oversized_frames, 1);
    }

    pub(crate) fn count_discarded(&self, frames: usize) {
        bump(&self.counters.discarded_frames, frames as u64);
    }

    pub(crate) fn stats(&self) -> TcpStats {
        let c = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let connected_peers = self.lock().connected_count();
        let (inbound_connections, pending_handshakes) = self.admission.open();
        TcpStats {
            inbound_connections,
            pending_handshakes,
            connections_refused_total_cap: load(&c.connections_refused_total_cap),
            connections_refused_per_ip_cap: load(&c.connections_refused_per_ip_cap),
            handshakes_refused_total_cap: load(&c.handshakes_refused_total_cap),
            handshakes_refused_per_ip_cap: load(&c.handshakes_refused_per_ip_cap),
            connected_peers,
            connections_opened: load(&c.connections_opened),
            connect_failures: load(&c.connect_failures),
            handshake_failures: load(&c.handshake_failures),
            oversized_frames: load(&c.oversized_frames),
            dropped_events: load(&c.dropped_events),
            discarded_frames: load(&c.discarded_frames),
        }
    }

    /// Runs a transition of the peer table under its lock and applies its
    /// effects. The events are queued before the lock is released, so `recv`
    /// sees them in the order of the transitions (never a `Disconnected`
    /// before the `Connected` it ends); queuing never waits.
    pub(crate) fn transition<R>(&self, f: impl FnOnce(&mut PeerTable, &mut Effects) -> R) -> R {
        let mut fx = Effects::default();
        let mut table = self.lock();
        let result = f(&mut table, &mut fx);
        for event in fx.events {
            self.notify(event);
        }
        drop(table);
        bump(&self.counters.connections_opened, fx.connections_opened);
        self.count_discarded(fx.discarded_frames);
        result
    }

    /// How long a yielding attempt waits for the peer's connection.
    pub(crate) fn yield_wait(&self) -> Duration {
        self.config.handshake_timeout
    }
}

/// A [`TransportError`] of this backend.
pub(crate) fn error(kind: TransportErrorKind, message: impl Into<String>) -> TransportError {
    TransportError::new(BACKEND, kind, message)
}
