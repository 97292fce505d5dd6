#![doc = include_str!("../README.md")]

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod client;
mod config;
mod control;
mod demo;
mod error;
mod keys;
mod metrics_http;
mod node;
mod owner_only;
mod run;

use cli::{Cli, Command};
use error::{one_line, CliResult};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return clap_exit(&error),
    };
    init_logging(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> CliResult<()> {
    match command {
        Command::Demo(args) => demo::demo(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Append(args) => client::append(args).await,
        Command::Tail(args) => client::tail(args).await,
        Command::Status(args) => client::status(args).await,
        Command::Invite(args) => client::invite(args).await,
        Command::Join(args) => client::join(args).await,
        Command::Members(args) => client::members(args).await,
        Command::Remove(args) => client::remove(args).await,
        Command::Keygen(args) => keys::keygen(&args),
        Command::Id(args) => keys::id(&args),
    }
}

/// `--help` and `--version` print and exit 0; a usage error prints one line
/// to stderr and exits 2.
fn clap_exit(error: &clap::Error) -> ExitCode {
    if !error.use_stderr() {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    if error.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = error.print();
        return ExitCode::from(2);
    }
    let rendered = error.to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!("error: {first} (see `gossip-node --help`)");
    ExitCode::from(2)
}

/// Structured logs on stderr, filtered by `RUST_LOG` (default: `info` for
/// `run`, `warn` otherwise so the demo's output stays readable).
fn init_logging(command: &Command) {
    use tracing_subscriber::EnvFilter;
    let default = match command {
        Command::Run(_) => "info",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
