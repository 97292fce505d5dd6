//! What a local user other than the node's owner can reach: the control
//! endpoint listens on loopback only and answers only clients holding the
//! token from the node's token file; that file, the store and the
//! directories the node creates are readable by their owner only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use common::{assert_one_line_error, binary, finish, Running, LIMIT};

fn run(args: &[&str]) -> common::Finished {
    let mut command = binary();
    command.args(args);
    finish(command, LIMIT)
}

#[test]
fn run_refuses_a_control_address_off_loopback() {
    for control in ["0.0.0.0:0", "[::]:0", "192.0.2.1:7070"] {
        let out = run(&["run", "--identity", "a.key", "--control", control]);
        assert_one_line_error(&out, 1, "not a loopback address");
        assert!(out.stderr.contains(control), "{out:?}");
    }
    // Clients do not send the token off this machine either.
    let out = run(&["status", "--control", "192.0.2.1:7070", "--token-file", "t"]);
    assert_one_line_error(&out, 1, "not a loopback address");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `status` against `control` with `token_file`.
fn status(control: SocketAddr, token_file: &Path) -> common::Finished {
    let mut command = binary();
    command
        .args(["status", "--control", &control.to_string()])
        .arg("--token-file")
        .arg(token_file);
    finish(command, LIMIT)
}

#[cfg(unix)]
#[test]
fn the_node_keeps_its_files_owner_only_and_answers_only_its_token() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let key = dir.join("a.key");
    let out = run(&["keygen", key.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(mode(&key), 0o600, "the key file");
    // A key file others can read is refused (and left alone).
    set_mode(&key, 0o644);
    let out = run(&["run", "--identity", key.to_str().unwrap()]);
    assert_one_line_error(&out, 1, "chmod 600");
    set_mode(&key, 0o600);

    // A token file in directories that do not exist yet: the node creates
    // them. The store goes in an existing directory (a missing one is an
    // error: a mistyped path is not created).
    let store_dir = dir.join("data");
    std::fs::create_dir(&store_dir).unwrap();
    let store = store_dir.join("a.db");
    let mut command = binary();
    command
        .arg("run")
        .arg("--identity")
        .arg(&key)
        .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
        .args(["--metrics", "off", "--channel", "main"])
        .arg("--store")
        .arg(&store)
        .arg("--token-file")
        .arg(dir.join("run").join("a").join("token"));
    let mut node = Running::spawn(command);
    let control = node.address("control ");
    let line = node.wait_for("the token file", |line| line.starts_with("  token    "));
    let token_file = PathBuf::from(line.trim_start_matches("  token    ").trim());
    assert_eq!(token_file, dir.join("run").join("a").join("token"));

    assert_eq!(mode(&token_file), 0o600, "the token file");
    assert_eq!(mode(&dir.join("run")), 0o700, "a directory it made");
    assert_eq!(mode(&dir.join("run").join("a")), 0o700);
    assert_eq!(mode(&store), 0o600, "the store");
    // Files SQLite made beside it take its mode.
    for entry in std::fs::read_dir(store.parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(token.trim().len(), 64, "{token:?}");

    let out = status(control, &token_file);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("owner, 1 member"), "{out:?}");

    // A token file others can read is refused by the client.
    set_mode(&token_file, 0o644);
    assert_one_line_error(&status(control, &token_file), 1, "others");
    set_mode(&token_file, 0o600);

    // Another token: refused by the node, which keeps serving.
    let wrong = dir.join("wrong.control-token");
    std::fs::write(&wrong, format!("{}\n", "ab".repeat(32))).unwrap();
    set_mode(&wrong, 0o600);
    assert_one_line_error(&status(control, &wrong), 1, "unauthorized");
    // No token file at all.
    let mut command = binary();
    command.args(["status", "--control", &control.to_string()]);
    assert_one_line_error(&finish(command, LIMIT), 1, "--token-file");
    let out = status(control, &token_file);
    assert_eq!(out.code, Some(0), "{out:?}");
    drop(node);

    // Restarted without --token-file: the token goes beside the key file.
    let mut command = binary();
    command
        .arg("run")
        .arg("--identity")
        .arg(&key)
        .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
        .args(["--metrics", "off"])
        .arg("--store")
        .arg(&store);
    let mut node = Running::spawn(command);
    let control = node.address("control ");
    let line = node.wait_for("the token file", |line| line.starts_with("  token    "));
    let beside = PathBuf::from(line.trim_start_matches("  token    ").trim());
    assert_eq!(beside, dir.join("a.key.control-token"), "by default");
    assert_eq!(mode(&beside), 0o600);
    assert_ne!(std::fs::read_to_string(&beside).unwrap(), token);
    assert_eq!(status(control, &beside).code, Some(0));
    // The old token is refused.
    assert_one_line_error(&status(control, &token_file), 1, "unauthorized");
    drop(node);

    // A restart writes a new token over the old file, which is replaced
    // (owner-only again even if it was loosened).
    set_mode(&beside, 0o644);
    let old = std::fs::read_to_string(&beside).unwrap();
    let mut command = binary();
    command
        .arg("run")
        .arg("--identity")
        .arg(&key)
        .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
        .args(["--metrics", "off"])
        .arg("--store")
        .arg(&store);
    let mut node = Running::spawn(command);
    let control = node.address("control ");
    node.wait_for("the token file", |line| line.starts_with("  token    "));
    assert_ne!(std::fs::read_to_string(&beside).unwrap(), old);
    assert_eq!(mode(&beside), 0o600);
    assert_eq!(status(control, &beside).code, Some(0));
}
