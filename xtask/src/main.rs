//! `cargo xtask`: one binary, one module per command (see `flags.rs` for the command line).

mod flags;
mod workspace;

mod build;
mod deploy;
mod manifest;
mod new;
mod package;
mod push;
mod run;
mod test;

use std::{ffi::OsString, process::ExitCode};

fn main() -> ExitCode {
    let args = args();
    let flags = match run::forwarded(&args) {
        // `run MODULE …` passes the runner's flags on untouched; xflags would refuse them.
        Some(cmd) => flags::Xtask {
            subcommand: flags::XtaskCmd::Run(cmd),
        },
        None => match flags::Xtask::from_vec(args) {
            Ok(flags) => flags,
            Err(err) => err.exit(),
        },
    };
    let result = match flags.subcommand {
        flags::XtaskCmd::Build(cmd) => cmd.run(),
        flags::XtaskCmd::Manifest(cmd) => cmd.run(),
        flags::XtaskCmd::Package(cmd) => cmd.run(),
        flags::XtaskCmd::Push(cmd) => cmd.run(),
        flags::XtaskCmd::Deploy(cmd) => cmd.run(),
        flags::XtaskCmd::Run(cmd) => cmd.run(),
        flags::XtaskCmd::New(cmd) => cmd.run(),
        flags::XtaskCmd::Test(cmd) => cmd.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, with `deploy --for X` spelled as the parser knows it (`for` is a Rust keyword).
fn args() -> Vec<OsString> {
    std::env::args_os()
        .skip(1)
        .map(|arg| match arg.to_str() {
            Some("--for") => OsString::from("--mesh"),
            Some(s) if s.starts_with("--for=") => {
                OsString::from(s.replacen("--for=", "--mesh=", 1))
            }
            _ => arg,
        })
        .collect()
}
