//! `cargo xtask push`: runs push's registry client, the `xtask-push` package of this workspace, with the same
//! command line (parsed here first, so `--help` and usage errors are this binary's). The client's HTTPS stack
//! (ureq, rustls, ring) is its package's alone, so `package` and the other commands never compile it and a fresh
//! clone's first image does not wait for it. The first push builds it, once, in the workspace's target directory;
//! `XTASK_PUSH` names a client built already (the way `XTASK_RUNNER` names the runner), which is how tests that give
//! xtask a target directory of their own avoid building the client again there.

use std::{env, ffi::OsString, path::PathBuf, process::Command};

use anyhow::{Context, bail};

use crate::{flags, workspace};

/// Push's registry client: its package and its binary.
pub(crate) const CLIENT: &str = "xtask-push";

impl flags::Push {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let client = client()?;
        let status = Command::new(&client)
            .args(env::args_os().skip(1))
            .status()
            .with_context(|| format!("cannot run push's registry client {}", client.display()))?;
        if status.success() {
            return Ok(());
        }
        // The client printed its own error; this process passes its exit status on.
        std::process::exit(status.code().unwrap_or(1))
    }
}

/// The client `XTASK_PUSH` names, or this workspace's, built first if it is missing or out of date.
fn client() -> anyhow::Result<PathBuf> {
    if let Some(binary) = env::var_os("XTASK_PUSH") {
        return Ok(binary.into());
    }
    let binary = workspace::target_dir()?
        .join("debug")
        .join(format!("{CLIENT}{}", env::consts::EXE_SUFFIX));
    if !binary.exists() {
        eprintln!(
            "building push's registry client ({CLIENT}, HTTPS over rustls): once, on the first push"
        );
    }
    let manifest: OsString = workspace::root().join("Cargo.toml").into();
    let status = workspace::cargo()
        .args(["build", "--quiet", "--package", CLIENT, "--bin", CLIENT])
        .arg("--manifest-path")
        .arg(&manifest)
        .status()
        .context("cannot run cargo to build push's registry client")?;
    if !status.success() {
        bail!(
            "cannot build push's registry client: `cargo build -p {CLIENT}` failed (its errors are above); \
             nothing was pushed"
        );
    }
    Ok(binary)
}
