//! `tcp-chat`: one gossip node per terminal, chatting through a shared
//! channel over TCP. Lines typed on stdin are appended to the room's stream;
//! the other participants' lines arrive through a subscription.
//!
//! See the README for three terminals on one machine.

// A terminal program: printing is its job.
#![allow(clippy::print_stdout)]

mod args;

use std::{
    io::{self, BufRead},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use args::{Args, ArgsError, Room, USAGE};
use futures_util::StreamExt;
use gossip::{
    ChannelHandle, Config, Coordinator, DomainEvent, Error, Identity, KeyFileErrorKind, LogEntry,
    MemoryStore, NodeId, Role, SqliteStore, StreamHandle, StreamId, TcpConfig, TcpTransport,
};
use tokio::sync::mpsc;

/// Typed lines waiting to be appended (the reader thread waits when full).
const INPUT_QUEUE: usize = 64;

/// The stream of the room that carries chat lines.
const MESSAGES: &str = "messages";

/// The identity kept in `path`, created there (owner-only) on first use.
fn load_or_create(path: &std::path::Path) -> Result<Identity, ArgsError> {
    match Identity::load(path) {
        Err(Error::KeyFile {
            kind: KeyFileErrorKind::NotFound,
            ..
        }) => {
            let identity = Identity::generate();
            identity.save(path)?;
            Ok(identity)
        }
        other => Ok(other?),
    }
}

/// A running chat: the node, its room and the room's message stream.
struct Chat {
    me: NodeId,
    name: String,
    node: Coordinator,
    room: ChannelHandle,
    messages: StreamHandle,
}

impl Chat {
    async fn open(args: &Args) -> Result<Self, ArgsError> {
        let identity = load_or_create(&args.key)?;
        let tcp = TcpTransport::bind(&identity, args.listen, TcpConfig::default()).await?;
        let tcp = Arc::new(tcp);
        println!("* {} is node {}", args.name, identity.node_id());
        println!("* {} listening on {}", args.name, tcp.local_addr());
        for (peer, addr) in &args.peers {
            tcp.add_peer_address(peer.clone(), *addr);
        }
        let me = identity.node_id().clone();
        let builder = Coordinator::builder(identity);
        let builder = match &args.db {
            Some(path) => builder.store(SqliteStore::open(path).await?),
            None => builder.store(MemoryStore::new()),
        };
        let node = builder
            .transport(tcp.clone())
            .config(Config::default().gossip_interval(Duration::from_millis(200)))
            .build()
            .await?;
        for (peer, _) in &args.peers {
            node.add_peer(peer.clone()).await?;
        }
        let room = match &args.room {
            Room::Own(name) => {
                let room = node.create_channel(name).await?;
                let here = vec![tcp.local_addr().to_string()];
                println!("* invitation: {}", room.invitation_at(here).await?);
                room
            }
            Room::Join(invitation) => {
                // The invitation says where the inviter listens.
                for address in invitation.addresses() {
                    if let Ok(address) = address.parse() {
                        tcp.add_peer_address(invitation.inviter().clone(), address);
                    }
                }
                println!("* joining; you may write once the room's owner lets you in");
                node.join(invitation).await?
            }
        };
        let messages = room.stream(StreamId::new(MESSAGES)?).await?;
        node.start().await?;
        Ok(Self {
            me,
            name: args.name.clone(),
            node,
            room,
            messages,
        })
    }

    /// Prints a line: `you` or the name its author gave, and the text. (A
    /// line's payload is the author's name, a newline, and the text.)
    fn show(&self, entry: &LogEntry) {
        let payload = String::from_utf8_lossy(&entry.payload);
        let (name, text) = payload.split_once('\n').unwrap_or(("?", &payload));
        let who = if entry.author == self.me { "you" } else { name };
        println!("{who}: {text}");
    }

    /// Someone we did not list with `--peer` connected: sync with them and,
    /// if this terminal may manage the room, let them in as a writer. (A
    /// real application would ask first.)
    async fn welcome(&self, peer: NodeId) -> Result<(), ArgsError> {
        self.node.add_peer(peer.clone()).await?;
        if self.room.role().await?.is_some_and(Role::may_manage) {
            self.room.add_member(peer.clone(), Role::Writer).await?;
            println!("* {peer} joined");
        }
        Ok(())
    }

    /// The room's membership changed: say so when it lets this terminal in.
    async fn membership_changed(&self, was: &mut Option<Role>) -> Result<(), ArgsError> {
        let role = self.room.role().await?;
        if role != *was {
            match role {
                Some(role) => println!("* you are a {role} of the room"),
                None => println!("* you are not a member of the room"),
            }
            *was = role;
        }
        Ok(())
    }

    async fn command(&self, line: &str) -> Result<bool, ArgsError> {
        match line {
            "/quit" => return Ok(false),
            "/peers" => {
                let health = self.node.health().await?;
                let peers: Vec<String> =
                    health.reachable_peers().map(ToString::to_string).collect();
                println!("* reachable: {}", peers.join(", "));
            }
            "/history" => {
                for entry in self.messages.entries().await? {
                    self.show(&entry);
                }
            }
            _ => {
                let payload = format!("{}\n{line}", self.name);
                self.messages.append(payload.into_bytes()).await?;
            }
        }
        Ok(true)
    }

    async fn run(&self) -> Result<(), ArgsError> {
        let history = self.messages.entries().await?;
        if !history.is_empty() {
            println!("* {} earlier messages:", history.len());
            history.iter().for_each(|entry| self.show(entry));
        }
        println!("* type a line and press enter; /peers, /history, /quit");
        let mut live = self.messages.subscribe();
        let mut events = self.node.events();
        let mut errors = self.node.errors();
        let mut input = spawn_stdin_reader();
        let mut role = None;
        self.membership_changed(&mut role).await?;
        loop {
            tokio::select! {
                line = input.recv() => {
                    let Some(line) = line else { break };
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    match self.command(line).await {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(error) => eprintln!("! {error}"),
                    }
                }
                entry = live.next() => match entry {
                    Some(Ok(entry)) if entry.author != self.me => self.show(&entry),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => eprintln!("! {error} (see /history)"),
                    None => break,
                },
                event = events.next() => match event {
                    Some(Ok(DomainEvent::PeerDiscovered { peer })) => {
                        if let Err(error) = self.welcome(peer).await {
                            eprintln!("! {error}");
                        }
                    }
                    Some(Ok(DomainEvent::PeerStatusChanged { peer, status })) => {
                        println!("* {peer} is {status}");
                    }
                    Some(Ok(DomainEvent::ChannelChanged { .. })) => {
                        if let Err(error) = self.membership_changed(&mut role).await {
                            eprintln!("! {error}");
                        }
                    }
                    Some(_) => {}
                    None => break,
                },
                error = errors.next() => match error {
                    Some(Ok(error)) => eprintln!("! {error}"),
                    Some(Err(_)) => {}
                    None => break,
                },
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        self.node.dispose().await?;
        println!("* bye");
        Ok(())
    }
}

/// Reads stdin on a thread of its own (it blocks) and hands lines over.
fn spawn_stdin_reader() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("tcp-chat: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let chat = match Chat::open(&args).await {
        Ok(chat) => chat,
        Err(error) => {
            eprintln!("tcp-chat: {error}");
            return ExitCode::FAILURE;
        }
    };
    match chat.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tcp-chat: {error}");
            ExitCode::FAILURE
        }
    }
}
