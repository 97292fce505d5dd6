//! Chat between terminals over libp2p: one gossip node per terminal, a shared
//! channel; stdin lines are appended, the others' lines printed from a
//! subscription. See README.md for the commands.
#![allow(clippy::print_stdout)] // a demo program: printing is its job

mod args;
mod chat;

use std::time::Duration;

use futures_util::StreamExt;
use gossip::{DomainEvent, Subscription};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{
    args::{Options, Parsed},
    chat::{Chat, Result},
};

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let options = match args::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            println!("{}", args::USAGE);
            return Ok(());
        }
        Err(e) => return Err(format!("{e}\n\n{}", args::USAGE).into()),
    };
    if options.self_test {
        self_test().await?;
        println!("self-test passed");
        return Ok(());
    }
    run(options).await
}

/// The interactive chat: until stdin ends (Ctrl-D).
async fn run(options: Options) -> Result<()> {
    let chat = Chat::start(&options).await?;
    println!("node id {}", chat.id());
    if options.join.is_none() {
        println!("others join with: --join {}", chat.invitation().await?);
    }
    println!("type a line and press enter; Ctrl-D quits");

    let mut live = chat.stream.subscribe();
    let mut events = chat.node.events();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => chat.say(&line).await?,
                None => break,
            },
            entry = live.next() => match entry {
                Some(Ok(entry)) if &entry.author != chat.id() => {
                    println!("{}", String::from_utf8_lossy(&entry.payload));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => eprintln!("(live feed: {e})"),
                None => break,
            },
            event = events.next() => match event {
                Some(Ok(DomainEvent::PeerDiscovered { peer })) => {
                    // A demo trusts whoever dials in: make it a peer and a member.
                    match chat.add_node(&peer).await {
                        Ok(()) => println!("* {peer} joined"),
                        Err(e) => eprintln!("(cannot add {peer}: {e})"),
                    }
                }
                Some(Ok(DomainEvent::PeerStatusChanged { peer, status, .. })) => {
                    println!("* {peer} is {status:?}");
                }
                Some(Ok(DomainEvent::ChannelChanged { .. })) => {
                    if let Some(role) = chat.role().await? {
                        println!("* you are a {role} of the room");
                    }
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    chat.stop().await
}

/// Two participants in this process on loopback: each one's line reaches the
/// other, the second one knowing the first only by its invitation and the
/// first letting the second in when it dials in.
async fn self_test() -> Result<()> {
    let alice = Chat::start(&Options {
        name: "alice".to_owned(),
        ..Options::default()
    })
    .await?;
    let invitation = alice.invitation().await?;
    // Subscribed before bob exists, so that his discovery cannot be missed.
    let alice_events = alice.node.events();
    let bob = Chat::start(&Options {
        name: "bob".to_owned(),
        join: Some(invitation.to_string().parse()?),
        ..Options::default()
    })
    .await?;
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        exchange(&alice, alice_events, &bob),
    )
    .await;
    alice.stop().await?;
    bob.stop().await?;
    outcome.map_err(|_| "self-test timed out")?
}

/// Alice admits bob when he is discovered; once he knows it, bob says hello
/// and alice answers.
async fn exchange(
    alice: &Chat,
    mut alice_events: Subscription<DomainEvent>,
    bob: &Chat,
) -> Result<()> {
    let mut bob_live = bob.stream.subscribe();
    while let Some(event) = alice_events.next().await {
        if let Ok(DomainEvent::PeerDiscovered { peer }) = event {
            if &peer == bob.id() {
                alice.add_node(&peer).await?;
                break;
            }
        }
    }
    // Alice's control log tells bob he may write.
    while bob.role().await?.is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bob.say("hello alice").await?;
    alice.say("hi bob").await?;
    while let Some(entry) = bob_live.next().await {
        if let Ok(entry) = entry {
            if entry.payload.as_ref() == b"alice: hi bob" {
                break;
            }
        }
    }
    // Alice holds bob's line too (pushed or repaired by anti-entropy).
    loop {
        let lines: Vec<_> = alice.stream.entries().await?;
        if lines
            .iter()
            .any(|e| e.payload.as_ref() == b"bob: hello alice")
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_participants_chat_over_loopback() {
        super::self_test().await.unwrap();
    }
}
