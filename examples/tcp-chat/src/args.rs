//! The command line of `tcp-chat`.

use std::{net::SocketAddr, path::PathBuf};

use gossip::{Invitation, NodeId};

/// What went wrong with the command line, in words for the user.
pub(crate) type ArgsError = Box<dyn std::error::Error + Send + Sync>;

/// How to call `tcp-chat`.
pub(crate) const USAGE: &str = "\
usage: tcp-chat --name <name> --listen <ip:port> [--key <file>] [--peer <node id>=<ip:port>]...
                [--db <file>] [--room <name> | --join <invitation>]

  --name    the name shown with this terminal's lines (e.g. alice)
  --listen  where to accept peers (e.g. 127.0.0.1:7001; port 0 picks one)
  --key     this terminal's identity key file, created on first use (default: <name>.key);
            its node id is printed at start: give it to the others
  --peer    another participant's node id and where it listens; repeat for each
  --db      keep the chat in this SQLite file (default: in memory, lost on exit)
  --room    create (or reopen) a room this terminal owns (default: lobby); it prints an
            invitation for the others and lets in whoever connects
  --join    join the room of an invitation another terminal printed";

/// The room to chat in.
#[derive(Debug)]
pub(crate) enum Room {
    /// A room this terminal owns, by name.
    Own(String),
    /// Another terminal's room.
    Join(Invitation),
}

/// The parsed command line.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) name: String,
    pub(crate) key: PathBuf,
    pub(crate) listen: SocketAddr,
    pub(crate) peers: Vec<(NodeId, SocketAddr)>,
    pub(crate) db: Option<PathBuf>,
    pub(crate) room: Room,
}

impl Args {
    /// Parses the arguments after the program name. `Ok(None)` means help
    /// was asked for.
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Self>, ArgsError> {
        let mut name: Option<String> = None;
        let mut key = None;
        let mut listen = None;
        let mut peers = Vec::new();
        let mut db = None;
        let mut room = Room::Own("lobby".to_owned());
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--name" => name = Some(value()?),
                "--key" => key = Some(PathBuf::from(value()?)),
                "--listen" => listen = Some(parse_addr(&value()?)?),
                "--peer" => peers.push(parse_peer(&value()?)?),
                "--db" => db = Some(PathBuf::from(value()?)),
                "--room" => room = Room::Own(value()?),
                "--join" => room = Room::Join(value()?.parse()?),
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument {other:?}").into()),
            }
        }
        let name = name.ok_or("--name is required")?;
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(
                format!("--name {name:?} must be non-empty, without control characters").into(),
            );
        }
        Ok(Some(Self {
            key: key.unwrap_or_else(|| PathBuf::from(format!("{name}.key"))),
            name,
            listen: listen.ok_or("--listen is required")?,
            peers,
            db,
            room,
        }))
    }
}

fn parse_addr(text: &str) -> Result<SocketAddr, ArgsError> {
    text.parse()
        .map_err(|_| format!("{text:?} is not an <ip:port> address").into())
}

/// Parses `<id>=<ip:port>`.
fn parse_peer(text: &str) -> Result<(NodeId, SocketAddr), ArgsError> {
    let (id, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("peer {text:?} is not <id>=<ip:port>"))?;
    Ok((NodeId::new(id)?, parse_addr(addr)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, ArgsError> {
        Args::parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn full_command_line() {
        let args = parse(&[
            "--name",
            "alice",
            "--listen",
            "127.0.0.1:7001",
            "--peer",
            &format!("{}=127.0.0.1:7002", NodeId::from_seed("bob")),
            "--peer",
            &format!("{}=127.0.0.1:7003", NodeId::from_seed("carol")),
            "--db",
            "alice.db",
            "--room",
            "team",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(args.name, "alice");
        assert_eq!(args.key, PathBuf::from("alice.key"));
        assert_eq!(args.listen.port(), 7001);
        assert_eq!(args.peers.len(), 2);
        assert_eq!(args.db, Some(PathBuf::from("alice.db")));
        assert!(matches!(args.room, Room::Own(name) if name == "team"));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            &["--listen", "127.0.0.1:1"][..],
            &["--name", "a"],
            &["--name", "a", "--listen", "nowhere"],
            &["--name", "a", "--listen", "127.0.0.1:1", "--peer", "b"],
            &[
                "--name",
                "a",
                "--listen",
                "127.0.0.1:1",
                "--peer",
                "bob=127.0.0.1:2",
            ],
            &["--name", "", "--listen", "127.0.0.1:1"],
            &[
                "--name",
                "a",
                "--listen",
                "127.0.0.1:1",
                "--join",
                "gossip-invite1xyz",
            ],
            &["--name"],
            &["--what"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse(&["--help"]).unwrap().is_none());
    }
}
