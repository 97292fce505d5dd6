//! [`Pulls`]: the delta request this node last sent each peer, advanced as
//! the answers arrive, so that a large pull continues without waiting.
//!
//! A peer answers a delta request with at most `max_delta_entries` entries
//! and `more: true` when it holds more. Asking again through a new digest
//! round would cost two round trips, and could only start once the answer
//! was merged (the digest states what this node holds). Instead, when an
//! answer with `more` arrives, this node sends the same request again at
//! once, in the same session, each stream's version vector advanced past
//! the entries the answer carries: the peer reads and sends the next part
//! while this node verifies and stores the last one.
//!
//! An entry the merge then refuses leaves a gap the continuation skipped;
//! the next anti-entropy round finds it like any other gap.

use std::collections::HashMap;

use crate::{
    domain::{Delta, NodeId},
    protocol::{DeltaRequest, DeltaResponse},
};

/// The delta request last sent to each peer (bounded: one per peer).
#[derive(Debug, Default)]
pub(super) struct Pulls {
    /// Each request as it stands: advanced past every answer so far.
    by_peer: HashMap<NodeId, DeltaRequest>,
}

/// What to do about an answer (see [`Pulls::answered`]).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Send this continuation now.
    Continue(DeltaRequest),
    /// Nothing: the pull is complete, or continues in a newer session.
    Nothing,
    /// The answer says `more` but its request is not known here: ask
    /// again through a new round.
    NewRound,
}

impl Pulls {
    /// This node sent `peer` `request` (its continuations replace it).
    pub(super) fn sent(&mut self, peer: &NodeId, request: DeltaRequest) {
        self.by_peer.insert(peer.clone(), request);
    }

    /// An answer from `peer`: advances the request it answers
    /// past the entries it carries, and says what to ask next when the
    /// answer says the peer holds more.
    pub(super) fn answered(&mut self, peer: &NodeId, response: &DeltaResponse) -> Next {
        let Some(request) = self.by_peer.get_mut(peer) else {
            return if response.more {
                Next::NewRound
            } else {
                Next::Nothing
            };
        };
        if request.session != response.session {
            // An older session's answer (a newer pull replaced it), or
            // deltas the peer sent unasked.
            return Next::Nothing;
        }
        for delta in &response.deltas {
            advance(request, delta);
        }
        if !response.more {
            return Next::Nothing;
        }
        Next::Continue(request.clone())
    }

    /// Forgets `peer` (removed from the node).
    pub(super) fn forget_peer(&mut self, peer: &NodeId) {
        self.by_peer.remove(peer);
    }
}

/// Raises the version vector `request` states for `delta`'s stream past
/// each author's entries that continue it (contiguous from what it states).
fn advance(request: &mut DeltaRequest, delta: &Delta) {
    let Some(want) = request
        .wants
        .iter_mut()
        .find(|w| w.channel == delta.channel && w.stream == delta.stream)
    else {
        return;
    };
    for entry in &delta.entries {
        let held = want.have.get(&entry.author);
        if held.checked_add(1) == Some(entry.sequence) {
            want.have.raise(&entry.author, entry.sequence);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{
        domain::{ChannelId, Hlc, LogEntry, StreamId, VersionVector},
        protocol::StreamWant,
    };

    fn node(name: &str) -> NodeId {
        NodeId::from_seed(name)
    }

    fn ids() -> (ChannelId, StreamId) {
        (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap())
    }

    fn entry(author: &str, sequence: u64) -> LogEntry {
        let timestamp = Hlc::new(sequence, 0).unwrap();
        LogEntry::new(node(author), sequence, timestamp, Bytes::from_static(b"x"))
    }

    fn request(session: u64, have: &[(&str, u64)]) -> DeltaRequest {
        let (channel, stream) = ids();
        let mut vector = VersionVector::new();
        for (author, seq) in have {
            vector.raise(&node(author), *seq);
        }
        DeltaRequest {
            session,
            wants: vec![StreamWant {
                channel,
                stream,
                have: vector,
            }],
        }
    }

    fn response(session: u64, entries: Vec<LogEntry>, more: bool) -> DeltaResponse {
        let (channel, stream) = ids();
        DeltaResponse {
            session,
            deltas: vec![Delta::new(channel, stream, Vec::new(), entries)],
            more,
        }
    }

    fn continuation(next: Next) -> DeltaRequest {
        match next {
            Next::Continue(request) => request,
            other => panic!("expected a continuation, got {other:?}"),
        }
    }

    #[test]
    fn an_answer_with_more_is_continued_from_past_its_entries() {
        let mut pulls = Pulls::default();
        let peer = node("holder");
        pulls.sent(&peer, request(7, &[("a", 2)]));
        let entries = vec![entry("a", 3), entry("a", 4), entry("b", 1), entry("b", 2)];
        let next = continuation(pulls.answered(&peer, &response(7, entries, true)));
        assert_eq!(next.session, 7);
        let have = &next.wants.first().unwrap().have;
        assert_eq!(have.get(&node("a")), 4);
        assert_eq!(have.get(&node("b")), 2);
    }

    #[test]
    fn only_contiguous_entries_advance_the_request() {
        let mut pulls = Pulls::default();
        let peer = node("holder");
        pulls.sent(&peer, request(7, &[("a", 2)]));
        // 5 does not follow 2: the continuation still asks from 2.
        let next = continuation(pulls.answered(&peer, &response(7, vec![entry("a", 5)], true)));
        assert_eq!(next.wants.first().unwrap().have.get(&node("a")), 2);
    }

    #[test]
    fn final_stale_and_unknown_answers_are_not_continued() {
        let mut pulls = Pulls::default();
        let peer = node("holder");
        pulls.sent(&peer, request(7, &[]));
        // An older session's answer: a newer pull is under way.
        let stale = response(6, vec![entry("a", 1)], true);
        assert_eq!(pulls.answered(&peer, &stale), Next::Nothing);
        // A frame without `more` asks nothing, but still advances the
        // request, so that the frame with `more` continues from there.
        let first = response(7, vec![entry("a", 1)], false);
        assert_eq!(pulls.answered(&peer, &first), Next::Nothing);
        let next = continuation(pulls.answered(&peer, &response(7, vec![entry("a", 2)], true)));
        assert_eq!(next.wants.first().unwrap().have.get(&node("a")), 2);
        // Once forgotten, an answer with more is asked for anew.
        pulls.forget_peer(&peer);
        let more = response(7, vec![entry("a", 3)], true);
        assert_eq!(pulls.answered(&peer, &more), Next::NewRound);
        let last = response(7, vec![], false);
        assert_eq!(pulls.answered(&node("other"), &last), Next::Nothing);
    }
}
