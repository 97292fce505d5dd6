//! Command-line arguments (clap derive).

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A gossip node on the command line.
///
/// Start with `gossip-node demo`: a few nodes on this machine sync a stream over TCP and report how
/// fast they converged. `gossip-node run` starts one long-lived node; `append`, `tail` and `status`
/// talk to a running node through its control address.
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
    /// Start N local nodes (TCP on loopback), append entries and watch them converge.
    Demo(DemoArgs),
    /// Run one long-lived node (flags or a TOML config file).
    Run(RunArgs),
    /// Append an entry to a stream of a running node.
    Append(AppendArgs),
    /// Print a stream of a running node and follow it live.
    Tail(TailArgs),
    /// Show a running node's peers (SWIM state), channels, streams and lag.
    Status(StatusArgs),
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
    /// A channel to join (repeatable) [default: main].
    #[arg(long = "channel", value_name = "NAME")]
    pub(crate) channels: Vec<String>,
    /// File with a 32-byte pre-shared key as 64 hex characters: frames are encrypted with it.
    #[arg(long)]
    pub(crate) key_file: Option<PathBuf>,
    /// Control endpoint for append/tail/status [default: 127.0.0.1:0, printed at start].
    #[arg(long)]
    pub(crate) control: Option<String>,
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
}

/// `gossip-node append`.
#[derive(Debug, Args)]
pub(crate) struct AppendArgs {
    #[command(flatten)]
    pub(crate) control: ControlArgs,
    /// The channel.
    #[arg(long, default_value = "main")]
    pub(crate) channel: String,
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
    /// The channel.
    #[arg(long, default_value = "main")]
    pub(crate) channel: String,
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
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.peers, ["b=127.0.0.1:1", "c"]);
        assert_eq!(run.channels, ["x", "y"]);
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
        assert_eq!(append.channel, "main");
    }

    #[test]
    fn addresses_parse_or_explain() {
        assert!(parse_addr("--listen", "127.0.0.1:0").is_ok());
        let error = parse_addr("--listen", "localhost").unwrap_err();
        assert!(error.contains("HOST:PORT"), "{error}");
    }
}
