//! The attacker of a soak run: a genuine member speaking through a
//! [`MisbehavingPeer`] over TCP, plus raw sockets from other loopback
//! addresses, cycling through every attack of issue 17.

use std::{
    collections::VecDeque,
    fmt,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::Bytes;
use gossip_core::{
    protocol::{codec, PROTOCOL_VERSION},
    testkit::misbehaving::{frames, MisbehavingPeer},
    ChannelId, Identity, NodeId, StreamId, Transport, TransportErrorKind, TransportEvent,
};
use gossip_transport_tcp::{testing::RawPeer, TcpTransport};
use tokio::{
    net::{TcpSocket, TcpStream},
    time::{sleep, timeout, Instant},
};

/// Source address of the silent sockets (handshake starvation).
const SILENT_SOURCE: [u8; 4] = [127, 0, 0, 2];
/// Source address of the strangers' connections (connection flood).
const STRANGER_SOURCE: [u8; 4] = [127, 0, 0, 3];
/// How often the attacker sends a round of frames to every node.
const ROUND: Duration = Duration::from_millis(10);
/// Streams the stream flood opens (the soak's channel holds far fewer).
const FLOOD_STREAMS: usize = 2_000;
/// Streams the gap entries are spread over.
const GAP_STREAMS: usize = 32;
/// Gap entries per push (more than an author's buffer share per stream).
const GAP_RUN: u64 = 150;
/// Silent sockets kept open to each node.
const SILENT_PER_NODE: usize = 16;
/// Strangers' connections kept open to each node (more than its per-address cap).
const STRANGERS_PER_NODE: usize = 20;

/// One phase's attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attack {
    /// Quiet: the attacker sends nothing.
    Baseline,
    /// Digest responses and delta requests for sessions never opened.
    UnsolicitedSync,
    /// Sessions opened with a digest request, then whole-stream delta
    /// requests on them, as fast as they are taken.
    Amplification,
    /// One validly signed entry in each of thousands of new streams.
    StreamFlood,
    /// Validly signed entries after a gap, across many streams: they can
    /// only wait in the out-of-order buffer.
    GapEntries,
    /// Random bytes, truncated frames, absurd declared lengths.
    Garbage,
    /// Silent TCP sockets from `127.0.0.2` holding handshake slots, reopened
    /// when closed.
    HandshakeStarvation,
    /// Real handshakes by fresh identities (strangers) from `127.0.0.3`,
    /// each sending a few frames.
    ConnectionFlood,
}

impl Attack {
    /// The phases of a soak run: a quiet baseline, every attack, a quiet
    /// baseline again.
    pub const PHASES: [Attack; 9] = [
        Attack::Baseline,
        Attack::UnsolicitedSync,
        Attack::Amplification,
        Attack::StreamFlood,
        Attack::GapEntries,
        Attack::Garbage,
        Attack::HandshakeStarvation,
        Attack::ConnectionFlood,
        Attack::Baseline,
    ];

    /// A short name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Attack::Baseline => "baseline (quiet)",
            Attack::UnsolicitedSync => "unsolicited sync",
            Attack::Amplification => "amplification",
            Attack::StreamFlood => "stream flood",
            Attack::GapEntries => "gap entries",
            Attack::Garbage => "garbage frames",
            Attack::HandshakeStarvation => "handshake starvation",
            Attack::ConnectionFlood => "connection flood",
        }
    }

    /// The counters (node or TCP, summed over the honest nodes) whose
    /// growth shows the attack was seen and refused.
    #[must_use]
    pub fn own_counters(self) -> &'static [&'static str] {
        match self {
            Attack::Baseline => &[],
            Attack::UnsolicitedSync => &["unsolicited_sync"],
            Attack::Amplification => &["serve_throttled"],
            Attack::StreamFlood => &["limit_refused"],
            Attack::GapEntries => &["buffer_refused", "buffer_expired"],
            Attack::Garbage => &["malformed_frames"],
            Attack::HandshakeStarvation => &[
                "handshakes_refused_per_ip_cap",
                "handshakes_refused_total_cap",
                "handshake_failures",
            ],
            Attack::ConnectionFlood => &[
                "unknown_peer_frames",
                "connections_refused_per_ip_cap",
                "connections_refused_total_cap",
            ],
        }
    }
}

/// What the attacker sent in a phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Frames its transport (or a raw connection) accepted.
    pub frames: u64,
    /// Frames refused with `QueueFull` (back-pressure).
    pub queue_full: u64,
    /// Frames refused otherwise.
    pub failed: u64,
    /// TCP connections it opened (silent sockets, strangers).
    pub connections: u64,
    /// Handshakes it completed (strangers).
    pub handshakes: u64,
    /// Bytes the honest nodes sent it (frames received by its transport).
    pub bytes_received: u64,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.frames + self.queue_full + self.failed > 0 {
            parts.push(format!("{} frames", self.frames));
        }
        if self.queue_full > 0 {
            parts.push(format!("{} queue-full", self.queue_full));
        }
        if self.connections > 0 {
            parts.push(format!("{} conns", self.connections));
        }
        if self.handshakes > 0 {
            parts.push(format!("{} handshakes", self.handshakes));
        }
        if self.bytes_received >= 1024 {
            parts.push(format!("got {} KiB", self.bytes_received / 1024));
        }
        if parts.is_empty() {
            f.write_str("–")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// An honest node the attacker aims at.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// Its id.
    pub(super) id: NodeId,
    /// Where it listens.
    pub(super) address: SocketAddr,
}

/// The attacker: a member of the shared channel (its key is listed), with
/// the frames of every attack built in advance.
#[derive(Debug)]
pub(super) struct Attacker {
    peer: Arc<MisbehavingPeer<TcpTransport>>,
    targets: Vec<Target>,
    channel: ChannelId,
    shared: StreamId,
    received: Arc<AtomicU64>,
    rng: XorShift,
    flood: Vec<Bytes>,
    gaps: Vec<Bytes>,
    strangers: u64,
}

impl Attacker {
    /// An attacker speaking as `identity` through `transport` (bound, its
    /// address book filled) at `targets`, in `channel` whose busy stream is
    /// `shared` and whose other stream is `probe`. It drains what the
    /// nodes send it on a task of its own.
    #[must_use]
    pub(super) fn new(
        identity: &Identity,
        transport: TcpTransport,
        targets: Vec<Target>,
        channel: ChannelId,
        shared: StreamId,
        probe: StreamId,
    ) -> Self {
        let peer = Arc::new(MisbehavingPeer::new(transport));
        let received = Arc::new(AtomicU64::new(0));
        tokio::spawn(drain(peer.clone(), received.clone()));
        let flood = frames::entries_in_new_streams(identity, &channel, FLOOD_STREAMS, 32)
            .iter()
            .map(codec::encode)
            .collect();
        // The shared and probe streams, and flood streams the channel's
        // stream limit admits: existing streams, so the entries reach the
        // buffer instead of the stream limit.
        let gap_streams = [shared.clone(), probe]
            .into_iter()
            .chain((0..GAP_STREAMS).filter_map(|i| StreamId::new(format!("flood-{i}")).ok()));
        let gaps = gap_streams
            .map(|stream| {
                codec::encode(&frames::gap_entries(
                    identity, &channel, &stream, 5, GAP_RUN, 32,
                ))
            })
            .collect();
        Self {
            peer,
            targets,
            channel,
            shared,
            received,
            rng: XorShift::seeded(),
            flood,
            gaps,
            strangers: 0,
        }
    }

    /// Runs `attack` until `until`; returns what it sent. Sockets it opened
    /// are closed when it returns.
    pub(super) async fn run(&mut self, attack: Attack, until: Instant) -> Tally {
        let received_before = self.received.load(Ordering::Relaxed);
        let mut tally = match attack {
            Attack::Baseline => {
                tokio::time::sleep_until(until).await;
                Tally::default()
            }
            Attack::UnsolicitedSync => self.unsolicited_sync(until).await,
            Attack::Amplification => self.amplification(until).await,
            Attack::StreamFlood => self.stream_flood(until).await,
            Attack::GapEntries => self.gap_entries(until).await,
            Attack::Garbage => self.garbage(until).await,
            Attack::HandshakeStarvation => self.handshake_starvation(until).await,
            Attack::ConnectionFlood => self.connection_flood(until).await,
        };
        tally.bytes_received = self.received.load(Ordering::Relaxed) - received_before;
        tally
    }

    /// Closes the attacker's transport.
    pub(super) async fn close(&self) {
        let _ = self.peer.transport().close().await;
    }

    async fn send(&self, to: &NodeId, frame: Bytes, tally: &mut Tally) {
        match self.peer.send_raw(to, frame).await {
            Ok(()) => tally.frames += 1,
            Err(e) if e.kind() == TransportErrorKind::QueueFull => tally.queue_full += 1,
            Err(_) => tally.failed += 1,
        }
    }

    /// Ten digest responses and ten delta requests per node per round, for
    /// sessions never opened.
    async fn unsolicited_sync(&mut self, until: Instant) -> Tally {
        let mut tally = Tally::default();
        let targets = self.targets.clone();
        while Instant::now() < until {
            for target in &targets {
                for _ in 0..10 {
                    let session = self.rng.next() | (1 << 62);
                    let response = frames::empty_digest_response(session, &self.channel);
                    let request = frames::empty_delta_request(session, &self.channel, &self.shared);
                    for message in [response, request] {
                        self.send(&target.id, codec::encode(&message), &mut tally)
                            .await;
                    }
                }
            }
            sleep(ROUND).await;
        }
        tally
    }

    /// Every round, per node: a new session (a digest request), then ten
    /// requests for the whole shared stream on it.
    async fn amplification(&mut self, until: Instant) -> Tally {
        let mut tally = Tally::default();
        let targets = self.targets.clone();
        while Instant::now() < until {
            let session = self.rng.next() | (1 << 61);
            let open = codec::encode(&frames::digest_request(session, &self.channel));
            let ask = codec::encode(&frames::empty_delta_request(
                session,
                &self.channel,
                &self.shared,
            ));
            for target in &targets {
                self.send(&target.id, open.clone(), &mut tally).await;
            }
            // Let the digests be answered before asking on the sessions.
            sleep(ROUND).await;
            for target in &targets {
                for _ in 0..10 {
                    self.send(&target.id, ask.clone(), &mut tally).await;
                }
            }
            sleep(ROUND).await;
        }
        tally
    }

    /// Ten pushes per node per round, each opening a stream, cycling
    /// through [`FLOOD_STREAMS`] streams.
    async fn stream_flood(&mut self, until: Instant) -> Tally {
        let mut tally = Tally::default();
        let targets = self.targets.clone();
        let mut next = 0usize;
        while Instant::now() < until {
            for _ in 0..10 {
                let Some(push) = self.flood.get(next % self.flood.len().max(1)).cloned() else {
                    break;
                };
                next += 1;
                for target in &targets {
                    self.send(&target.id, push.clone(), &mut tally).await;
                }
            }
            sleep(ROUND).await;
        }
        tally
    }

    /// One push of [`GAP_RUN`] gap entries per node per round, cycling
    /// through the gap streams.
    async fn gap_entries(&mut self, until: Instant) -> Tally {
        let mut tally = Tally::default();
        let targets = self.targets.clone();
        let mut next = 0usize;
        while Instant::now() < until {
            let Some(push) = self.gaps.get(next % self.gaps.len().max(1)).cloned() else {
                break;
            };
            next += 1;
            for target in &targets {
                self.send(&target.id, push.clone(), &mut tally).await;
            }
            sleep(ROUND).await;
        }
        tally
    }

    /// Ten frames per node per round: random bytes, valid frames cut short,
    /// and a header declaring an absurd length.
    async fn garbage(&mut self, until: Instant) -> Tally {
        let mut tally = Tally::default();
        let targets = self.targets.clone();
        let valid = codec::encode(&frames::digest_request(1, &self.channel));
        let absurd = Bytes::from_static(&[PROTOCOL_VERSION, 7, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        while Instant::now() < until {
            for target in &targets {
                for i in 0..10u64 {
                    let frame = match i % 4 {
                        0 => {
                            let len = 1 + (self.rng.next() % 200) as usize;
                            self.rng.bytes(len)
                        }
                        1 => valid.slice(..valid.len() / 2),
                        2 => absurd.clone(),
                        _ => {
                            // A valid frame with one byte flipped.
                            let mut flipped = valid.to_vec();
                            let at = (self.rng.next() as usize) % flipped.len().max(1);
                            if let Some(byte) = flipped.get_mut(at) {
                                *byte ^= 0xa5;
                            }
                            Bytes::from(flipped)
                        }
                    };
                    self.send(&target.id, frame, &mut tally).await;
                }
            }
            sleep(ROUND).await;
        }
        tally
    }

    /// Keeps [`SILENT_PER_NODE`] silent sockets from `127.0.0.2` open to
    /// every node (twice its per-address share of pending handshakes),
    /// reopening each one the node closes, every 100 ms.
    async fn handshake_starvation(&mut self, until: Instant) -> Tally {
        let mut tally = Tally::default();
        let targets = self.targets.clone();
        let mut sockets: Vec<Vec<Option<TcpStream>>> = self
            .targets
            .iter()
            .map(|_| (0..SILENT_PER_NODE).map(|_| None).collect())
            .collect();
        while Instant::now() < until {
            for (target, slots) in targets.iter().zip(sockets.iter_mut()) {
                for slot in slots.iter_mut() {
                    if slot.as_ref().is_none_or(closed_now) {
                        *slot = connect_from(SILENT_SOURCE, target.address).await.ok();
                        if slot.is_some() {
                            tally.connections += 1;
                        }
                    }
                }
            }
            sleep(Duration::from_millis(100)).await;
        }
        tally
    }

    /// Every 50 ms, per node: a stranger (a fresh identity) from
    /// `127.0.0.3` completes a handshake and sends three frames; each node
    /// keeps [`STRANGERS_PER_NODE`] of them open (more than its per-address
    /// cap), the oldest closed first.
    async fn connection_flood(&mut self, until: Instant) -> Tally {
        let mut tally = Tally::default();
        let targets = self.targets.clone();
        let mut open: Vec<VecDeque<RawPeer>> =
            self.targets.iter().map(|_| VecDeque::new()).collect();
        let hello = codec::encode(&frames::digest_request(7, &self.channel));
        let ask = codec::encode(&frames::empty_delta_request(7, &self.channel, &self.shared));
        while Instant::now() < until {
            for (target, peers) in targets.iter().zip(open.iter_mut()) {
                self.strangers += 1;
                let stranger = Identity::from_seed(format!(
                    "soak-stranger-{}-{:x}",
                    self.strangers,
                    self.rng.next()
                ));
                let Ok(stream) = connect_from(STRANGER_SOURCE, target.address).await else {
                    continue;
                };
                tally.connections += 1;
                let handshake = RawPeer::connect_over(stream, &stranger, &target.id, None);
                let Ok(Ok(mut raw)) = timeout(Duration::from_secs(2), handshake).await else {
                    continue;
                };
                tally.handshakes += 1;
                for frame in [&hello, &ask, &hello] {
                    match raw.send_frame(frame).await {
                        Ok(()) => tally.frames += 1,
                        Err(_) => tally.failed += 1,
                    }
                }
                peers.push_back(raw);
                if peers.len() > STRANGERS_PER_NODE {
                    peers.pop_front();
                }
            }
            sleep(Duration::from_millis(50)).await;
        }
        tally
    }
}

/// Reads what the nodes send the attacker (so their sends never back up),
/// counting the bytes, until its transport closes.
async fn drain(peer: Arc<MisbehavingPeer<TcpTransport>>, received: Arc<AtomicU64>) {
    while let Ok(event) = peer.transport().recv().await {
        if let TransportEvent::Frame { frame, .. } = event {
            received.fetch_add(frame.len() as u64, Ordering::Relaxed);
        }
    }
}

/// A TCP connection to `server` from `source` (any port), within a second.
async fn connect_from(source: [u8; 4], server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    timeout(Duration::from_secs(1), socket.connect(server))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// Whether the server closed `stream`, without waiting.
fn closed_now(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.try_read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// A small xorshift generator: session ids, garbage and stranger names.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos());
        // Any bits make a seed: the low 64 will do.
        let seed = nanos as u64;
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Bytes {
        (0..len).map(|_| (self.next() >> 24) as u8).collect()
    }
}
