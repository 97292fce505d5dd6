//! Three OS processes (`node-proc --transport libp2p`) sync over libp2p (TCP,
//! Noise, Yamux) on loopback, each with its own SQLite file and identity key;
//! one is killed with SIGKILL, the others write on, and it restarts on the
//! same store and key (so under the same node id, on a new port which its
//! peers are told) and catches up.
//!
//! Kept apart from `multiprocess_tcp.rs` so that a libp2p problem never
//! hides the TCP result. Every wait is bounded; a `NodeProcess` kills its
//! child when dropped, so a failing test leaves no process behind.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod multiprocess;

use std::path::Path;

use multiprocess::{assert_identical, scratch_dir, wait_converged, NodeProcess};

/// Starts `label` over libp2p on 127.0.0.1 (any port), its identity key and
/// SQLite file in `dir`, knowing `peers` (node id, multiaddr), in the channel
/// `owner` owns (its own without one).
fn spawn(label: &str, dir: &Path, owner: Option<&str>, peers: &[(&str, &str)]) -> NodeProcess {
    let mut args: Vec<String> = ["--transport", "libp2p", "--listen", "/ip4/127.0.0.1/tcp/0"]
        .map(String::from)
        .to_vec();
    args.push("--key".into());
    args.push(dir.join(format!("{label}.key")).display().to_string());
    args.push("--store".into());
    args.push(dir.join(format!("{label}.db")).display().to_string());
    for (peer, addr) in peers {
        args.extend(["--peer".into(), format!("{peer}={addr}")]);
    }
    if let Some(owner) = owner {
        args.extend(["--member".into(), owner.to_owned()]);
    }
    NodeProcess::spawn(label, &args)
}

/// Tells each node about every other one.
fn wire(nodes: &mut [&mut NodeProcess]) {
    let book: Vec<(String, String)> = nodes
        .iter()
        .map(|n| (n.id.clone(), n.address.clone()))
        .collect();
    for node in nodes.iter_mut() {
        for (id, address) in &book {
            if *id != node.id {
                node.add_peer(id, address);
            }
        }
    }
}

#[test]
fn three_libp2p_processes_converge_and_a_killed_one_catches_up() {
    let dir = scratch_dir("multiprocess_libp2p");

    // Each node listens on port 0 and says its id (derived from its key)
    // and address; then they learn of each other.
    // A owns the channel; B and C join it, and A lets them in when told
    // of them.
    let mut a = spawn("a", &dir, None, &[]);
    let owner = a.id.clone();
    let mut b = spawn("b", &dir, Some(&owner), &[]);
    let mut c = spawn("c", &dir, Some(&owner), &[]);
    wire(&mut [&mut a, &mut b, &mut c]);

    a.append("hello from a");
    b.append("hello from b");
    c.append("hello from c");
    let took = wait_converged(&mut [&mut a, &mut b, &mut c], 3);
    eprintln!("3 libp2p processes converged on 3 entries in {took:?}");
    assert_identical(&mut [&mut a, &mut b, &mut c]);

    // C dies without a chance to say goodbye; A and B write on.
    let c_id = c.id.clone();
    c.kill();
    for i in 0..2 {
        a.append(&format!("a while c is down {i}"));
        b.append(&format!("b while c is down {i}"));
    }
    wait_converged(&mut [&mut a, &mut b], 7);

    // C restarts on the same key and SQLite file: same node id, new port.
    let (a_id, a_addr) = (a.id.clone(), a.address.clone());
    let (b_id, b_addr) = (b.id.clone(), b.address.clone());
    let mut c = spawn(
        "c",
        &dir,
        Some(&owner),
        &[(&a_id, &a_addr), (&b_id, &b_addr)],
    );
    assert_eq!(c.id, c_id, "the restarted node kept its id");
    let c_addr = c.address.clone();
    a.add_peer(&c_id, &c_addr);
    b.add_peer(&c_id, &c_addr);
    let took = wait_converged(&mut [&mut a, &mut b, &mut c], 7);
    eprintln!("the restarted libp2p process caught up in {took:?}");

    // Its own write from before the kill survived, and new ones still flow.
    c.append("c is back");
    wait_converged(&mut [&mut a, &mut b, &mut c], 8);
    assert_identical(&mut [&mut a, &mut b, &mut c]);
    let listing = a.entries();
    assert_eq!(
        listing
            .iter()
            .filter(|e| e.starts_with(&format!("{c_id} ")))
            .count(),
        2,
        "{listing:?}"
    );

    for node in [a, b, c] {
        node.quit();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
