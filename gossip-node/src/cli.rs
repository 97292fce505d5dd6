//! Command-line arguments (clap derive).

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use gossip::Role;

/// A gossip node on the command line.
///
/// Start with `gossip-node demo`: a few nodes on this machine let each other into a channel by
/// invitation, sync a stream over TCP and report how fast they converged. `gossip-node run` starts
/// one long-lived node; `invite`, `join`, `members`, `remove`, `append`, `tail` and `status` talk to
/// a running node through its control address.
#[derive(Debug, Parser)]
#[command(
    name = "gossip-node",
    version,
    about,
    long_about,
    arg_required_else_help = true
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start N local nodes (TCP on loopback): node-1 invites the others into its channel, they append
    /// entries and watch them converge.
    Demo(DemoArgs),
    /// Run one long-lived node (flags or a TOML config file).
    Run(RunArgs),
    /// Append an entry to a stream of a running node.
    Append(AppendArgs),
    /// Print a stream of a running node and follow it live.
    Tail(TailArgs),
    /// Show a running node's peers (SWIM state), channels (its role, member count), streams and lag.
    Status(StatusArgs),
    /// Add a node to a channel of a running node and print the invitation it joins with.
    Invite(InviteArgs),
    /// Make a running node join a channel with an invitation (printed by `invite` on a member).
    Join(JoinArgs),
    /// List the members of a channel of a running node, with their roles.
    Members(MembersArgs),
    /// Remove a member from a channel of a running node: what it writes from now on is refused.
    Remove(RemoveArgs),
    /// Create a new identity key file (readable by you only) and print its node id.
    Keygen(KeyFileArgs),
    /// Print the node id of an identity key file.
    Id(KeyFileArgs),
}

/// `gossip-node keygen` and `gossip-node id`.
#[derive(Debug, Args)]
pub(crate) struct KeyFileArgs {
    /// The identity key file.
    #[arg(value_name = "KEY_FILE")]
    pub(crate) path: PathBuf,
}

/// Which store the demo nodes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DemoStore {
    /// SQLite files in a temporary directory (removed at exit).
    Sqlite,
    /// In memory: nothing written to disk.
    Memory,
}

/// `gossip-node demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How many nodes to start (2 to 64).
    #[arg(long, short = 'n', default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=64))]
    pub(crate) nodes: u16,
    /// How many entries to append in total, spread over the nodes (1 to 1000000).
    #[arg(long, short = 'e', default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) entries: u32,
    /// Where the nodes keep their entries.
    #[arg(long, value_enum, default_value_t = DemoStore::Sqlite)]
    pub(crate) store: DemoStore,
    /// Payload size of each entry in bytes (1 to 32768).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=32_768))]
    pub(crate) payload_bytes: u32,
    /// Give up when the nodes have not converged after this many seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) timeout: u64,
}

/// `gossip-node run`.
#[derive(Debug, Args, Default)]
pub(crate) struct RunArgs {
    /// TOML config file; flags given on the command line override its values.
    #[arg(long, short = 'c')]
    pub(crate) config: Option<PathBuf>,
    /// This node's identity key file, made by `gossip-node keygen` (its node id is its key; a
    /// file others can read is refused).
    #[arg(long, value_name = "KEY_FILE")]
    pub(crate) identity: Option<PathBuf>,
    /// A name for this node, for people (logs, the start-up line); peers know it by its id.
    #[arg(long)]
    pub(crate) label: Option<String>,
    /// Gossip (TCP) listen address [default: 127.0.0.1:7000].
    #[arg(long)]
    pub(crate) listen: Option<String>,
    /// A peer, as NODE_ID=HOST:PORT, or just NODE_ID for a peer that connects to us (repeatable).
    #[arg(long = "peer", value_name = "NODE_ID[=ADDR]")]
    pub(crate) peers: Vec<String>,
    /// SQLite database file, or `memory` [default: memory].
    #[arg(long)]
    pub(crate) store: Option<String>,
    /// A channel this node owns, created at start if it does not exist (repeatable); its id is
    /// NAME~ and a digest of this node's key. Others join it when invited (`gossip-node invite`).
    #[arg(long = "channel", value_name = "NAME")]
    pub(crate) channels: Vec<String>,
    /// An invitation to join at start (repeatable; joining a channel held already changes
    /// nothing), as printed by `gossip-node invite` on a member of the channel.
    #[arg(long = "join", value_name = "INVITATION")]
    pub(crate) joins: Vec<String>,
    /// File with a 32-byte pre-shared key as 64 hex characters: frames are encrypted with it.
    #[arg(long)]
    pub(crate) key_file: Option<PathBuf>,
    /// Control endpoint for the client subcommands (append, tail, status, invite, join, members,
    /// remove), on loopback only [default: 127.0.0.1:0, printed at start].
    #[arg(long)]
    pub(crate) control: Option<String>,
    /// Where to write the control token the client subcommands must present (a new one at every
    /// start, mode 600) [default: KEY_FILE.control-token beside --identity, printed at start].
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// Prometheus endpoint (`/metrics`) [default: 127.0.0.1:0, printed at start]; `off` disables it.
    #[arg(long)]
    pub(crate) metrics: Option<String>,
}

/// Where a running node's control endpoint is.
#[derive(Debug, Args)]
pub(crate) struct ControlArgs {
    /// The control address `gossip-node run` printed at start.
    #[arg(long, env = "GOSSIP_CONTROL", value_name = "HOST:PORT")]
    pub(crate) control: String,
    /// The control token file `gossip-node run` printed at start (it must be readable by you only).
    #[arg(long, env = "GOSSIP_TOKEN_FILE", value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
}

/// `gossip-node append`.
#[derive(Debug, Args)]
pub(crate) struct AppendArgs {
    #[command(flatten)]
    pub(crate) control: ControlArgs,
    #[command(flatten)]
    pub(crate) channel: ChannelArg,
    /// The stream.
    #[arg(long, default_value = "events")]
    pub(crate) stream: String,
    /// The payload (UTF-8 text).
    pub(crate) message: String,
}

/// `gossip-node tail`.
#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    #[command(flatten)]
    pub(crate) control: ControlArgs,
    #[command(flatten)]
    pub(crate) channel: ChannelArg,
    /// The stream.
    #[arg(long, default_value = "events")]
    pub(crate) stream: String,
    /// Only new entries: skip what the stream already holds.
    #[arg(long)]
    pub(crate) new_only: bool,
    /// Print entries as JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `gossip-node status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) control: ControlArgs,
    /// Print the status as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Which channel of a running node a client means.
#[derive(Debug, Args)]
pub(crate) struct ChannelArg {
    /// The channel: its name (`main`), when the node holds one channel of that name, or its full
    /// id (`main~…`, as `status` shows it).
    #[arg(long = "channel", default_value = "main", value_name = "CHANNEL")]
    pub(crate) channel: String,
}

/// The role a member is given, as `invite --role` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MemberRole {
    /// Receives the channel's streams; appends nothing.
    Reader,
    /// Appends to the channel's streams.
    Writer,
    /// Appends, and manages members (below the owner) and stream settings.
    Admin,
}

impl From<MemberRole> for Role {
    fn from(role: MemberRole) -> Self {
        match role {
            MemberRole::Reader => Role::Reader,
            MemberRole::Writer => Role::Writer,
            MemberRole::Admin => Role::Admin,
        }
    }
}

/// `gossip-node invite`.
#[derive(Debug, Args)]
pub(crate) struct InviteArgs {
    #[command(flatten)]
    pub(crate) control: ControlArgs,
    #[command(flatten)]
    pub(crate) channel: ChannelArg,
    /// The role the new member gets.
    #[arg(long, value_enum, default_value_t = MemberRole::Writer)]
    pub(crate) role: MemberRole,
    /// Where the invited node reaches this one, put in the invitation instead of the node's gossip
    /// listen address (repeatable; needed when the node listens on 0.0.0.0).
    #[arg(long = "address", value_name = "HOST:PORT")]
    pub(crate) addresses: Vec<String>,
    /// The node to invite, as `gossip-node id KEY_FILE` prints it on that node.
    #[arg(value_name = "NODE_ID")]
    pub(crate) member: String,
}

/// `gossip-node join`.
#[derive(Debug, Args)]
pub(crate) struct JoinArgs {
    #[command(flatten)]
    pub(crate) control: ControlArgs,
    /// The invitation (`gossip-invite1…`), as `gossip-node invite` printed it.
    #[arg(value_name = "INVITATION")]
    pub(crate) invitation: String,
}

/// `gossip-node members`.
#[derive(Debug, Args)]
pub(crate) struct MembersArgs {
    #[command(flatten)]
    pub(crate) control: ControlArgs,
    #[command(flatten)]
    pub(crate) channel: ChannelArg,
    /// Print the members as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `gossip-node remove`.
#[derive(Debug, Args)]
pub(crate) struct RemoveArgs {
    #[command(flatten)]
    pub(crate) control: ControlArgs,
    #[command(flatten)]
    pub(crate) channel: ChannelArg,
    /// The member to remove.
    #[arg(value_name = "NODE_ID")]
    pub(crate) member: String,
}

/// A socket address from a flag, with an actionable error.
pub(crate) fn parse_addr(flag: &str, value: &str) -> Result<SocketAddr, String> {
    value.trim().parse().map_err(|_| {
        format!(
            "invalid {flag} {value:?}: expected HOST:PORT with an IP address, e.g. 127.0.0.1:7000"
        )
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn demo_defaults() {
        let cli = Cli::try_parse_from(["gossip-node", "demo"]).unwrap();
        let Command::Demo(demo) = cli.command else {
            panic!("not demo")
        };
        assert_eq!(demo.nodes, 3);
        assert_eq!(demo.store, DemoStore::Sqlite);
    }

    #[test]
    fn demo_flags() {
        let cli = Cli::try_parse_from([
            "gossip-node",
            "demo",
            "--nodes",
            "5",
            "--entries",
            "10",
            "--store",
            "memory",
        ])
        .unwrap();
        let Command::Demo(demo) = cli.command else {
            panic!("not demo")
        };
        assert_eq!(
            (demo.nodes, demo.entries, demo.store),
            (5, 10, DemoStore::Memory)
        );
    }

    #[test]
    fn demo_rejects_out_of_range_counts() {
        assert!(Cli::try_parse_from(["gossip-node", "demo", "--nodes", "1"]).is_err());
        assert!(Cli::try_parse_from(["gossip-node", "demo", "--entries", "0"]).is_err());
        assert!(Cli::try_parse_from(["gossip-node", "demo", "--nodes", "many"]).is_err());
    }

    #[test]
    fn run_collects_repeated_flags() {
        let cli = Cli::try_parse_from([
            "gossip-node",
            "run",
            "--identity",
            "a.key",
            "--peer",
            "b=127.0.0.1:1",
            "--peer",
            "c",
            "--channel",
            "x",
            "--channel",
            "y",
            "--join",
            "gossip-invite1a",
            "--join",
            "gossip-invite1b",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.peers, ["b=127.0.0.1:1", "c"]);
        assert_eq!(run.channels, ["x", "y"]);
        assert_eq!(run.joins, ["gossip-invite1a", "gossip-invite1b"]);
    }

    #[test]
    fn clients_need_a_control_address() {
        // Unless GOSSIP_CONTROL is set in the environment running the tests.
        if std::env::var_os("GOSSIP_CONTROL").is_none() {
            assert!(Cli::try_parse_from(["gossip-node", "status"]).is_err());
        }
        let cli =
            Cli::try_parse_from(["gossip-node", "append", "--control", "127.0.0.1:9", "hello"])
                .unwrap();
        let Command::Append(append) = cli.command else {
            panic!("not append")
        };
        assert_eq!(append.message, "hello");
        assert_eq!(append.channel.channel, "main");
        let cli = Cli::try_parse_from([
            "gossip-node",
            "status",
            "--control",
            "127.0.0.1:9",
            "--token-file",
            "a.key.control-token",
        ])
        .unwrap();
        let Command::Status(status) = cli.command else {
            panic!("not status")
        };
        assert_eq!(
            status.control.token_file,
            Some(PathBuf::from("a.key.control-token"))
        );
        let cli = Cli::try_parse_from([
            "gossip-node",
            "run",
            "--identity",
            "a.key",
            "--token-file",
            "t",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Run(run) if run.token_file == Some("t".into())));
    }

    #[test]
    fn membership_subcommands_parse() {
        let cli = Cli::try_parse_from([
            "gossip-node",
            "invite",
            "--control",
            "127.0.0.1:9",
            "--role",
            "reader",
            "--address",
            "10.0.0.1:7000",
            "node1x",
        ])
        .unwrap();
        let Command::Invite(invite) = cli.command else {
            panic!("not invite")
        };
        assert_eq!(
            (
                invite.channel.channel.as_str(),
                invite.role,
                invite.member.as_str()
            ),
            ("main", MemberRole::Reader, "node1x")
        );
        assert_eq!(invite.addresses, ["10.0.0.1:7000"]);
        assert_eq!(Role::from(invite.role), Role::Reader);
        let cli = Cli::try_parse_from([
            "gossip-node",
            "invite",
            "--control",
            "127.0.0.1:9",
            "node1x",
        ])
        .unwrap();
        let Command::Invite(invite) = cli.command else {
            panic!("not invite")
        };
        assert_eq!(invite.role, MemberRole::Writer);
        assert!(Cli::try_parse_from([
            "gossip-node",
            "invite",
            "--control",
            "127.0.0.1:9",
            "--role",
            "owner",
            "node1x"
        ])
        .is_err());
        let cli = Cli::try_parse_from([
            "gossip-node",
            "members",
            "--control",
            "127.0.0.1:9",
            "--channel",
            "x",
            "--json",
        ])
        .unwrap();
        let Command::Members(members) = cli.command else {
            panic!("not members")
        };
        assert!(members.json && members.channel.channel == "x");
        let cli = Cli::try_parse_from(["gossip-node", "join", "--control", "127.0.0.1:9", "inv"])
            .unwrap();
        assert!(matches!(cli.command, Command::Join(join) if join.invitation == "inv"));
        let cli = Cli::try_parse_from(["gossip-node", "remove", "--control", "127.0.0.1:9", "n"])
            .unwrap();
        assert!(matches!(cli.command, Command::Remove(remove) if remove.member == "n"));
    }

    #[test]
    fn addresses_parse_or_explain() {
        assert!(parse_addr("--listen", "127.0.0.1:0").is_ok());
        let error = parse_addr("--listen", "localhost").unwrap_err();
        assert!(error.contains("HOST:PORT"), "{error}");
    }
}
