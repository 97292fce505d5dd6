//! The command line: `libp2p-chat [--name N] [--listen MULTIADDR] [--peer MULTIADDR]…
//! [--seed N | --key FILE] [--channel NAME | --join INVITATION] [--self-test]`.

use std::path::PathBuf;

use gossip::transports::libp2p::libp2p::{multiaddr::Protocol, Multiaddr, PeerId};

/// The usage text printed by `--help` and after a bad argument.
pub(crate) const USAGE: &str = "\
usage: libp2p-chat [options]

  --name NAME          shown before your lines (default: me)
  --listen MULTIADDR   where to listen (default: /ip4/127.0.0.1/tcp/0)
  --peer MULTIADDR     a peer to chat with, ending in /p2p/<peer id> (repeatable)
  --seed N             demo identity: the Ed25519 key made of 32 bytes N (0-255);
                       everyone can compute it, never use it for real
  --key FILE           the identity key file, created on first use (default: a fresh key)
  --channel NAME       the chat room this node owns (default: chat); it prints an
                       invitation for the others and lets in whoever connects
  --join INVITATION    join the room of an invitation another node printed
  --self-test          two nodes in this process exchange a line over loopback, then exit
  --help               this text";

/// Where the node's identity comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// A fresh key, a new node id on every run.
    Fresh,
    /// The insecure demo key `[n; 32]`: a node id known in advance.
    Seed(u8),
    /// A key file, written on first use, read afterwards.
    File(PathBuf),
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) name: String,
    pub(crate) listen: Multiaddr,
    pub(crate) peers: Vec<(PeerId, Multiaddr)>,
    pub(crate) identity: KeySource,
    pub(crate) channel: String,
    pub(crate) join: Option<gossip::Invitation>,
    pub(crate) self_test: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            name: "me".to_owned(),
            listen: Multiaddr::empty()
                .with(Protocol::Ip4([127, 0, 0, 1].into()))
                .with(Protocol::Tcp(0)),
            peers: Vec::new(),
            identity: KeySource::Fresh,
            channel: "chat".to_owned(),
            join: None,
            self_test: false,
        }
    }
}

/// The outcome of parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Run with these options.
    Run(Options),
    /// `--help`.
    Help,
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut options = Options::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--help" | "-h" => return Ok(Parsed::Help),
            "--self-test" => options.self_test = true,
            "--name" => options.name = value("--name")?,
            "--channel" => options.channel = value("--channel")?,
            "--join" => {
                let text = value("--join")?;
                let invitation = text.parse().map_err(|e| format!("--join: {e}"))?;
                options.join = Some(invitation);
            }
            "--listen" => {
                let text = value("--listen")?;
                options.listen = text
                    .parse()
                    .map_err(|e| format!("--listen {text}: not a multiaddr: {e}"))?;
            }
            "--peer" => {
                let text = value("--peer")?;
                options.peers.push(peer_address(&text)?);
            }
            "--seed" => {
                let text = value("--seed")?;
                let seed = text
                    .parse()
                    .map_err(|_| format!("--seed {text}: expected a number 0-255"))?;
                options.identity = KeySource::Seed(seed);
            }
            "--key" => options.identity = KeySource::File(value("--key")?.into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Parsed::Run(options))
}

/// A peer's multiaddr, which must name the peer with a trailing `/p2p/<peer id>`.
fn peer_address(text: &str) -> Result<(PeerId, Multiaddr), String> {
    let address: Multiaddr = text
        .parse()
        .map_err(|e| format!("--peer {text}: not a multiaddr: {e}"))?;
    match address.iter().last() {
        Some(Protocol::P2p(peer)) => Ok((peer, address)),
        _ => Err(format!("--peer {text}: must end with /p2p/<peer id>")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn args(list: &[&str]) -> Result<Parsed, String> {
        parse(list.iter().map(|s| (*s).to_owned()))
    }

    const PEER: &str = "12D3KooWBXu3uGPMkjjxViK6autSnFH5QaKJgTwW8CaSxYSD6yYL";

    #[test]
    fn defaults() {
        assert_eq!(args(&[]).unwrap(), Parsed::Run(Options::default()));
        assert_eq!(args(&["--help"]).unwrap(), Parsed::Help);
    }

    #[test]
    fn every_option() {
        let peer = format!("/ip4/127.0.0.1/tcp/7001/p2p/{PEER}");
        let Parsed::Run(options) = args(&[
            "--name",
            "bob",
            "--listen",
            "/ip4/0.0.0.0/tcp/7002",
            "--peer",
            &peer,
            "--seed",
            "2",
            "--channel",
            "room",
            "--self-test",
        ])
        .unwrap() else {
            panic!("not a run");
        };
        assert_eq!(options.name, "bob");
        assert_eq!(options.listen.to_string(), "/ip4/0.0.0.0/tcp/7002");
        assert_eq!(options.peers.len(), 1);
        assert_eq!(options.peers[0].0.to_base58(), PEER);
        assert_eq!(options.peers[0].1.to_string(), peer);
        assert_eq!(options.identity, KeySource::Seed(2));
        assert_eq!(options.channel, "room");
        assert!(options.self_test);
    }

    #[test]
    fn bad_arguments_are_errors_not_panics() {
        for bad in [
            &["--listen"][..],
            &["--listen", "not an address"],
            &["--peer", "/ip4/127.0.0.1/tcp/7001"],
            &["--peer", "12D3KooW"],
            &["--seed", "256"],
            &["--seed", "x"],
            &["--frobnicate"],
        ] {
            assert!(args(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
