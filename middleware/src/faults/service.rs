//! [`Faults`]: a transport that drops, duplicates, delays, reorders and
//! partitions frames on a seeded schedule.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    raw::SeededRng, NodeId, Transport, TransportCapabilities, TransportEvent, TransportResult,
};

use super::handle::{Counters, FaultsHandle, Shared};
use crate::frame::check_frame_len;

const BACKEND: &str = "faults";

/// A transport that injects the faults of its [`FaultConfig`](super::FaultConfig)
/// over any inner transport. Built by [`FaultsLayer`](super::FaultsLayer);
/// see the [module docs](super) for where each fault applies.
#[derive(Debug)]
pub struct Faults<T> {
    inner: Arc<T>,
    shared: Arc<Shared>,
    rng: Mutex<SeededRng>,
}

/// What the schedule decided for one frame.
struct Plan {
    drop: bool,
    first: Duration,
    duplicate: Option<Duration>,
}

impl<T: Transport> Faults<T> {
    pub(crate) fn with_shared(inner: T, shared: Arc<Shared>) -> Self {
        let rng = shared.rng_for(inner.local_id());
        Self {
            inner: Arc::new(inner),
            shared,
            rng,
        }
    }

    /// A handle to partition and heal at run time, and read the counters.
    #[must_use]
    pub fn handle(&self) -> FaultsHandle {
        FaultsHandle {
            shared: self.shared.clone(),
        }
    }

    /// The wrapped transport.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped transport, mutably: `None` while delayed frames still
    /// hold a reference to it.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        Arc::get_mut(&mut self.inner)
    }

    /// Unwraps the inner transport (shared with delayed frames still in flight).
    pub fn into_inner(self) -> Arc<T> {
        self.inner
    }

    fn plan(&self) -> Plan {
        let config = &self.shared.config;
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let delay = |rng: &mut SeededRng| {
            let mut delay = match config.delay {
                Some((min, max)) if max > min => {
                    let span = u64::try_from((max - min).as_nanos()).unwrap_or(u64::MAX);
                    min + Duration::from_nanos(rng.below(span.saturating_add(1)))
                }
                Some((min, _)) => min,
                None => Duration::ZERO,
            };
            if config.reorder > 0.0 && rng.chance(config.reorder) {
                Counters::bump(&self.shared.counters.reordered);
                let window = u64::try_from(config.reorder_window.as_nanos()).unwrap_or(u64::MAX);
                delay += Duration::from_nanos(rng.below(window.saturating_add(1)));
            }
            delay
        };
        let drop = config.drop > 0.0 && rng.chance(config.drop);
        let first = delay(&mut rng);
        let duplicate =
            (config.duplicate > 0.0 && rng.chance(config.duplicate)).then(|| delay(&mut rng));
        Plan {
            drop,
            first,
            duplicate,
        }
    }

    /// Sends now, or in a bounded delay task.
    async fn deliver(&self, to: &NodeId, frame: Bytes, delay: Duration) -> TransportResult<()> {
        let counters = &self.shared.counters;
        if !delay.is_zero() {
            match self.shared.delay_slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    Counters::bump(&counters.delayed);
                    Counters::bump(&counters.forwarded);
                    let (inner, shared, to) = (self.inner.clone(), self.shared.clone(), to.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        if let Err(error) = inner.send(&to, frame).await {
                            Counters::bump(&shared.counters.delayed_failures);
                            tracing::debug!(peer = %to, %error, "delayed frame not sent");
                        }
                        drop(slot);
                    });
                    return Ok(());
                }
                Err(_) => Counters::bump(&counters.undelayed),
            }
        }
        Counters::bump(&counters.forwarded);
        self.inner.send(to, frame).await
    }
}

#[async_trait]
impl<T: Transport> Transport for Faults<T> {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn local_id(&self) -> &NodeId {
        self.inner.local_id()
    }

    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len()
    }

    /// The inner capabilities, weakened by the configured faults: not
    /// `reliable` with drops, not `ordered` with delays or reordering,
    /// `may_duplicate` with duplication. (A partition is an unhealthy link,
    /// which `reliable` does not cover.)
    fn capabilities(&self) -> TransportCapabilities {
        let config = &self.shared.config;
        let mut caps = self.inner.capabilities();
        caps.reliable &= config.drop <= 0.0;
        caps.ordered &= !config.delays();
        caps.may_duplicate |= config.duplicate > 0.0;
        caps
    }

    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        check_frame_len(BACKEND, frame.len(), self.max_frame_len())?;
        let counters = &self.shared.counters;
        if self.shared.is_partitioned(to) || self.shared.is_partitioned(self.local_id()) {
            Counters::bump(&counters.partitioned);
            return Ok(());
        }
        let plan = self.plan();
        if plan.drop {
            Counters::bump(&counters.dropped);
            return Ok(());
        }
        if let Some(delay) = plan.duplicate {
            Counters::bump(&counters.duplicated);
            self.deliver(to, frame.clone(), plan.first).await?;
            // The original was accepted: a failed copy changes nothing for the caller.
            if let Err(error) = self.deliver(to, frame, delay).await {
                tracing::debug!(peer = %to, %error, "duplicate frame not sent");
            }
            return Ok(());
        }
        self.deliver(to, frame, plan.first).await
    }

    async fn recv(&self) -> TransportResult<TransportEvent> {
        // Cancel-safe: a frame is either returned or deliberately dropped.
        loop {
            match self.inner.recv().await? {
                TransportEvent::Frame { from, .. }
                    if self.shared.is_partitioned(&from)
                        || self.shared.is_partitioned(self.local_id()) =>
                {
                    Counters::bump(&self.shared.counters.partitioned);
                }
                event => return Ok(event),
            }
        }
    }

    async fn close(&self) -> TransportResult<()> {
        self.inner.close().await
    }

    fn advertised_addresses(&self) -> Vec<String> {
        self.inner.advertised_addresses()
    }

    fn learn_address(&self, peer: &NodeId, address: &str) -> TransportResult<bool> {
        self.inner.learn_address(peer, address)
    }

    fn counters(&self) -> Vec<gossip_core::TransportCounter> {
        self.inner.counters()
    }
}
