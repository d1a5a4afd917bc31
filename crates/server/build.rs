//! Copies the built web UI (web/dist) into OUT_DIR for embedding; without a build, a page that
//! says how to build it is embedded instead, so the server always compiles.

use std::path::Path;

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn main() {
    let out = std::env::var("OUT_DIR").map(std::path::PathBuf::from).unwrap_or_default().join("web");
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed={}", dist.join("index.html").display());
    let _ = std::fs::remove_dir_all(&out);
    if dist.join("index.html").exists() {
        if let Err(e) = copy_dir(&dist, &out) {
            panic!("cannot copy web/dist: {e}");
        }
    } else {
        std::fs::create_dir_all(&out).ok();
        std::fs::write(
            out.join("index.html"),
            "<!doctype html><meta charset=utf-8><title>Huanxin</title><p>界面尚未构建 / The web UI is not built: run <code>scripts/build-web</code>, then rebuild.</p>",
        )
        .ok();
    }
}
