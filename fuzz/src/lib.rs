//! The fuzz targets' harnesses, shared by the targets in `fuzz_targets/`, the
//! seed-corpus generator (`examples/seeds.rs`) and this crate's tests (which
//! replay the checked-in corpus). See CONTRIBUTING.md, "Fuzzing".
//!
//! Every harness takes the fuzzer's bytes and panics only when an invariant
//! of the code under test is broken (a panic of the code itself is a finding
//! too). Structured inputs are read with [`input::Input`], forward only, so
//! that [`input::Seed`] can write seeds the harness reads back exactly.

pub mod frame_decode;
pub mod handshake;
pub mod input;
pub mod merge;
pub mod middleware;
pub mod rt;
pub mod seeds;
pub mod tcp_frame_reader;

/// The targets, by name, with their harness.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("frame_decode", frame_decode::run),
    ("tcp_handshake", handshake::run),
    ("tcp_frame_reader", tcp_frame_reader::run),
    ("middleware_decode", middleware::run),
    ("merge", merge::run),
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The checked-in corpus replays without a failure, and is what the
    /// generator writes (so it stays reproducible).
    #[test]
    fn the_checked_in_corpus_replays_cleanly() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let mut replayed = 0;
        for (name, run) in super::TARGETS {
            let dir = root.join(name);
            let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
            for entry in entries {
                let data = std::fs::read(entry.unwrap().path()).unwrap();
                run(&data);
                replayed += 1;
            }
        }
        assert!(replayed >= super::TARGETS.len(), "empty corpus");
    }

    #[test]
    fn generated_seeds_replay_cleanly() {
        for (target, seeds) in super::seeds::all() {
            let run = super::TARGETS
                .iter()
                .find(|(name, _)| *name == target)
                .map(|(_, run)| run)
                .unwrap();
            assert!(!seeds.is_empty(), "{target}: no seeds");
            for (_, data) in seeds {
                run(&data);
            }
        }
    }

    /// The checked-in seeds are what the generator writes today: a change
    /// of the wire format (a protocol version bump, a new message kind)
    /// must regenerate them (`cargo run --example seeds`), or the fuzzers
    /// would start from frames the decoder refuses at once.
    #[test]
    fn the_checked_in_seeds_are_what_the_generator_writes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        for (target, seeds) in super::seeds::all() {
            for (name, data) in seeds {
                if name.contains("random") {
                    continue;
                }
                let path = root.join(target).join(format!("seed-{name}"));
                let held = std::fs::read(&path).unwrap_or_else(|e| {
                    panic!("{path:?}: {e}; run `cargo run --example seeds` in fuzz/")
                });
                assert!(
                    held == data,
                    "{path:?} is stale; run `cargo run --example seeds` in fuzz/"
                );
            }
        }
    }
}
