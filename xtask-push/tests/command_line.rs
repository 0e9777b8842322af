//! `xtask-push` started by hand rather than by `cargo xtask push`. This test target is also what has
//! `cargo test --workspace` build the binary (cargo builds a package's binaries for its integration tests), which
//! `cargo xtask test` hands xtask's push tests as `XTASK_PUSH`.

use std::process::{Command, Output};

fn client(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask-push"))
        .args(args)
        .output()
        .expect("cannot run xtask-push")
}

#[test]
fn another_command_is_refused_with_the_command_to_run() {
    let out = client(&["package", "-p", "header-append"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "xtask-push packaged: {stderr}");
    assert!(
        stderr.contains("xtask-push only pushes") && stderr.contains("run `cargo xtask …`"),
        "{stderr}"
    );
}

#[test]
fn its_command_line_is_cargo_xtask_push() {
    let out = client(&["push", "--help"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("Usage: cargo xtask push [OPTIONS] --image <REFERENCE>"),
        "{stdout}"
    );
    let out = client(&["push", "--password-stdin"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--image <REFERENCE>"),
        "{stderr}"
    );
}
