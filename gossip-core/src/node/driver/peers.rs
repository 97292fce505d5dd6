//! [`PeerBook`]: the peers a node syncs with and what it knows of each.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use tokio::time::Instant;

use crate::{
    domain::NodeId,
    node::{
        budget::{Admission, InboundBudgets},
        serve_budget::{Allowance, ServeBudgets},
        sessions::SyncSessions,
        Config,
    },
    ports::PeerRecord,
};

/// The configured peers, when each was last heard from, their inbound and
/// serving budgets, their open sync sessions, and which pulls are under way
/// in either direction.
#[derive(Debug)]
pub(crate) struct PeerBook {
    records: BTreeMap<NodeId, PeerRecord>,
    last_heard: HashMap<NodeId, Instant>,
    budgets: InboundBudgets,
    serve_budgets: ServeBudgets,
    sessions: SyncSessions,
    /// When each peer last sent this node a delta response: a pull from it
    /// is under way while that is recent.
    pulling_from: HashMap<NodeId, Instant>,
    /// When this node last answered each peer's delta request: that peer is
    /// pulling from this node while that is recent.
    serving: HashMap<NodeId, Instant>,
    /// When each kind of abuse by each peer was last reported.
    reported: HashMap<(NodeId, &'static str), Instant>,
}

impl PeerBook {
    /// A book of the saved `records`, with the budgets and session limits
    /// of `config`.
    pub(crate) fn new(records: Vec<PeerRecord>, config: &Config) -> Self {
        let session_timeout_ms =
            u64::try_from(config.sync_session_timeout.as_millis()).unwrap_or(u64::MAX);
        Self {
            records: records.into_iter().map(|p| (p.id.clone(), p)).collect(),
            last_heard: HashMap::new(),
            budgets: InboundBudgets::new(config.inbound_budget),
            serve_budgets: ServeBudgets::new(config.serve_budget),
            sessions: SyncSessions::new(config.max_sync_sessions, session_timeout_ms),
            pulling_from: HashMap::new(),
            serving: HashMap::new(),
            reported: HashMap::new(),
        }
    }

    /// Every peer's id, in order.
    pub(crate) fn ids(&self) -> Vec<NodeId> {
        self.records.keys().cloned().collect()
    }

    /// Every peer with a saved address.
    pub(crate) fn addresses(&self) -> Vec<(NodeId, String)> {
        self.records
            .values()
            .filter_map(|r| Some((r.id.clone(), r.address.clone()?)))
            .collect()
    }

    /// Whether `peer` is configured.
    pub(crate) fn contains(&self, peer: &NodeId) -> bool {
        self.records.contains_key(peer)
    }

    /// Adds (or replaces) a peer.
    pub(crate) fn insert(&mut self, record: PeerRecord) {
        self.records.insert(record.id.clone(), record);
    }

    /// Removes a peer and forgets everything about it.
    pub(crate) fn remove(&mut self, peer: &NodeId) {
        self.records.remove(peer);
        self.last_heard.remove(peer);
        self.budgets.forget(peer);
        self.serve_budgets.forget(peer);
        self.sessions.forget(peer);
        self.pulling_from.remove(peer);
        self.serving.remove(peer);
        self.reported.retain(|(p, _), _| p != peer);
    }

    /// Charges a frame of `len` bytes to `peer`'s inbound budget.
    pub(crate) fn admit(&mut self, peer: &NodeId, len: usize, now_ms: u64) -> Admission {
        self.budgets.admit(peer, len, now_ms)
    }

    /// What `peer` may be served at `now_ms`.
    pub(crate) fn serve_allowance(&mut self, peer: &NodeId, now_ms: u64) -> Allowance {
        self.serve_budgets.allowance(peer, now_ms)
    }

    /// Charges what was served to `peer`.
    pub(crate) fn charge_served(&mut self, peer: &NodeId, entries: u64, bytes: u64, now_ms: u64) {
        self.serve_budgets.charge(peer, entries, bytes, now_ms);
    }

    /// The open sync sessions with every peer.
    pub(crate) fn sessions(&mut self) -> &mut SyncSessions {
        &mut self.sessions
    }

    /// Whether abuse of kind `what` by `peer` is worth reporting now: once a
    /// second at most, so a flood of bad frames cannot flood the error
    /// stream too (every one is counted in the stats regardless).
    pub(crate) fn worth_reporting(&mut self, peer: &NodeId, what: &'static str) -> bool {
        let now = Instant::now();
        let key = (peer.clone(), what);
        let recent = self
            .reported
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < Duration::from_secs(1));
        if !recent {
            self.reported.insert(key, now);
        }
        !recent
    }

    /// Notes that `peer` was heard from now.
    pub(crate) fn heard_from(&mut self, peer: &NodeId) {
        self.last_heard.insert(peer.clone(), Instant::now());
    }

    /// Milliseconds since `peer` was last heard from, if ever.
    pub(crate) fn last_heard_ms_ago(&self, peer: &NodeId) -> Option<u64> {
        self.last_heard
            .get(peer)
            .map(|at| u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Notes that `peer` just sent this node deltas.
    pub(crate) fn pulling_from(&mut self, peer: &NodeId) {
        self.pulling_from.insert(peer.clone(), Instant::now());
    }

    /// Notes that this node just answered `peer`'s delta request.
    pub(crate) fn serving(&mut self, peer: &NodeId) {
        self.serving.insert(peer.clone(), Instant::now());
    }

    /// Whether deltas arrived from some peer within `window` (frames of a
    /// pull are processed back to back, so a pull in progress keeps this
    /// fresh; a finished one lets it lapse).
    pub(crate) fn pull_under_way(&self, window: Duration) -> bool {
        self.pulling_from.values().any(|at| at.elapsed() < window)
    }

    /// Whether `peer` asked this node for deltas within `window` (it is
    /// catching up from this node).
    pub(crate) fn served_within(&self, peer: &NodeId, window: Duration) -> bool {
        self.serving
            .get(peer)
            .is_some_and(|at| at.elapsed() < window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeId {
        NodeId::from_seed(name)
    }

    fn book() -> PeerBook {
        PeerBook::new(
            vec![PeerRecord::new(node("b")), PeerRecord::new(node("a"))],
            &Config::default(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn pulls_in_either_direction_lapse_after_their_window() {
        let mut peers = book();
        let window = Duration::from_millis(100);
        assert!(!peers.pull_under_way(window));
        peers.pulling_from(&node("a"));
        peers.serving(&node("b"));
        assert!(peers.pull_under_way(window));
        assert!(peers.served_within(&node("b"), window));
        assert!(!peers.served_within(&node("a"), window));
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(!peers.pull_under_way(window));
        assert!(!peers.served_within(&node("b"), window));
    }

    #[tokio::test(start_paused = true)]
    async fn removing_a_peer_forgets_everything_about_it() {
        let mut peers = book();
        assert_eq!(peers.ids(), vec![node("a"), node("b")]);
        assert_eq!(peers.last_heard_ms_ago(&node("a")), None);
        peers.heard_from(&node("a"));
        peers.pulling_from(&node("a"));
        peers.serving(&node("a"));
        peers.sessions().answered(&node("a"), 1, 0);
        tokio::time::advance(Duration::from_millis(40)).await;
        assert_eq!(peers.last_heard_ms_ago(&node("a")), Some(40));

        peers.remove(&node("a"));
        assert!(!peers.contains(&node("a")) && peers.contains(&node("b")));
        assert_eq!(peers.last_heard_ms_ago(&node("a")), None);
        assert!(!peers.pull_under_way(Duration::from_secs(1)));
        assert!(!peers.served_within(&node("a"), Duration::from_secs(1)));
        assert!(!peers.sessions().expects_delta_request(&node("a"), 1, 0));
    }

    #[test]
    fn the_budget_is_charged_per_peer() {
        let budget = crate::InboundBudget::default()
            .frames_per_second(1)
            .burst_seconds(1);
        let config = Config::default().inbound_budget(budget);
        let mut peers = PeerBook::new(vec![PeerRecord::new(node("a"))], &config);
        assert_eq!(peers.admit(&node("a"), 10, 0), Admission::Admitted);
        assert_ne!(peers.admit(&node("a"), 10, 0), Admission::Admitted);
        assert_eq!(peers.admit(&node("b"), 10, 0), Admission::Admitted);
    }
}
