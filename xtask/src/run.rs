//! `cargo xtask run MODULE [runner flags…]`: a dry run of one HTTP stream through an extension (built first, so the
//! module is fresh) or any `.wasm` file, by the host crate's `proxy-wasm-run` binary. wasmtime stays out of xtask:
//! everything after the module goes to that binary untouched (`cargo xtask run MODULE --help` lists its flags).
//!
//! The runner is built with the dev profile: it shares the artifacts `cargo test` already built (no second
//! wasmtime build), and the host caches compiled modules on disk, so only a module never seen before pays for the
//! debug-built Cranelift (about 3 s; 20 ms once cached). The root release profile is tuned for wasm size (opt-level
//! "z", fat LTO) and would take many minutes to build wasmtime.

use std::{
    env,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

use crate::{build, flags, workspace};

/// The host crate's binary that does the run.
const RUNNER: &str = "proxy-wasm-run";

impl flags::Run {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let module = module(&self.module)?;
        let mut cmd = workspace::cargo();
        // The user's relative paths (`--config @file`, a module path) are relative to where they ran the command.
        cmd.current_dir(env::current_dir().context("cannot read the current directory")?);
        cmd.arg("run")
            .arg("--manifest-path")
            .arg(workspace::root().join("Cargo.toml"))
            .args(["--package", "host", "--bin", RUNNER, "--"])
            .arg(&module)
            .args(&self.args);
        let status = cmd
            .status()
            .with_context(|| format!("cannot run `cargo run --bin {RUNNER}`"))?;
        if !status.success() {
            // The runner printed its report and reason; its exit status (1 not started, 2 bad flags, 3 failed while
            // running) is the answer scripts check.
            std::process::exit(status.code().unwrap_or(1));
        }
        Ok(())
    }
}

/// A `.wasm` path as given, or an extension's freshly built `plugin.wasm`.
fn module(name: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(name);
    if name.ends_with(".wasm") || path.components().count() > 1 {
        if !path.is_file() {
            bail!(
                "no module at {name}: give the path of a .wasm file, or the name of an extension under extensions/"
            );
        }
        return Ok(path.to_path_buf());
    }
    let extension = workspace::extensions(&[name.to_owned()])?.remove(0);
    build::build(std::slice::from_ref(&extension), &[], None)?;
    Ok(extension.module_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_wasm_path_says_what_to_give() {
        let error = module("missing/plugin.wasm").unwrap_err().to_string();
        assert!(
            error.contains("no module at missing/plugin.wasm"),
            "{error}"
        );
    }
}
