//! Helpers for tests that run the `gossip-node` binary: children killed on
//! drop, output read line by line with bounded waits.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::{
    io::{BufRead, BufReader, Read},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::mpsc::{sync_channel, Receiver, RecvTimeoutError},
    thread,
    time::{Duration, Instant},
};

/// Generous: the machine may be loaded by other builds.
pub(crate) const LIMIT: Duration = Duration::from_secs(90);

/// The binary under test.
pub(crate) fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gossip-node"));
    command
        .env_remove("GOSSIP_CONTROL")
        .env_remove("GOSSIP_TOKEN_FILE")
        .env("RUST_LOG", "warn");
    command
}

/// The result of a finished command.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `command` to completion, killing it after `limit`.
pub(crate) fn finish(mut command: Command, limit: Duration) -> Finished {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gossip-node starts");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gossip-node did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Finished {
        code,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn drain<R: Read + Send + 'static>(mut reader: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = reader.read_to_string(&mut text);
        text
    })
}

/// A long-running child (a node or a `tail`), killed when dropped.
pub(crate) struct Running {
    child: Child,
    lines: Receiver<String>,
    pub(crate) seen: Vec<String>,
}

impl Running {
    /// Starts `command` with its stdout and stderr read line by line
    /// (stderr lines prefixed with `stderr: `).
    pub(crate) fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gossip-node starts");
        let (sender, lines) = sync_channel(1024);
        forward(child.stdout.take().unwrap(), "", sender.clone());
        forward(child.stderr.take().unwrap(), "stderr: ", sender);
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most [`LIMIT`]) for a line matching `pred`, and returns it.
    pub(crate) fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} within {LIMIT:?}; output so far: {:?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    panic!("exited ({status:?}) before {what}; output: {:?}", self.seen)
                }
            }
        }
    }

    /// Like [`wait_for`](Self::wait_for), but a matching line already read
    /// (while waiting for something else) counts too: stdout and stderr
    /// arrive in no fixed order.
    pub(crate) fn saw_or_wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|line| pred(line)) {
            return line.clone();
        }
        self.wait_for(what, pred)
    }

    /// Waits for the banner line `  <label> <addr>` and parses the address.
    pub(crate) fn address(&mut self, label: &str) -> SocketAddr {
        let prefix = format!("  {label} ");
        let line = self.wait_for(label, |line| line.starts_with(&prefix));
        let addr = line[prefix.len()..]
            .trim()
            .trim_start_matches("http://")
            .split([' ', '/'])
            .next()
            .unwrap()
            .to_owned();
        addr.parse()
            .unwrap_or_else(|_| panic!("bad address in {line:?}"))
    }
}

fn forward<R: Read + Send + 'static>(
    reader: R,
    prefix: &'static str,
    sender: std::sync::mpsc::SyncSender<String>,
) {
    thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if sender.send(format!("{prefix}{line}")).is_err() {
                break;
            }
        }
    });
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts a failed run printed exactly one `error: ...` line and no panic.
pub(crate) fn assert_one_line_error(finished: &Finished, code: i32, needle: &str) {
    assert_eq!(finished.code, Some(code), "{finished:?}");
    let lines: Vec<&str> = finished.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line: {finished:?}");
    assert!(lines[0].starts_with("error: "), "{finished:?}");
    assert!(lines[0].contains(needle), "{needle:?} not in {finished:?}");
    assert!(!finished.stderr.contains("panicked"), "{finished:?}");
    assert!(!finished.stderr.contains("backtrace"), "{finished:?}");
}
