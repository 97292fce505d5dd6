//! `soak`: the soak run of issue 17 (see [`integration_tests::soak`]):
//! eight honest nodes over TCP on loopback append for `--seconds` while one
//! attacking member cycles through every attack.
//!
//! ```text
//! soak [--seconds N] [--out FILE.md]
//! ```
//!
//! Prints a markdown report to stderr, writes it to `--out` if given, and
//! exits non-zero when an acknowledged entry was lost, the honest nodes did
//! not converge or stopped, or an attack was not counted.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use integration_tests::soak::{self, BoxError, SoakOptions};

/// The command line: the run's length and where to write the report.
struct Args {
    seconds: u64,
    out: Option<PathBuf>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, BoxError> {
    let mut parsed = Args {
        seconds: 600,
        out: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                parsed.seconds = args.next().ok_or("--seconds needs a value")?.parse()?;
            }
            "--out" => parsed.out = Some(args.next().ok_or("--out needs a file")?.into()),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: soak [--seconds N] [--out FILE.md]"
                )
                .into())
            }
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("soak: {error}");
            ExitCode::from(2)
        }
    }
}

/// Runs the soak; `Ok(false)` when the run broke its claims.
fn run() -> Result<bool, BoxError> {
    let args = parse(std::env::args().skip(1))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let options = SoakOptions::default().duration(Duration::from_secs(args.seconds));
    let report = runtime.block_on(soak::run(options))?;
    let markdown = report.to_markdown();
    eprintln!("{markdown}");
    if let Some(out) = &args.out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(out, &markdown)?;
    }
    Ok(report.passed())
}
