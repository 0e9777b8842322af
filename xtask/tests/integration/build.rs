//! `cargo xtask build` end to end.

use crate::support;

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
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env::var_os("HOME").unwrap()).join(".cargo"));
    for file in ["plugin.wasm", "plugin.names.wasm"] {
        let module = fs::read(out_dir().join(file)).unwrap();
        for local in [root(), cargo_home.clone(), out_dir()] {
            let local = local.display().to_string();
            // Panic locations would carry these paths without `--remap-path-prefix`.
            assert!(
                !contains(&module, &local),
                "{file} embeds the local path {local}"
            );
        }
        assert_eq!(&module[..4], b"\0asm");
    }
}

/// Each section's id and bytes; custom sections by name.
fn sections(module: &[u8]) -> Vec<(u8, String, Vec<u8>)> {
    wasmparser::Parser::new(0)
        .parse_all(module)
        .filter_map(|payload| {
            let payload = payload.unwrap();
            let name = match &payload {
                wasmparser::Payload::CustomSection(c) => c.name().to_owned(),
                _ => String::new(),
            };
            let (id, range) = payload.as_section()?;
            Some((
                id,
                name,
                module[range.start as usize..range.end as usize].to_vec(),
            ))
        })
        .collect()
}

#[test]
fn the_names_twin_is_the_shipped_module_with_its_function_names() {
    let _lock = packaging_lock();
    for flags in [&[][..], &["--no-wasm-opt"][..]] {
        xtask_ok(&[&["build", "-p", "header-append"][..], flags].concat());
        let shipped = sections(&fs::read(out_dir().join("plugin.wasm")).unwrap());
        let twin = sections(&fs::read(out_dir().join("plugin.names.wasm")).unwrap());
        assert!(
            shipped.iter().all(|(id, _, _)| *id != 0),
            "{flags:?}: the shipped module has no custom section"
        );
        // The same functions at the same indices: a trap's function index names the same function in both.
        let code: Vec<_> = twin.iter().filter(|(id, _, _)| *id != 0).cloned().collect();
        assert_eq!(
            shipped, code,
            "{flags:?}: the twin's other sections are the shipped ones"
        );
        let names = twin
            .iter()
            .find(|(_, name, _)| name == "name")
            .unwrap_or_else(|| panic!("{flags:?}: the twin has a name section"));
        assert!(
            contains(&names.2, "header_append"),
            "{flags:?}: the name section names the extension's own functions"
        );
    }
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

#[test]
fn size_attributes_the_shipped_functions_to_their_crates_and_diffs_a_baseline() {
    let _lock = packaging_lock();
    let baseline = tmp_dir("size-baseline").join("baseline.json");
    let baseline = baseline.to_str().unwrap();
    let out = xtask_ok(&[
        "size",
        "-p",
        "header-append",
        "--top",
        "5",
        "--save-baseline",
        baseline,
    ]);
    let crate_bytes = |report: &str, name: &str| -> u64 {
        report
            .lines()
            .find(|l| l.trim_end().ends_with(&format!("  {name}")) && l.contains('%'))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no `{name}` crate row in:\n{report}"))
    };
    assert!(out.starts_with("header-append: "), "{out}");
    for name in ["header_append", "serde_json", "proxy_wasm", "talc"] {
        assert!(crate_bytes(&out, name) > 0, "{out}");
    }
    assert!(
        out.contains(
            "<header_append::HeaderAppendRoot as proxy_wasm::traits::RootContext>::on_configure"
        ),
        "functions are named as in the source:\n{out}"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(baseline).unwrap()).unwrap();
    assert_eq!(
        saved["header-append"]["crates"]["serde_json"].as_u64(),
        Some(crate_bytes(&out, "serde_json"))
    );

    let again = xtask_ok(&["size", "-p", "header-append", "--baseline", baseline]);
    assert!(
        again.contains("against the baseline: +0 bytes of code"),
        "{again}"
    );

    // A baseline where serde_json was 1000 bytes smaller shows the difference for that crate.
    let mut older = saved.clone();
    let serde = older["header-append"]["crates"]["serde_json"]
        .as_u64()
        .unwrap();
    older["header-append"]["crates"]["serde_json"] = (serde - 1000).into();
    fs::write(baseline, older.to_string()).unwrap();
    let diff = xtask_ok(&["size", "-p", "header-append", "--baseline", baseline]);
    assert!(
        diff.lines().any(|l| l.trim() == "+1000  serde_json"),
        "{diff}"
    );
    fs::remove_dir_all(std::path::Path::new(baseline).parent().unwrap()).unwrap();
}
