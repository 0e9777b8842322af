//! `cargo xtask run`: builds the extension, hands its module and every further flag to the host's runner, and
//! passes the runner's report and exit status on.

use crate::support;

use serde_json::Value;

#[test]
fn run_builds_the_extension_and_forwards_the_runners_flags() {
    let _lock = support::packaging_lock();
    let stdout = support::xtask_ok(&[
        "run",
        "header-append",
        "--config",
        r#"{"x-run": "yes"}"#,
        "-H",
        "x-user: alice",
        "--json",
    ]);
    let report: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("no JSON report ({e}):\n{stdout}"));
    let module = report["module"].as_str().unwrap_or_default();
    assert!(
        module.ends_with("extensions/header-append/plugin.wasm"),
        "{report:#}"
    );
    let has = |side: &str, name: &str, value: &str| {
        report[side]["headers"]
            .as_array()
            .is_some_and(|h| h.iter().any(|pair| pair[0] == name && pair[1] == value))
    };
    assert!(has("client_response", "x-run", "yes"), "{report:#}");
    assert!(has("upstream_request", "x-user", "alice"), "{report:#}");
}

#[test]
fn run_passes_on_the_runners_exit_status_and_reason() {
    let _lock = support::packaging_lock();
    let out = support::xtask(&["run", "header-append", "--config", r#"{"x-run": 5}"#]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(r#"header "x-run""#), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the plugin did not start"),
        "{stderr}"
    );
}

/// A module that names a metric and adds a request header with newlines in them, as if to print lines of
/// the report itself.
const FORGING_MODULE: &str = r#"(module
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 64) "m\0a  forged_metric (counter): 7")
  (data (i32.const 256) "x-evil")
  (data (i32.const 320) "v\0a  forged-header: yes")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (drop (call $define (i32.const 0) (i32.const 64) (i32.const 30) (i32.const 1024)))
    (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $add (i32.const 0) (i32.const 256) (i32.const 6) (i32.const 320) (i32.const 22)))
    (i32.const 0)))"#;

#[test]
fn the_runners_text_report_keeps_a_modules_names_and_values_on_their_line() {
    let dir = support::tmp_dir("run-forged-lines");
    let module = dir.join("forging.wasm");
    std::fs::write(&module, wat::parse_str(FORGING_MODULE).unwrap()).unwrap();
    let out = std::process::Command::new(support::runner())
        .arg(&module)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let forged: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("forged"))
        .collect();
    assert!(
        forged.is_empty(),
        "the module printed lines of its own: {forged:?}\n{text}"
    );
    assert!(
        text.contains("  m\\n  forged_metric (counter): 7 (counter): 0"),
        "{text}"
    );
    assert!(
        text.contains("  x-evil: v\\n  forged-header: yes"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
