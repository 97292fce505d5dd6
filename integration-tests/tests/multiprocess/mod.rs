//! The harness of the multi-process tests: a `node-proc` child process
//! driven over stdin/stdout, killed when dropped, and convergence checks.
//! Every wait is bounded.

// Test support: a failed expectation is a failed test.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc::{sync_channel, Receiver, RecvTimeoutError},
    thread,
    time::{Duration, Instant},
};

/// How long one answer may take (start-up included: SQLite migrations).
pub const ANSWER_LIMIT: Duration = Duration::from_secs(20);
/// How long the nodes get to converge after each phase.
pub const CONVERGE_LIMIT: Duration = Duration::from_secs(60);
/// How long a node may take to exit after `quit`.
pub const EXIT_LIMIT: Duration = Duration::from_secs(10);

/// A `node-proc` child process, killed when dropped.
pub struct NodeProcess {
    /// The name the test gave it (for messages).
    pub label: String,
    /// Its node id, as it reported it.
    pub id: String,
    /// Where it listens, as it reported it (`ip:port` or a multiaddr).
    pub address: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl NodeProcess {
    /// Starts `node-proc` with `args`; waits for `ID`, `LISTENING` and `READY`.
    pub fn spawn(label: &str, args: &[String]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_node-proc"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node-proc starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = sync_channel(1024);
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut node = Self {
            label: label.to_owned(),
            id: String::new(),
            address: String::new(),
            child,
            stdin,
            lines,
        };
        let id = node.read_line();
        node.id = id
            .strip_prefix("ID ")
            .unwrap_or_else(|| panic!("{label}: expected ID <id>, got {id:?}"))
            .to_owned();
        let listening = node.read_line();
        node.address = listening
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("{label}: expected LISTENING <address>, got {listening:?}"))
            .to_owned();
        assert_eq!(node.read_line(), "READY", "{label}");
        node
    }

    /// The next line of stdout, within [`ANSWER_LIMIT`].
    pub fn read_line(&mut self) -> String {
        match self.lines.recv_timeout(ANSWER_LIMIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("{}: no answer within {ANSWER_LIMIT:?}", self.label)
            }
            Err(RecvTimeoutError::Disconnected) => panic!("{}: stdout closed", self.label),
        }
    }

    /// Sends one command and returns the first line of its answer.
    pub fn command(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("{}: cannot write {command:?}: {e}", self.label));
        let answer = self.read_line();
        assert!(
            !answer.starts_with("ERR "),
            "{}: {command:?} failed: {answer}",
            self.label
        );
        answer
    }

    /// Tells the node where `peer` listens, and makes it a peer and a channel member.
    pub fn add_peer(&mut self, peer: &str, addr: &str) {
        assert_eq!(
            self.command(&format!("peer {peer} {addr}")),
            "OK",
            "{}",
            self.label
        );
    }

    pub fn append(&mut self, text: &str) {
        let answer = self.command(&format!("append {text}"));
        assert!(answer.starts_with("OK "), "{}: {answer}", self.label);
    }

    pub fn count(&mut self) -> usize {
        let answer = self.command("count");
        answer
            .strip_prefix("COUNT ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: bad count answer {answer:?}", self.label))
    }

    /// The node's listing: `author seq text` per entry, in read order.
    pub fn entries(&mut self) -> Vec<String> {
        let header = self.command("entries");
        let n: usize = header
            .strip_prefix("ENTRIES ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: bad entries answer {header:?}", self.label));
        (0..n)
            .map(|_| {
                let line = self.read_line();
                line.strip_prefix("ENTRY ")
                    .unwrap_or_else(|| panic!("{}: bad entry line {line:?}", self.label))
                    .to_owned()
            })
            .collect()
    }

    /// What the node reported on its error stream: `peer text` per error.
    pub fn errors(&mut self) -> Vec<String> {
        let header = self.command("errors");
        let n: usize = header
            .strip_prefix("ERRORS ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: bad errors answer {header:?}", self.label));
        (0..n)
            .map(|_| {
                let line = self.read_line();
                line.strip_prefix("ERROR ")
                    .unwrap_or_else(|| panic!("{}: bad error line {line:?}", self.label))
                    .to_owned()
            })
            .collect()
    }

    /// One counter of the node's TCP transport.
    pub fn stat(&mut self, name: &str) -> u64 {
        let answer = self.command("stats");
        answer
            .split_whitespace()
            .find_map(|field| field.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{}: no {name} in {answer:?}", self.label))
    }

    /// Kills the process at once (SIGKILL on Unix) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }

    /// Asks the node to quit and waits for a clean exit.
    pub fn quit(mut self) {
        assert_eq!(self.command("quit"), "BYE", "{}", self.label);
        drop(self.stdin.take());
        let deadline = Instant::now() + EXIT_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "{} exited with {status}", self.label);
                return;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.label);
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // Already exited (quit, kill) or not: never leave a child behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory under cargo's scratch space for one test's files.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Polls `count` on every node until each holds `expected` entries.
pub fn wait_converged(nodes: &mut [&mut NodeProcess], expected: usize) -> Duration {
    let start = Instant::now();
    loop {
        let counts: Vec<usize> = nodes.iter_mut().map(|n| n.count()).collect();
        if counts.iter().all(|c| *c == expected) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < CONVERGE_LIMIT,
            "no convergence to {expected} entries within {CONVERGE_LIMIT:?}: {counts:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

pub fn assert_identical(nodes: &mut [&mut NodeProcess]) {
    let (first, rest) = nodes.split_first_mut().expect("nodes");
    let reference = first.entries();
    for node in rest {
        assert_eq!(
            node.entries(),
            reference,
            "{} differs from {}",
            node.label,
            first.label
        );
    }
}

/// A TCP proxy in front of one node, on loopback, that the test can cut:
/// while down it closes every connection it accepts at once and has cut the
/// ones it was forwarding. It counts the connections it accepts: each is a
/// dial attempt of a peer.
pub struct Proxy {
    /// Where peers should dial the node.
    pub addr: std::net::SocketAddr,
    state: std::sync::Arc<ProxyState>,
}

struct ProxyState {
    up: std::sync::atomic::AtomicBool,
    stop: std::sync::atomic::AtomicBool,
    accepted: std::sync::atomic::AtomicUsize,
    live: std::sync::Mutex<Vec<std::net::TcpStream>>,
}

impl Proxy {
    /// Starts forwarding to `target`.
    pub fn start(target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = std::sync::Arc::new(ProxyState {
            up: true.into(),
            stop: false.into(),
            accepted: 0.into(),
            live: std::sync::Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        thread::spawn(move || {
            while !shared.stop.load(Ordering::SeqCst) {
                let inbound = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                };
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                if !shared.up.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let _ = inbound.set_nonblocking(false);
                let Ok(outbound) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                let pairs = [(&inbound, &outbound), (&outbound, &inbound)];
                let mut live = shared.live.lock().unwrap();
                for (from, to) in pairs {
                    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                }
                live.push(inbound);
                live.push(outbound);
            }
        });
        Self { addr, state }
    }

    /// Connections accepted so far (dial attempts).
    pub fn dials(&self) -> usize {
        self.state
            .accepted
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Cuts the way (and every connection on it), or restores it.
    pub fn set_up(&self, up: bool) {
        self.state.up.store(up, std::sync::atomic::Ordering::SeqCst);
        if !up {
            for stream in self.state.live.lock().unwrap().drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.set_up(false);
        self.state
            .stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
