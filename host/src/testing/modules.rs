//! Where compiled modules are: an extension's shipped `plugin.wasm`, or a workspace crate's cargo artifact.

use std::path::PathBuf;

use anyhow::bail;

/// The cargo target directory: `CARGO_TARGET_DIR` (relative paths taken from the workspace root), else
/// `<workspace>/target`. (A `build.target-dir` in `.cargo/config.toml` is not read.)
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// `target/extensions/<name>/plugin.wasm`, the module `cargo xtask build` checks and ships.
pub fn extension_module(name: &str) -> anyhow::Result<PathBuf> {
    let path = target_dir()
        .join("extensions")
        .join(name)
        .join("plugin.wasm");
    if !path.is_file() {
        bail!(
            "the module of extension `{name}` is missing ({}): run `cargo xtask build -p {name}` first",
            path.display()
        );
    }
    Ok(path)
}

/// `target/wasm32-unknown-unknown/release/<crate>.wasm`, a cdylib of the workspace (e.g. a conformance guest
/// under `host/guests/`); dashes in the crate name become underscores, as cargo names the file.
pub fn guest_module(crate_name: &str) -> anyhow::Result<PathBuf> {
    let file = format!("{}.wasm", crate_name.replace('-', "_"));
    let path = target_dir()
        .join("wasm32-unknown-unknown")
        .join("release")
        .join(file);
    if !path.is_file() {
        bail!(
            "the module of `{crate_name}` is missing ({}): run `cargo xtask test` (it builds every cdylib for \
             wasm32-unknown-unknown first), or `cargo build --release --target wasm32-unknown-unknown -p {crate_name}`",
            path.display()
        );
    }
    Ok(path)
}

/// This crate lives in `<workspace>/host`.
fn workspace_root() -> PathBuf {
    let host = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    host.parent().map(PathBuf::from).unwrap_or(host)
}
