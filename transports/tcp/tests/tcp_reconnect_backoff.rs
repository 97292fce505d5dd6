//! Reconnecting without a storm: while a peer is down, or the network
//! between two nodes drops for a while, a sender that keeps sending (as a
//! node's gossip and failure detector do) dials with exponential backoff and
//! jitter, not once per send; once the way is back it reconnects and the
//! frames flow again over one connection.
//!
//! The network is a small TCP proxy in front of the peer that counts every
//! connection it accepts: each one is a dial attempt of the sender.

// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use common::*;
use gossip_core::{Transport, TransportEvent};
use gossip_transport_tcp::{TcpConfig, TcpTransport};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    time::{sleep, timeout, Instant},
};

/// The reconnect policy under test: 20 ms doubling up to 200 ms.
const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_millis(200);
/// How long the way stays down while the sender keeps sending.
const OUTAGE: Duration = Duration::from_secs(2);
/// How often the sender sends during the outage (a storm would dial this often).
const SEND_EVERY: Duration = Duration::from_millis(2);

/// The most dial attempts the policy allows in [`OUTAGE`]: the jittered
/// delays are at least half the nominal ones (10, 20, 40, 80, then 100 ms
/// each), so at most 4 + (2000 − 150) / 100 ≈ 23 attempts; with headroom for
/// the attempt made when the connection broke.
const MAX_DIALS_IN_OUTAGE: usize = 30;

fn config(seed: u64) -> TcpConfig {
    TcpConfig::default()
        .backoff(BACKOFF_MIN, BACKOFF_MAX)
        .handshake_timeout(Duration::from_secs(2))
        .seed(seed)
}

/// A TCP proxy in front of a target address (which may change, as when a
/// peer restarts elsewhere). While up it forwards each connection; while
/// down it closes each accepted connection at once (the dialer sees its
/// handshake fail) and has cut the ones it was forwarding.
struct Proxy {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    target: Arc<Mutex<SocketAddr>>,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind(loopback()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (up, up_rx) = watch::channel(true);
        let count = accepted.clone();
        let target = Arc::new(Mutex::new(target));
        let current = target.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                if !*up_rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut up_rx = up_rx.clone();
                let target = *current.lock().unwrap();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut inbound, mut outbound) = (inbound, outbound);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up_rx.wait_for(|up| !*up) => {}
                    }
                    // Both sockets drop here: the way is cut.
                });
            }
        });
        Self {
            addr,
            accepted,
            target,
            up,
            task,
        }
    }

    fn dials(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends to `to` every [`SEND_EVERY`] for `period`, ignoring failures (a
/// node's gossip does the same: the next round derives what is missing).
async fn keep_sending(from: &TcpTransport, to: &str, period: Duration) -> (usize, usize) {
    let (mut ok, mut failed) = (0, 0);
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        match from.send(&id(to), Bytes::from_static(b"tick")).await {
            Ok(()) => ok += 1,
            Err(_) => failed += 1,
        }
        sleep(SEND_EVERY).await;
    }
    (ok, failed)
}

/// Sends `marker` until it arrives at `at` (skipping older frames); panics
/// after [`WAIT`].
async fn until_delivered(from: &TcpTransport, to: &str, at: &TcpTransport, marker: &'static [u8]) {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "{marker:?} never arrived");
        let _ = from.send(&id(to), Bytes::from_static(marker)).await;
        while let Ok(Ok(event)) = timeout(Duration::from_millis(50), at.recv()).await {
            if matches!(&event, TransportEvent::Frame { frame, .. } if &frame[..] == marker) {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_outage_is_bridged_with_backoff_not_a_dial_storm() {
    timeout(WAIT * 4, async {
        let b = bind("b", config(2)).await;
        let proxy = Proxy::start(b.local_addr()).await;
        let a = bind("a", config(1)).await;
        a.add_peer_address(id("b"), proxy.addr);
        until_delivered(&a, "b", &b, b"before").await;
        assert_eq!(proxy.dials(), 1, "one connection carries everything");

        // The network drops: the connection is cut and new ones fail.
        proxy.set_up(false);
        next_event(
            &a,
            |e| matches!(e, TransportEvent::Disconnected { peer } if peer.as_str() == gossip_core::NodeId::from_seed("b").as_str()),
        )
        .await;
        let before = proxy.dials();
        let (ok, failed) = keep_sending(&a, "b", OUTAGE).await;
        let dials = proxy.dials() - before;
        eprintln!(
            "outage: {} sends ({ok} queued, {failed} refused), {dials} dial attempts",
            ok + failed
        );
        assert!(dials >= 2, "the sender gave up redialing: {dials} attempts");
        assert!(
            dials <= MAX_DIALS_IN_OUTAGE,
            "reconnect storm: {dials} dial attempts for {} sends in {OUTAGE:?}",
            ok + failed
        );
        assert!(
            failed > ok,
            "sends in backoff must fail fast, not queue: {ok} queued, {failed} refused"
        );

        // The network is back: the next send after the backoff gets through,
        // and the new connection is kept.
        proxy.set_up(true);
        until_delivered(&a, "b", &b, b"after").await;
        let reconnected = proxy.dials();
        keep_sending(&a, "b", Duration::from_millis(300)).await;
        assert_eq!(
            proxy.dials(),
            reconnected,
            "dialing went on after the reconnect"
        );
        assert_eq!(a.connections().len(), 1);
        a.close().await.unwrap();
        b.close().await.unwrap();
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_restarts_is_redialed_with_backoff_until_it_is_back() {
    timeout(WAIT * 4, async {
        let b = bind("b", config(2)).await;
        let proxy = Proxy::start(b.local_addr()).await;
        let a = bind("a", config(1)).await;
        a.add_peer_address(id("b"), proxy.addr);
        until_delivered(&a, "b", &b, b"first life").await;

        // `b` goes away; while it is down every dial fails.
        proxy.set_up(false);
        b.close().await.unwrap();
        drop(b);
        next_event(
            &a,
            |e| matches!(e, TransportEvent::Disconnected { peer } if peer.as_str() == gossip_core::NodeId::from_seed("b").as_str()),
        )
        .await;
        let before = proxy.dials();
        let (ok, failed) = keep_sending(&a, "b", OUTAGE).await;
        let dials = proxy.dials() - before;
        eprintln!("peer down: {} sends, {dials} dial attempts", ok + failed);
        assert!(
            (2..=MAX_DIALS_IN_OUTAGE).contains(&dials),
            "{dials} dial attempts in {OUTAGE:?}"
        );
        assert!(a.stats().handshake_failures >= 2, "{:?}", a.stats());

        // `b` restarts (on a fresh port behind the same address); `a`
        // reconnects by itself on a send after its backoff.
        let b = bind("b", config(2)).await;
        proxy.retarget(b.local_addr());
        proxy.set_up(true);
        until_delivered(&a, "b", &b, b"second life").await;
        assert_eq!(a.connections().len(), 1);
        a.close().await.unwrap();
        b.close().await.unwrap();
    })
    .await
    .expect("test timed out");
}
