//! `gossip-node run` processes over TCP on loopback (port 0 everywhere),
//! with a shared encryption key: a node owns channel `main`, the others join
//! it by invitation (`invite`, `join`), `append` on one node reaches `tail`
//! on another; `status` lists peers, channels and streams; `members` and
//! `remove` manage the channel; the Prometheus endpoint answers. Every child
//! is killed when the test ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use common::{binary, finish, Running, LIMIT};

struct Node {
    process: Running,
    control: SocketAddr,
    /// The control token file the node printed at start.
    token: PathBuf,
    gossip: SocketAddr,
    metrics: SocketAddr,
}

/// Starts node `id` with `peers`, owning channel `main` when `owns_main`.
fn start(id: &str, dir: &Path, peers: &[String], owns_main: bool) -> Node {
    let extra: &[&str] = if owns_main {
        &["--channel", "main"]
    } else {
        &[]
    };
    start_with(id, dir, "network.key", peers, extra)
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

/// Starts node `id` with the network key file `key`, `peers`, and `extra`
/// arguments to `run`.
fn start_with(id: &str, dir: &Path, key: &str, peers: &[String], extra: &[&str]) -> Node {
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
        .args(["--metrics", "127.0.0.1:0"])
        .arg("--store")
        .arg(dir.join(format!("{id}.db")))
        .arg("--key-file")
        .arg(dir.join(key));
    for peer in peers {
        command.args(["--peer", &peer_arg(dir, peer)]);
    }
    command.args(extra);
    let mut process = Running::spawn(command);
    let gossip = process.address("gossip  ");
    let control = process.address("control ");
    let token = process.wait_for("the token file", |line| line.starts_with("  token    "));
    let token = PathBuf::from(line_value(&token));
    let metrics = process.address("metrics ");
    Node {
        process,
        control,
        token,
        gossip,
        metrics,
    }
}

/// Runs a client subcommand against `node`: `args` is the subcommand and
/// its arguments but `--control` and `--token-file`.
fn client(node: &Node, args: &[&str]) -> common::Finished {
    let mut command = binary();
    command.args(&args[..1]);
    command.arg("--control").arg(node.control.to_string());
    command.arg("--token-file").arg(&node.token);
    command.args(&args[1..]);
    finish(command, LIMIT)
}

/// What follows the label of a banner line (`  token    VALUE`).
fn line_value(line: &str) -> &str {
    line.trim_start()
        .split_once(' ')
        .map_or("", |(_, value)| value.trim())
}

/// `invite` on `inviter` for `member` (a node id): the invitation printed.
fn invite(inviter: &Node, member: &str) -> String {
    let out = client(inviter, &["invite", member]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let invitation = out.stdout.trim().to_owned();
    assert!(
        invitation.starts_with("gossip-invite1") && !invitation.contains('\n'),
        "{out:?}"
    );
    invitation
}

/// `join` on `node` with `invitation`.
fn join(node: &Node, invitation: &str) {
    let out = client(node, &["join", invitation]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("joined main~"), "{out:?}");
}

/// `status --json` of `node`.
fn status(node: &Node) -> serde_json::Value {
    let out = client(node, &["status", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

/// Polls `status` until `node` knows (from the control log) that it is a
/// writer of channel `main`.
fn await_writer(node: &Node) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let status = status(node);
        let role = status["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "main")
            .map(|c| c["role"].clone());
        if role == Some(serde_json::json!("writer")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never learned it is a writer: {status}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// How many entries `node` holds in `main`/`events`, by author.
fn events_by(node: &Node, author: &str) -> u64 {
    let status = status(node);
    status["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["channel"].as_str().unwrap().starts_with("main~") && s["stream"] == "events")
        .and_then(|s| {
            s["version"]
                .as_array()
                .unwrap()
                .iter()
                .find(|pair| pair[0] == author)
                .and_then(|pair| pair[1].as_u64())
        })
        .unwrap_or(0)
}

#[test]
fn append_on_one_process_reaches_tail_on_another() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("network.key"), "42".repeat(32)).unwrap();

    // a knows b and c by id only; they dial it (and b is dialed by c). a
    // owns channel main and invites the others, who join it.
    let a = start("a", dir.path(), &["b".into(), "c".into()], true);
    let b = start(
        "b",
        dir.path(),
        &[format!("a={}", a.gossip), "c".into()],
        false,
    );
    let c = start(
        "c",
        dir.path(),
        &[format!("a={}", a.gossip), format!("b={}", b.gossip)],
        false,
    );
    for (node, name) in [(&b, "b"), (&c, "c")] {
        join(node, &invite(&a, &node_id(dir.path(), name)));
    }
    await_writer(&b);
    await_writer(&c);

    // Follow c's stream from another process.
    let mut tail = Running::spawn({
        let mut command = binary();
        command.args(["tail", "--control", &c.control.to_string(), "--json"]);
        command.arg("--token-file").arg(&c.token);
        command
    });

    // Append on a until the tail on c shows it. Appending again is harmless
    // (each is a new entry): it only covers a tail that subscribed late.
    let appended = client(&a, &["append", "hello from a"]);
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
    let appended = client(&b, &["append", "hello from b"]);
    assert_eq!(appended.code, Some(0), "{appended:?}");
    tail.wait_for("the entry from b on c's tail", |line| {
        line.contains("hello from b")
    });

    // status on b: both peers known, the stream holds both entries
    // eventually (a's reaches b by push or anti-entropy).
    let deadline = Instant::now() + LIMIT;
    loop {
        let out = client(&b, &["status", "--json"]);
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
            .find(|s| {
                s["channel"].as_str().unwrap().starts_with("main~") && s["stream"] == "events"
            })
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

    // The human status mentions SWIM states, the channel with a's role and
    // its three members, and the stream.
    let out = client(&a, &["status"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("peers:"), "{out:?}");
    assert!(out.stdout.contains("owner, 3 members"), "{out:?}");
    assert!(out.stdout.contains("/events"), "{out:?}");

    // Per-peer lag: a learns, by anti-entropy, that both peers hold all it
    // holds.
    let deadline = Instant::now() + LIMIT;
    loop {
        let out = client(&a, &["status"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        if out.stdout.matches("caught up").count() == 2 {
            assert!(out.stdout.contains("synced"), "{out:?}");
            break;
        }
        assert!(Instant::now() < deadline, "peers never caught up: {out:?}");
        thread::sleep(Duration::from_millis(200));
    }

    // Prometheus: the metrics layer counted frames; per-peer lag gauges.
    let body = scrape(a.metrics);
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(
        body.contains("gossip_transport_frames_sent_total"),
        "{body}"
    );
    assert!(body.contains("gossip_peer_lag_ms{peer="), "{body}");

    drop(tail);
    drop((a.process, b.process, c.process));
}

#[test]
fn mismatched_keys_are_reported_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.key"), "11".repeat(32)).unwrap();
    std::fs::write(dir.path().join("two.key"), "22".repeat(32)).unwrap();
    let mut a = start_with(
        "a",
        dir.path(),
        "one.key",
        &["b".into()],
        &["--channel", "main"],
    );
    let _b = start_with(
        "b",
        dir.path(),
        "two.key",
        &[format!("a={}", a.gossip)],
        &[],
    );
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
    let mut a = start("a", dir.path(), &[format!("b={closed}")], true);
    let line = a
        .process
        .saw_or_wait_for("an unreachable-peer warning", |line| {
            line.contains("peer unreachable")
        });
    assert!(line.contains(&closed.to_string()), "{line}");
    // Still serving its control endpoint.
    let out = client(&a, &["status"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let node_a = format!("node {}", node_id(dir.path(), "a"));
    assert!(out.stdout.contains(&node_a), "{out:?}");
}

#[test]
fn a_node_joins_by_invitation_alone_and_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("network.key"), "42".repeat(32)).unwrap();
    // No --peer at all: the invitation is all b needs, and inviting b makes
    // it a peer of a.
    let mut a = start("a", dir.path(), &[], true);
    let b = start("b", dir.path(), &[], false);
    let (id_a, id_b) = (node_id(dir.path(), "a"), node_id(dir.path(), "b"));

    // b holds no channel yet.
    let out = client(&b, &["append", "too early"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("holds no channel \"main\""), "{out:?}");

    let out = client(&a, &["invite", "--channel", "main", &id_b]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let invitation = out.stdout.trim().to_owned();
    assert!(invitation.starts_with("gossip-invite1"), "{out:?}");
    assert!(out.stderr.contains("gossip-node join"), "{out:?}");
    // a counts b as a member at once.
    let members = client(&a, &["members", "--json"]);
    assert_eq!(members.code, Some(0), "{members:?}");
    let list: serde_json::Value = serde_json::from_str(&members.stdout).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == id_b.as_str() && m["role"] == "writer"),
        "{list}"
    );

    join(&b, &invitation);
    // Joining again changes nothing.
    join(&b, &invitation);
    await_writer(&b);
    let members = client(&b, &["members"]);
    assert_eq!(members.code, Some(0), "{members:?}");
    assert!(
        members
            .stdout
            .contains(&format!("{id_b}  writer  (this node)")),
        "{members:?}"
    );
    assert!(
        members.stdout.contains(&format!("{id_a}  owner")),
        "{members:?}"
    );

    // A writer may not manage members: one clear error line.
    let c = node_id(dir.path(), "c");
    let out = client(&b, &["invite", &c]);
    common::assert_one_line_error(&out, 1, "may not");
    assert!(out.stderr.contains("writer"), "{out:?}");

    // b's entry reaches a.
    let out = client(&b, &["append", "from b"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let deadline = Instant::now() + LIMIT;
    while events_by(&a, &id_b) < 1 {
        assert!(Instant::now() < deadline, "b's entry never reached a");
        thread::sleep(Duration::from_millis(100));
    }

    // a removes b; removing it again changes nothing.
    let out = client(&a, &["remove", &id_b]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("removed "), "{out:?}");
    let out = client(&a, &["remove", &id_b]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("nothing changed"), "{out:?}");
    let members = client(&a, &["members", "--json"]);
    assert!(!members.stdout.contains(&id_b), "{members:?}");

    // What b writes now is not taken by a: either b knows it was removed
    // and refuses, or a refuses the entry when b pushes it (and says so).
    let out = client(&b, &["append", "after removal"]);
    if out.code == Some(0) {
        a.process
            .saw_or_wait_for("a's refusal of b's entry", |line| {
                line.contains("entries refused") && line.contains(&id_b)
            });
    } else {
        common::assert_one_line_error(&out, 1, "not a member");
    }
    assert_eq!(events_by(&a, &id_b), 1, "{}", status(&a));
    let out = client(&a, &["status"]);
    assert!(out.stdout.contains("owner, 1 member\n"), "{out:?}");
}

#[test]
fn run_joins_at_start_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("network.key"), "42".repeat(32)).unwrap();
    let a = start("a", dir.path(), &[], true);
    let invitation = invite(&a, &node_id(dir.path(), "b"));
    let id_a = node_id(dir.path(), "a");
    let join = ["--join", invitation.as_str()];
    let b = start_with("b", dir.path(), "network.key", &[], &join);
    await_writer(&b);
    drop(b);
    // The same store and invitation: nothing changes, and b syncs again.
    let mut b = start_with("b", dir.path(), "network.key", &[], &join);
    b.process
        .saw_or_wait_for("b's channel in its banner", |line| {
            line.starts_with("  channel  main~") && line.ends_with("(writer)")
        });
    let out = client(&a, &["append", "again"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let deadline = Instant::now() + LIMIT;
    while events_by(&b, &id_a) < 1 {
        assert!(Instant::now() < deadline, "a's entry never reached b");
        thread::sleep(Duration::from_millis(100));
    }
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
