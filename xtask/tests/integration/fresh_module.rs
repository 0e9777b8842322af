//! No stale module, ever: after an edit of an extension's sources, `cargo test -p NAME` runs a module built from
//! the edited sources (the host builds it on demand with `cargo xtask build -p NAME`), never the module an earlier
//! build left in `target/extensions/NAME/plugin.wasm`.
//!
//! Runs in the scratch copy of the workspace the template check uses (`support::Scratch`); the real tree is never
//! modified. The extension edited is a copy of header-append named `fresh-append`: the scratch builds in this
//! workspace's build directory, where an edited crate of the same name as one of this workspace's would give its
//! cdylib this one's file name.

use crate::support;

use std::{fs, path::Path, time::Instant};

use support::*;

/// The scratch extension's end-to-end test: the configure log must carry `mark` (`MARK` below).
const FRESH_TEST: &str = r##"
use host::testing::{Level, Plugin};

#[test]
fn the_configure_log_carries_the_mark() {
    let plugin = Plugin::extension("fresh-append")
        .config(r#"{"x-a": "1"}"#)
        .start()
        .unwrap_or_else(|e| panic!("did not start: {e}"));
    plugin.assert_logged(Level::Info, "header-append configured MARK;");
}
"##;

#[test]
fn cargo_test_runs_the_module_of_the_edited_sources_not_the_last_built_one() {
    let Some(git) = tool("git", "git") else {
        return;
    };
    let _lock = scratch_lock();
    let ws = scratch_workspace(&git);
    let extension = ws.root.join("extensions/fresh-append");
    copy_as_fresh_append(&ws.root.join("extensions/header-append"), &extension);
    let source = extension.join("src/lib.rs");
    let original = fs::read_to_string(&source).unwrap();
    let anchor = "header-append configured;";
    assert!(original.contains(anchor), "{anchor:?} not in {source:?}");
    let with_mark =
        |mark: &str| original.replace(anchor, &format!("header-append configured {mark};"));
    let expect_mark = |mark: &str| {
        fs::write(
            extension.join("tests/fresh.rs"),
            FRESH_TEST.replace("MARK", mark),
        )
        .unwrap();
    };
    let test = || {
        ws.cargo(&["test", "-p", "fresh-append", "--test", "fresh"])
            .output()
            .unwrap()
    };

    // The sources say v1, the test expects v1: green.
    fs::write(&source, with_mark("v1")).unwrap();
    expect_mark("v1");
    let started = Instant::now();
    let out = test();
    eprintln!("first cargo test (cold scratch): {:.1?}", started.elapsed());
    assert!(out.status.success(), "v1 run failed:\n{}", text(&out));

    // Edit the sources to v2 and leave the test expecting v1: the test must now fail, because the module it runs
    // is built from the edited sources (with the old module it would still pass).
    fs::write(&source, with_mark("v2")).unwrap();
    let started = Instant::now();
    let out = test();
    eprintln!("cargo test after an edit: {:.1?}", started.elapsed());
    let output = text(&out);
    assert!(
        !out.status.success(),
        "the test passed against the old module:\n{output}"
    );
    assert!(
        output.contains("header-append configured v2;"),
        "the failure does not show the new code's log line:\n{output}"
    );

    // The test updated to the new behaviour: green again, without any other command in between.
    expect_mark("v2");
    let out = test();
    assert!(out.status.success(), "v2 run failed:\n{}", text(&out));
    fs::remove_dir_all(&ws.root).unwrap();
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A copy of the extension at `from` (all its files) at `to`, named `fresh-append`.
fn copy_as_fresh_append(from: &Path, to: &Path) {
    copy_dir(from, to);
    let manifest = fs::read_to_string(to.join("Cargo.toml")).unwrap();
    let renamed = manifest.replacen("name = \"header-append\"", "name = \"fresh-append\"", 1);
    assert_ne!(
        manifest, renamed,
        "no `name = \"header-append\"` in {from:?}/Cargo.toml"
    );
    fs::write(to.join("Cargo.toml"), renamed).unwrap();
}
