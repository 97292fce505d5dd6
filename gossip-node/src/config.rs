//! `gossip-node run`'s configuration: a TOML file, overridden by flags.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use gossip::{ChannelId, Invitation, NodeId};
use serde::Deserialize;

use crate::{
    cli::{parse_addr, RunArgs},
    control::{check_loopback, default_token_file},
    error::{CliError, CliResult},
};

/// The config file, every key optional (flags fill in or override).
///
/// ```toml
/// identity = "laptop.key"   # made by `gossip-node keygen laptop.key`
/// label = "laptop"
/// listen = "0.0.0.0:7000"
/// peers = ["node1…=192.168.1.20:7000", "node1…"]
/// store = "laptop.db"
/// channels = ["main"]            # channels this node owns
/// join = ["gossip-invite1…"]     # invitations joined at start
/// key_file = "network.key"
/// control = "127.0.0.1:7070"   # loopback only
/// token_file = "laptop.key.control-token"   # the default: beside `identity`
/// metrics = "127.0.0.1:9100"
/// ```
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub(crate) identity: Option<PathBuf>,
    pub(crate) label: Option<String>,
    pub(crate) listen: Option<String>,
    #[serde(default)]
    pub(crate) peers: Vec<String>,
    pub(crate) store: Option<String>,
    #[serde(default)]
    pub(crate) channels: Vec<String>,
    #[serde(default)]
    pub(crate) join: Vec<String>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) control: Option<String>,
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) metrics: Option<String>,
}

impl FileConfig {
    /// Parses a config file's text.
    pub(crate) fn parse(path: &Path, text: &str) -> CliResult<Self> {
        toml::from_str(text).map_err(|error| CliError::Config {
            path: path.to_owned(),
            reason: error.message().to_owned(),
        })
    }

    /// Reads and parses a config file.
    pub(crate) fn read(path: &Path) -> CliResult<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| CliError::Config {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        Self::parse(path, &text)
    }
}

/// A peer: its id, and its address when we dial it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerSpec {
    pub(crate) id: NodeId,
    pub(crate) addr: Option<SocketAddr>,
}

impl PeerSpec {
    /// Parses `NODE_ID=HOST:PORT` or `NODE_ID`.
    pub(crate) fn parse(value: &str) -> CliResult<Self> {
        let (id, addr) = match value.split_once('=') {
            Some((id, addr)) => (id, Some(addr)),
            None => (value, None),
        };
        let id = NodeId::new(id.trim()).map_err(|error| {
            CliError::Invalid(format!(
                "invalid --peer {value:?}: {error} (expected NODE_ID=HOST:PORT or NODE_ID; \
                 `gossip-node id KEY_FILE` prints a node's id)"
            ))
        })?;
        let addr = addr
            .map(|addr| parse_addr("--peer address", addr))
            .transpose()
            .map_err(|reason| CliError::Invalid(format!("{reason} (in --peer {value:?})")))?;
        Ok(Self { id, addr })
    }
}

/// Where the node keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreSpec {
    Memory,
    Sqlite(PathBuf),
}

impl StoreSpec {
    fn parse(value: &str) -> CliResult<Self> {
        match value.trim() {
            "" => Err(CliError::Invalid(
                "invalid --store \"\": expected a file path or `memory`".into(),
            )),
            "memory" | ":memory:" => Ok(Self::Memory),
            path => Ok(Self::Sqlite(PathBuf::from(path))),
        }
    }
}

/// Everything `run` needs, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunConfig {
    /// The identity key file (read by `run`).
    pub(crate) identity: PathBuf,
    /// A name for people, beside the id.
    pub(crate) label: Option<String>,
    pub(crate) listen: SocketAddr,
    pub(crate) peers: Vec<PeerSpec>,
    pub(crate) store: StoreSpec,
    /// The names of the channels this node owns (created at start).
    pub(crate) channels: Vec<String>,
    /// Invitations to join at start.
    pub(crate) joins: Vec<Invitation>,
    pub(crate) key_file: Option<PathBuf>,
    /// The control endpoint's address, on loopback.
    pub(crate) control: SocketAddr,
    /// Where the control token is written at start.
    pub(crate) token_file: PathBuf,
    pub(crate) metrics: Option<SocketAddr>,
}

/// Default gossip listen address.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:7000";

impl RunConfig {
    /// Reads the config file named by `args` (if any) and applies the flags.
    pub(crate) fn load(args: RunArgs) -> CliResult<Self> {
        let file = match &args.config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        Self::resolve(file, args)
    }

    /// Flags override the file; lists given as flags replace the file's.
    pub(crate) fn resolve(file: FileConfig, args: RunArgs) -> CliResult<Self> {
        let identity = args.identity.or(file.identity).ok_or_else(|| {
            CliError::Invalid(
                "missing identity: pass --identity KEY_FILE (or `identity = \"KEY_FILE\"` in the \
                 config file); make one with `gossip-node keygen KEY_FILE`"
                    .into(),
            )
        })?;
        let label = args.label.or(file.label);
        let listen = args.listen.or(file.listen);
        let listen = parse_addr("--listen", listen.as_deref().unwrap_or(DEFAULT_LISTEN))
            .map_err(CliError::Invalid)?;
        let peers = if args.peers.is_empty() {
            file.peers
        } else {
            args.peers
        };
        let peers = peers
            .iter()
            .map(|peer| PeerSpec::parse(peer))
            .collect::<CliResult<Vec<_>>>()?;
        let store = StoreSpec::parse(args.store.or(file.store).as_deref().unwrap_or("memory"))?;
        let channels = if args.channels.is_empty() {
            file.channels
        } else {
            args.channels
        };
        for name in &channels {
            check_channel_name(name)?;
        }
        let joins = if args.joins.is_empty() {
            file.join
        } else {
            args.joins
        };
        let joins = joins
            .iter()
            .map(|text| parse_invitation("--join", text))
            .collect::<CliResult<Vec<_>>>()?;
        let control = args.control.or(file.control);
        let control = parse_addr("--control", control.as_deref().unwrap_or("127.0.0.1:0"))
            .map_err(CliError::Invalid)?;
        check_loopback("--control", control)?;
        let token_file = args
            .token_file
            .or(file.token_file)
            .unwrap_or_else(|| default_token_file(&identity));
        let metrics = match args.metrics.or(file.metrics).as_deref() {
            Some("off") => None,
            Some(addr) => Some(parse_addr("--metrics", addr).map_err(CliError::Invalid)?),
            None => Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        };
        Ok(Self {
            identity,
            label,
            listen,
            peers,
            store,
            channels,
            joins,
            key_file: args.key_file.or(file.key_file),
            control,
            token_file,
            metrics,
        })
    }

    /// Checks the peers against this node's own id (known once its
    /// identity is loaded).
    pub(crate) fn check_peers(&self, me: &NodeId) -> CliResult<()> {
        match self.peers.iter().find(|peer| peer.id == *me) {
            Some(own) => Err(CliError::Invalid(format!(
                "--peer {} is this node's own id; list the other nodes",
                own.id
            ))),
            None => Ok(()),
        }
    }
}

/// Checks that `name` can name a channel (whoever owns it).
fn check_channel_name(name: &str) -> CliResult<()> {
    // The rules do not depend on the owner: any key checks them.
    ChannelId::derive(&NodeId::from_seed("channel-name-check"), name)
        .map(drop)
        .map_err(|error| CliError::Invalid(format!("invalid --channel {name:?}: {error}")))
}

/// Parses an invitation given as `what` (a flag, an argument), with an
/// actionable error.
pub(crate) fn parse_invitation(what: &str, text: &str) -> CliResult<Invitation> {
    text.parse().map_err(|error| {
        CliError::Invalid(format!(
            "{} (in {what}: expected the gossip-invite1… text that `gossip-node invite` printed)",
            crate::error::one_line(&error)
        ))
    })
}

/// Parses a node id given as `what`, with an actionable error.
pub(crate) fn parse_node_id(what: &str, text: &str) -> CliResult<NodeId> {
    NodeId::new(text.trim()).map_err(|error| {
        CliError::Invalid(format!(
            "invalid {what} {text:?}: {error} (`gossip-node id KEY_FILE` prints a node's id)"
        ))
    })
}

/// Parses a pre-shared key file's text: 64 hex characters (whitespace
/// around them ignored).
pub(crate) fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let hex = text.trim();
    if hex.len() != 64 {
        return Err(format!("found {} characters", hex.chars().count()));
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| "not hex".to_owned())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| format!("{pair:?} is not hex"))?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> NodeId {
        NodeId::from_seed(name)
    }

    /// The text of an invitation to `owner`'s channel `name`, from the owner.
    fn invitation(owner: &str, name: &str) -> String {
        let owner = id(owner);
        Invitation::new(
            ChannelId::derive(&owner, name).unwrap(),
            owner.clone(),
            owner,
            vec!["127.0.0.1:7101".into()],
        )
        .unwrap()
        .to_string()
    }

    fn args(identity: &str) -> RunArgs {
        RunArgs {
            identity: Some(identity.into()),
            ..RunArgs::default()
        }
    }

    #[test]
    fn defaults_fill_everything_but_the_identity() {
        let config = RunConfig::resolve(FileConfig::default(), args("a.key")).unwrap();
        assert_eq!(config.identity, PathBuf::from("a.key"));
        assert_eq!(config.label, None);
        assert_eq!(config.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(config.store, StoreSpec::Memory);
        assert!(
            config.channels.is_empty(),
            "a node owns no channel unless told"
        );
        assert!(config.joins.is_empty());
        assert!(config.peers.is_empty());
        assert_eq!(config.control.port(), 0);
        assert!(config.control.ip().is_loopback());
        assert_eq!(config.token_file, PathBuf::from("a.key.control-token"));
        assert!(config.metrics.is_some());
    }

    #[test]
    fn control_addresses_off_loopback_are_refused() {
        for control in ["127.0.0.1:7070", "127.1.2.3:0", "[::1]:7070"] {
            let config = RunConfig::resolve(
                FileConfig::default(),
                RunArgs {
                    control: Some(control.into()),
                    ..args("a.key")
                },
            )
            .unwrap();
            assert_eq!(config.control, control.parse().unwrap());
        }
        for control in [
            "0.0.0.0:7070",
            "[::]:7070",
            "192.168.1.20:7070",
            "10.0.0.1:0",
            "[::ffff:127.0.0.1]:7070",
        ] {
            let error = RunConfig::resolve(
                FileConfig::default(),
                RunArgs {
                    control: Some(control.into()),
                    ..args("a.key")
                },
            )
            .unwrap_err();
            assert!(
                matches!(error, CliError::ControlNotLoopback { .. }),
                "{control}: {error:?}"
            );
            assert!(
                error.to_string().contains("not a loopback address"),
                "{error}"
            );
        }
        // From the config file too.
        let file = FileConfig::parse(Path::new("n.toml"), "control = \"0.0.0.0:7070\"").unwrap();
        let error = RunConfig::resolve(file, args("a.key")).unwrap_err();
        assert!(
            matches!(error, CliError::ControlNotLoopback { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn missing_identity_is_explained() {
        let error = RunConfig::resolve(FileConfig::default(), RunArgs::default()).unwrap_err();
        assert!(error.to_string().contains("--identity"), "{error}");
        assert!(error.to_string().contains("keygen"), "{error}");
    }

    #[test]
    fn file_values_apply_and_flags_override_them() {
        let file = FileConfig::parse(
            Path::new("node.toml"),
            &format!(
                r#"
                identity = "from-file.key"
                label = "laptop"
                listen = "127.0.0.1:7100"
                peers = ["{}=127.0.0.1:7101", "{}"]
                store = "a.db"
                channels = ["x"]
                join = ["{}"]
                key_file = "net.key"
                token_file = "run/token"
                metrics = "off"
                "#,
                id("b"),
                id("c"),
                invitation("b", "shared"),
            ),
        )
        .unwrap();
        let config = RunConfig::resolve(
            file,
            RunArgs {
                identity: Some("from-flag.key".into()),
                channels: vec!["y".into(), "z".into()],
                ..RunArgs::default()
            },
        )
        .unwrap();
        assert_eq!(config.identity, PathBuf::from("from-flag.key"));
        assert_eq!(config.label.as_deref(), Some("laptop"));
        assert_eq!(config.listen.port(), 7100);
        assert_eq!(config.peers.len(), 2);
        assert_eq!(config.peers[0].id, id("b"));
        assert_eq!(
            config.peers[0].addr,
            Some("127.0.0.1:7101".parse().unwrap())
        );
        assert_eq!(config.peers[1].addr, None);
        assert_eq!(config.store, StoreSpec::Sqlite("a.db".into()));
        assert_eq!(config.channels, ["y", "z"]);
        assert_eq!(config.joins.len(), 1);
        assert_eq!(config.joins[0].owner(), &id("b"));
        assert_eq!(config.joins[0].channel().name(), "shared");
        assert_eq!(config.key_file, Some(PathBuf::from("net.key")));
        assert_eq!(config.token_file, PathBuf::from("run/token"));
        assert_eq!(config.metrics, None);
    }

    #[test]
    fn joins_from_flags_replace_the_files_and_bad_ones_are_explained() {
        let file = FileConfig {
            join: vec![invitation("b", "from-file")],
            ..FileConfig::default()
        };
        let config = RunConfig::resolve(
            file,
            RunArgs {
                joins: vec![invitation("c", "from-flag")],
                ..args("a.key")
            },
        )
        .unwrap();
        assert_eq!(config.joins.len(), 1);
        assert_eq!(config.joins[0].channel().name(), "from-flag");
        let error = RunConfig::resolve(
            FileConfig::default(),
            RunArgs {
                joins: vec!["gossip-invite1garbage".into()],
                ..args("a.key")
            },
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("invalid invitation"), "{error}");
        assert!(error.contains("--join"), "{error}");
    }

    #[test]
    fn bad_channel_names_and_node_ids_are_explained() {
        let error = RunConfig::resolve(
            FileConfig::default(),
            RunArgs {
                channels: vec![String::new()],
                ..args("a.key")
            },
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("--channel"), "{error}");
        assert!(parse_node_id("member", id("b").as_str()).is_ok());
        let error = parse_node_id("member", "bob").unwrap_err().to_string();
        assert!(error.contains("gossip-node id"), "{error}");
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let error = FileConfig::parse(Path::new("n.toml"), "id = \"a\"").unwrap_err();
        assert!(error.to_string().contains("n.toml"), "{error}");
        assert!(FileConfig::parse(Path::new("n.toml"), "identity = [").is_err());
    }

    #[test]
    fn peers_are_node_ids_with_or_without_address() {
        let peer = PeerSpec::parse(&format!("{}=127.0.0.1:7001", id("b"))).unwrap();
        assert_eq!(peer.id, id("b"));
        assert_eq!(peer.addr, Some("127.0.0.1:7001".parse().unwrap()));
        assert_eq!(PeerSpec::parse(id("c").as_str()).unwrap().addr, None);
        assert!(PeerSpec::parse(&format!("{}=nowhere", id("b"))).is_err());
        assert!(PeerSpec::parse("=127.0.0.1:1").is_err());
        let name = PeerSpec::parse("b=127.0.0.1:7001").unwrap_err();
        assert!(name.to_string().contains("gossip-node id"), "{name}");
    }

    #[test]
    fn own_id_as_peer_is_rejected() {
        let config = RunConfig::resolve(
            FileConfig::default(),
            RunArgs {
                peers: vec![format!("{}=127.0.0.1:1", id("a"))],
                ..args("a.key")
            },
        )
        .unwrap();
        let error = config.check_peers(&id("a")).unwrap_err();
        assert!(error.to_string().contains("own id"), "{error}");
        assert!(config.check_peers(&id("b")).is_ok());
    }

    #[test]
    fn bad_listen_and_empty_store_are_rejected() {
        let bad_listen = RunArgs {
            listen: Some("7000".into()),
            ..args("a.key")
        };
        assert!(RunConfig::resolve(FileConfig::default(), bad_listen).is_err());
        let empty_store = RunArgs {
            store: Some(" ".into()),
            ..args("a.key")
        };
        assert!(RunConfig::resolve(FileConfig::default(), empty_store).is_err());
    }

    #[test]
    fn keys_are_64_hex_characters() {
        let key = parse_key(&format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(key, [0xab; 32]);
        assert!(parse_key("abcd").is_err());
        assert!(parse_key(&"zz".repeat(32)).is_err());
        assert!(parse_key(&"é".repeat(32)).is_err());
    }
}
