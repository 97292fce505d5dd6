//! Writes the seed corpus: `cargo run --bin seeds` (from `fuzz/`) replaces
//! the files it generates in `corpus/<target>/` (other files stay).

fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, seeds) in gossip_fuzz::seeds::all() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, data) in seeds {
            std::fs::write(dir.join(format!("seed-{name}")), data)?;
        }
    }
    Ok(())
}
