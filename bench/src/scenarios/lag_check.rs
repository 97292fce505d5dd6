//! Checks the lag `health()` reports against the arrival times the latency
//! scenario measures: while the writer appends, its node's health is
//! sampled every interval; at each sample, the true lag of a peer is the
//! age of the oldest entry sent that had not arrived there yet. Both are
//! of the written stream: the reported lag of the channel's other streams
//! (its control log, with every member's entries) is not what the
//! arrivals measure.

use std::{collections::HashMap, time::Duration};

use gossip_core::{Coordinator, NodeId, StreamId};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// One sample of the writer's health: when, and per peer the lag reported.
pub(crate) struct LagSample {
    at: Instant,
    lag_ms: Vec<(NodeId, u64)>,
}

/// Samples `node`'s reported lag per peer in `stream` every `every` until
/// `stop` fires.
pub(crate) async fn sample(
    node: Coordinator,
    stream: StreamId,
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
                let lag = p
                    .streams
                    .iter()
                    .find(|s| s.stream == stream)
                    .and_then(|s| s.lag_ms)
                    .unwrap_or(0);
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
    /// Of them, those that show the peer's true state as of at most one
    /// interval ago: the reported lag lies between the lag measured at the
    /// sample and the lag the peer's state of one interval earlier gives
    /// (what a view `ack_delay` old must report when entries arrive in
    /// bulk, as anti-entropy delivers them).
    pub(crate) at_most_one_interval_old: usize,
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

    /// The share at most one interval old, in percent.
    pub(crate) fn fresh_percent(&self) -> f64 {
        if self.samples == 0 {
            return 0.0;
        }
        self.at_most_one_interval_old as f64 * 100.0 / self.samples as f64
    }
}

/// Slack for the millisecond rounding of entry timestamps and sample times.
const CLOCK_TOLERANCE_MS: u64 = 5;

/// The lag at `now` of a peer whose state is the one of `as_of`: the age at
/// `now` of the oldest entry sent by `now` that had not arrived by `as_of`.
fn lag_at(
    now: Instant,
    as_of: Instant,
    sent: &HashMap<u64, Instant>,
    arrivals: &HashMap<u64, Instant>,
) -> u64 {
    sent.iter()
        .filter(|(_, at)| **at <= now)
        .filter(|(seq, _)| arrivals.get(seq).is_none_or(|arrived| *arrived > as_of))
        .map(|(_, at)| *at)
        .min()
        .map_or(0, |at| {
            u64::try_from(now.duration_since(at).as_millis()).unwrap_or(u64::MAX)
        })
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
            let measured = lag_at(sample.at, sample.at, sent, arrivals);
            // The lag the peer would show if the writer knew its state as
            // of one interval earlier (entries arrived since unknown).
            let stale = lag_at(
                sample.at,
                sample.at.checked_sub(interval).unwrap_or(sample.at),
                sent,
                arrivals,
            );
            let error = reported.abs_diff(measured);
            check.samples += 1;
            check.within_interval += usize::from(error <= interval_ms);
            check.at_most_one_interval_old += usize::from(
                *reported + CLOCK_TOLERANCE_MS >= measured
                    && *reported <= stale + CLOCK_TOLERANCE_MS,
            );
            check.max_error_ms = check.max_error_ms.max(error);
            check.max_measured_ms = check.max_measured_ms.max(measured);
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(base: Instant, n: u64) -> Instant {
        base + Duration::from_millis(n)
    }

    #[test]
    fn a_view_one_ack_delay_old_is_fresh_but_not_within_the_value_when_entries_arrive_in_bulk() {
        let base = Instant::now();
        let peer = NodeId::from_seed("peer");
        // Entries 1..=10 sent every 100 ms; the peer gets 1..=9 at once at 950 ms.
        let sent: HashMap<u64, Instant> = (1..=10).map(|s| (s, ms(base, s * 100))).collect();
        let got = HashMap::from([(
            peer.clone(),
            (1..=9)
                .map(|s| (s, ms(base, 950)))
                .collect::<HashMap<_, _>>(),
        )]);
        let at = ms(base, 1_000);
        let check = |reported| {
            let samples = [LagSample {
                at,
                lag_ms: vec![(peer.clone(), reported)],
            }];
            compare(&samples, &sent, &got, Duration::from_millis(200))
        };
        // True lag at 1 000 ms: entry 10, 0 ms old.
        let exact = check(0);
        assert_eq!(
            (exact.within_interval, exact.at_most_one_interval_old),
            (1, 1)
        );
        // A view from before the bulk arrival: entry 1 still missing, 900 ms old.
        let stale_by_ack = check(900);
        assert_eq!(
            (
                stale_by_ack.within_interval,
                stale_by_ack.at_most_one_interval_old
            ),
            (0, 1)
        );
        // Older than any state of the last interval, or fresher than the truth.
        assert_eq!(check(1_200).at_most_one_interval_old, 0);
        let lagging_less_than_true = compare(
            &[LagSample {
                at: ms(base, 900),
                lag_ms: vec![(peer.clone(), 0)],
            }],
            &sent,
            &got,
            Duration::from_millis(200),
        );
        assert_eq!(lagging_less_than_true.at_most_one_interval_old, 0);
    }
}
