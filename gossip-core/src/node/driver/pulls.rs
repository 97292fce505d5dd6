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
//!
//! The answer comes from the network, so it is not trusted to shape the
//! request: an entry advances the request only when the channel's control
//! log allows its author to write it (so a member answering with entries
//! by invented authors cannot grow the request it is sent back), and an
//! answer that advances nothing is not continued (the same request would
//! only fetch the same answer again); the next timer round resumes.

use std::collections::HashMap;

use crate::{
    domain::{ChannelId, Delta, NodeId, StreamId},
    protocol::{DeltaRequest, DeltaResponse},
};

/// The delta request last sent to each peer (bounded: one per peer).
#[derive(Debug, Default)]
pub(super) struct Pulls {
    by_peer: HashMap<NodeId, Pull>,
}

/// One peer's pull.
#[derive(Debug)]
struct Pull {
    /// The request as it stands: advanced past every answer so far.
    request: DeltaRequest,
    /// Whether the answers since the request was last sent advanced it.
    advanced: bool,
}

/// What to do about an answer (see [`Pulls::answered`]).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Send this continuation now.
    Continue(DeltaRequest),
    /// Nothing: the pull is complete, continues in a newer session, or
    /// made no progress (the next timer round resumes it).
    Nothing,
    /// The answer says `more` but its request is not known here: ask
    /// again through a new round.
    NewRound,
}

impl Pulls {
    /// This node sent `peer` `request` (its continuations replace it).
    pub(super) fn sent(&mut self, peer: &NodeId, request: DeltaRequest) {
        let pull = Pull {
            request,
            advanced: false,
        };
        self.by_peer.insert(peer.clone(), pull);
    }

    /// An answer from `peer`: advances the request it answers past the
    /// entries it carries that `allowed` (channel, stream, author,
    /// sequence) says their author may write, and says what to ask next
    /// when the answer says the peer holds more.
    pub(super) fn answered(
        &mut self,
        peer: &NodeId,
        response: &DeltaResponse,
        allowed: impl Fn(&ChannelId, &StreamId, &NodeId, u64) -> bool,
    ) -> Next {
        let Some(pull) = self.by_peer.get_mut(peer) else {
            return if response.more {
                Next::NewRound
            } else {
                Next::Nothing
            };
        };
        if pull.request.session != response.session {
            // An older session's answer (a newer pull replaced it), or
            // deltas the peer sent unasked.
            return Next::Nothing;
        }
        for delta in &response.deltas {
            pull.advanced |= advance(&mut pull.request, delta, &allowed);
        }
        if !response.more || !pull.advanced {
            return Next::Nothing;
        }
        pull.advanced = false;
        Next::Continue(pull.request.clone())
    }

    /// Forgets `peer` (removed from the node).
    pub(super) fn forget_peer(&mut self, peer: &NodeId) {
        self.by_peer.remove(peer);
    }
}

/// Raises the version vector `request` states for `delta`'s stream past
/// each author's entries that continue it (contiguous from what it states)
/// and that `allowed` admits; returns whether it raised any.
fn advance(
    request: &mut DeltaRequest,
    delta: &Delta,
    allowed: impl Fn(&ChannelId, &StreamId, &NodeId, u64) -> bool,
) -> bool {
    let Some(want) = request
        .wants
        .iter_mut()
        .find(|w| w.channel == delta.channel && w.stream == delta.stream)
    else {
        return false;
    };
    let mut advanced = false;
    for entry in &delta.entries {
        let held = want.have.get(&entry.author);
        if held.checked_add(1) == Some(entry.sequence)
            && allowed(&want.channel, &want.stream, &entry.author, entry.sequence)
        {
            want.have.raise(&entry.author, entry.sequence);
            advanced = true;
        }
    }
    advanced
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

    /// Every author may write.
    fn anyone(_: &ChannelId, _: &StreamId, _: &NodeId, _: u64) -> bool {
        true
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
        let next = continuation(pulls.answered(&peer, &response(7, entries, true), anyone));
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
        let entries = vec![entry("a", 5), entry("b", 1)];
        let next = continuation(pulls.answered(&peer, &response(7, entries, true), anyone));
        let have = &next.wants.first().unwrap().have;
        assert_eq!((have.get(&node("a")), have.get(&node("b"))), (2, 1));
    }

    #[test]
    fn final_stale_and_unknown_answers_are_not_continued() {
        let mut pulls = Pulls::default();
        let peer = node("holder");
        pulls.sent(&peer, request(7, &[]));
        // An older session's answer: a newer pull is under way.
        let stale = response(6, vec![entry("a", 1)], true);
        assert_eq!(pulls.answered(&peer, &stale, anyone), Next::Nothing);
        // A frame without `more` asks nothing, but still advances the
        // request, so that the frame with `more` continues from there.
        let first = response(7, vec![entry("a", 1)], false);
        assert_eq!(pulls.answered(&peer, &first, anyone), Next::Nothing);
        let next =
            continuation(pulls.answered(&peer, &response(7, vec![entry("a", 2)], true), anyone));
        assert_eq!(next.wants.first().unwrap().have.get(&node("a")), 2);
        // Once forgotten, an answer with more is asked for anew.
        pulls.forget_peer(&peer);
        let more = response(7, vec![entry("a", 3)], true);
        assert_eq!(pulls.answered(&peer, &more, anyone), Next::NewRound);
        let last = response(7, vec![], false);
        assert_eq!(pulls.answered(&node("other"), &last, anyone), Next::Nothing);
    }

    #[test]
    fn entries_by_authors_the_channel_does_not_allow_leave_the_request_as_it_was() {
        let mut pulls = Pulls::default();
        let peer = node("rogue");
        pulls.sent(&peer, request(7, &[("a", 2)]));
        let only_a = |_: &ChannelId, _: &StreamId, author: &NodeId, _: u64| *author == node("a");
        // A thousand invented authors, each at sequence 1, and one real
        // entry: only the real one advances the request.
        let mut entries: Vec<LogEntry> =
            (0..1000).map(|i| entry(&format!("fake-{i}"), 1)).collect();
        entries.push(entry("a", 3));
        let next = continuation(pulls.answered(&peer, &response(7, entries, true), only_a));
        let have = &next.wants.first().unwrap().have;
        assert_eq!(have.len(), 1, "the request grew: {have:?}");
        assert_eq!(have.get(&node("a")), 3);
        // An answer that advances nothing is not continued: asking the
        // same again would only fetch the same answer.
        let fakes = (0..10).map(|i| entry(&format!("fake-{i}"), 1)).collect();
        assert_eq!(
            pulls.answered(&peer, &response(7, fakes, true), only_a),
            Next::Nothing
        );
    }

    #[test]
    fn progress_counts_across_the_frames_of_one_answer() {
        let mut pulls = Pulls::default();
        let peer = node("holder");
        pulls.sent(&peer, request(7, &[]));
        // The first frame advances; the last, with `more`, carries only
        // entries the merge will not take: the answer as a whole advanced.
        let first = response(7, vec![entry("a", 1)], false);
        assert_eq!(pulls.answered(&peer, &first, anyone), Next::Nothing);
        let only_a = |_: &ChannelId, _: &StreamId, author: &NodeId, _: u64| *author == node("a");
        let last = response(7, vec![entry("b", 1)], true);
        let next = continuation(pulls.answered(&peer, &last, only_a));
        assert_eq!(next.wants.first().unwrap().have.get(&node("a")), 1);
    }
}
