//! `cargo xtask test`: the one command that runs every test of the workspace. Tests load wasm
//! modules, so first every cdylib of the workspace is built for wasm32-unknown-unknown (release)
//! with `build`'s flags: extensions exactly as `cargo xtask build` builds them (checked, installed
//! as their `plugin.wasm`), then the other cdylibs (host guest modules), which are only built.

use anyhow::bail;

use crate::{build, flags, push, runner, workspace};

impl flags::Test {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let extensions = workspace::extensions(&[])?;
        let others: Vec<String> = workspace::cdylib_packages()?
            .into_iter()
            .filter(|name| !extensions.iter().any(|e| &e.name == name))
            .collect();
        let optimizer = build::WasmOpt::pinned()?;
        for built in build::build(&extensions, &others, Some(&optimizer))? {
            println!(
                "{}: {}",
                built.extension.name,
                crate::report::human_size(built.size)
            );
        }
        let mut cargo = workspace::cargo();
        cargo.args(["test", "--workspace"]).args(&self.args);
        if self.args.is_empty() {
            // Tests that go through `cargo xtask run|check|serve|fuzz|push` use the binaries this very build makes
            // (cargo builds a package's binaries for its integration tests, before any test runs): a `cargo run -p`
            // or `cargo build -p` of each would resolve other features and compile wasmtime (or rustls) again.
            let debug = workspace::target_dir()?.join("debug");
            for (variable, bin) in [
                ("XTASK_RUNNER", runner::RUNNER),
                ("XTASK_SERVE", runner::SERVE),
                ("XTASK_FUZZ", runner::FUZZ),
                ("XTASK_PUSH", push::CLIENT),
            ] {
                if std::env::var_os(variable).is_none() {
                    cargo.env(variable, debug.join(bin));
                }
            }
        }
        let status = cargo.status()?;
        if !status.success() {
            bail!("`cargo test --workspace {}` failed", self.args.join(" "));
        }
        Ok(())
    }
}
