//! Admission of inbound connections: how many may be open at once, in total
//! and per remote address, and how many of those may be in their handshake.
//!
//! Pure bookkeeping under one short-held lock, no I/O: the accept loop asks
//! [`Admission::admit`] before spawning a connection's task, and the task
//! holds the returned [`InboundSlot`] for as long as its socket lives.
//! Outbound connections are never counted: whatever inbound connections
//! hold, this node can still dial the peers it knows.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

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
    /// `max_pending_handshakes` handshakes are under way.
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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Held {
    /// Inbound connections open (in their handshake or established).
    connections: usize,
    /// Of those, in their handshake.
    pending: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: Held,
    by_address: HashMap<AddressKey, Held>,
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
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<InboundSlot, Refusal> {
        let key = AddressKey::of(ip);
        let caps = self.caps;
        let mut counts = self.lock();
        let held = counts.by_address.get(&key).copied().unwrap_or_default();
        if held.connections >= caps.connections_per_address {
            return Err(Refusal::ConnectionsPerAddress);
        }
        if counts.total.connections >= caps.connections {
            return Err(Refusal::Connections);
        }
        if held.pending >= caps.pending_per_address {
            return Err(Refusal::PendingPerAddress);
        }
        if counts.total.pending >= caps.pending {
            return Err(Refusal::Pending);
        }
        counts.total.connections += 1;
        counts.total.pending += 1;
        let entry = counts.by_address.entry(key).or_default();
        entry.connections += 1;
        entry.pending += 1;
        Ok(InboundSlot {
            admission: self.clone(),
            key,
            pending: true,
        })
    }

    /// Inbound connections open now, and how many of them are in their
    /// handshake.
    pub(crate) fn open(&self) -> (usize, usize) {
        let counts = self.lock();
        (counts.total.connections, counts.total.pending)
    }

    fn release(&self, key: AddressKey, connection: bool, pending: bool) {
        let mut counts = self.lock();
        let counts = &mut *counts;
        if connection {
            counts.total.connections = counts.total.connections.saturating_sub(1);
        }
        if pending {
            counts.total.pending = counts.total.pending.saturating_sub(1);
        }
        if let Some(held) = counts.by_address.get_mut(&key) {
            if connection {
                held.connections = held.connections.saturating_sub(1);
            }
            if pending {
                held.pending = held.pending.saturating_sub(1);
            }
            if held.connections == 0 {
                counts.by_address.remove(&key);
            }
        }
    }
}

/// An admitted inbound connection's place: counted as pending until
/// [`handshake_done`](Self::handshake_done), as a connection until dropped.
#[derive(Debug)]
pub(crate) struct InboundSlot {
    admission: Arc<Admission>,
    key: AddressKey,
    pending: bool,
}

impl InboundSlot {
    /// The handshake is over (either way): the pending slot is free for
    /// another; the connection stays counted.
    pub(crate) fn handshake_done(&mut self) {
        if self.pending {
            self.pending = false;
            self.admission.release(self.key, false, true);
        }
    }
}

impl Drop for InboundSlot {
    fn drop(&mut self) {
        self.admission.release(self.key, true, self.pending);
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

    #[test]
    fn one_address_gets_its_share_of_pending_handshakes_and_no_more() {
        let admission = admission(100, 100, 4, 2);
        let attacker: Vec<_> = (0..2)
            .map(|_| admission.admit(ip("10.0.0.2")).unwrap())
            .collect();
        assert_eq!(
            admission.admit(ip("10.0.0.2")).unwrap_err(),
            Refusal::PendingPerAddress
        );
        // Others still get in, up to the total.
        let honest = admission.admit(ip("10.0.0.3")).unwrap();
        let _other = admission.admit(ip("10.0.0.4")).unwrap();
        assert_eq!(
            admission.admit(ip("10.0.0.5")).unwrap_err(),
            Refusal::Pending
        );
        assert_eq!(admission.open(), (4, 4));
        // A finished handshake frees its pending slot, not its connection.
        let mut attacker = attacker;
        attacker[0].handshake_done();
        assert_eq!(admission.open(), (4, 3));
        let _again = admission.admit(ip("10.0.0.2")).unwrap();
        drop(honest);
        drop(attacker);
        assert_eq!(admission.open(), (2, 2));
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
