//! `cargo xtask push` in an xtask built without its `push` feature (the default): runs the same command line in an
//! xtask built with it, in a target directory of its own so that neither build replaces the other's binary.

use anyhow::Context;

use crate::{flags, workspace};

impl flags::Push {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let target = workspace::target_dir()?.join("xtask-push");
        let status = workspace::cargo()
            .args(["run", "--quiet", "--package", "xtask", "--features", "push"])
            .arg("--target-dir")
            .arg(&target)
            .arg("--")
            .args(std::env::args_os().skip(1))
            .status()
            .context("starting cargo to build and run `cargo xtask push`")?;
        if status.success() {
            return Ok(());
        }
        // The push build printed its own error; this process only passes its exit status on.
        std::process::exit(status.code().unwrap_or(1))
    }
}
