//! The runner crate's `proxy-wasm-run`, to which `run` and `check` hand modules: wasmtime stays out of xtask.
//!
//! The runner is built with the dev profile, where Cranelift is optimised even so (the root Cargo.toml's
//! `profile.dev.package` entries), and the host caches compiled modules on disk. `cargo run -p runner` resolves the
//! runner's own features, so it builds wasmtime apart from a workspace-wide `cargo test`; `cargo xtask test` hands
//! its tests the binaries of its own build instead (`XTASK_RUNNER` and its twins). The root release profile is tuned for wasm size (fat LTO, one codegen
//! unit), which would make building wasmtime very slow.

use std::{env, process::Command};

use anyhow::Context;

use crate::workspace;

/// The runner crate's binary.
pub(crate) const RUNNER: &str = "proxy-wasm-run";

/// `cargo run … --bin proxy-wasm-run --`, ready for the runner's own arguments, or the binary
/// `XTASK_RUNNER` names (a runner built once for CI jobs or tests that must not build the host again). It
/// runs in the user's directory, so their relative paths (`--config @file`, a module path) mean what they
/// typed.
pub(crate) fn command() -> anyhow::Result<Command> {
    binary("XTASK_RUNNER", "runner", RUNNER)
}

/// The dev proxy's binary.
pub(crate) const SERVE: &str = "proxy-wasm-serve";

/// `cargo run … --bin proxy-wasm-serve --`, or the binary `XTASK_SERVE` names, like [`command`].
pub(crate) fn serve_command() -> anyhow::Result<Command> {
    binary("XTASK_SERVE", "serve", SERVE)
}

/// The fuzz driver's binary.
pub(crate) const FUZZ: &str = "proxy-wasm-fuzz";

/// `cargo run … --bin proxy-wasm-fuzz --`, or the binary `XTASK_FUZZ` names, like [`command`].
pub(crate) fn fuzz_command() -> anyhow::Result<Command> {
    binary("XTASK_FUZZ", "fuzz", FUZZ)
}

fn binary(variable: &str, package: &str, bin: &str) -> anyhow::Result<Command> {
    if let Some(binary) = env::var_os(variable) {
        return Ok(Command::new(binary));
    }
    let mut cmd = workspace::cargo();
    cmd.current_dir(env::current_dir().context("cannot read the current directory")?);
    cmd.arg("run")
        .arg("--manifest-path")
        .arg(workspace::root().join("Cargo.toml"))
        .args(["--package", package, "--bin", bin, "--"]);
    Ok(cmd)
}
