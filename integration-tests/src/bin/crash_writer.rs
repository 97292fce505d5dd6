//! `crash-writer`: the child process of the crash tests (`tests/crash_*.rs`).
//!
//! ```text
//! crash-writer <sqlite|rocksdb> <path> <batch-size> <seed>
//! ```
//!
//! Opens the store at `path`, resumes after the highest sequence its author
//! holds, and appends batches of `batch-size` entries (see the `workload`
//! module: every entry is a function of its sequence) directly through the
//! [`Store`](gossip_core::Store) trait, one atomic `append` per batch. After
//! each acknowledged batch it prints `ACK <last sequence>` and flushes, so a
//! line the parent has read is a promise that the batch is durable. It loops
//! until killed, or until stdout is closed (the parent is gone).
//!
//! `seed` varies the pause after each acknowledgement (none, a yield, or a
//! sleep of up to 300 µs) so that kills land at many points of the
//! append/print cycle. Errors are reported on stderr with a non-zero exit.

use std::{
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use gossip_core::{raw::SeededRng, Store};

#[path = "crash_writer/workload.rs"]
mod workload;

use workload::StoreKind;

/// The command line.
#[derive(Debug)]
struct Args {
    kind: StoreKind,
    path: PathBuf,
    batch: u64,
    seed: u64,
}

impl Args {
    /// Parses `<kind> <path> <batch-size> <seed>`.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let usage = "usage: crash-writer <sqlite|rocksdb> <path> <batch-size> <seed>";
        let (Some(kind), Some(path), Some(batch), Some(seed), None) = (
            args.next(),
            args.next(),
            args.next(),
            args.next(),
            args.next(),
        ) else {
            return Err(usage.into());
        };
        let kind = StoreKind::parse(&kind)
            .ok_or_else(|| format!("unknown or not compiled-in store kind {kind:?}; {usage}"))?;
        let batch = batch
            .parse()
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| format!("batch size must be a positive integer; {usage}"))?;
        let seed = seed
            .parse()
            .map_err(|_| format!("seed must be an integer; {usage}"))?;
        Ok(Self {
            kind,
            path: path.into(),
            batch,
            seed,
        })
    }
}

fn main() -> ExitCode {
    let result = Args::parse(std::env::args().skip(1)).and_then(|args| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build the runtime: {e}"))?
            .block_on(write_until_killed(args))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crash-writer: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Appends and acknowledges batches until killed; returns `Ok` only when the
/// parent closed stdout.
async fn write_until_killed(args: Args) -> Result<(), String> {
    let Args {
        kind,
        path,
        batch,
        seed,
    } = args;
    let store = kind
        .open(&path)
        .await
        .map_err(|e| format!("cannot open the {kind} store at {}: {e}", path.display()))?;
    let (channel, stream) = (workload::channel(), workload::stream());

    let saved = store.load_channels().await.map_err(|e| e.to_string())?;
    if !saved.iter().any(|c| c.id() == &channel) {
        store
            .save_channel(&workload::channel_record())
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut last = workload::held(&*store).await.map_err(|e| e.to_string())?;
    if last % batch != 0 {
        return Err(format!(
            "found {last} entries on start, not a multiple of the batch size {batch}: a torn batch"
        ));
    }

    let mut rng = SeededRng::new(seed);
    // `writeln!` on a locked stdout rather than `println!` (which the
    // workspace's `clippy::print_stdout` lint rejects): each line is flushed
    // at once, and a closed pipe is an error we can act on, not a panic.
    let mut out = io::stdout().lock();
    loop {
        let entries = workload::batch(last, batch);
        store
            .append(&channel, &stream, &entries)
            .await
            .map_err(|e| format!("append after {last}: {e}"))?;
        last += batch;
        if writeln!(out, "ACK {last}")
            .and_then(|()| out.flush())
            .is_err()
        {
            // The parent is gone: nobody can be told, and nobody will kill us.
            return Ok(());
        }
        match rng.below(3) {
            0 => {}
            1 => tokio::task::yield_now().await,
            _ => tokio::time::sleep(Duration::from_micros(rng.below(300))).await,
        }
    }
}
