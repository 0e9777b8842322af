//! `cargo xtask`: one module per command (see `flags.rs` for the command line), and the
//! modules the commands share: `workspace` (where things are), `child` (a child process under a deadline), `oci` (digests, references, layouts),
//! `maistra` (phases), `report` (how paths and sizes are shown) and `untrusted` (others' text made safe to print).
//!
//! A library with a one-line binary (`main.rs`), so that `push`'s registry client, its own package `xtask-push`
//! with the HTTPS stack only it needs, shares the command line and the shared modules without `package` and the
//! other commands ever compiling that stack. The modules it uses are public, and `new` for the integration tests;
//! the rest stay private.

pub mod child;
pub mod flags;
mod maistra;
mod mesh;
pub mod oci;
pub mod report;
mod runner;
pub mod untrusted;
pub mod workspace;

mod build;
mod check;
mod deploy;
mod fuzz;
mod manifest;
pub mod new;
mod package;
mod push;
mod run;
mod serve;
mod size;
mod test;

use std::process::ExitCode;

use clap::Parser as _;

/// `cargo xtask`'s whole run: parses the command line and runs the command.
pub fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    let result = match flags.command {
        flags::Command::Build(cmd) => cmd.run(),
        flags::Command::Manifest(cmd) => cmd.run(),
        flags::Command::Package(cmd) => cmd.run(),
        flags::Command::Push(cmd) => cmd.run(),
        flags::Command::Deploy(cmd) => cmd.run(),
        flags::Command::Check(cmd) => cmd.run(),
        flags::Command::Run(cmd) => cmd.run(),
        flags::Command::Serve(cmd) => cmd.run(),
        flags::Command::New(cmd) => cmd.run(),
        flags::Command::Size(cmd) => cmd.run(),
        flags::Command::Test(cmd) => cmd.run(),
        flags::Command::Fuzz(cmd) => cmd.run(),
    };
    exit_code(result)
}

/// Success, or the error printed the way every command prints it (with its causes) and a failure status.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
