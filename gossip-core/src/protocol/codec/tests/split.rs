//! Frame splitting: frames fit, content is preserved, packing is greedy,
//! `more` rides on the last frame, and entries too large are refused.

use bytes::Bytes;
use proptest::{collection::vec, prelude::*};

use super::{base_proofs, channel, entries_of, stream, MAX};
use crate::{
    domain::{
        provable_units, BaseProof, ChannelId, Delta, EntryHash, Hlc, LogEntry, NodeId, Signature,
        SignedHeader, StreamId,
    },
    error::Error,
    protocol::{
        codec::{decode, delta_response_frames, encoded_len, push_frames, size::body_len},
        messages::{DeltaResponse, Message, Push},
    },
};

fn responses(frames: &[Bytes], max: usize) -> Vec<DeltaResponse> {
    frames
        .iter()
        .map(|f| {
            assert!(f.len() <= max, "frame of {} bytes > {max}", f.len());
            match decode(f, max).unwrap() {
                Message::DeltaResponse(r) => r,
                other => panic!("not a delta response: {other:?}"),
            }
        })
        .collect()
}

fn pushes(frames: &[Bytes], max: usize) -> Vec<Push> {
    frames
        .iter()
        .map(|f| {
            assert!(f.len() <= max, "frame of {} bytes > {max}", f.len());
            match decode(f, max).unwrap() {
                Message::Push(p) => p,
                other => panic!("not a push: {other:?}"),
            }
        })
        .collect()
}

/// Joins consecutive pieces of the same delta (deltas in the tests have
/// distinct streams, so consecutive pieces of one stream are one delta).
fn reassemble(responses: &[DeltaResponse]) -> Vec<Delta> {
    let mut out: Vec<Delta> = Vec::new();
    let mut first_of_frame = true;
    for r in responses {
        for piece in &r.deltas {
            match out.last_mut() {
                Some(last)
                    if first_of_frame
                        && last.stream == piece.stream
                        && !piece.entries.is_empty() =>
                {
                    assert_eq!((&last.channel, &last.base), (&piece.channel, &piece.base));
                    last.entries.extend(piece.entries.iter().cloned());
                }
                _ => out.push(piece.clone()),
            }
            first_of_frame = false;
        }
        first_of_frame = true;
    }
    out
}

/// Distinct streams, so reassembly is unambiguous.
fn distinct_deltas(
    entries: impl Strategy<Value = Vec<LogEntry>>,
) -> impl Strategy<Value = Vec<Delta>> {
    vec((channel(), base_proofs(), entries), 0..5).prop_map(|ds| {
        ds.into_iter()
            .enumerate()
            .map(|(i, (c, base, mut entries))| {
                let s = StreamId::new(format!("s{i}")).unwrap();
                super::link(&c, &s, &mut entries);
                Delta::new(c, s, base, entries)
            })
            .collect()
    })
}

fn test_entry(sequence: u64, payload_len: usize) -> LogEntry {
    LogEntry::new(
        NodeId::from_seed("author"),
        sequence,
        Hlc::from_u64(sequence),
        vec![7u8; payload_len],
    )
}

/// Entries 1..=n of one author, linked in [`ids`] (one run on the wire).
fn test_log(n: u64, payload_len: usize) -> Vec<LogEntry> {
    let (c, s) = ids();
    let mut entries: Vec<LogEntry> = (1..=n).map(|i| test_entry(i, payload_len)).collect();
    super::link(&c, &s, &mut entries);
    entries
}

/// The entries of the first of `entries`' provable units.
fn first_unit(entries: &[LogEntry]) -> Option<Vec<LogEntry>> {
    provable_units(entries).next().map(<[LogEntry]>::to_vec)
}

fn ids() -> (ChannelId, StreamId) {
    (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap())
}

proptest! {
    #[test]
    fn delta_frames_fit_and_preserve_content(
        session in any::<u64>(),
        deltas in distinct_deltas(entries_of(200, 12)),
        more in any::<bool>(),
        max in 60usize..1500,
    ) {
        match delta_response_frames(session, deltas.clone(), more, max) {
            Ok(frames) => {
                let rs = responses(&frames, max);
                prop_assert!(!rs.is_empty());
                for (i, r) in rs.iter().enumerate() {
                    prop_assert_eq!(r.session, session);
                    prop_assert_eq!(r.more, more && i + 1 == rs.len());
                }
                prop_assert_eq!(reassemble(&rs), deltas);
                // Greedy: the next frame's first unit (a signed run, or an
                // empty piece) would not have fitted in the previous frame.
                for pair in rs.windows(2) {
                    let (mut grown, next) = (pair[0].clone(), &pair[1].deltas[0]);
                    let continues = grown.deltas.last().is_some_and(|d| d.stream == next.stream);
                    let unit = first_unit(&next.entries);
                    match unit {
                        Some(unit) if continues => {
                            grown.deltas.last_mut().unwrap().entries.extend(unit);
                        }
                        Some(unit) => grown.deltas.push(Delta::new(
                            next.channel.clone(),
                            next.stream.clone(),
                            next.base.clone(),
                            unit,
                        )),
                        None => grown.deltas.push(next.clone()),
                    }
                    prop_assert!(encoded_len(&Message::DeltaResponse(grown)) > max);
                }
            }
            Err(Error::EntryTooLargeForFrame { size, max_frame_len }) => {
                prop_assert_eq!(max_frame_len, max);
                prop_assert!(size > max);
                // Some entry (or empty delta) alone does not fit.
                let alone = |d: &Delta, entries: Vec<LogEntry>| {
                    encoded_len(&Message::DeltaResponse(DeltaResponse {
                        session,
                        deltas: vec![Delta::new(d.channel.clone(), d.stream.clone(), d.base.clone(), entries)],
                        more,
                    }))
                };
                let some_too_large = deltas.iter().any(|d| {
                    if d.entries.is_empty() {
                        alone(d, vec![]) > max
                    } else {
                        d.entries.iter().any(|e| alone(d, vec![e.clone()]) > max)
                    }
                });
                prop_assert!(some_too_large);
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    #[test]
    fn push_frames_fit_and_preserve_content(
        channel in channel(),
        stream in stream(),
        entries in entries_of(300, 40),
        max in 40usize..2000,
    ) {
        let mut entries = entries;
        super::link(&channel, &stream, &mut entries);
        match push_frames(channel.clone(), stream.clone(), entries.clone(), max) {
            Ok(frames) => {
                let ps = pushes(&frames, max);
                prop_assert_eq!(ps.is_empty(), entries.is_empty());
                for p in &ps {
                    prop_assert_eq!(&p.channel, &channel);
                    prop_assert_eq!(&p.stream, &stream);
                    prop_assert!(!p.entries.is_empty());
                }
                let all: Vec<LogEntry> = ps.iter().flat_map(|p| p.entries.clone()).collect();
                prop_assert_eq!(&all, &entries);
                for pair in ps.windows(2) {
                    let mut grown = pair[0].clone();
                    grown.entries.extend(first_unit(&pair[1].entries).unwrap());
                    prop_assert!(encoded_len(&Message::Push(grown)) > max);
                }
            }
            Err(Error::EntryTooLargeForFrame { size, max_frame_len }) => {
                prop_assert_eq!(max_frame_len, max);
                prop_assert!(size > max);
                let some_too_large = entries.iter().any(|e| {
                    let alone = Push {
                        channel: channel.clone(),
                        stream: stream.clone(),
                        entries: vec![e.clone()],
                    };
                    encoded_len(&Message::Push(alone)) > max
                });
                prop_assert!(some_too_large);
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }
}

#[test]
fn small_responses_take_one_frame() {
    let (c, s) = ids();
    let entries = test_log(10, 10);
    let delta = Delta::new(c, s, Vec::new(), entries);
    let frames = delta_response_frames(3, vec![delta.clone()], true, MAX).unwrap();
    assert_eq!(frames.len(), 1);
    let rs = responses(&frames, MAX);
    assert_eq!(rs[0].deltas, vec![delta]);
    assert!(rs[0].more);
}

#[test]
fn more_is_carried_by_the_last_frame_only() {
    let (c, s) = ids();
    // Sequences with gaps: each entry is a run (and a unit) of its own.
    let entries: Vec<LogEntry> = (1..=30).map(|i| test_entry(2 * i, 100)).collect();
    let one_entry = body_len(&entries[0]);
    // Room for about ten entries per frame.
    let max = 40 + 10 * one_entry;
    let delta = Delta::new(c, s, Vec::new(), entries);
    for more in [false, true] {
        let frames = delta_response_frames(9, vec![delta.clone()], more, max).unwrap();
        let rs = responses(&frames, max);
        assert_eq!(rs.len(), 3);
        let flags: Vec<bool> = rs.iter().map(|r| r.more).collect();
        assert_eq!(flags, vec![false, false, more]);
        assert!(rs
            .iter()
            .all(|r| r.deltas.len() == 1 && r.deltas[0].entries.len() == 10));
    }
}

#[test]
fn no_deltas_is_one_empty_frame() {
    for more in [false, true] {
        let frames = delta_response_frames(1, vec![], more, 16).unwrap();
        let rs = responses(&frames, 16);
        assert_eq!(rs.len(), 1);
        assert!(rs[0].deltas.is_empty());
        assert_eq!(rs[0].more, more);
    }
    let (c, s) = ids();
    assert!(push_frames(c, s, vec![], 16).unwrap().is_empty());
}

#[test]
fn many_small_deltas_share_frames() {
    let deltas: Vec<Delta> = (0..40)
        .map(|i| {
            Delta::new(
                ChannelId::new("c").unwrap(),
                StreamId::new(format!("s{i}")).unwrap(),
                Vec::new(),
                vec![test_entry(1, 20)],
            )
        })
        .collect();
    let total: usize = encoded_len(&Message::DeltaResponse(DeltaResponse {
        session: 0,
        deltas: deltas.clone(),
        more: false,
    }));
    // A third of the whole, plus room for one delta (a fortieth) and the
    // frame's own header: three frames, packed.
    let max = total / 3 + total / 40 + 8;
    let frames = delta_response_frames(0, deltas.clone(), false, max).unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(reassemble(&responses(&frames, max)), deltas);
}

#[test]
fn entry_too_large_for_any_frame_is_an_error() {
    let (c, s) = ids();
    let small = test_entry(1, 10);
    let big = test_entry(2, 5000);
    let max = 1024;
    let delta = Delta::new(
        c.clone(),
        s.clone(),
        Vec::new(),
        vec![small.clone(), big.clone()],
    );
    match delta_response_frames(0, vec![delta], false, max) {
        Err(Error::EntryTooLargeForFrame {
            size,
            max_frame_len,
        }) => {
            assert_eq!(max_frame_len, max);
            assert!(size > 5000);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        push_frames(c.clone(), s.clone(), vec![small, big], max),
        Err(Error::EntryTooLargeForFrame {
            max_frame_len: 1024,
            ..
        })
    ));
    // A delta whose header alone is too large.
    let header = |i: u64| SignedHeader {
        author: NodeId::from_seed(format!("author-{i}")),
        sequence: 1,
        timestamp: Hlc::from_u64(1),
        previous: EntryHash::GENESIS,
        payload_hash: EntryHash::GENESIS,
        signature: Signature::from_bytes([0; 64]),
    };
    let base: Vec<BaseProof> = (0..10)
        .map(|i| BaseProof {
            base: header(i),
            head: header(i),
        })
        .collect();
    let empty = Delta::new(c, s, base, vec![]);
    assert!(matches!(
        delta_response_frames(0, vec![empty], false, max),
        Err(Error::EntryTooLargeForFrame { .. })
    ));
    // A maximum below an empty response.
    assert!(matches!(
        delta_response_frames(u64::MAX, vec![], false, 8),
        Err(Error::EntryTooLargeForFrame {
            size: 14,
            max_frame_len: 8
        })
    ));
}

#[test]
fn exact_fit_is_accepted() {
    let (c, s) = ids();
    let entries = test_log(5, 50);
    let whole = encoded_len(&Message::Push(Push {
        channel: c.clone(),
        stream: s.clone(),
        entries: entries.clone(),
    }));
    assert_eq!(
        push_frames(c.clone(), s.clone(), entries.clone(), whole)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(push_frames(c, s, entries, whole - 1).unwrap().len(), 2);
}

/// `n` entries of one author, linked and signed at every `every`-th entry
/// and at the last.
fn signed_runs(n: u64, every: u64, payload_len: usize) -> Vec<LogEntry> {
    let (c, s) = ids();
    let author = crate::Identity::from_seed("runs");
    let mut previous = EntryHash::GENESIS;
    (1..=n)
        .map(|seq| {
            let entry = LogEntry::new(
                author.node_id().clone(),
                seq,
                Hlc::new(seq, 0).unwrap(),
                vec![7; payload_len],
            )
            .linked_to(previous);
            previous = entry.hash(&c, &s);
            if seq % every == 0 || seq == n {
                entry.sign_hashed(&author, &previous)
            } else {
                entry
            }
        })
        .collect()
}

#[test]
fn signed_runs_are_never_cut_when_they_fit_in_a_frame() {
    let (c, s) = ids();
    // Runs of 4 entries; room for about 6 entries per frame: a frame holds
    // one run, never one and a half.
    let entries = signed_runs(20, 4, 100);
    let max = encoded_len(&Message::DeltaResponse(DeltaResponse {
        session: 1,
        deltas: vec![Delta::new(
            c.clone(),
            s.clone(),
            Vec::new(),
            entries[..6].to_vec(),
        )],
        more: false,
    }));
    let delta = Delta::new(c.clone(), s.clone(), Vec::new(), entries.clone());
    let frames = delta_response_frames(1, vec![delta], false, max).unwrap();
    let rs = responses(&frames, max);
    assert_eq!(rs.len(), 5);
    for r in &rs {
        let piece = &r.deltas[0].entries;
        assert_eq!(piece.len(), 4);
        assert!(piece.last().unwrap().signature.is_some());
        let checked = crate::domain::verify_entries(&c, &s, piece.clone());
        assert_eq!(checked.proven.len(), 4, "each frame proves itself");
    }
    let ps = pushes(&push_frames(c, s, entries, max).unwrap(), max);
    assert_eq!(ps.len(), 5);
    assert!(ps.iter().all(|p| p.entries.len() == 4));
}
