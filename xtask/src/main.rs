//! `cargo xtask`: one binary, one module per command (see `flags.rs` for the command line), and the
//! modules the commands share: `workspace` (where things are), `child` (a child process under a deadline), `oci` (digests, references, layouts),
//! `maistra` (phases), `report` (how paths and sizes are shown) and `untrusted` (others' text made safe to print).

mod child;
mod flags;
mod maistra;
mod mesh;
mod oci;
mod report;
mod runner;
mod untrusted;
mod workspace;

mod build;
mod check;
mod deploy;
mod fuzz;
mod manifest;
mod new;
mod package;
mod push;
mod run;
mod serve;
mod size;
mod test;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
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
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
