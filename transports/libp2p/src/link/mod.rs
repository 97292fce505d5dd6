//! The links: one long-lived substream per peer and direction.
//!
//! Outbound, `send` puts a frame on the peer's bounded queue ([`Links`]);
//! the peer's [`writer`] task (started by the first frame) opens one
//! substream, then drains the queue into it, batching what is already queued
//! into one flush. Inbound, a [`reader`] task per substream pushes frames
//! into the inbound queue and waits for room when it is full, so a slow
//! receiver stalls the substream (Yamux flow control) and, through it, the
//! sender's queue. [`Readers`] lets one substream per peer be read at a time,
//! so frames of one link keep their order across substreams.

pub(crate) mod reader;
pub(crate) mod writer;

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use bytes::Bytes;
use libp2p::PeerId;
use tokio::sync::mpsc;

/// The per-peer send queues: the sending half of each peer's queue, with
/// the id of the writer that drains it.
#[derive(Default)]
pub(crate) struct Links {
    queues: Mutex<LinkTable>,
}

#[derive(Default)]
struct LinkTable {
    next_id: u64,
    queues: HashMap<PeerId, (u64, mpsc::Sender<Bytes>)>,
}

/// What [`Links::enqueue`] did with a frame.
pub(crate) enum Enqueued {
    /// Queued for the peer's running writer.
    Queued,
    /// Queued on a new queue: start a writer with this id draining it.
    Start(u64, mpsc::Receiver<Bytes>),
    /// The peer's queue is full; the frame was not queued.
    Full,
}

impl Links {
    fn lock(&self) -> MutexGuard<'_, LinkTable> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frame` for `peer` without waiting; creates the queue (of
    /// `capacity` frames, at least 1) when the peer has none.
    pub(crate) fn enqueue(&self, peer: PeerId, frame: Bytes, capacity: usize) -> Enqueued {
        let mut table = self.lock();
        let frame = match table.queues.get(&peer) {
            Some((_, queue)) => match queue.try_send(frame) {
                Ok(()) => return Enqueued::Queued,
                Err(mpsc::error::TrySendError::Full(_)) => return Enqueued::Full,
                // Its writer is gone without retiring it (it panicked): replace it.
                Err(mpsc::error::TrySendError::Closed(frame)) => frame,
            },
            None => frame,
        };
        let (queue, drain) = mpsc::channel(capacity.max(1));
        if queue.try_send(frame).is_err() {
            // A new queue has room for one frame; nothing to start otherwise.
            return Enqueued::Full;
        }
        table.next_id = table.next_id.wrapping_add(1);
        let id = table.next_id;
        table.queues.insert(peer, (id, queue));
        Enqueued::Start(id, drain)
    }

    /// Queues the first `count` frames of `frames` for `peer` under one
    /// lock and one reservation, as many as there is room for, taking them
    /// from `frames`; creates the queue (of `capacity` frames, at least 1) when
    /// the peer has none. [`Enqueued::Full`] when not even the first frame
    /// fit (`frames` is then untouched).
    pub(crate) fn enqueue_many(
        &self,
        peer: PeerId,
        frames: &mut VecDeque<Bytes>,
        count: usize,
        capacity: usize,
    ) -> Enqueued {
        let count = count.min(frames.len());
        if count == 0 {
            return Enqueued::Queued;
        }
        let mut table = self.lock();
        if let Some((_, queue)) = table.queues.get(&peer) {
            let room = queue.capacity().min(count);
            if room == 0 {
                return Enqueued::Full;
            }
            match queue.try_reserve_many(room) {
                Ok(permits) => {
                    for (permit, frame) in permits.zip(frames.drain(..room)) {
                        permit.send(frame);
                    }
                    return Enqueued::Queued;
                }
                Err(mpsc::error::TrySendError::Full(())) => return Enqueued::Full,
                // Its writer is gone without retiring it (it panicked): replace it.
                Err(mpsc::error::TrySendError::Closed(())) => {}
            }
        }
        let (queue, drain) = mpsc::channel(capacity.max(1));
        let room = capacity.max(1).min(count);
        let Ok(permits) = queue.try_reserve_many(room) else {
            return Enqueued::Full;
        };
        for (permit, frame) in permits.zip(frames.drain(..room)) {
            permit.send(frame);
        }
        table.next_id = table.next_id.wrapping_add(1);
        let id = table.next_id;
        table.queues.insert(peer, (id, queue));
        Enqueued::Start(id, drain)
    }

    /// Removes writer `id`'s queue for `peer`, if it is still the current
    /// one and (with `only_if_empty`) nothing is waiting in `drain`. Returns
    /// whether the writer may stop: no `send` can reach its queue any more.
    pub(crate) fn retire(
        &self,
        peer: &PeerId,
        id: u64,
        drain: &mpsc::Receiver<Bytes>,
        only_if_empty: bool,
    ) -> bool {
        let mut table = self.lock();
        match table.queues.get(peer) {
            Some((current, _)) if *current == id => {
                if only_if_empty && !drain.is_empty() {
                    return false;
                }
                table.queues.remove(peer);
                true
            }
            // Replaced or removed already: nobody sends to this queue.
            _ => true,
        }
    }

    /// Frames waiting in every queue now.
    pub(crate) fn queued(&self) -> usize {
        self.lock()
            .queues
            .values()
            .map(|(_, queue)| queue.max_capacity() - queue.capacity())
            .sum()
    }
}

/// The inbound substreams being read, per peer: each holds a clone of the
/// peer's turn, and reads only while holding its lock.
#[derive(Default)]
pub(crate) struct Readers {
    turns: Mutex<HashMap<PeerId, Arc<tokio::sync::Mutex<()>>>>,
}

impl Readers {
    fn lock(&self) -> MutexGuard<'_, HashMap<PeerId, Arc<tokio::sync::Mutex<()>>>> {
        self.turns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The turn of a new substream from `peer`, or `None` when `max`
    /// substreams of it are being read or waiting already.
    pub(crate) fn admit(&self, peer: PeerId, max: usize) -> Option<Arc<tokio::sync::Mutex<()>>> {
        let mut turns = self.lock();
        let turn = turns.entry(peer).or_default();
        // One reference is the table's own.
        if Arc::strong_count(turn) > max {
            return None;
        }
        Some(turn.clone())
    }

    /// A substream from `peer` was read to its end: forgets the peer when
    /// it was the last one.
    pub(crate) fn release(&self, peer: &PeerId, turn: Arc<tokio::sync::Mutex<()>>) {
        drop(turn);
        let mut turns = self.lock();
        if turns
            .get(peer)
            .is_some_and(|turn| Arc::strong_count(turn) == 1)
        {
            turns.remove(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_queue_is_created_once_bounded_and_retired_only_by_its_writer() {
        let links = Links::default();
        let peer = PeerId::random();
        let Enqueued::Start(id, mut drain) = links.enqueue(peer, Bytes::from_static(b"1"), 2)
        else {
            panic!("no writer started");
        };
        assert!(matches!(
            links.enqueue(peer, Bytes::from_static(b"2"), 2),
            Enqueued::Queued
        ));
        assert!(matches!(
            links.enqueue(peer, Bytes::from_static(b"3"), 2),
            Enqueued::Full
        ));
        assert_eq!(links.queued(), 2);
        // Not empty: an idle writer keeps it.
        assert!(!links.retire(&peer, id, &drain, true));
        assert_eq!(drain.try_recv().unwrap(), "1");
        assert_eq!(drain.try_recv().unwrap(), "2");
        assert!(links.retire(&peer, id, &drain, true));
        assert!(matches!(
            links.enqueue(peer, Bytes::from_static(b"4"), 2),
            Enqueued::Start(..)
        ));
    }

    #[test]
    fn a_batch_is_queued_as_far_as_there_is_room() {
        let links = Links::default();
        let peer = PeerId::random();
        let mut frames: VecDeque<Bytes> = (0..5u8).map(|i| Bytes::from(vec![i])).collect();
        let Enqueued::Start(id, mut drain) = links.enqueue_many(peer, &mut frames, 5, 2) else {
            panic!("no writer started");
        };
        assert_eq!(frames.len(), 3, "two fit in a new queue of 2");
        assert!(matches!(
            links.enqueue_many(peer, &mut frames, 5, 2),
            Enqueued::Full
        ));
        assert_eq!(frames.len(), 3, "nothing taken when full");
        assert_eq!(drain.try_recv().unwrap(), vec![0u8]);
        assert!(matches!(
            links.enqueue_many(peer, &mut frames, 5, 2),
            Enqueued::Queued
        ));
        assert_eq!(frames.len(), 2);
        assert_eq!(drain.try_recv().unwrap(), vec![1u8]);
        assert_eq!(drain.try_recv().unwrap(), vec![2u8]);
        assert!(links.retire(&peer, id, &drain, true));
    }

    #[test]
    fn readers_are_bounded_per_peer_and_forgotten() {
        let readers = Readers::default();
        let peer = PeerId::random();
        let first = readers.admit(peer, 2).unwrap();
        let second = readers.admit(peer, 2).unwrap();
        assert!(readers.admit(peer, 2).is_none());
        readers.release(&peer, first);
        let third = readers.admit(peer, 2).unwrap();
        readers.release(&peer, second);
        readers.release(&peer, third);
        assert!(readers.lock().is_empty());
    }
}
