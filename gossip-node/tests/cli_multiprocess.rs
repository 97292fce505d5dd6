//! Three `gossip-node run` processes over TCP on loopback (port 0
//! everywhere), with a shared encryption key: `append` on one node, `tail`
//! on another sees it; `status` lists peers and streams; the Prometheus
//! endpoint answers. Every child is killed when the test ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    thread,
    time::{Duration, Instant},
};

use common::{binary, finish, Running, LIMIT};

struct Node {
    process: Running,
    control: SocketAddr,
    gossip: SocketAddr,
    metrics: SocketAddr,
}

fn start(id: &str, dir: &Path, peers: &[String]) -> Node {
    start_with_key(id, dir, "network.key", peers)
}

/// The node id of node `name`, whose identity key file `<name>.id.key` in
/// `dir` is made by `gossip-node keygen` on first use.
fn node_id(dir: &Path, name: &str) -> String {
    let path = dir.join(format!("{name}.id.key"));
    let verb = if path.exists() { "id" } else { "keygen" };
    let mut command = binary();
    command.arg(verb).arg(&path);
    let out = common::finish(command, LIMIT);
    assert_eq!(out.code, Some(0), "{verb}: {out:?}");
    out.stdout.trim().to_owned()
}

/// `name` or `name=addr` with the name replaced by its node id.
fn peer_arg(dir: &Path, peer: &str) -> String {
    match peer.split_once('=') {
        Some((name, addr)) => format!("{}={addr}", node_id(dir, name)),
        None => node_id(dir, peer),
    }
}

fn start_with_key(id: &str, dir: &Path, key: &str, peers: &[String]) -> Node {
    node_id(dir, id);
    let mut command = binary();
    command
        .arg("run")
        .arg("--identity")
        .arg(dir.join(format!("{id}.id.key")))
        .args([
            "--label",
            id,
            "--listen",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
        ])
        .args(["--metrics", "127.0.0.1:0", "--channel", "main"])
        .arg("--store")
        .arg(dir.join(format!("{id}.db")))
        .arg("--key-file")
        .arg(dir.join(key));
    for peer in peers {
        command.args(["--peer", &peer_arg(dir, peer)]);
    }
    let mut process = Running::spawn(command);
    let gossip = process.address("gossip  ");
    let control = process.address("control ");
    let metrics = process.address("metrics ");
    Node {
        process,
        control,
        gossip,
        metrics,
    }
}

fn client(args: &[&str]) -> common::Finished {
    let mut command = binary();
    command.args(args);
    finish(command, LIMIT)
}

#[test]
fn append_on_one_process_reaches_tail_on_another() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("network.key"), "42".repeat(32)).unwrap();

    // a knows b and c by id only; they dial it (and b is dialed by c).
    let a = start("a", dir.path(), &["b".into(), "c".into()]);
    let b = start("b", dir.path(), &[format!("a={}", a.gossip), "c".into()]);
    let c = start(
        "c",
        dir.path(),
        &[format!("a={}", a.gossip), format!("b={}", b.gossip)],
    );

    // Follow c's stream from another process.
    let mut tail = Running::spawn({
        let mut command = binary();
        command.args(["tail", "--control", &c.control.to_string(), "--json"]);
        command
    });

    // Append on a until the tail on c shows it. Appending again is harmless
    // (each is a new entry): it only covers a tail that subscribed late.
    let appended = client(&[
        "append",
        "--control",
        &a.control.to_string(),
        "hello from a",
    ]);
    assert_eq!(appended.code, Some(0), "{appended:?}");
    let appended_by_a = format!("appended {} #1", node_id(dir.path(), "a"));
    assert!(appended.stdout.contains(&appended_by_a), "{appended:?}");
    let line = tail.wait_for("the entry from a on c's tail", |line| {
        line.contains("hello from a")
    });
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(entry["author"], node_id(dir.path(), "a"));
    assert_eq!(entry["sequence"], 1);

    // And the other way round: b appends, c's tail shows it too.
    let appended = client(&[
        "append",
        "--control",
        &b.control.to_string(),
        "hello from b",
    ]);
    assert_eq!(appended.code, Some(0), "{appended:?}");
    tail.wait_for("the entry from b on c's tail", |line| {
        line.contains("hello from b")
    });

    // status on b: both peers known, the stream holds both entries
    // eventually (a's reaches b by push or anti-entropy).
    let deadline = Instant::now() + LIMIT;
    loop {
        let out = client(&["status", "--control", &b.control.to_string(), "--json"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let status: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(status["node"], node_id(dir.path(), "b"));
        let peers: Vec<&str> = status["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        let (id_a, id_c) = (node_id(dir.path(), "a"), node_id(dir.path(), "c"));
        assert!(
            peers.contains(&id_a.as_str()) && peers.contains(&id_c.as_str()),
            "{status}"
        );
        let entries = status["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["channel"] == "main" && s["stream"] == "events")
            .and_then(|s| s["entries"].as_u64())
            .unwrap_or(0);
        if entries == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b never held both entries: {status}"
        );
        thread::sleep(Duration::from_millis(200));
    }

    // The human status mentions SWIM states.
    let out = client(&["status", "--control", &a.control.to_string()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("peers:"), "{out:?}");
    assert!(out.stdout.contains("main/events"), "{out:?}");

    // Prometheus: the metrics layer counted frames.
    let body = scrape(a.metrics);
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(
        body.contains("gossip_transport_frames_sent_total"),
        "{body}"
    );

    drop(tail);
    drop((a.process, b.process, c.process));
}

#[test]
fn mismatched_keys_are_reported_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.key"), "11".repeat(32)).unwrap();
    std::fs::write(dir.path().join("two.key"), "22".repeat(32)).unwrap();
    let mut a = start_with_key("a", dir.path(), "one.key", &["b".into()]);
    let _b = start_with_key("b", dir.path(), "two.key", &[format!("a={}", a.gossip)]);
    let line = a
        .process
        .saw_or_wait_for("a refused-handshake warning", |line| {
            line.contains("refused in the handshake")
        });
    assert!(line.contains("same --key-file"), "{line}");
}

#[test]
fn unreachable_peer_is_reported_and_the_node_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("network.key"), "42".repeat(32)).unwrap();
    // A port that was free a moment ago: nothing listens there now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut a = start("a", dir.path(), &[format!("b={closed}")]);
    let line = a
        .process
        .saw_or_wait_for("an unreachable-peer warning", |line| {
            line.contains("peer unreachable")
        });
    assert!(line.contains(&closed.to_string()), "{line}");
    // Still serving its control endpoint.
    let out = client(&["status", "--control", &a.control.to_string()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let node_a = format!("node {}", node_id(dir.path(), "a"));
    assert!(out.stdout.contains(&node_a), "{out:?}");
}

fn scrape(addr: SocketAddr) -> String {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(LIMIT)).unwrap();
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    socket.read_to_string(&mut body).unwrap();
    body
}
