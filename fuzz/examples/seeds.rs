//! Writes the seed corpus: `cargo run --example seeds` (from `fuzz/`) replaces
//! the files it generates in `corpus/<target>/` (other files stay);
//! regenerating an unchanged corpus changes no file.

fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, seeds) in gossip_fuzz::seeds::all() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, data) in seeds {
            let path = dir.join(format!("seed-{name}"));
            // A seed made with fresh randomness is kept once written, so
            // that regenerating the corpus changes nothing.
            if name.contains("random") && path.exists() {
                continue;
            }
            std::fs::write(path, data)?;
        }
    }
    Ok(())
}
