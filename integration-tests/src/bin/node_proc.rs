//! `node-proc`: one gossip node in its own OS process, over TCP or libp2p,
//! driven line by line on stdin (the child process of
//! `tests/multiprocess_tcp.rs` and `tests/multiprocess_libp2p.rs`).
//!
//! ```text
//! node-proc [--transport tcp|libp2p] --listen <address> (--id <name> | --key <file>)
//!           [--store <sqlite path>] [--peer <id>=<address>]... [--member <id>]...
//!           [--channel <name>] [--stream <name>]
//! ```
//!
//! The node's identity is seeded from `--id <name>` (a test identity anyone
//! can derive from the name) or kept in the `--key` file (created on first
//! use), so that a restarted node keeps its id. Wherever a node id is
//! expected, a name stands for the seeded identity of that name, and output
//! names such nodes by their names (node ids otherwise). Over TCP (the
//! default) addresses are `ip:port`; over libp2p they are multiaddrs
//! (`/ip4/127.0.0.1/tcp/0`). Port 0
//! picks a free port. Without `--store` the node keeps its entries in
//! memory. The first `--member` owns the channel (the node itself without
//! any) and adds every other `--member` and `--peer` as a writer; the others
//! join it, and `append` waits until the owner's control log says they are
//! members. It prints `ID <node id>`, then `LISTENING <address>` once bound
//! (a libp2p address ends in `/p2p/<peer id>`), then `READY` once started;
//! then it answers each command on stdin with one line on stdout (flushed):
//!
//! | command             | answer                                                  |
//! |---------------------|---------------------------------------------------------|
//! | `peer <id> <addr>`  | `OK`: the peer is added (address, peer; member, by the owner) |
//! | `append <text>`     | `OK <sequence>`                                         |
//! | `count`             | `COUNT <entries held>`                                  |
//! | `entries`           | `ENTRIES <n>`, then `ENTRY <author> <seq> <text>` × n   |
//! | `reachable`         | `REACHABLE <peer ids, comma-separated>`                 |
//! | `errors`            | `ERRORS <n>`, then `ERROR <peer or -> <text>` × n       |
//! | `stats`             | `STATS <name>=<value> ...` (the transport's counters)   |
//! | `quit`              | `BYE`, after the node is disposed; the process exits    |
//!
//! `errors` lists what the node reported on its error stream since it
//! started (the last [`ERRORS_KEPT`]). A failed command answers
//! `ERR <reason>`; the node keeps serving. End of input is `quit`. Fatal
//! start-up errors go to stderr with a non-zero exit.

// A command-line program: stdout is its protocol.
#![allow(clippy::print_stdout)]

use std::{
    collections::VecDeque,
    io::{self, BufRead, Write},
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use futures_util::StreamExt;
use gossip_core::{
    ChannelHandle, ChannelId, Config, Coordinator, Identity, Invitation, NodeId, Role,
    StreamHandle, StreamId, SyncError,
};
use gossip_store_memory::MemoryStore;
use gossip_store_sqlite::SqliteStore;
use gossip_transport_libp2p::{libp2p::Multiaddr, Libp2pConfig, Libp2pTransport};
use gossip_transport_tcp::{TcpConfig, TcpTransport};
use tokio::sync::mpsc;

/// Lines of stdin waiting for the node (the reader thread blocks when full).
const COMMAND_QUEUE: usize = 64;

/// Errors from the node's error stream kept for the `errors` command.
const ERRORS_KEPT: usize = 256;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which transport the node runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Libp2p,
}

/// The command line.
#[derive(Debug)]
struct Args {
    kind: Kind,
    id: Option<String>,
    key: Option<PathBuf>,
    listen: String,
    store: Option<PathBuf>,
    peers: Vec<(NodeId, String)>,
    members: Vec<NodeId>,
    channel: String,
    stream: StreamId,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, BoxError> {
        let mut kind = Kind::Tcp;
        let mut id = None;
        let mut key = None;
        let mut listen = None;
        let mut store = None;
        let mut peers = Vec::new();
        let mut members = Vec::new();
        let mut channel = "channel".to_owned();
        let mut stream = "stream".to_owned();
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--transport" => {
                    kind = match value()?.as_str() {
                        "tcp" => Kind::Tcp,
                        "libp2p" => Kind::Libp2p,
                        other => return Err(format!("unknown transport {other:?}").into()),
                    }
                }
                "--id" => id = Some(value()?),
                "--key" => key = Some(PathBuf::from(value()?)),
                "--listen" => listen = Some(value()?),
                "--store" => store = Some(PathBuf::from(value()?)),
                "--peer" => peers.push(parse_peer(&value()?)?),
                "--member" => members.push(node_ref(&value()?)),
                "--channel" => channel = value()?,
                "--stream" => stream = value()?,
                other => return Err(format!("unknown argument {other:?}").into()),
            }
        }
        if id.is_some() == key.is_some() {
            return Err("exactly one of --id and --key is required".into());
        }
        Ok(Self {
            kind,
            id,
            key,
            listen: listen.ok_or("--listen is required")?,
            store,
            peers,
            members,
            channel,
            stream: StreamId::new(stream)?,
        })
    }
}

/// Parses `<id>=<address>`.
fn parse_peer(text: &str) -> Result<(NodeId, String), BoxError> {
    let (id, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("peer {text:?} is not <id>=<address>"))?;
    Ok((node_ref(id), addr.trim().to_owned()))
}

/// The names given on the command line and in commands, by node id.
static NAMES: std::sync::Mutex<Vec<(NodeId, String)>> = std::sync::Mutex::new(Vec::new());

/// A node id in its text form, or a name standing for the seeded identity
/// of that name (remembered, so that output uses the name).
fn node_ref(text: &str) -> NodeId {
    let text = text.trim();
    text.parse().unwrap_or_else(|_| {
        let id = NodeId::from_seed(text);
        let mut names = NAMES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !names.iter().any(|(known, _)| *known == id) {
            names.push((id.clone(), text.to_owned()));
        }
        id
    })
}

/// How output names `id`: its name if it was given one, else its id.
fn display(id: &NodeId) -> String {
    let names = NAMES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    names
        .iter()
        .find(|(known, _)| known == id)
        .map_or_else(|| id.to_string(), |(_, name)| name.clone())
}

/// The node's identity: seeded from `--id`, or kept in the `--key` file
/// (created there on first use).
fn identity(args: &Args) -> Result<Identity, BoxError> {
    if let Some(name) = &args.id {
        node_ref(name);
        return Ok(Identity::from_seed(name));
    }
    let path = args.key.as_deref().ok_or("--id or --key is required")?;
    match Identity::load(path) {
        Ok(identity) => Ok(identity),
        Err(gossip_core::Error::KeyFile {
            kind: gossip_core::KeyFileErrorKind::NotFound,
            ..
        }) => {
            let identity = Identity::generate();
            identity.save(path)?;
            Ok(identity)
        }
        Err(error) => Err(error.into()),
    }
}

/// The node's transport, kept to fill its address book and read its counters.
enum Net {
    Tcp(Arc<TcpTransport>),
    Libp2p(Arc<Libp2pTransport>),
}

impl Net {
    /// Binds the transport the command line asks for, and says where.
    async fn bind(args: &Args, identity: &Identity) -> Result<Self, BoxError> {
        let (min, max) = (Duration::from_millis(20), Duration::from_millis(500));
        match args.kind {
            Kind::Tcp => {
                let config = TcpConfig::default().backoff(min, max);
                let tcp = TcpTransport::bind(identity, args.listen.parse()?, config).await?;
                Ok(Self::Tcp(Arc::new(tcp)))
            }
            Kind::Libp2p => {
                let config = Libp2pConfig::default().mdns(false).backoff(min, max);
                let p2p = Libp2pTransport::new(identity, config)?;
                p2p.listen_on(args.listen.parse()?).await?;
                Ok(Self::Libp2p(Arc::new(p2p)))
            }
        }
    }

    fn local_id(&self) -> NodeId {
        match self {
            Self::Tcp(t) => gossip_core::Transport::local_id(&**t).clone(),
            Self::Libp2p(t) => gossip_core::Transport::local_id(&**t).clone(),
        }
    }

    /// Where peers reach this node.
    fn address(&self) -> Result<String, BoxError> {
        match self {
            Self::Tcp(t) => Ok(t.local_addr().to_string()),
            Self::Libp2p(t) => {
                let address = t.listen_addrs().into_iter().next().ok_or("not listening")?;
                let address = address
                    .with_p2p(t.peer_id())
                    .map_err(|a| format!("{a} names another peer"))?;
                Ok(address.to_string())
            }
        }
    }

    fn add_address(&self, peer: NodeId, address: &str) -> Result<(), BoxError> {
        match self {
            Self::Tcp(t) => t.add_peer_address(peer, address.parse::<SocketAddr>()?),
            Self::Libp2p(t) => t.add_peer_address(peer, address.parse::<Multiaddr>()?)?,
        }
        Ok(())
    }

    fn stats(&self) -> String {
        match self {
            Self::Tcp(t) => {
                let s = t.stats();
                format!(
                    "STATS connections_opened={} connect_failures={} handshake_failures={} \
                     oversized_frames={} connected_peers={}",
                    s.connections_opened,
                    s.connect_failures,
                    s.handshake_failures,
                    s.oversized_frames,
                    s.connected_peers
                )
            }
            Self::Libp2p(t) => {
                let s = t.stats();
                format!(
                    "STATS connections_opened={} dial_failures={} oversized_frames={} \
                     inbound_failures={} connected_peers={}",
                    s.connections_opened,
                    s.dial_failures,
                    s.oversized_frames,
                    s.inbound_failures,
                    s.connected_peers
                )
            }
        }
    }
}

/// Writes one line to stdout and flushes it, so the parent sees it at once.
fn answer(line: &str) {
    let mut out = io::stdout().lock();
    // The parent going away is not this process's problem: it ends on `quit`
    // or end of input.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// A running node and the handles its commands use.
struct Node {
    node: Coordinator,
    net: Net,
    channel: ChannelHandle,
    stream: StreamHandle,
}

impl Node {
    async fn start(args: &Args) -> Result<Self, BoxError> {
        let identity = identity(args)?;
        let net = Net::bind(args, &identity).await?;
        let id = net.local_id();
        answer(&format!("ID {}", display(&id)));
        answer(&format!("LISTENING {}", net.address()?));
        for (peer, addr) in &args.peers {
            net.add_address(peer.clone(), addr)?;
        }
        let config = Config::default().gossip_interval(Duration::from_millis(100));
        let builder = Coordinator::builder(identity);
        let builder = match &args.store {
            Some(path) => builder.store(SqliteStore::open(path).await?),
            None => builder.store(MemoryStore::new()),
        };
        let builder = match &net {
            Net::Tcp(t) => builder.transport(t.clone()),
            Net::Libp2p(t) => builder.transport(t.clone()),
        };
        let node = builder.config(config).build().await?;
        // The first `--member` owns the channel (this node without any):
        // it adds the others; they join, and learn they are members from
        // its control log.
        let owner = args.members.first().unwrap_or(&id).clone();
        let channel_id = ChannelId::derive(&owner, args.channel.as_str())?;
        let channel = if owner == id {
            node.create_channel(args.channel.as_str()).await?
        } else {
            let invitation = Invitation::new(channel_id, owner.clone(), owner.clone(), Vec::new())?;
            node.join(&invitation).await?
        };
        let may_manage = owner == id;
        for (peer, _) in &args.peers {
            node.add_peer(peer.clone()).await?;
            if may_manage {
                channel.add_member(peer.clone(), Role::Writer).await?;
            }
        }
        for member in &args.members {
            if *member != id {
                node.add_peer(member.clone()).await?;
                if may_manage {
                    channel.add_member(member.clone(), Role::Writer).await?;
                }
            }
        }
        let stream = channel.stream(args.stream.clone()).await?;
        node.start().await?;
        Ok(Self {
            node,
            net,
            channel,
            stream,
        })
    }

    /// Waits (up to 30 s) until the owner's control log says this node is
    /// a member: a node that joined may write only then.
    async fn await_membership(&self) -> Result<(), BoxError> {
        let start = std::time::Instant::now();
        while self.channel.role().await?.is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                return Err("this node never learned it is a member of the channel".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Runs one command; `Ok(None)` means quit.
    async fn run(
        &self,
        line: &str,
        errors: &VecDeque<SyncError>,
    ) -> Result<Option<Vec<String>>, BoxError> {
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        let lines = match command {
            "peer" => {
                let (id, addr) = rest.split_once(' ').ok_or("usage: peer <id> <address>")?;
                let id = node_ref(id);
                self.net.add_address(id.clone(), addr.trim())?;
                if id != *self.node.local_id() {
                    self.node.add_peer(id.clone()).await?;
                }
                if self.channel.role().await?.is_some_and(Role::may_manage) {
                    self.channel.add_member(id, Role::Writer).await?;
                }
                vec!["OK".to_owned()]
            }
            "append" => {
                self.await_membership().await?;
                let entry = self.stream.append(rest.as_bytes().to_vec()).await?;
                vec![format!("OK {}", entry.sequence)]
            }
            "count" => vec![format!("COUNT {}", self.stream.entries().await?.len())],
            "entries" => {
                let entries = self.stream.entries().await?;
                let mut lines = Vec::with_capacity(entries.len() + 1);
                lines.push(format!("ENTRIES {}", entries.len()));
                lines.extend(entries.iter().map(|e| {
                    let text = String::from_utf8_lossy(&e.payload).replace('\n', " ");
                    format!("ENTRY {} {} {text}", display(&e.author), e.sequence)
                }));
                lines
            }
            "reachable" => {
                let health = self.node.health().await?;
                let peers: Vec<String> = health.reachable_peers().map(display).collect();
                vec![format!("REACHABLE {}", peers.join(","))]
            }
            "errors" => {
                let mut lines = Vec::with_capacity(errors.len() + 1);
                lines.push(format!("ERRORS {}", errors.len()));
                lines.extend(errors.iter().map(|e| {
                    let peer = e.peer.as_ref().map_or_else(|| "-".to_owned(), display);
                    format!("ERROR {peer} {}", e.error.to_string().replace('\n', " "))
                }));
                lines
            }
            "stats" => vec![self.net.stats()],
            "quit" => return Ok(None),
            other => return Err(format!("unknown command {other:?}").into()),
        };
        Ok(Some(lines))
    }
}

/// Reads stdin on a thread of its own (blocking) and hands lines over.
fn spawn_stdin_reader() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
        // Dropping `tx` ends the command loop: end of input is `quit`.
    });
    rx
}

async fn serve(args: Args) -> Result<(), BoxError> {
    let node = Node::start(&args).await?;
    answer("READY");
    let mut commands = spawn_stdin_reader();
    let mut error_feed = node.node.errors();
    let mut errors = VecDeque::with_capacity(ERRORS_KEPT);
    loop {
        let line = tokio::select! {
            line = commands.recv() => match line {
                Some(line) => line,
                None => break,
            },
            Some(Ok(error)) = error_feed.next() => {
                if errors.len() == ERRORS_KEPT {
                    errors.pop_front();
                }
                errors.push_back(error);
                continue;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match node.run(line, &errors).await {
            Ok(Some(lines)) => lines.iter().for_each(|l| answer(l)),
            Ok(None) => break,
            Err(error) => answer(&format!("ERR {}", error.to_string().replace('\n', " "))),
        }
    }
    node.node.dispose().await?;
    answer("BYE");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("node-proc: {error}");
            return ExitCode::from(2);
        }
    };
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("node-proc: {error}");
            ExitCode::FAILURE
        }
    }
}
