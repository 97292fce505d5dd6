//! Bad input to the CLI: one actionable `error:` line on stderr, a
//! non-zero exit, no panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use common::{assert_one_line_error, binary, finish};

const QUICK: Duration = Duration::from_secs(60);

fn run(args: &[&str]) -> common::Finished {
    let mut command = binary();
    command.args(args);
    finish(command, QUICK)
}

/// A new identity key file in `dir`, made by `gossip-node keygen`; its path
/// and the node id `keygen` printed.
fn keygen(dir: &std::path::Path, name: &str) -> (String, String) {
    let path = dir.join(name).to_str().unwrap().to_owned();
    let out = run(&["keygen", &path]);
    assert_eq!(out.code, Some(0), "{out:?}");
    (path, out.stdout.trim().to_owned())
}

#[test]
fn keygen_makes_a_private_key_file_and_id_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, id) = keygen(dir.path(), "node.key");
    assert!(id.starts_with("node1") && id.len() == 57, "{id}");
    let out = run(&["id", &path]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (Some(0), id.as_str()),
        "{out:?}"
    );
    // Never overwritten.
    let out = run(&["keygen", &path]);
    assert_one_line_error(&out, 1, "already exists");
    assert_eq!(run(&["id", &path]).stdout.trim(), id);
    // A key file others can read is refused, by `id` and by `run`.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_one_line_error(&run(&["id", &path]), 1, "chmod 600");
        let out = run(&[
            "run",
            "--identity",
            &path,
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "off",
        ]);
        assert_one_line_error(&out, 1, "chmod 600");
    }
    assert_one_line_error(&run(&["id", "no-such.key"]), 1, "not found");
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = run(&["demo", "--bogus"]);
    assert_one_line_error(&out, 2, "--bogus");
}

#[test]
fn out_of_range_value_is_a_usage_error() {
    let out = run(&["demo", "--nodes", "1"]);
    assert_one_line_error(&out, 2, "--nodes");
    let out = run(&["demo", "--entries", "lots"]);
    assert_one_line_error(&out, 2, "--entries");
}

#[test]
fn help_and_version_exit_zero() {
    let out = run(&["--help"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("demo"), "{out:?}");
    let out = run(&["--version"]);
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn run_without_identity_says_which_flag() {
    let out = run(&["run"]);
    assert_one_line_error(&out, 1, "--identity");
}

#[test]
fn malformed_peer_and_listen_are_explained() {
    let out = run(&["run", "--identity", "a.key", "--peer", "b=nowhere"]);
    assert_one_line_error(&out, 1, "--peer");
    let out = run(&["run", "--identity", "a.key", "--listen", "7000"]);
    assert_one_line_error(&out, 1, "--listen");
}

#[test]
fn unreadable_store_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "node.key");
    let path = dir.path().join("not-a-database.db");
    std::fs::write(
        &path,
        b"this is not SQLite, just text that is long enough to matter",
    )
    .unwrap();
    let out = run(&[
        "run",
        "--identity",
        &key,
        "--listen",
        "127.0.0.1:0",
        "--store",
        path.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, 1, "cannot open the store");

    let missing_dir = dir.path().join("no/such/dir/a.db");
    let out = run(&[
        "run",
        "--identity",
        &key,
        "--listen",
        "127.0.0.1:0",
        "--store",
        missing_dir.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, 1, "cannot open the store");

    let out = run(&[
        "run",
        "--identity",
        &key,
        "--listen",
        "127.0.0.1:0",
        "--store",
        dir.path().to_str().unwrap(),
    ]);
    assert_one_line_error(&out, 1, "directory");
}

#[test]
fn bad_key_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "node.key");
    let short = dir.path().join("short.key");
    std::fs::write(&short, "abcd\n").unwrap();
    let out = run(&[
        "run",
        "--identity",
        &key,
        "--listen",
        "127.0.0.1:0",
        "--key-file",
        short.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, 1, "key file");
    let missing = dir.path().join("missing.key");
    let out = run(&[
        "run",
        "--identity",
        &key,
        "--listen",
        "127.0.0.1:0",
        "--key-file",
        missing.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, 1, "key file");
}

#[test]
fn bad_config_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "id = \"a\"\nlisten_on = \"127.0.0.1:0\"\n").unwrap();
    let out = run(&["run", "--config", config.to_str().unwrap()]);
    assert_one_line_error(&out, 1, "config file");
    let out = run(&[
        "run",
        "--config",
        dir.path().join("none.toml").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, 1, "config file");
}

#[test]
fn unreachable_control_endpoint_is_an_error() {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let control = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let (_, id) = keygen(dir.path(), "b.key");
    for args in [
        vec!["status", "--control", &control],
        vec!["append", "--control", &control, "hi"],
        vec!["tail", "--control", &control],
        vec!["members", "--control", &control],
        vec!["invite", "--control", &control, &id],
        vec!["remove", "--control", &control, &id],
    ] {
        let out = run(&args);
        assert_one_line_error(&out, 1, "control endpoint");
    }
    let out = run(&["status", "--control", "not-an-address"]);
    assert_one_line_error(&out, 1, "--control");
}

#[test]
fn bad_node_ids_and_invitations_are_explained() {
    // Checked before the node is asked: no node runs at this address.
    let control = "127.0.0.1:9";
    let out = run(&["invite", "--control", control, "bob"]);
    assert_one_line_error(&out, 1, "invalid node id \"bob\"");
    assert!(out.stderr.contains("gossip-node id"), "{out:?}");
    let out = run(&["remove", "--control", control, "node1zzz"]);
    assert_one_line_error(&out, 1, "invalid node id");
    let out = run(&["join", "--control", control, "gossip-invite1garbage"]);
    assert_one_line_error(&out, 1, "invalid invitation");
    let out = run(&["join", "--control", control, "hello"]);
    assert_one_line_error(&out, 1, "gossip-invite1");
    let dir = tempfile::tempdir().unwrap();
    let (_, id) = keygen(dir.path(), "b.key");
    let out = run(&["invite", "--control", control, "--address", "nowhere", &id]);
    assert_one_line_error(&out, 1, "--address");
    let out = run(&["invite", "--control", control, "--role", "owner", &id]);
    assert_one_line_error(&out, 2, "--role");
    // `run --join` with a garbage invitation stops before starting.
    let out = run(&["run", "--identity", "a.key", "--join", "gossip-invite1x"]);
    assert_one_line_error(&out, 1, "--join");
}

#[test]
fn occupied_listen_address_is_an_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "node.key");
    let out = run(&[
        "run",
        "--identity",
        &key,
        "--listen",
        &addr,
        "--metrics",
        "off",
    ]);
    assert_one_line_error(&out, 1, "cannot listen");
}
