//! `cargo xtask new` when cargo-generate fails half-way: a stand-in `cargo-generate` writes part of an
//! extension, then fails, as one whose template hook refuses a value does. It writes in a staging directory, never
//! under this workspace's `extensions/`, where the cargo runs of the tests beside it would see a workspace member
//! without a Cargo.toml.

use crate::support;

use std::{fs, os::unix::fs::PermissionsExt as _, process::Command};

use support::*;

/// Removes the directory when the test ends, passed or failed, so the workspace stays whole.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_cargo_generate_that_fails_after_writing_leaves_nothing_under_extensions() {
    let name = "t-generate-fails-half-way";
    let extension = root().join("extensions").join(name);
    let _cleanup = RemoveOnDrop(extension.clone());
    let staged = root().join(".xtask-new/extensions").join(name);
    let _cleanup_staged = RemoveOnDrop(staged.clone());
    let dir = tmp_dir("new-half-way");
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("cargo-generate");
    fs::write(
        &fake,
        r#"#!/bin/sh
case " $* " in *" --version "*) echo "cargo-generate 0.26.0"; exit 0;; esac
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name=$2 ;;
    --destination) dest=$2 ;;
  esac
  shift
done
mkdir -p "$dest/$name/src"
echo '// half-rendered' > "$dest/$name/src/lib.rs"
echo '# half-rendered' > "$dest/$name/README.md"
echo 'Error: the init hook refused a value' >&2
exit 1
"#,
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    // An empty CARGO_HOME: cargo looks for `cargo-generate` in $CARGO_HOME/bin before PATH.
    let cargo_home = dir.join("cargo-home");
    fs::create_dir_all(&cargo_home).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["new", name])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("CARGO_HOME", &cargo_home)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "`cargo generate` failed (see its errors above); nothing was added under extensions/, and what it had \
             started writing ({}) is removed",
            staged.display()
        )),
        "{stderr}"
    );
    for left in [&extension, &staged] {
        assert!(!left.exists(), "{} was left behind", left.display());
    }
    fs::remove_dir_all(&dir).unwrap();
}
