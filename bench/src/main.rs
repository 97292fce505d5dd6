#![doc = include_str!("../README.md")]
#![allow(clippy::print_stdout)] // a benchmark: printing its tables is its job

mod chart;
mod cluster;
mod counting;
mod raw;
mod scenarios;
mod stats;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use cluster::{name, Res, Stack, StoreKind, TransportKind};

/// A scenario of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Append→present-on-all latency, eager push on and off.
    Latency,
    /// Sustained replication rate and lag.
    Throughput,
    /// A fresh node catching up with a peer.
    Catchup,
    /// Bytes per entry, in-sync digest bytes, idle traffic.
    Overhead,
    /// Resident memory with many entries per store.
    Memory,
    /// Frame round trip, throughput and set-up per transport.
    Transport,
    /// Bare AEAD / compression primitives and raw store inserts.
    Baselines,
}

/// The macro benchmark of gossip.
#[derive(Debug, Parser)]
#[command(name = "gossip-bench", version, about)]
struct Args {
    /// Small sizes: finishes in seconds, even in a debug build (CI).
    #[arg(long)]
    quick: bool,
    /// Scenarios to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    scenarios: Vec<Scenario>,
    /// Transports (default: memory, tcp, and libp2p when built with it).
    #[arg(long, value_enum, value_delimiter = ',')]
    transports: Vec<TransportKind>,
    /// Stores (default: memory, sqlite, and rocksdb when built with it).
    #[arg(long, value_enum, value_delimiter = ',')]
    stores: Vec<StoreKind>,
    /// Middleware stacks for the latency scenario (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    stacks: Vec<Stack>,
    /// Cluster sizes for the latency and throughput scenarios (default 8).
    #[arg(long, value_delimiter = ',')]
    nodes: Vec<usize>,
    /// Frame loss probability on every link (memory transport only).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Delay of every frame on every link, in ms: `MIN,MAX` (uniform) or
    /// one value (memory transport only; default none, `1,3` with
    /// `--simulated`).
    #[arg(long, value_delimiter = ',', num_args = 1..=2)]
    link_delay_ms: Vec<u64>,
    /// Run the latency scenario on simulated time: one thread, tokio's
    /// paused clock, the memory transport and store. Work takes no
    /// simulated time, so latency is what the protocol's hops and timers
    /// cost over the links' delay, free of the machine's load and of N
    /// nodes sharing its cores.
    #[arg(long)]
    simulated: bool,
    /// Appends per second of the latency scenario's writer.
    #[arg(long)]
    rate: Option<u32>,
    /// Entries per latency configuration.
    #[arg(long)]
    entries: Option<u64>,
    /// Catch-up sizes in entries (default 100 000; 2 000 in quick mode).
    #[arg(long, value_delimiter = ',')]
    catchup_entries: Vec<u64>,
    /// Entries for the memory scenario (default 1 000 000; 20 000 quick).
    #[arg(long)]
    memory_entries: Option<u64>,
    /// Where JSON, Markdown tables and SVG charts go.
    #[arg(long, default_value = "target/gossip-bench")]
    out: PathBuf,
    /// Internal: measure one store's memory in this process and print JSON.
    #[arg(long, hide = true)]
    memory_child: Option<StoreKind>,
}

/// What every scenario is given.
#[derive(Debug)]
pub(crate) struct Ctx {
    quick: bool,
    transports: Vec<TransportKind>,
    stores: Vec<StoreKind>,
    stacks: Vec<Stack>,
    nodes: Vec<usize>,
    loss: f64,
    /// Shortest and longest delay of a frame on every link.
    link_delay: Option<(std::time::Duration, std::time::Duration)>,
    /// Whether time is simulated (tokio's paused clock).
    simulated: bool,
    rate: u32,
    entries: u64,
    catchup_entries: Vec<u64>,
    memory_entries: u64,
    out: PathBuf,
}

impl Ctx {
    /// A description of the run, stored with every JSON file.
    pub(crate) fn meta(&self) -> serde_json::Value {
        serde_json::json!({
            "quick": self.quick,
            "debug_build": cfg!(debug_assertions),
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "transports": self.transports,
            "stores": self.stores,
            "stacks": self.stacks,
            "nodes": self.nodes,
            "loss": self.loss,
            "link_delay_ms": self.link_delay.map(|(min, max)| [min.as_millis(), max.as_millis()]),
            "simulated_time": self.simulated,
            "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
            "unix_time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        })
    }
}

fn default_transports() -> Vec<TransportKind> {
    let mut out = vec![TransportKind::Memory, TransportKind::Tcp];
    if cfg!(feature = "libp2p") {
        out.push(TransportKind::Libp2p);
    }
    out
}

fn default_stores() -> Vec<StoreKind> {
    let mut out = vec![StoreKind::Memory, StoreKind::Sqlite];
    if cfg!(feature = "rocksdb") {
        out.push(StoreKind::Rocksdb);
    }
    out
}

fn or<T>(values: Vec<T>, default: impl FnOnce() -> Vec<T>) -> Vec<T> {
    if values.is_empty() {
        default()
    } else {
        values
    }
}

fn main() -> Res<()> {
    let args = Args::parse();
    let runtime = if args.simulated {
        // Paused time advances only when every task waits: a current-thread
        // runtime, whose one thread is the only one that can run work.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    };
    runtime.block_on(run(args))
}

/// The simulated run's choices, checked: the latency scenario on the memory
/// transport and store (anything that waits on a thread or a socket would
/// let the paused clock jump meanwhile).
fn check_simulated(args: &mut Args) -> Res<()> {
    let memory_only = |t: &[TransportKind], s: &[StoreKind]| {
        t.iter().all(|t| *t == TransportKind::Memory) && s.iter().all(|s| *s == StoreKind::Memory)
    };
    if args.scenarios.iter().any(|s| *s != Scenario::Latency)
        || !memory_only(&args.transports, &args.stores)
    {
        return Err(
            "--simulated runs the latency scenario on the memory transport and store only".into(),
        );
    }
    args.scenarios = vec![Scenario::Latency];
    args.transports = vec![TransportKind::Memory];
    args.stores = vec![StoreKind::Memory];
    if args.stacks.is_empty() {
        args.stacks = vec![Stack::Plain];
    }
    if args.link_delay_ms.is_empty() {
        args.link_delay_ms = vec![1, 3];
    }
    Ok(())
}

async fn run(mut args: Args) -> Res<()> {
    if args.simulated {
        check_simulated(&mut args)?;
    }
    if let Some(store) = args.memory_child {
        let entries = args
            .memory_entries
            .unwrap_or(if args.quick { 20_000 } else { 1_000_000 });
        return scenarios::memory::child(store, entries).await;
    }
    let quick = args.quick;
    let ctx = Ctx {
        quick,
        transports: or(args.transports, default_transports),
        stores: or(args.stores, default_stores),
        stacks: or(args.stacks, || {
            vec![Stack::Plain, Stack::Compressed, Stack::Encrypted]
        }),
        nodes: or(args.nodes, || vec![if quick { 4 } else { 8 }]),
        loss: args.loss.clamp(0.0, 1.0),
        link_delay: match args.link_delay_ms[..] {
            [] => None,
            [ms] => Some((ms, ms)),
            [min, max, ..] => Some((min, max.max(min))),
        }
        .map(|(min, max)| {
            (
                std::time::Duration::from_millis(min),
                std::time::Duration::from_millis(max),
            )
        }),
        simulated: args.simulated,
        rate: args.rate.unwrap_or(if quick { 200 } else { 100 }).max(1),
        entries: args.entries.unwrap_or(if quick { 30 } else { 300 }).max(1),
        catchup_entries: or(args.catchup_entries, || {
            vec![if quick { 2_000 } else { 100_000 }]
        }),
        memory_entries: args
            .memory_entries
            .unwrap_or(if quick { 20_000 } else { 1_000_000 }),
        out: args.out,
    };
    std::fs::create_dir_all(&ctx.out)?;
    let all = [
        Scenario::Baselines,
        Scenario::Transport,
        Scenario::Latency,
        Scenario::Throughput,
        Scenario::Catchup,
        Scenario::Overhead,
        Scenario::Memory,
    ];
    let chosen = or(args.scenarios, || all.to_vec());
    println!(
        "# gossip-bench ({} mode, {} build) → {}\n",
        if quick { "quick" } else { "full" },
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        ctx.out.display()
    );
    let mut failed = Vec::new();
    for scenario in all.into_iter().filter(|s| chosen.contains(s)) {
        let started = std::time::Instant::now();
        let result = match scenario {
            Scenario::Baselines => scenarios::baselines::run(&ctx).await,
            Scenario::Transport => scenarios::transport::run(&ctx).await,
            Scenario::Latency => scenarios::latency::run(&ctx).await,
            Scenario::Throughput => scenarios::throughput::run(&ctx).await,
            Scenario::Catchup => scenarios::catchup::run(&ctx).await,
            Scenario::Overhead => scenarios::overhead::run(&ctx).await,
            Scenario::Memory => scenarios::memory::run(&ctx).await,
        };
        if let Err(error) = result {
            eprintln!("scenario {} failed: {error}", name(&scenario));
            failed.push(name(&scenario));
        }
        println!(
            "({} took {:.1} s)\n",
            name(&scenario),
            started.elapsed().as_secs_f64()
        );
    }
    if !failed.is_empty() {
        return Err(format!("failed scenarios: {}", failed.join(", ")).into());
    }
    Ok(())
}
