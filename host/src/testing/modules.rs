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
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

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

/// `target/extensions/<name>/plugin.wasm`, the module `cargo xtask build` checks and ships, built first from the
/// current sources (once per test process).
pub fn extension_module(name: &str) -> anyhow::Result<PathBuf> {
    build_once(name)?;
    let path = target_dir()
        .join("extensions")
        .join(name)
        .join("plugin.wasm");
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
    let file = format!("{}.wasm", crate_name.replace('-', "_"));
    let path = target_dir()
        .join("wasm32-unknown-unknown")
        .join("release")
        .join(file);
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
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let mut cargo = Command::new(&cargo);
    // What `cargo test` set for this test binary (`CARGO_PKG_*`, `CARGO_MANIFEST_*`…) is not passed on: build
    // scripts such as ring's (an xtask dependency) rerun when it changes, so this cargo would rebuild those crates
    // and the next cargo from a shell would rebuild them again.
    for (name, _) in std::env::vars_os() {
        let is_package_variable = name.to_str().is_some_and(|name| {
            name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || matches!(
                    name,
                    "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
                )
        });
        if is_package_variable {
            cargo.env_remove(name);
        }
    }
    let output = cargo
        .args(["xtask", "build", "--package", package])
        .current_dir(&root)
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
