//! [`Counting`]: a transport wrapper that counts frames and bytes sent, by
//! protocol message kind when the frames are plain gossip frames.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    protocol::MessageKind, NodeId, Transport, TransportCapabilities, TransportEvent,
    TransportResult,
};

/// Message kinds, indexed by their wire byte (0 = unknown / not plain).
const KINDS: usize = MessageKind::ALL.len() + 1;

/// Shared counters of one or more [`Counting`] transports.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    frames: [AtomicU64; KINDS],
    bytes: [AtomicU64; KINDS],
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Frames per kind byte.
    pub(crate) frames: [u64; KINDS],
    /// Bytes per kind byte.
    pub(crate) bytes: [u64; KINDS],
}

impl Counts {
    /// All frames.
    pub(crate) fn total_frames(&self) -> u64 {
        self.frames.iter().sum()
    }

    /// All bytes.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }

    /// Frames and bytes of one kind.
    pub(crate) fn of(&self, kind: MessageKind) -> (u64, u64) {
        let i = kind as usize;
        (
            self.frames.get(i).copied().unwrap_or(0),
            self.bytes.get(i).copied().unwrap_or(0),
        )
    }

    /// `self - earlier`, counter by counter.
    pub(crate) fn since(&self, earlier: &Counts) -> Counts {
        let mut out = Counts::default();
        for i in 0..KINDS {
            if let (Some(o), Some(a), Some(b)) = (
                out.frames.get_mut(i),
                self.frames.get(i),
                earlier.frames.get(i),
            ) {
                *o = a.saturating_sub(*b);
            }
            if let (Some(o), Some(a), Some(b)) = (
                out.bytes.get_mut(i),
                self.bytes.get(i),
                earlier.bytes.get(i),
            ) {
                *o = a.saturating_sub(*b);
            }
        }
        out
    }
}

impl Counters {
    /// Current values.
    pub(crate) fn snapshot(&self) -> Counts {
        let mut out = Counts::default();
        for (o, c) in out.frames.iter_mut().zip(&self.frames) {
            *o = c.load(Ordering::Relaxed);
        }
        for (o, c) in out.bytes.iter_mut().zip(&self.bytes) {
            *o = c.load(Ordering::Relaxed);
        }
        out
    }

    fn record(&self, frame: &[u8]) {
        let kind = frame
            .get(1)
            .and_then(|b| MessageKind::from_u8(*b))
            .map_or(0, |k| k as usize);
        if let Some(c) = self.frames.get(kind) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(c) = self.bytes.get(kind) {
            c.fetch_add(frame.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Counts every frame sent through it into shared [`Counters`].
#[derive(Debug)]
pub(crate) struct Counting<T> {
    inner: T,
    counters: Arc<Counters>,
}

impl<T> Counting<T> {
    /// Wraps `inner`, counting into `counters`.
    pub(crate) fn new(inner: T, counters: Arc<Counters>) -> Self {
        Self { inner, counters }
    }
}

#[async_trait]
impl<T: Transport> Transport for Counting<T> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn local_id(&self) -> &NodeId {
        self.inner.local_id()
    }
    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len()
    }
    fn capabilities(&self) -> TransportCapabilities {
        self.inner.capabilities()
    }
    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        let len = frame.clone();
        let result = self.inner.send(to, frame).await;
        if result.is_ok() {
            self.counters.record(&len);
        }
        result
    }
    async fn recv(&self) -> TransportResult<TransportEvent> {
        self.inner.recv().await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_counted_by_kind() {
        let c = Counters::default();
        c.record(&[1, MessageKind::Push as u8, 0, 0]);
        c.record(&[1, MessageKind::Ping as u8]);
        c.record(&[]);
        let s = c.snapshot();
        assert_eq!(s.total_frames(), 3);
        assert_eq!(s.total_bytes(), 6);
        assert_eq!(s.of(MessageKind::Push), (1, 4));
        assert_eq!(s.since(&s), Counts::default());
    }

    #[test]
    fn every_kind_has_its_own_counter() {
        let c = Counters::default();
        for kind in MessageKind::ALL {
            c.record(&[1, kind as u8]);
        }
        let s = c.snapshot();
        for kind in MessageKind::ALL {
            assert_eq!(s.of(kind), (1, 2), "{kind:?}");
        }
    }
}
