//! Replays inputs through a target's harness, outside libFuzzer:
//! `cargo run --example replay -- <target> <file>...` (a panic is the finding).

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("usage: replay <target> <file>...");
    let run = gossip_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, run)| *run)
        .unwrap_or_else(|| panic!("unknown target {target}"));
    for file in args {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        run(&data);
        eprintln!("{file}: ok");
    }
}
