//! `cargo xtask fuzz [-p NAME] [--configs N] [--streams N] [--seed S] [--time T]`: builds each extension as it
//! ships, then hands its module to the fuzz crate's `proxy-wasm-fuzz` (see `runner`), which generates the cases and
//! runs them in the host: wasmtime and the generator stay out of xtask.

use anyhow::{Context, bail};

use crate::{build, deploy::example_config_path, flags, runner, workspace};

impl flags::Fuzz {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let extensions = workspace::extensions(&self.package)?;
        let optimizer = build::WasmOpt::pinned()?;
        build::build(&extensions, &[], Some(&optimizer))?;
        let mut failed = Vec::new();
        for extension in &extensions {
            let mut command = runner::fuzz_command()?;
            command
                .arg(extension.module_path())
                .arg("--findings")
                .arg(extension.dir.join("fuzz-findings"))
                .args(["--configs", &self.configs.to_string()])
                .args(["--streams", &self.streams.to_string()])
                .args(["--seed", &self.seed.to_string()]);
            let example = example_config_path(extension);
            if example.is_file() {
                command.arg("--example").arg(example);
            }
            if let Some(seconds) = self.time {
                command.args(["--time", &seconds.to_string()]);
            }
            let status = command
                .status()
                .with_context(|| format!("cannot run `cargo run --bin {}`", runner::FUZZ))?;
            match status.code() {
                Some(0) => {}
                // 1: findings, written and reported by the driver.
                Some(1) => failed.push(extension.name.clone()),
                _ => bail!("{}: the fuzz driver failed ({status})", extension.name),
            }
        }
        if !failed.is_empty() {
            bail!(
                "findings in {}: fix them, keep the files (`cargo test -p fuzz --test findings` replays them) and fuzz again",
                failed.join(", ")
            );
        }
        Ok(())
    }
}
