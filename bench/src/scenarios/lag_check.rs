//! Checks the lag `health()` reports against the arrival times the latency
//! scenario measures: while the writer appends, its node's health is
//! sampled every interval; at each sample, the true lag of a peer is the
//! age of the oldest entry sent that had not arrived there yet.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use gossip_core::{Coordinator, NodeId};
use serde::Serialize;
use tokio::sync::oneshot;

/// One sample of the writer's health: when, and per peer the lag reported.
pub(crate) struct LagSample {
    at: Instant,
    lag_ms: Vec<(NodeId, u64)>,
}

/// Samples `node`'s reported lag per peer every `every` until `stop` fires.
pub(crate) async fn sample(
    node: Coordinator,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
) -> Vec<LagSample> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = &mut stop => return samples,
            _ = tick.tick() => {}
        }
        let at = Instant::now();
        let Ok(health) = node.health().await else {
            return samples;
        };
        let lag_ms = health
            .peers
            .into_iter()
            .map(|p| {
                let lag = p.lag_ms().unwrap_or(0);
                (p.id, lag)
            })
            .collect();
        samples.push(LagSample { at, lag_ms });
    }
}

/// How the reported lag compared with the measured one.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct LagCheck {
    /// The sampling interval, ms.
    pub(crate) interval_ms: u64,
    /// Samples compared (one per peer and sampling time).
    pub(crate) samples: usize,
    /// Of them, those within one sampling interval of the measured lag.
    pub(crate) within_interval: usize,
    /// The largest difference, ms.
    pub(crate) max_error_ms: u64,
    /// The largest lag measured, ms (so that a check of zeros shows as one).
    pub(crate) max_measured_ms: u64,
}

impl LagCheck {
    /// The share within one interval, in percent.
    pub(crate) fn within_percent(&self) -> f64 {
        if self.samples == 0 {
            return 0.0;
        }
        self.within_interval as f64 * 100.0 / self.samples as f64
    }
}

/// Compares `samples` with the measured arrivals: `sent` (sequence → when
/// appended) and, per peer, `got` (sequence → when it arrived there).
pub(crate) fn compare(
    samples: &[LagSample],
    sent: &HashMap<u64, Instant>,
    got: &HashMap<NodeId, HashMap<u64, Instant>>,
    interval: Duration,
) -> LagCheck {
    let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    let mut check = LagCheck {
        interval_ms,
        ..LagCheck::default()
    };
    for sample in samples {
        for (peer, reported) in &sample.lag_ms {
            let Some(arrivals) = got.get(peer) else {
                continue;
            };
            // The oldest entry sent by then that had not arrived by then.
            let oldest = sent
                .iter()
                .filter(|(_, at)| **at <= sample.at)
                .filter(|(seq, _)| arrivals.get(seq).is_none_or(|arrived| *arrived > sample.at))
                .map(|(_, at)| *at)
                .min();
            let measured = oldest.map_or(0, |at| {
                u64::try_from(sample.at.duration_since(at).as_millis()).unwrap_or(u64::MAX)
            });
            let error = reported.abs_diff(measured);
            check.samples += 1;
            check.within_interval += usize::from(error <= interval_ms);
            check.max_error_ms = check.max_error_ms.max(error);
            check.max_measured_ms = check.max_measured_ms.max(measured);
        }
    }
    check
}
