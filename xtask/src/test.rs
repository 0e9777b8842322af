//! `cargo xtask test`: the one command that runs every test of the workspace. Tests load wasm
//! modules, so first every cdylib of the workspace is built for wasm32-unknown-unknown (release)
//! with `build`'s flags: extensions exactly as `cargo xtask build` builds them (checked, installed
//! as their `plugin.wasm`), then the other cdylibs (host guest modules), which are only built.
//!
//! xtask's command tests (`xtask/tests/commands`, left out of plain `cargo test`) run beside the other test binaries
//! rather than after them: cargo runs test binaries one at a time, and that one binary takes longer than all the
//! others together while mostly waiting on one scratch workspace.

use std::{fs::File, path::Path, process::Command};

use anyhow::{Context, bail};

use crate::{build, flags, push, runner, workspace};

/// The test target `cargo xtask test` runs beside the rest (xtask/Cargo.toml).
const COMMAND_TESTS: [&str; 2] = ["--test", "commands"];

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
        if !self.args.is_empty() {
            let status = cargo_test().args(&self.args).status()?;
            if !status.success() {
                bail!("`cargo test --workspace {}` failed", self.args.join(" "));
            }
            return Ok(());
        }
        whole_workspace()
    }
}

fn cargo_test() -> Command {
    let mut cargo = workspace::cargo();
    cargo.args(["test", "--workspace"]);
    cargo
}

/// `cargo test --workspace` whose tests of `cargo xtask run|check|serve|fuzz|push` use the binaries this very build
/// makes in `debug` (cargo builds a package's binaries for its integration tests, before any test runs): a `cargo run
/// -p` or `cargo build -p` of each would resolve other features and compile wasmtime (or rustls) again.
fn cargo_test_with_built_binaries(debug: &Path) -> Command {
    let mut cargo = cargo_test();
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
    cargo
}

/// Every test binary: all built first (both runs then only check that they are fresh), the command tests started
/// with their output to a file, the others run in the terminal, then the command tests' output shown whole.
fn whole_workspace() -> anyhow::Result<()> {
    let target = workspace::target_dir()?;
    let debug = target.join("debug");
    let tests = || cargo_test_with_built_binaries(&debug);
    for extra in [&[][..], &COMMAND_TESTS] {
        if !tests().args(extra).arg("--no-run").status()?.success() {
            bail!(
                "`cargo test --workspace {} --no-run` failed: the tests do not build",
                extra.join(" ")
            );
        }
    }
    let log_path = target.join("xtask-test-commands.log");
    let log =
        File::create(&log_path).with_context(|| format!("cannot write {}", log_path.display()))?;
    let mut commands = tests()
        .args(COMMAND_TESTS)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start `cargo test --workspace --test commands`")?;
    let rest = tests().status();
    let commands = commands.wait();
    println!(
        "--- xtask's command tests (`cargo test --workspace --test commands`, run beside the above; also in {})",
        log_path.display()
    );
    let shown = std::fs::read(&log_path)
        .map(|bytes| std::io::Write::write_all(&mut std::io::stdout(), &bytes));
    let failed: Vec<&str> = [
        ("the workspace's tests", rest?.success()),
        ("xtask's command tests", commands?.success()),
    ]
    .into_iter()
    .filter(|(_, passed)| !passed)
    .map(|(which, _)| which)
    .collect();
    shown.with_context(|| format!("cannot read {}", log_path.display()))??;
    if !failed.is_empty() {
        bail!("`cargo xtask test`: {} failed", failed.join(" and "));
    }
    Ok(())
}
