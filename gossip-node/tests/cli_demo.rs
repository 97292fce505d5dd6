//! `gossip-node demo` end to end: node-1 invites the others, they join, the
//! nodes converge and the summary shows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{binary, finish, LIMIT};

#[test]
fn demo_on_sqlite_converges_and_summarizes() {
    let mut command = binary();
    command.args(["demo", "--nodes", "3", "--entries", "60", "--timeout", "80"]);
    let out = finish(command, LIMIT);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("SQLite"), "{out:?}");
    assert!(
        out.stdout.contains("node-1 created channel demo~"),
        "{out:?}"
    );
    for k in [2, 3] {
        assert!(
            out.stdout.contains(&format!(
                "node-1 invites node-{k} as a writer: gossip-invite1"
            )),
            "{out:?}"
        );
    }
    assert!(!out.stdout.contains("invites node-1"), "{out:?}");
    assert!(
        out.stdout
            .contains("membership: every node knew it was a writer"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("converged: 3 nodes hold all 60 entries"),
        "{out:?}"
    );
    assert!(out.stdout.contains("on the wire:"), "{out:?}");
    assert!(
        out.stdout.contains("same entries in the same order"),
        "{out:?}"
    );
}

#[test]
fn demo_on_memory_stores_converges() {
    let mut command = binary();
    command.args([
        "demo",
        "--nodes",
        "2",
        "--entries",
        "25",
        "--store",
        "memory",
        "--timeout",
        "80",
    ]);
    let out = finish(command, LIMIT);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("invites node-2"), "{out:?}");
    assert!(out.stdout.contains("(1 joined by invitation)"), "{out:?}");
    assert!(
        out.stdout
            .contains("converged: 2 nodes hold all 25 entries"),
        "{out:?}"
    );
}
