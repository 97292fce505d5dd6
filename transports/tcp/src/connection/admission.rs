//! Admission of inbound connections: how many may be open at once, in total
//! and per remote address, and how many of those may be in their handshake.
//!
//! Pure bookkeeping under one short-held lock, no I/O: the accept loop asks
//! [`Admission::admit`] before spawning a connection's task, and the task
//! holds the returned [`InboundSlot`] for as long as its socket lives.
//! Outbound connections are never counted: whatever inbound connections
//! hold, this node can still dial the peers it knows.

use std::{
    cmp::Reverse,
    collections::{HashMap, VecDeque},
    net::{IpAddr, Ipv6Addr},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio::sync::Notify;

use crate::TcpConfig;

/// Why an inbound connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its address holds `max_inbound_connections_per_ip` connections.
    ConnectionsPerAddress,
    /// `max_inbound_connections` inbound connections are open.
    Connections,
    /// Its address holds `max_pending_handshakes_per_ip` handshakes: its
    /// fair share of the pending slots.
    PendingPerAddress,
    /// `max_pending_handshakes` handshakes are under way, and no address
    /// holds two more than this one's (else its oldest is evicted).
    Pending,
}

impl Refusal {
    /// The setting that refused, for reports.
    pub(crate) fn setting(self) -> &'static str {
        match self {
            Refusal::ConnectionsPerAddress => "max_inbound_connections_per_ip",
            Refusal::Connections => "max_inbound_connections",
            Refusal::PendingPerAddress => "max_pending_handshakes_per_ip",
            Refusal::Pending => "max_pending_handshakes",
        }
    }
}

/// The address a limit counts by: an IPv4 address, or the /64 network of
/// an IPv6 address (one host usually holds a whole /64, so counting single
/// IPv6 addresses would limit nothing). IPv4-mapped IPv6 addresses count as
/// their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AddressKey(IpAddr);

impl AddressKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !(u128::from(u64::MAX));
                Self(IpAddr::V6(Ipv6Addr::from(network)))
            }
        }
    }
}

/// What one address holds.
#[derive(Debug, Default)]
struct Held {
    /// Inbound connections open (in their handshake or established).
    connections: usize,
    /// Of those, the ones in their handshake, oldest first: their slot ids
    /// and how to tell each it was evicted.
    pending: VecDeque<(u64, Arc<Notify>)>,
}

#[derive(Debug, Default)]
struct Counts {
    connections: usize,
    pending: usize,
    by_address: HashMap<AddressKey, Held>,
    next_id: u64,
}

/// The caps, from [`TcpConfig`].
#[derive(Debug, Clone, Copy)]
struct Caps {
    connections: usize,
    connections_per_address: usize,
    pending: usize,
    pending_per_address: usize,
}

/// The inbound connections of one transport, counted.
#[derive(Debug)]
pub(crate) struct Admission {
    caps: Caps,
    counts: Mutex<Counts>,
}

impl Admission {
    pub(crate) fn new(config: &TcpConfig) -> Self {
        Self {
            caps: Caps {
                connections: config.max_inbound_connections,
                connections_per_address: config.max_inbound_connections_per_ip,
                pending: config.max_pending_handshakes,
                pending_per_address: config.max_pending_handshakes_per_ip,
            },
            counts: Mutex::new(Counts::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Every update is complete before the lock is released.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `ip` into its handshake, or says which cap
    /// refuses it (the address's own caps first: an address over its share
    /// is refused for that, whatever the totals).
    ///
    /// When every pending slot is taken, the newcomer takes the oldest one
    /// of the address holding the most (of those, the one whose oldest is
    /// oldest), if that address holds at least two
    /// more than the newcomer's: the evicted connection's
    /// [`InboundSlot::evicted`] fires and it must close. So the slots end
    /// up shared between addresses, and a node with one handshake under way
    /// (an honest one) is never evicted for a newcomer.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<InboundSlot, Refusal> {
        let key = AddressKey::of(ip);
        let caps = self.caps;
        let mut guard = self.lock();
        let counts = &mut *guard;
        let (connections, pending) = counts
            .by_address
            .get(&key)
            .map_or((0, 0), |held| (held.connections, held.pending.len()));
        if connections >= caps.connections_per_address {
            return Err(Refusal::ConnectionsPerAddress);
        }
        if counts.connections >= caps.connections {
            return Err(Refusal::Connections);
        }
        if pending >= caps.pending_per_address {
            return Err(Refusal::PendingPerAddress);
        }
        if counts.pending >= caps.pending {
            let largest = counts
                .by_address
                .values_mut()
                // The most; among equals, the one whose oldest is oldest.
                .max_by_key(|held| {
                    (
                        held.pending.len(),
                        Reverse(held.pending.front().map(|(id, _)| *id)),
                    )
                })
                .filter(|held| held.pending.len() >= pending + 2);
            let Some((_, evicted)) = largest.and_then(|held| held.pending.pop_front()) else {
                return Err(Refusal::Pending);
            };
            // Its connection stays counted until its task ends, at once.
            evicted.notify_one();
            counts.pending -= 1;
        }
        counts.next_id += 1;
        let id = counts.next_id;
        let evicted = Arc::new(Notify::new());
        counts.connections += 1;
        counts.pending += 1;
        let held = counts.by_address.entry(key).or_default();
        held.connections += 1;
        held.pending.push_back((id, evicted.clone()));
        Ok(InboundSlot {
            admission: self.clone(),
            key,
            id,
            evicted,
        })
    }

    /// Inbound connections open now, and how many of them are in their
    /// handshake.
    pub(crate) fn open(&self) -> (usize, usize) {
        let counts = self.lock();
        (counts.connections, counts.pending)
    }

    /// Frees slot `id`'s pending place if it still has one, and its
    /// connection if `connection`.
    fn release(&self, key: AddressKey, id: u64, connection: bool) {
        let mut guard = self.lock();
        let counts = &mut *guard;
        let Some(held) = counts.by_address.get_mut(&key) else {
            return;
        };
        if let Some(at) = held.pending.iter().position(|(slot, _)| *slot == id) {
            held.pending.remove(at);
            counts.pending = counts.pending.saturating_sub(1);
        }
        if connection {
            held.connections = held.connections.saturating_sub(1);
            counts.connections = counts.connections.saturating_sub(1);
            if held.connections == 0 {
                counts.by_address.remove(&key);
            }
        }
    }
}

/// An admitted inbound connection's place: counted as pending until
/// [`handshake_done`](Self::handshake_done) (or evicted), as a connection
/// until dropped.
#[derive(Debug)]
pub(crate) struct InboundSlot {
    admission: Arc<Admission>,
    key: AddressKey,
    id: u64,
    evicted: Arc<Notify>,
}

impl InboundSlot {
    /// The handshake is over (either way): the pending slot is free for
    /// another; the connection stays counted.
    pub(crate) fn handshake_done(&mut self) {
        self.admission.release(self.key, self.id, false);
    }

    /// Fires when the slot was given to a connection from an address with
    /// fewer handshakes under way (see [`Admission::admit`]): the
    /// connection must close.
    pub(crate) fn evicted(&self) -> Arc<Notify> {
        self.evicted.clone()
    }
}

impl Drop for InboundSlot {
    fn drop(&mut self) {
        self.admission.release(self.key, self.id, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(
        connections: usize,
        per_address: usize,
        pending: usize,
        pending_per: usize,
    ) -> Arc<Admission> {
        let config = TcpConfig::default()
            .max_inbound_connections(connections)
            .max_inbound_connections_per_ip(per_address)
            .max_pending_handshakes(pending)
            .max_pending_handshakes_per_ip(pending_per);
        Arc::new(Admission::new(&config))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Whether `slot` was told it is evicted.
    async fn is_evicted(slot: &InboundSlot) -> bool {
        let evicted = slot.evicted();
        let notified = evicted.notified();
        tokio::pin!(notified);
        // A stored permit makes the first poll ready.
        tokio::select! {
            biased;
            () = &mut notified => true,
            () = std::future::ready(()) => false,
        }
    }

    #[tokio::test]
    async fn one_address_gets_its_share_of_pending_handshakes_and_no_more() {
        let admission = admission(100, 100, 4, 2);
        let mut attacker: Vec<_> = (0..2)
            .map(|_| admission.admit(ip("10.0.0.2")).unwrap())
            .collect();
        assert_eq!(
            admission.admit(ip("10.0.0.2")).unwrap_err(),
            Refusal::PendingPerAddress
        );
        // Others still get in, up to the total.
        let honest = admission.admit(ip("10.0.0.3")).unwrap();
        let other = admission.admit(ip("10.0.0.4")).unwrap();
        assert_eq!(admission.open(), (4, 4));
        // A finished handshake frees its pending slot, not its connection.
        attacker[0].handshake_done();
        assert_eq!(admission.open(), (4, 3));
        let again = admission.admit(ip("10.0.0.2")).unwrap();
        // Full, and no address holds two more than 10.0.0.3: refused.
        assert_eq!(
            admission.admit(ip("10.0.0.3")).unwrap_err(),
            Refusal::Pending
        );
        for slot in [&attacker[0], &attacker[1], &honest, &other, &again] {
            assert!(!is_evicted(slot).await);
        }
        drop(honest);
        drop(other);
        drop(again);
        drop(attacker);
        assert_eq!(admission.open(), (0, 0));
    }

    #[tokio::test]
    async fn a_newcomer_takes_the_oldest_slot_of_the_address_holding_the_most() {
        let admission = admission(100, 100, 4, 3);
        let attacker: Vec<_> = (0..3)
            .map(|_| admission.admit(ip("10.0.0.2")).unwrap())
            .collect();
        let honest = admission.admit(ip("10.0.0.3")).unwrap();
        // Full: the newcomer holds 0, the attacker 3: its oldest goes.
        let newcomer = admission.admit(ip("10.0.0.4")).unwrap();
        assert!(is_evicted(&attacker[0]).await);
        assert!(!is_evicted(&attacker[1]).await && !is_evicted(&attacker[2]).await);
        assert_eq!(
            admission.open(),
            (5, 4),
            "the evicted connection is open until it closes"
        );
        // Attacker 2, honest 1, newcomer 1: another newcomer takes the
        // attacker's next oldest, never an address's only handshake.
        let second = admission.admit(ip("10.0.0.5")).unwrap();
        assert!(is_evicted(&attacker[1]).await);
        assert_eq!(
            admission.admit(ip("10.0.0.6")).unwrap_err(),
            Refusal::Pending
        );
        for slot in [&attacker[2], &honest, &newcomer, &second] {
            assert!(!is_evicted(slot).await);
        }
        // Evicted slots give back their connection only, once.
        drop(attacker);
        assert_eq!(admission.open(), (3, 3));
        drop((honest, newcomer, second));
        assert_eq!(admission.open(), (0, 0));
    }

    #[test]
    fn connections_are_capped_per_address_and_in_total() {
        let admission = admission(3, 2, 10, 10);
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut slot = admission.admit(ip("10.0.0.2")).unwrap();
            slot.handshake_done();
            held.push(slot);
        }
        assert_eq!(
            admission.admit(ip("10.0.0.2")).unwrap_err(),
            Refusal::ConnectionsPerAddress
        );
        held.push(admission.admit(ip("10.0.0.3")).unwrap());
        assert_eq!(
            admission.admit(ip("10.0.0.4")).unwrap_err(),
            Refusal::Connections
        );
        // The address's own cap is named first, whatever the total.
        assert_eq!(
            admission.admit(ip("10.0.0.2")).unwrap_err(),
            Refusal::ConnectionsPerAddress
        );
        held.clear();
        assert_eq!(admission.open(), (0, 0));
        assert!(
            admission.lock().by_address.is_empty(),
            "nothing kept for gone addresses"
        );
    }

    #[test]
    fn ipv6_counts_by_network_and_mapped_ipv4_as_ipv4() {
        let admission = admission(100, 1, 100, 100);
        let _first = admission.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            admission.admit(ip("2001:db8:1:2:ffff::9")).unwrap_err(),
            Refusal::ConnectionsPerAddress,
            "the same /64"
        );
        let _other_network = admission.admit(ip("2001:db8:1:3::1")).unwrap();
        let _v4 = admission.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(
            admission.admit(ip("::ffff:192.0.2.1")).unwrap_err(),
            Refusal::ConnectionsPerAddress
        );
    }
}
