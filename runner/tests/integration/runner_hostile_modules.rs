//! Modules that try to mislead the runner's output: guest text that would take over the terminal or forge lines,
//! flags that would overflow virtual time, and a log flood that the report caps.

use std::process::Command;

use super::runner_compile_cache::{module, tagged_module};

/// `proxy-wasm-run --no-cache MODULE ARGS…` on `bytes`, written to a scratch directory named after `case`.
fn run_runner(case: &str, bytes: Vec<u8>, args: &[&str]) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("proxy-wasm-{case}-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{case}.wasm"));
    std::fs::write(&path, bytes).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_proxy-wasm-run"))
        .arg(&path)
        .arg("--no-cache")
        .args(args)
        .output()
        .expect("proxy-wasm-run runs");
    std::fs::remove_dir_all(&dir).unwrap();
    output
}

#[test]
fn guest_log_text_reaches_the_terminal_escaped() {
    // A title-setting OSC sequence, a screen clear, and a newline that would forge a log line of its own.
    let bytes = module(
        r#"(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))"#,
        r#"(memory (export "memory") 1) (data (i32.const 16) "\1b]0;owned\07\1b[2Jhello\0a  [warn] (context 1) forged")"#,
        r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
             (drop (call $log (i32.const 2) (i32.const 16) (i32.const 47)))
             (i32.const 1))"#,
    );
    let output = run_runner("escape", bytes, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
        "{stdout:?}"
    );
    assert!(
        stdout.contains(r"\u{1b}]0;owned\u{7}\u{1b}[2Jhello\n  [warn] (context 1) forged"),
        "the log line is shown escaped, on one line: {stdout}"
    );
}

#[test]
fn an_enormous_advance_time_in_the_runner() {
    let output = run_runner(
        "advance",
        tagged_module("good", "advance"),
        &["--advance-time", "18446744073709551615"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a command-line error: {stderr}"
    );
    assert!(
        stderr.contains("more than the runner advances virtual time at once"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_runner_report_caps_its_log_list() {
    // 30 000 empty lines: well within the budget, but the report shows the first and last 5 000.
    let bytes = module(
        r#"(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))"#,
        r#"(memory (export "memory") 1)"#,
        r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
             (local $i i32)
             (loop $lines
               (drop (call $log (i32.const 2) (i32.const 0) (i32.const 0)))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $lines (i32.lt_u (local.get $i) (i32.const 15000))))
             (i32.const 1))"#,
    );
    let output = run_runner("log-cap", bytes, &["--json"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    // The canary and the worker each log 15 000 lines.
    assert_eq!(report["logs"].as_array().map(Vec::len), Some(10_000));
    assert_eq!(report["logs_omitted"], 20_000);
}
