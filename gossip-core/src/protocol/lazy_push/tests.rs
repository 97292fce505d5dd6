//! The lazy push engine: the tree forms, duplicates prune, missing
//! announced entries graft after the timeout, bounds hold under a flood.

use std::collections::VecDeque;

use super::*;
use crate::domain::Role;

fn node(i: usize) -> NodeId {
    NodeId::from_seed(format!("n{i}"))
}

fn channel(n: usize) -> Channel {
    let mut c = Channel::new(ChannelId::new("c").unwrap(), node(0));
    for i in 1..n {
        c.add_member(node(i), Role::Writer);
    }
    c
}

fn stream() -> StreamId {
    StreamId::new("s").unwrap()
}

fn ihave(author: usize, up_to: u64) -> IHave {
    IHave {
        channel: ChannelId::new("c").unwrap(),
        ranges: vec![Announced {
            stream: stream(),
            author: node(author),
            up_to,
        }],
    }
}

/// Node 0 appends entries one after the other; pushes and prunes are
/// delivered in order. Returns the pushes each entry cost.
fn broadcast(n: usize, fanout: usize, entries: u64) -> Vec<usize> {
    let c = channel(n);
    let mut engines: Vec<LazyPush> = (0..n)
        .map(|i| LazyPush::new(fanout, LazyPushConfig::default(), SeededRng::new(i as u64)))
        .collect();
    let mut held = vec![0u64; n];
    let index = |id: &NodeId| (0..n).find(|i| node(*i) == *id).unwrap();
    let mut costs = Vec::new();
    for seq in 1..=entries {
        held[0] = seq;
        engines[0].announce(c.id(), &stream(), &node(0), seq);
        let mut queue: VecDeque<(usize, usize, bool)> = engines[0]
            .eager_targets(&c, &node(0), None, |_| true)
            .iter()
            .map(|t| (0, index(t), true))
            .collect();
        let mut pushes = queue.len();
        while let Some((from, to, push)) = queue.pop_front() {
            if !push {
                engines[to].on_prune(&c, &node(to), &node(from));
                continue;
            }
            let duplicate = held[to] >= seq;
            let before = held[to];
            let pushed = [(node(0), seq)];
            let reply =
                engines[to].on_push(&c, &node(to), &node(from), &stream(), &pushed, |_| before);
            match reply.message {
                Some(Message::Prune(_)) => queue.push_back((to, from, false)),
                Some(Message::Graft(_)) => engines[from].on_graft(&c, &node(from), &node(to)),
                _ => {}
            }
            if duplicate {
                continue;
            }
            held[to] = seq;
            for t in engines[to].eager_targets(&c, &node(to), Some(&node(from)), |_| true) {
                pushes += 1;
                queue.push_back((to, index(&t), true));
            }
        }
        assert!(
            held.iter().all(|h| *h == seq),
            "entry {seq} reached everyone"
        );
        costs.push(pushes);
    }
    costs
}

#[test]
fn small_channels_do_not_use_the_tree() {
    let lazy = LazyPush::new(8, LazyPushConfig::default(), SeededRng::new(1));
    assert!(!lazy.uses_tree(&channel(9)));
    assert!(lazy.uses_tree(&channel(10)));
}

#[test]
fn the_tree_forms_and_an_entry_then_costs_one_push_per_member() {
    for n in [16, 32, 64] {
        let costs = broadcast(n, 8, 6);
        // The first entry floods the random eager links (n × fanout at
        // most); duplicates prune them to a spanning tree.
        assert!(costs[0] <= n * 9, "{costs:?}");
        assert_eq!(*costs.last().unwrap(), n - 1, "n = {n}: {costs:?}");
    }
}

#[test]
fn a_duplicate_prunes_the_link_and_a_first_delivery_makes_it_eager() {
    let c = channel(12);
    let me = node(0);
    let config = LazyPushConfig::default().prune_after(1);
    let mut lazy = LazyPush::new(2, config, SeededRng::new(3));
    let eager = lazy.eager(&c, &me);
    assert_eq!(eager.len(), 2);
    let sender = eager[0].clone();
    let other = eager[1].clone();
    let pushed = [(node(5), 3)];
    // A duplicate of what anti-entropy delivered: the link stays, and the
    // entries go on along the tree.
    let reply = lazy.on_push(&c, &me, &sender, &stream(), &pushed, |_| 3);
    assert_eq!(
        reply,
        PushReply {
            message: None,
            forward: true
        }
    );
    assert!(lazy.eager(&c, &me).contains(&sender));
    // Delivered by a push from `other` (eager: nothing to say), then again
    // by `sender`: `sender` is asked to stop, and this node still pushes to
    // it (a link is pruned by the node it delivers to, one way).
    let newest = [(node(5), 5)];
    assert_eq!(
        lazy.on_push(&c, &me, &other, &stream(), &newest, |_| 4),
        PushReply::default()
    );
    let prune = lazy
        .on_push(&c, &me, &sender, &stream(), &newest, |_| 5)
        .message;
    assert!(matches!(prune, Some(Message::Prune(Prune { channel })) if channel == *c.id()));
    assert!(lazy.eager(&c, &me).contains(&sender));
    // Its own prune makes the link lazy this way.
    lazy.on_prune(&c, &me, &sender);
    assert!(!lazy.eager(&c, &me).contains(&sender));
    // A lazy link delivering first is made eager, and told so.
    let newer = [(node(5), 6)];
    let graft = lazy
        .on_push(&c, &me, &sender, &stream(), &newer, |_| 5)
        .message;
    assert!(matches!(graft, Some(Message::Graft(g)) if g.wants.is_empty()));
    assert!(lazy.eager(&c, &me).contains(&sender));
    // A stranger is never made eager, and gets no prune.
    let stranger = NodeId::from_seed("stranger");
    assert_eq!(
        lazy.on_push(&c, &me, &stranger, &stream(), &newer, |_| 9),
        PushReply::default()
    );
    lazy.on_graft(&c, &me, &stranger);
    assert!(!lazy.eager(&c, &me).contains(&stranger));
}

#[test]
fn only_a_run_of_duplicates_prunes_so_racing_parents_do_not_thrash() {
    let c = channel(12);
    let me = node(0);
    let mut lazy = LazyPush::new(2, LazyPushConfig::default(), SeededRng::new(3));
    assert_eq!(lazy.config().prune_after, 3);
    let eager = lazy.eager(&c, &me);
    let (a, b) = (eager[0].clone(), eager[1].clone());
    let push = |lazy: &mut LazyPush, from: &NodeId, seq: u64, held: u64| {
        lazy.on_push(&c, &me, from, &stream(), &[(node(5), seq)], |_| held)
            .message
    };
    // The first copy of each entry comes by either parent, in no order:
    // every link delivers first often enough, and nothing is pruned.
    for seq in 1..=21u64 {
        let (first, second) = if seq % 3 == 0 { (&b, &a) } else { (&a, &b) };
        assert_eq!(push(&mut lazy, first, seq, seq - 1), None, "entry {seq}");
        assert_eq!(push(&mut lazy, second, seq, seq), None, "entry {seq}");
    }
    assert!(lazy.eager(&c, &me).contains(&a) && lazy.eager(&c, &me).contains(&b));
    // A link that only ever brings duplicates is pruned at the third.
    for seq in 22..=24u64 {
        assert_eq!(push(&mut lazy, &a, seq, seq - 1), None);
        let reply = push(&mut lazy, &b, seq, seq);
        assert_eq!(
            matches!(reply, Some(Message::Prune(_))),
            seq == 24,
            "entry {seq}"
        );
    }
    // `b` is asked to stop; this node keeps pushing to `b`: `b` may have
    // no faster parent than this node.
    assert!(lazy.eager(&c, &me).contains(&b));
    // Pushes still in flight from the pruned link count again from zero:
    // one more duplicate is not answered with another prune.
    assert_eq!(push(&mut lazy, &b, 24, 24), None);
}

#[test]
fn when_every_eager_link_is_unreachable_a_lazy_one_is_promoted() {
    let c = channel(12);
    let me = node(0);
    let mut lazy = LazyPush::new(2, LazyPushConfig::default(), SeededRng::new(3));
    let dead = lazy.eager(&c, &me);
    let targets = lazy.eager_targets(&c, &me, None, |m| !dead.contains(m));
    assert_eq!(targets.len(), 1);
    assert!(!dead.contains(&targets[0]));
}

#[test]
fn a_missing_announced_entry_grafts_after_the_timeout_then_asks_the_next_announcer() {
    let c = channel(12);
    let me = node(0);
    let config = LazyPushConfig::default().graft_timeout(std::time::Duration::from_millis(300));
    let mut lazy = LazyPush::new(2, config, SeededRng::new(3));
    let channels: BTreeMap<ChannelId, Channel> = [(c.id().clone(), c.clone())].into();
    let eager = lazy.eager(&c, &me);
    let (first, second) = (0..12)
        .map(node)
        .filter(|m| *m != me && !eager.contains(m))
        .fold((None, None), |(a, b), m| match (a, b) {
            (None, _) => (Some(m), None),
            (a, None) => (a, Some(m)),
            other => other,
        });
    let (first, second) = (first.unwrap(), second.unwrap());
    // Node 5's entries up to 4 announced; this node holds 2.
    let have = |_: &StreamId, _: &NodeId| 2;
    assert_eq!(lazy.on_ihave(&c, &first, &ihave(5, 4), 1_000, have), 0);
    assert_eq!(lazy.on_ihave(&c, &second, &ihave(5, 3), 1_010, have), 0);
    // Held already: not tracked.
    lazy.on_ihave(&c, &second, &ihave(6, 2), 1_010, have);
    assert_eq!(lazy.missing(), 1);
    let held = |_: &ChannelId, _: &StreamId, _: &NodeId| 2;
    assert!(lazy
        .tick(1_200, &channels, &me, |_| true, held)
        .sends
        .is_empty());
    let tick = lazy.tick(1_300, &channels, &me, |_| true, held);
    let [(to, Message::Graft(graft))] = &tick.sends[..] else {
        panic!("one graft expected: {:?}", tick.sends);
    };
    assert_eq!(to, &first);
    assert_eq!(
        graft.wants,
        [GraftWant {
            stream: stream(),
            author: node(5),
            after: 2,
            up_to: 4
        }]
    );
    // The graft made the link eager.
    assert!(lazy.eager(&c, &me).contains(&first));
    // Still missing one timeout later: the next announcer is asked.
    let tick = lazy.tick(1_600, &channels, &me, |_| true, held);
    assert!(matches!(&tick.sends[..], [(to, Message::Graft(_))] if *to == second));
    // Once held (the graft's answer, a push), it is forgotten.
    lazy.on_push(&c, &me, &first, &stream(), &[(node(5), 4)], |_| 2);
    let all = |_: &ChannelId, _: &StreamId, _: &NodeId| 4;
    assert!(lazy
        .tick(1_900, &channels, &me, |_| true, all)
        .sends
        .is_empty());
    assert_eq!(lazy.missing(), 0);
}

#[test]
fn a_node_that_anti_entropy_fed_instead_of_the_tree_grafts_its_announcer() {
    let c = channel(12);
    let me = node(0);
    let mut lazy = LazyPush::new(2, LazyPushConfig::default(), SeededRng::new(3));
    let channels: BTreeMap<ChannelId, Channel> = [(c.id().clone(), c.clone())].into();
    let eager = lazy.eager(&c, &me);
    let announcer = (1..12).map(node).find(|m| !eager.contains(m)).unwrap();
    // Announced, missing; then anti-entropy delivers it before the graft
    // timeout, and before any push: the tree left this node out.
    lazy.on_ihave(&c, &announcer, &ihave(5, 4), 1_000, |_, _| 2);
    let all = |_: &ChannelId, _: &StreamId, _: &NodeId| 4;
    let tick = lazy.tick(1_100, &channels, &me, |_| true, all);
    let [(to, Message::Graft(graft))] = &tick.sends[..] else {
        panic!("one graft expected: {:?}", tick.sends);
    };
    assert_eq!(to, &announcer);
    assert!(graft.wants.is_empty());
    assert!(lazy.eager(&c, &me).contains(&announcer));
    assert_eq!(lazy.missing(), 0);
    // Delivered by a push instead: the tree works, nothing is grafted.
    let other = (1..12)
        .map(node)
        .find(|m| !lazy.eager(&c, &me).contains(m))
        .unwrap();
    lazy.on_ihave(&c, &other, &ihave(6, 4), 1_200, |_, _| 2);
    lazy.on_push(&c, &me, &node(1), &stream(), &[(node(6), 4)], |_| 2);
    let tick = lazy.tick(1_300, &channels, &me, |_| true, all);
    assert!(
        !tick
            .sends
            .iter()
            .any(|(_, m)| matches!(m, Message::Graft(_))),
        "{:?}",
        tick.sends
    );
}

#[test]
fn announcements_go_to_lazy_fanout_lazy_links_once_coalesced() {
    let c = channel(12);
    let me = node(0);
    let mut lazy = LazyPush::new(2, LazyPushConfig::default(), SeededRng::new(3));
    let channels: BTreeMap<ChannelId, Channel> = [(c.id().clone(), c.clone())].into();
    for seq in 1..=50 {
        assert!(lazy.announce(c.id(), &stream(), &me, seq));
    }
    assert_eq!(lazy.announcements(), 1);
    let eager = lazy.eager(&c, &me);
    let held = |_: &ChannelId, _: &StreamId, _: &NodeId| 0;
    let tick = lazy.tick(0, &channels, &me, |_| true, held);
    let [(to, Message::IHave(ihave))] = &tick.sends[..] else {
        panic!("one announcement expected: {:?}", tick.sends);
    };
    assert!(!eager.contains(to) && *to != me);
    assert_eq!(ihave.ranges.len(), 1);
    assert_eq!(ihave.ranges[0].up_to, 50);
    assert!(lazy
        .tick(1, &channels, &me, |_| true, held)
        .sends
        .is_empty());
}

#[test]
fn bounds_hold_under_a_flood_of_announcements() {
    let c = channel(12);
    let me = node(0);
    let config = LazyPushConfig::default()
        .max_missing(64)
        .max_announcements(16);
    let mut lazy = LazyPush::new(2, config, SeededRng::new(3));
    let channels: BTreeMap<ChannelId, Channel> = [(c.id().clone(), c.clone())].into();
    let (rogue, honest) = (node(7), node(8));
    let have = |_: &StreamId, _: &NodeId| 0;
    let flood = |i: usize| IHave {
        channel: c.id().clone(),
        ranges: (0..MAX_IHAVE_RANGES)
            .map(|j| Announced {
                stream: StreamId::new(format!("s{i}-{j}")).unwrap(),
                author: node(1 + j % 11),
                up_to: u64::from(u32::MAX),
            })
            .collect(),
    };
    let mut refused = 0;
    for i in 0..100 {
        refused += lazy.on_ihave(&c, &rogue, &flood(i), i as u64, have);
    }
    // One announcer fills a quarter of the tracking at most.
    assert_eq!(lazy.missing(), 16);
    assert_eq!(refused, 100 * MAX_IHAVE_RANGES - 16);
    // Others still get tracked.
    assert_eq!(lazy.on_ihave(&c, &honest, &ihave(3, 1), 100, have), 0);
    assert_eq!(lazy.missing(), 17);
    // Beyond the largest sequence, by strangers, or from strangers: ignored.
    lazy.on_ihave(&c, &honest, &ihave(4, MAX_SEQUENCE + 1), 100, have);
    let stranger_author = IHave {
        channel: c.id().clone(),
        ranges: vec![Announced {
            stream: stream(),
            author: NodeId::from_seed("stranger"),
            up_to: 1,
        }],
    };
    lazy.on_ihave(&c, &honest, &stranger_author, 100, have);
    let stranger = NodeId::from_seed("stranger");
    assert_eq!(lazy.on_ihave(&c, &stranger, &ihave(3, 1), 100, have), 1);
    assert_eq!(lazy.missing(), 17);
    // Grafts are batched per announcer, and everything expires.
    let held = |_: &ChannelId, _: &StreamId, _: &NodeId| 0;
    let tick = lazy.tick(5_000, &channels, &me, |_| true, held);
    let wants: usize = tick
        .sends
        .iter()
        .map(|(_, m)| match m {
            Message::Graft(g) => g.wants.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(wants, 17);
    assert!(tick
        .sends
        .iter()
        .all(|(_, m)| matches!(m, Message::Graft(g) if g.wants.len() <= MAX_GRAFT_WANTS)));
    let tick = lazy.tick(20_000, &channels, &me, |_| true, held);
    assert_eq!(tick.expired, 17);
    assert_eq!(lazy.missing(), 0);
    // The announcement queue is bounded too.
    for i in 0..100 {
        let s = StreamId::new(format!("a{i}")).unwrap();
        let fits = lazy.announce(c.id(), &s, &me, 1);
        assert_eq!(fits, i < 16);
    }
    assert_eq!(lazy.announcements(), 16);
}

#[test]
fn members_added_after_the_tree_formed_get_about_fanout_eager_links() {
    let mut c = channel(30);
    let mut engines: Vec<LazyPush> = (0..30)
        .map(|i| LazyPush::new(8, LazyPushConfig::default(), SeededRng::new(i as u64)))
        .collect();
    for (i, engine) in engines.iter_mut().enumerate() {
        engine.eager(&c, &node(i));
    }
    for i in 30..40 {
        c.add_member(node(i), Role::Writer);
    }
    let links: usize = engines
        .iter_mut()
        .enumerate()
        .map(|(i, engine)| {
            let eager = engine.eager(&c, &node(i));
            (30..40).filter(|j| eager.contains(&node(*j))).count()
        })
        .sum();
    // 30 nodes × 10 new members × 8 / 39: about 61.
    assert!((30..=120).contains(&links), "{links} links to new members");
}
