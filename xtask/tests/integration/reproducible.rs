//! The image depends on the sources and the toolchain only, not on where the checkout lives.

use crate::support;

use std::{fs, path::Path, process::Command, time::SystemTime};

use support::*;

/// Appended to the version of each member of the checkouts: their crates build in this workspace's build directory
/// beside its own and the scratch workspace's, never as theirs (`support::mark_member_versions`).
const CHECKOUT_VERSION: &str = "-checkout";

/// Packages header-append in `checkout` and returns the printed digest and the module's bytes.
fn package_in(checkout: &Path, target: &Path) -> (String, Vec<u8>) {
    let stdout = run(cargo()
        .args(["xtask", "package", "-p", "header-append"])
        .current_dir(checkout)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_BUILD_BUILD_DIR", target_dir())
        .env_remove("SOURCE_DATE_EPOCH"));
    let module = fs::read(target.join("extensions/header-append/plugin.wasm")).unwrap();
    (printed_digest(&stdout), module)
}

/// Clones of this repository's HEAD (committed files only, each member's version marked) at two paths of different
/// lengths give the same module and the same image digest. They build in this workspace's build directory, so the
/// registry dependencies are compiled once (the workspace's), and the checkouts' own crates twice, once per path:
/// cargo names a member's artifacts by its path relative to the workspace root, the same in both, and the second
/// checkout's files are newer than the first's artifacts.
#[test]
fn two_checkouts_at_different_paths_give_the_same_image() {
    let Some(git) = tool("git", "git") else {
        return;
    };
    let dir = tmp_dir("checkouts");
    let target = dir.join("target");
    let head = run(Command::new(&git)
        .args(["rev-parse", "HEAD"])
        .current_dir(root()));
    let mut results = Vec::new();
    for path in ["a", "b/a/much/longer/checkout/path"] {
        let checkout = dir.join(path);
        fs::create_dir_all(checkout.parent().unwrap()).unwrap();
        run(Command::new(&git)
            .args(["clone", "--quiet", "--no-hardlinks"])
            .arg(root())
            .arg(&checkout));
        // The same commit in both, even if HEAD moves meanwhile.
        run(Command::new(&git)
            .args(["checkout", "--quiet", "--detach", head.trim()])
            .current_dir(&checkout));
        mark_member_versions(&git, &checkout, CHECKOUT_VERSION);
        let cloned = SystemTime::now();
        results.push(package_in(&checkout, &target));
        let compiled = target.join("wasm32-unknown-unknown/release/header_append.wasm");
        assert!(
            fs::metadata(&compiled).unwrap().modified().unwrap() >= cloned,
            "cargo took the module built in the other checkout as this one's ({compiled:?} is older than the clone)"
        );
    }
    assert_eq!(
        results[0].0, results[1].0,
        "image digests differ between checkouts"
    );
    assert!(
        results[0].1 == results[1].1,
        "plugin.wasm differs between checkouts"
    );
    fs::remove_dir_all(&dir).unwrap();
}
