//! Three OS processes (`node-proc`) sync over TCP on loopback, each with its
//! own SQLite file; one is killed with SIGKILL, the others write on, and it
//! restarts on the same store (on a new port, which its peers are told) and
//! catches up. A network outage between two processes (through proxies the
//! test cuts) is bridged with backoff: the test counts dial attempts over
//! the outage. Bad input from a raw socket against a running node: each bad
//! connection is closed, each bad frame reported on the node's error stream
//! with a typed error, and the node's other peer is unaffected.
//!
//! Every wait is bounded; a `NodeProcess` kills its child when dropped, so a
//! failing test leaves no process behind.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod multiprocess;

use gossip_core::Identity;
use gossip_transport_tcp::testing::RawPeer;
use tokio::runtime::Runtime;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    thread,
    time::{Duration, Instant},
};

use multiprocess::{
    assert_identical, scratch_dir, wait_converged, NodeProcess, ANSWER_LIMIT, CONVERGE_LIMIT,
};

const IDS: [&str; 3] = ["proc-a", "proc-b", "proc-c"];

/// Starts `id` over TCP on 127.0.0.1 (`port` 0: any), its SQLite file in
/// `dir` (none: in memory), every id in [`IDS`] a member, knowing `peers`.
fn spawn(id: &str, port: u16, dir: Option<&Path>, peers: &[(&str, &str)]) -> NodeProcess {
    let mut args: Vec<String> = ["--transport", "tcp", "--id", id, "--listen"]
        .map(String::from)
        .to_vec();
    args.push(format!("127.0.0.1:{port}"));
    if let Some(dir) = dir {
        args.push("--store".into());
        args.push(dir.join(format!("{id}.db")).display().to_string());
    }
    for member in IDS {
        args.extend(["--member".into(), member.to_owned()]);
    }
    for (peer, addr) in peers {
        args.extend(["--peer".into(), format!("{peer}={addr}")]);
    }
    NodeProcess::spawn(id, &args)
}

fn socket_addr(node: &NodeProcess) -> SocketAddr {
    node.address.parse().expect("ip:port")
}

/// Connects to `node` and writes `bytes`.
fn connect_and_write(node: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(node).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    stream
}

/// Reads (and discards) until the peer closes `stream`: EOF or reset,
/// within [`ANSWER_LIMIT`]. Panics if it stays open.
fn expect_closed(stream: &mut TcpStream, what: &str) {
    let deadline = Instant::now() + ANSWER_LIMIT;
    let mut sink = [0u8; 4096];
    loop {
        assert!(
            Instant::now() < deadline,
            "{what}: the connection stayed open"
        );
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// Completes the real handshake with `node` (the node `target`) as the
/// seeded identity `claimed` (a member whose key the test holds), retrying
/// while it is not accepted (the node may be dialing `claimed` itself at
/// that moment, and its own dial wins the tie-break).
fn handshaken(runtime: &Runtime, node: SocketAddr, claimed: &str, target: &str) -> RawPeer {
    let deadline = Instant::now() + ANSWER_LIMIT;
    let identity = Identity::from_seed(claimed);
    let target = gossip_core::NodeId::from_seed(target);
    loop {
        match runtime.block_on(RawPeer::connect(&identity, node, &target, None)) {
            Ok(peer) => return peer,
            Err(why) => assert!(
                Instant::now() < deadline,
                "{claimed}: handshake refused ({why})"
            ),
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the node closes the raw peer's connection.
fn expect_peer_closed(runtime: &Runtime, peer: &mut RawPeer, what: &str) {
    let closed = runtime.block_on(async {
        tokio::time::timeout(ANSWER_LIMIT, peer.closed_by_server(usize::MAX)).await
    });
    assert_eq!(closed, Ok(true), "{what}: the connection stayed open");
}

/// A loopback address where nothing listens (bound, then released).
fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn three_processes_converge_and_a_killed_one_catches_up() {
    let dir = scratch_dir("multiprocess_tcp");

    // Each node binds port 0 and says which port it got; then they learn of each other.
    let mut a = spawn(IDS[0], 0, Some(&dir), &[]);
    let mut b = spawn(IDS[1], 0, Some(&dir), &[]);
    let mut c = spawn(IDS[2], 0, Some(&dir), &[]);
    let (addr_a, addr_b, addr_c) = (a.address.clone(), b.address.clone(), c.address.clone());
    a.add_peer(IDS[1], &addr_b);
    a.add_peer(IDS[2], &addr_c);
    b.add_peer(IDS[0], &addr_a);
    b.add_peer(IDS[2], &addr_c);
    c.add_peer(IDS[0], &addr_a);
    c.add_peer(IDS[1], &addr_b);

    // Everyone writes; everyone ends with the same three entries.
    a.append("hello from a");
    b.append("hello from b");
    c.append("hello from c");
    let took = wait_converged(&mut [&mut a, &mut b, &mut c], 3);
    eprintln!("3 processes converged on 3 entries in {took:?}");
    assert_identical(&mut [&mut a, &mut b, &mut c]);

    // C dies without a chance to say goodbye; A and B write on.
    c.kill();
    for i in 0..2 {
        a.append(&format!("a while c is down {i}"));
        b.append(&format!("b while c is down {i}"));
    }
    wait_converged(&mut [&mut a, &mut b], 7);

    // C restarts on the same SQLite file (on whatever port it gets: no fixed
    // ports), A and B learn its new address, and it catches up.
    let mut c = spawn(
        IDS[2],
        0,
        Some(&dir),
        &[(IDS[0], &addr_a), (IDS[1], &addr_b)],
    );
    let addr_c = c.address.clone();
    a.add_peer(IDS[2], &addr_c);
    b.add_peer(IDS[2], &addr_c);
    let took = wait_converged(&mut [&mut a, &mut b, &mut c], 7);
    eprintln!("the restarted process caught up in {took:?}");

    // Its own write from before the kill survived, and new ones still flow.
    c.append("c is back");
    wait_converged(&mut [&mut a, &mut b, &mut c], 8);
    assert_identical(&mut [&mut a, &mut b, &mut c]);
    let listing = a.entries();
    assert_eq!(
        listing.iter().filter(|e| e.starts_with("proc-c ")).count(),
        2,
        "{listing:?}"
    );

    for node in [a, b, c] {
        node.quit();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_refused_per_connection_and_the_other_peer_is_unaffected() {
    use gossip_core::protocol::PROTOCOL_VERSION;

    // The intruder claims to be `proc-c`, a member A knows of but cannot
    // reach (its address refuses connections), so that A takes its frames
    // as a peer's and decodes them. A knows every address from the start:
    // nothing it reports is about a missing address.
    let intruder = IDS[2];
    let mut b = spawn(IDS[1], 0, None, &[]);
    let addr_b = b.address.clone();
    let refused = refused_addr().to_string();
    let mut a = spawn(IDS[0], 0, None, &[(IDS[1], &addr_b), (intruder, &refused)]);
    let addr_a = socket_addr(&a);
    b.add_peer(IDS[0], &addr_a.to_string());
    a.append("a before");
    b.append("b before");
    wait_converged(&mut [&mut a, &mut b], 2);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Connection-level bad input: each connection is closed by A's transport.
    let mut garbage = connect_and_write(addr_a, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_closed(&mut garbage, "garbage instead of a hello");
    let mut wrong_version = connect_and_write(
        addr_a,
        &[&b"GOSSIP/N"[..], &[PROTOCOL_VERSION.wrapping_add(1)]].concat(),
    );
    expect_closed(
        &mut wrong_version,
        "a handshake in another protocol version",
    );
    // A handshake that never completes: closed after the handshake timeout.
    let mut silent = connect_and_write(addr_a, b"GOSSIP/N");
    expect_closed(&mut silent, "a handshake that never completes");
    assert!(a.stat("handshake_failures") >= 3);

    // After a good handshake, a length over the maximum: closed before
    // anything is allocated for it.
    let mut huge = handshaken(&runtime, addr_a, intruder, IDS[0]);
    runtime
        .block_on(huge.send_raw(&u32::MAX.to_be_bytes()))
        .unwrap();
    expect_peer_closed(&runtime, &mut huge, "an oversized length");
    assert_eq!(a.stat("oversized_frames"), 1);

    // A truncated frame: the length promises more than comes before the
    // connection ends. Nothing is delivered; A keeps serving.
    let mut truncated = handshaken(&runtime, addr_a, intruder, IDS[0]);
    let sealed = truncated.seal(&[1u8; 100]).unwrap();
    runtime.block_on(truncated.send_raw(&sealed[..7])).unwrap();
    drop(truncated);

    // Frame-level bad input from an accepted peer: garbage, another envelope
    // version, an unknown kind, a truncated body. Each is reported on A's
    // error stream with a typed decode error naming the peer.
    let mut frames = handshaken(&runtime, addr_a, intruder, IDS[0]);
    for bad in [
        &b"\xde\xad\xbe\xef garbage"[..],
        &[PROTOCOL_VERSION.wrapping_add(1), 4, 0],
        &[PROTOCOL_VERSION, 200],
        &[PROTOCOL_VERSION, 4, 0xff, 0xff],
        &[PROTOCOL_VERSION],
    ] {
        runtime.block_on(frames.send_frame(bad)).unwrap();
    }
    let deadline = Instant::now() + CONVERGE_LIMIT;
    let reported = loop {
        let errors: Vec<String> = a
            .errors()
            .into_iter()
            .filter(|e| e.starts_with(&format!("{intruder} ")))
            .collect();
        if errors.len() >= 5 {
            break errors;
        }
        assert!(
            Instant::now() < deadline,
            "bad frames not all reported: {errors:?}"
        );
        thread::sleep(Duration::from_millis(50));
    };
    eprintln!("A reported: {reported:#?}");
    for expected in [
        "unsupported protocol version",
        "unknown message kind 200",
        "malformed",
        "too short",
    ] {
        assert!(
            reported.iter().any(|e| e.contains(expected)),
            "no {expected:?} in {reported:?}"
        );
    }
    drop(frames);

    // The honest peer was never disturbed: nothing reported about it, and
    // new writes flow both ways.
    let about_b: Vec<String> = a
        .errors()
        .into_iter()
        .filter(|e| e.starts_with(&format!("{} ", IDS[1])))
        .collect();
    assert!(about_b.is_empty(), "{about_b:?}");
    a.append("a after");
    b.append("b after");
    wait_converged(&mut [&mut a, &mut b], 4);
    assert_identical(&mut [&mut a, &mut b]);
    a.quit();
    b.quit();
}

#[test]
fn a_network_outage_between_processes_is_bridged_without_a_dial_storm() {
    use multiprocess::Proxy;

    /// How long the network stays down while both nodes write.
    const OUTAGE: Duration = Duration::from_secs(3);
    /// The most dials one node may make in [`OUTAGE`] with `node-proc`'s
    /// backoff (20 ms doubling to 500 ms, jittered into its upper half: at
    /// least 10, 20, 40, 80, 160, then 250 ms apart, so ≤ 6 + 2700 / 250 ≈ 17),
    /// with headroom. Its gossip and failure detector send every 100 ms or
    /// so: without backoff that is 30+ dials, and a storm would be hundreds.
    const MAX_DIALS: usize = 24;

    // Each node is reachable only through a proxy the test can cut, and
    // knows the other by its proxy's address.
    let mut b = spawn(IDS[1], 0, None, &[]);
    let proxy_b = Proxy::start(socket_addr(&b));
    let mut a = spawn(IDS[0], 0, None, &[(IDS[1], &proxy_b.addr.to_string())]);
    let proxy_a = Proxy::start(socket_addr(&a));
    b.add_peer(IDS[0], &proxy_a.addr.to_string());
    a.append("a before");
    b.append("b before");
    wait_converged(&mut [&mut a, &mut b], 2);

    // The network drops; both keep writing.
    proxy_a.set_up(false);
    proxy_b.set_up(false);
    let before = (proxy_a.dials(), proxy_b.dials());
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < OUTAGE {
        a.append(&format!("a during the outage {i}"));
        b.append(&format!("b during the outage {i}"));
        i += 1;
        thread::sleep(Duration::from_millis(100));
    }
    let dials_to_a = proxy_a.dials() - before.0;
    let dials_to_b = proxy_b.dials() - before.1;
    eprintln!("outage of {OUTAGE:?}: {dials_to_b} dials by A, {dials_to_a} dials by B");
    for (who, dials) in [("A", dials_to_b), ("B", dials_to_a)] {
        assert!(dials >= 1, "{who} never tried to reconnect");
        assert!(
            dials <= MAX_DIALS,
            "{who}: {dials} dials in {OUTAGE:?}: a reconnect storm"
        );
    }
    assert_eq!(
        a.count(),
        2 + i,
        "A holds only its own writes of the outage"
    );

    // The network is back: they reconnect by themselves and converge.
    proxy_a.set_up(true);
    proxy_b.set_up(true);
    let took = wait_converged(&mut [&mut a, &mut b], 2 + 2 * i);
    eprintln!("converged {took:?} after the network came back");
    assert_identical(&mut [&mut a, &mut b]);
    a.quit();
    b.quit();
}
