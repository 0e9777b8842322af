//! Where compiled modules are: an extension's shipped `plugin.wasm`, or a workspace crate's cargo artifact; and
//! the guarantee that a test runs the module of the sources as they are now.
//!
//! The first time a test process asks for a module, it is built from the current sources with
//! `cargo xtask build -p NAME`: the very command that makes the shipped module, so the bytes a test runs are the
//! bytes `cargo xtask build` / `cargo xtask test` would ship or run (same RUSTFLAGS, path remapping, features,
//! module check). When nothing changed cargo's fingerprints make it a no-op; cargo
//! releases its build lock before it runs test binaries, so the nested build does not wait on the `cargo test`
//! that started it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use anyhow::bail;

/// The cargo target directory as cargo resolves it (`CARGO_TARGET_DIR`, `build.target-dir`, else
/// `<workspace>/target`), asked of cargo once per process; `<workspace>/target` when cargo cannot answer (a runner
/// binary used without its toolchain).
pub fn target_dir() -> PathBuf {
    static TARGET_DIR: OnceLock<PathBuf> = OnceLock::new();
    TARGET_DIR
        .get_or_init(|| {
            let root = workspace_root();
            workspace_layout::target_dir(&root).unwrap_or_else(|_| root.join("target"))
        })
        .clone()
}

/// `target/extensions/<name>/plugin.wasm`, the module `cargo xtask build` checks and ships, built first from the
/// current sources (once per test process).
pub fn extension_module(name: &str) -> anyhow::Result<PathBuf> {
    build_once(name)?;
    let path = workspace_layout::extension_module(&target_dir(), name);
    if !path.is_file() {
        bail!(
            "`cargo xtask build -p {name}` succeeded but left no module at {}",
            path.display()
        );
    }
    Ok(path)
}

/// `target/wasm32-unknown-unknown/release/<crate>.wasm`, a cdylib of the workspace (e.g. a conformance guest
/// under `host/guests/`), built first from the current sources (once per test process); dashes in the crate
/// name become underscores, as cargo names the file.
pub fn guest_module(crate_name: &str) -> anyhow::Result<PathBuf> {
    build_once(crate_name)?;
    let path = workspace_layout::cargo_artifact(&target_dir(), crate_name);
    if !path.is_file() {
        bail!(
            "`cargo xtask build -p {crate_name}` succeeded but left no module at {} (is `crate-type = \
             [\"cdylib\"]` set in its Cargo.toml?)",
            path.display()
        );
    }
    Ok(path)
}

/// Runs `cargo xtask build -p <package>` the first time a module of `package` is asked for in this process, and
/// remembers the outcome: the tests of one binary share one build, and a failed build fails each of them with
/// the compiler's message. The lock is held during the build, so concurrent tests wait for it instead of
/// starting builds of their own.
fn build_once(package: &str) -> anyhow::Result<()> {
    static BUILT: Mutex<BTreeMap<String, Result<(), String>>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let outcome = built
        .entry(package.to_string())
        .or_insert_with(|| build(package));
    outcome.clone().map_err(anyhow::Error::msg)
}

fn build(package: &str) -> Result<(), String> {
    let root = workspace_root();
    let command = format!("cargo xtask build -p {package}");
    let started = Instant::now();
    // Without what `cargo test` set for this test binary (`workspace_layout::is_package_variable`).
    let output = workspace_layout::cargo(&root)
        .args(["xtask", "build", "--package", package])
        .output()
        .map_err(|e| {
            format!(
                "cannot run `{command}` (in {}) to build the module from the current sources: {e}",
                root.display()
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "building `{package}` from its current sources failed: `{command}` (in {}) exited with {}; a test \
             never runs an older module. Its output:\n{}{}",
            root.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    // Shown with a failing test's output: how long the build this process waited for took.
    eprintln!(
        "{command}: {:.1} s (module up to date with the sources)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// This crate lives in `<workspace>/host`.
fn workspace_root() -> PathBuf {
    let host = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    host.parent().map(PathBuf::from).unwrap_or(host)
}
