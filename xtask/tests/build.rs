//! `cargo xtask build` end to end.

mod support;

use std::{env, fs, path::PathBuf};

use support::*;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn the_module_embeds_no_path_of_this_machine() {
    let _lock = packaging_lock();
    let out = xtask_ok(&["build", "-p", "header-append"]);
    assert!(
        out.starts_with("header-append: ") && out.contains(" bytes ("),
        "{out}"
    );
    let module = fs::read(out_dir().join("plugin.wasm")).unwrap();
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env::var_os("HOME").unwrap()).join(".cargo"));
    for local in [root(), cargo_home, out_dir()] {
        let local = local.display().to_string();
        // Panic locations would carry these paths without `--remap-path-prefix`.
        assert!(
            !contains(&module, &local),
            "plugin.wasm embeds the local path {local}"
        );
    }
    assert_eq!(&module[..4], b"\0asm");
}

#[test]
fn the_pinned_wasm_opt_shrinks_the_module_which_still_loads_and_filters() {
    let _lock = packaging_lock();
    let size = |text: &str| -> u64 {
        text.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no size in {text:?}"))
    };
    let plain = xtask_ok(&["build", "-p", "header-append", "--no-wasm-opt"]);
    let original = size(plain.strip_prefix("header-append: ").unwrap_or(""));
    assert!(!plain.contains("wasm-opt"), "{plain}");

    let out = xtask_ok(&["build", "-p", "header-append"]);
    let optimized = size(out.strip_prefix("header-append: ").unwrap_or(""));
    let (_, from) = out
        .split_once("(wasm-opt version 132 (version_132) -Oz --converge, from ")
        .unwrap_or_else(|| panic!("no note of the pinned wasm-opt in {out}"));
    assert_eq!(size(from), original, "{out}");
    assert!(optimized < original, "{out}");
    let module = fs::read(out_dir().join("plugin.wasm")).unwrap();
    assert_eq!(module.len() as u64, optimized);
    assert_eq!(
        fs::read(out_dir().join("plugin.wasm")).unwrap(),
        {
            xtask_ok(&["build", "-p", "header-append"]);
            fs::read(out_dir().join("plugin.wasm")).unwrap()
        },
        "the same sources give the same optimized bytes"
    );

    // The optimized module still runs in the host and adds the configured header.
    let copy = env::temp_dir().join(format!("wasm-opt-check-{}.wasm", std::process::id()));
    fs::write(&copy, &module).unwrap();
    let report = xtask_ok(&[
        "run",
        copy.to_str().unwrap(),
        "--config",
        r#"{"x-opt": "yes"}"#,
        "--json",
    ]);
    fs::remove_file(&copy).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(
        report["client_response"]["headers"]
            .as_array()
            .is_some_and(|h| h.iter().any(|pair| pair[0] == "x-opt" && pair[1] == "yes")),
        "{report:#}"
    );
}

/// A target directory with a binaryen install that reports `version` (a stand-in script run by node).
fn target_with_binaryen(name: &str, version: &str) -> PathBuf {
    let target = tmp_dir(name);
    let package = target.join("tools/binaryen/node_modules/binaryen");
    fs::create_dir_all(package.join("bin")).unwrap();
    fs::write(
        package.join("package.json"),
        r#"{"name": "binaryen", "version": "132.0.0"}"#,
    )
    .unwrap();
    fs::write(
        package.join("bin/wasm-opt"),
        format!("console.log({version:?});\n"),
    )
    .unwrap();
    target
}

#[test]
fn another_wasm_opt_version_is_refused() {
    let Some(_) = tool("node", "nodejs") else {
        return;
    };
    let target = target_with_binaryen("binaryen-108", "wasm-opt version 108");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["build", "-p", "header-append"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reports `wasm-opt version 108`, not binaryen 132.0.0 as tools/binaryen/package-lock.json pins: another version makes other module bytes"),
        "{stderr}"
    );
    fs::remove_dir_all(&target).unwrap();
}

#[test]
fn a_missing_node_says_how_to_install_it() {
    let target = target_with_binaryen("binaryen-no-node", "wasm-opt version 132 (version_132)");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["build", "-p", "header-append"])
        .env("CARGO_TARGET_DIR", &target)
        .env("PATH", "")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("runs on Node.js 18+ with npm (Debian/Ubuntu: `apt-get install nodejs npm`")
            && stderr.contains("or build with --no-wasm-opt"),
        "{stderr}"
    );
    fs::remove_dir_all(&target).unwrap();
}
