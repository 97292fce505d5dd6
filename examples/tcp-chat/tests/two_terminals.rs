//! Two `tcp-chat` processes on loopback, driven through their stdin the way
//! the README's terminals are: one owns the room and prints an invitation,
//! the other joins with it and is let in when it connects, and lines typed
//! in one are printed by the other. Every wait is bounded; children are killed when dropped.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc::{sync_channel, Receiver},
    thread,
    time::{Duration, Instant},
};

/// How long one expected line may take to show up.
const LINE_LIMIT: Duration = Duration::from_secs(30);

struct Terminal {
    name: &'static str,
    /// The node id it printed at start.
    id: String,
    /// Where it listens.
    address: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Terminal {
    fn start(name: &'static str, args: &[&str]) -> Self {
        let key = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("tcp-chat-{name}-{}.key", std::process::id()));
        let _ = std::fs::remove_file(&key);
        let mut child = Command::new(env!("CARGO_BIN_EXE_tcp-chat"))
            .args(["--name", name, "--listen", "127.0.0.1:0", "--key"])
            .arg(&key)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = sync_channel(256);
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut terminal = Self {
            name,
            id: String::new(),
            address: String::new(),
            stdin: child.stdin.take(),
            child,
            lines,
        };
        let is = format!("* {name} is node ");
        terminal.id = terminal.expect(|l| l.starts_with(&is))[is.len()..].to_owned();
        let listening = format!("* {name} listening on ");
        terminal.address =
            terminal.expect(|l| l.starts_with(&listening))[listening.len()..].to_owned();
        terminal
    }

    /// Waits for a line satisfying `want`, skipping others.
    fn expect(&mut self, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LINE_LIMIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if want(&line) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("{}: expected line never came; saw {seen:?}", self.name),
            }
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_terminals_chat() {
    let mut alice = Terminal::start("alice", &[]);
    let invitation = alice.expect(|l| l.starts_with("* invitation: "));
    let invitation = invitation.trim_start_matches("* invitation: ").to_owned();
    alice.expect(|l| l == "* you are a owner of the room");
    let mut bob = Terminal::start("bob", &["--join", &invitation]);

    // Bob's node dials alice's (the invitation says where); alice lets him
    // in, and the room's control log tells bob he may write.
    let joined = format!("* {} joined", bob.id);
    alice.expect(|l| l == joined);
    bob.expect(|l| l == "* you are a writer of the room");
    bob.type_line("hello alice");
    alice.expect(|l| l == "bob: hello alice");

    // Alice answers over the connection bob opened.
    alice.type_line("hi bob");
    bob.expect(|l| l == "alice: hi bob");

    // Both hold the same history.
    bob.type_line("/history");
    bob.expect(|l| l == "you: hello alice");
    bob.expect(|l| l == "alice: hi bob");

    for terminal in [&mut alice, &mut bob] {
        terminal.type_line("/quit");
        terminal.expect(|l| l == "* bye");
    }
}
