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
fn wasm_opt_on_request_shrinks_the_module_which_still_loads_and_filters() {
    let Some(_) = tool("wasm-opt", "binaryen") else {
        return;
    };
    let _lock = packaging_lock();
    let out = xtask_ok(&["build", "-p", "header-append", "--wasm-opt"]);
    let size = |text: &str| -> u64 {
        text.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no size in {text:?}"))
    };
    let optimized = size(out.strip_prefix("header-append: ").unwrap_or(""));
    let (_, from) = out
        .split_once("-Oz, from ")
        .unwrap_or_else(|| panic!("no wasm-opt note in {out}"));
    let original = size(from);
    assert!(optimized < original, "{out}");
    let module = fs::read(out_dir().join("plugin.wasm")).unwrap();
    assert_eq!(module.len() as u64, optimized);

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

    // The default build is back to the plain module.
    let out = xtask_ok(&["build", "-p", "header-append"]);
    assert_eq!(
        size(out.strip_prefix("header-append: ").unwrap_or("")),
        original
    );
}

#[test]
fn wasm_opt_missing_says_how_to_install_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["build", "--wasm-opt"])
        .env("PATH", "")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--wasm-opt needs binaryen's `wasm-opt` on PATH (Debian/Ubuntu: `apt-get install binaryen`"),
        "{stderr}"
    );
}
