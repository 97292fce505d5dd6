//! [`SyncSessions`]: which anti-entropy sessions are open with each peer, so
//! that only answers to questions this node asked, and requests following
//! digests it answered, are acted on. Bounded per peer (the oldest session
//! gives way) and expiring.
//!
//! Why: a digest response naming a channel with no streams makes its
//! receiver send everything it holds, and a delta request with an empty
//! version vector does the same. Tying both to a session the receiver
//! opened (or answered) means a peer gets deltas only in the course of a
//! round, each round's cost charged to its [`ServeBudget`](crate::ServeBudget).
//!
//! Pure: the caller passes "now" in milliseconds.

use std::collections::{HashMap, VecDeque};

use crate::domain::NodeId;

/// One direction's open sessions with every peer.
#[derive(Debug)]
struct SessionTable {
    per_peer: usize,
    timeout_ms: u64,
    peers: HashMap<NodeId, VecDeque<(u64, u64)>>,
}

impl SessionTable {
    fn new(per_peer: usize, timeout_ms: u64) -> Self {
        Self {
            per_peer: per_peer.max(1),
            timeout_ms,
            peers: HashMap::new(),
        }
    }

    fn open(&mut self, peer: &NodeId, session: u64, now_ms: u64) {
        let timeout = self.timeout_ms;
        let open = self.peers.entry(peer.clone()).or_default();
        open.retain(|(id, at)| *id != session && now_ms.saturating_sub(*at) < timeout);
        if open.len() >= self.per_peer {
            open.pop_front();
        }
        open.push_back((session, now_ms));
    }

    fn contains(&self, peer: &NodeId, session: u64, now_ms: u64) -> bool {
        self.peers.get(peer).is_some_and(|open| {
            open.iter()
                .any(|(id, at)| *id == session && now_ms.saturating_sub(*at) < self.timeout_ms)
        })
    }

    fn forget(&mut self, peer: &NodeId) {
        self.peers.remove(peer);
    }
}

/// Open anti-entropy sessions, both directions, every peer.
#[derive(Debug)]
pub(crate) struct SyncSessions {
    /// Digest requests this node sent, by peer: a digest response must
    /// answer one of them.
    asked: SessionTable,
    /// Digest requests this node answered, by peer: a delta request must
    /// follow one of them.
    answered: SessionTable,
}

impl SyncSessions {
    /// Up to `per_peer` sessions open with each peer in each direction, each
    /// for `timeout_ms`.
    pub(crate) fn new(per_peer: usize, timeout_ms: u64) -> Self {
        Self {
            asked: SessionTable::new(per_peer, timeout_ms),
            answered: SessionTable::new(per_peer, timeout_ms),
        }
    }

    /// This node sent `peer` a digest request for `session`.
    pub(crate) fn asked(&mut self, peer: &NodeId, session: u64, now_ms: u64) {
        self.asked.open(peer, session, now_ms);
    }

    /// Whether a digest response from `peer` for `session` answers a request
    /// this node sent.
    pub(crate) fn expects_digest(&self, peer: &NodeId, session: u64, now_ms: u64) -> bool {
        self.asked.contains(peer, session, now_ms)
    }

    /// This node answered `peer`'s digest request for `session`.
    pub(crate) fn answered(&mut self, peer: &NodeId, session: u64, now_ms: u64) {
        self.answered.open(peer, session, now_ms);
    }

    /// Whether a delta request from `peer` for `session` follows a digest
    /// this node answered.
    pub(crate) fn expects_delta_request(&self, peer: &NodeId, session: u64, now_ms: u64) -> bool {
        self.answered.contains(peer, session, now_ms)
    }

    /// Forgets a peer (removed from the node).
    pub(crate) fn forget(&mut self, peer: &NodeId) {
        self.asked.forget(peer);
        self.answered.forget(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str) -> NodeId {
        NodeId::from_seed(name)
    }

    #[test]
    fn only_sessions_opened_with_that_peer_are_expected_and_they_expire() {
        let mut sessions = SyncSessions::new(4, 1_000);
        let (a, b) = (peer("a"), peer("b"));
        sessions.asked(&a, 7, 0);
        assert!(sessions.expects_digest(&a, 7, 999));
        assert!(!sessions.expects_digest(&a, 7, 1_000), "expired");
        assert!(!sessions.expects_digest(&b, 7, 0), "another peer's session");
        assert!(!sessions.expects_digest(&a, 8, 0), "never opened");
        assert!(
            !sessions.expects_delta_request(&a, 7, 0),
            "directions are apart"
        );
        sessions.answered(&b, 3, 0);
        assert!(sessions.expects_delta_request(&b, 3, 10));
        sessions.forget(&b);
        assert!(!sessions.expects_delta_request(&b, 3, 10));
    }

    #[test]
    fn a_peer_holds_at_most_its_share_the_oldest_gives_way() {
        let mut sessions = SyncSessions::new(3, 60_000);
        let a = peer("a");
        for session in 1..=100 {
            sessions.answered(&a, session, session);
        }
        let open: Vec<u64> = (1..=100)
            .filter(|s| sessions.expects_delta_request(&a, *s, 100))
            .collect();
        assert_eq!(open, vec![98, 99, 100]);
        // Reopening a session does not take a second place.
        sessions.answered(&a, 100, 101);
        assert!(sessions.expects_delta_request(&a, 98, 101));
    }
}
