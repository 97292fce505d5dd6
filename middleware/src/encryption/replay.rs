//! Replay protection: a sliding window of accepted nonce counters per sender
//! session (`from` node and nonce prefix), in the style of IPsec and WireGuard.
//!
//! [`ReplayGuard::check`] only reads; [`ReplayGuard::commit`] records a counter
//! and is called only after the frame authenticated, so a forged frame can
//! never move a window.

use std::collections::HashMap;

use gossip_core::NodeId;

use crate::Error;

/// Default number of counters a window remembers behind the highest one.
pub(crate) const DEFAULT_WINDOW: u64 = 1024;

/// How many sessions (nonce prefixes, i.e. restarts) are remembered per peer.
pub(crate) const SESSIONS_PER_PEER: usize = 8;

/// How many peers are remembered in total.
pub(crate) const MAX_PEERS: usize = 4096;

/// One session's window: the highest counter accepted and a bitmap of the
/// `size` counters at and below it.
#[derive(Debug, Clone)]
pub(crate) struct ReplayWindow {
    top: u64,
    bits: Vec<u64>,
    size: u64,
}

impl ReplayWindow {
    /// A window that has accepted nothing yet; `size` is rounded up to a
    /// multiple of 64 (at least 64).
    pub(crate) fn new(size: u64) -> Self {
        let words = size.div_ceil(64).max(1);
        Self {
            top: 0,
            bits: vec![0; usize::try_from(words).unwrap_or(usize::MAX)],
            size: words * 64,
        }
    }

    fn bit(&self, counter: u64) -> (usize, u64) {
        let slot = counter % self.size;
        (usize::try_from(slot / 64).unwrap_or(0), 1u64 << (slot % 64))
    }

    fn is_set(&self, counter: u64) -> bool {
        let (word, mask) = self.bit(counter);
        self.bits.get(word).is_some_and(|w| w & mask != 0)
    }

    fn set(&mut self, counter: u64, value: bool) {
        let (word, mask) = self.bit(counter);
        if let Some(w) = self.bits.get_mut(word) {
            if value {
                *w |= mask;
            } else {
                *w &= !mask;
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// Whether `counter` may be accepted. Changes nothing.
    pub(crate) fn check(&self, counter: u64) -> Result<(), Error> {
        if self.is_empty() || counter > self.top {
            return Ok(());
        }
        if self.top - counter >= self.size {
            return Err(Error::TooOld { counter });
        }
        if self.is_set(counter) {
            return Err(Error::Replayed { counter });
        }
        Ok(())
    }

    /// Records `counter` as accepted (call after [`check`](Self::check) passed
    /// and the frame authenticated).
    pub(crate) fn commit(&mut self, counter: u64) {
        if self.is_empty() {
            self.top = counter;
        } else if counter > self.top {
            let advance = counter - self.top;
            if advance >= self.size {
                self.bits.iter_mut().for_each(|w| *w = 0);
            } else {
                for stale in self.top + 1..=counter {
                    self.set(stale, false);
                }
            }
            self.top = counter;
        }
        self.set(counter, true);
    }
}

/// The windows of every sender session, bounded in peers and sessions per
/// peer (least recently used evicted).
#[derive(Debug)]
pub(crate) struct ReplayGuard {
    window: u64,
    peers: HashMap<NodeId, PeerSessions>,
    tick: u64,
}

#[derive(Debug, Default)]
struct PeerSessions {
    /// (nonce prefix, window, last use).
    sessions: Vec<([u8; 4], ReplayWindow, u64)>,
    last_use: u64,
}

impl ReplayGuard {
    pub(crate) fn new(window: u64) -> Self {
        Self {
            window,
            peers: HashMap::new(),
            tick: 0,
        }
    }

    /// Whether the frame `(from, prefix, counter)` may be accepted. Changes nothing.
    pub(crate) fn check(&self, from: &NodeId, prefix: [u8; 4], counter: u64) -> Result<(), Error> {
        match self
            .peers
            .get(from)
            .and_then(|peer| peer.sessions.iter().find(|(p, _, _)| *p == prefix))
        {
            Some((_, window, _)) => window.check(counter),
            None => Ok(()),
        }
    }

    /// Records an authenticated frame.
    pub(crate) fn commit(&mut self, from: &NodeId, prefix: [u8; 4], counter: u64) {
        self.tick += 1;
        let tick = self.tick;
        if !self.peers.contains_key(from) && self.peers.len() >= MAX_PEERS {
            if let Some(oldest) = self
                .peers
                .iter()
                .min_by_key(|(_, peer)| peer.last_use)
                .map(|(id, _)| id.clone())
            {
                self.peers.remove(&oldest);
            }
        }
        let peer = self.peers.entry(from.clone()).or_default();
        peer.last_use = tick;
        let position = peer.sessions.iter().position(|(p, _, _)| *p == prefix);
        let index = match position {
            Some(index) => index,
            None => {
                if peer.sessions.len() >= SESSIONS_PER_PEER {
                    if let Some(oldest) = peer
                        .sessions
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, (_, _, used))| *used)
                        .map(|(i, _)| i)
                    {
                        peer.sessions.swap_remove(oldest);
                    }
                }
                peer.sessions
                    .push((prefix, ReplayWindow::new(self.window), tick));
                peer.sessions.len() - 1
            }
        };
        if let Some((_, window, used)) = peer.sessions.get_mut(index) {
            window.commit(counter);
            *used = tick;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(window: &mut ReplayWindow, counter: u64) -> Result<(), Error> {
        window.check(counter)?;
        window.commit(counter);
        Ok(())
    }

    #[test]
    fn accepts_fresh_rejects_repeats_and_too_old() {
        let mut w = ReplayWindow::new(128);
        assert!(accept(&mut w, 1000).is_ok());
        assert_eq!(accept(&mut w, 1000), Err(Error::Replayed { counter: 1000 }));
        // Reordered within the window: accepted once.
        assert!(accept(&mut w, 990).is_ok());
        assert_eq!(accept(&mut w, 990), Err(Error::Replayed { counter: 990 }));
        // Beyond the window behind the top.
        assert_eq!(
            accept(&mut w, 1000 - 128),
            Err(Error::TooOld { counter: 872 })
        );
        assert!(accept(&mut w, 1000 - 127).is_ok());
        // A big jump clears the window.
        assert!(accept(&mut w, 5000).is_ok());
        assert!(accept(&mut w, 4999).is_ok());
        assert_eq!(accept(&mut w, 1000), Err(Error::TooOld { counter: 1000 }));
    }

    #[test]
    fn sliding_clears_reused_slots() {
        let mut w = ReplayWindow::new(64);
        for counter in 0..64 {
            assert!(accept(&mut w, counter).is_ok());
        }
        // Counter 64 reuses slot 0: must be fresh, and 0 now too old.
        assert!(accept(&mut w, 64).is_ok());
        assert_eq!(accept(&mut w, 0), Err(Error::TooOld { counter: 0 }));
        assert!(accept(&mut w, 70).is_ok());
        assert!(accept(&mut w, 66).is_ok());
        assert_eq!(accept(&mut w, 66), Err(Error::Replayed { counter: 66 }));
    }

    #[test]
    fn counter_zero_then_repeat_is_replay() {
        let mut w = ReplayWindow::new(64);
        assert!(accept(&mut w, 0).is_ok());
        assert_eq!(accept(&mut w, 0), Err(Error::Replayed { counter: 0 }));
    }

    #[test]
    fn sessions_are_independent_and_bounded() {
        let a = NodeId::from_seed("a");
        let mut guard = ReplayGuard::new(64);
        guard.commit(&a, [1; 4], 5);
        assert!(guard.check(&a, [1; 4], 5).is_err());
        assert!(guard.check(&a, [2; 4], 5).is_ok());
        for p in 0..(SESSIONS_PER_PEER as u8 + 3) {
            guard.commit(&a, [p, 9, 9, 9], 1);
        }
        assert!(guard.peers[&a].sessions.len() <= SESSIONS_PER_PEER);
    }
}
