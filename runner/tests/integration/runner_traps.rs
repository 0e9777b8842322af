//! The runner's report of a trap (`--json` and text): the callback, the panic and the backtrace with Rust names taken
//! from the module's names twin, as host/tests/integration/trap_reports.rs checks them through the test API.

use std::path::{Path, PathBuf};

use host::testing::guest_module;
use wasmparser::{Parser, Payload};

/// The trait method of the guest's stream that panics (through the SDK's getter, or `Scenario::panic_in`).
/// The trait method of the guest's stream that panics (through the SDK's getter, or `Scenario::panic_in`).
const GUEST_CALLBACK: &str = "<conformance_guest::stream::Stream as proxy_wasm::traits::HttpContext>::on_http_request_headers";

fn conformance() -> PathBuf {
    guest_module("conformance-guest").unwrap_or_else(|e| panic!("{e:#}"))
}

/// A directory of this test's own, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runner-trap-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The module without its custom sections, as `cargo xtask build` ships it.
fn shipped(module: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut start = 0;
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.unwrap();
        if let Payload::Version { range, .. } = &payload {
            start = range.end as usize;
            out.extend_from_slice(&module[..start]);
        } else if let Some((id, range)) = payload.as_section() {
            let end = range.end as usize;
            if id != 0 {
                out.extend_from_slice(&module[start..end]);
            }
            start = end;
        }
    }
    out
}

/// `dir/plugin.wasm`, the conformance guest without names.
fn install(dir: &Path) -> PathBuf {
    let named = std::fs::read(conformance()).unwrap();
    let module = dir.join("plugin.wasm");
    std::fs::write(&module, shipped(&named)).unwrap();
    module
}

#[track_caller]
fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "expected `{part}` in:\n{text}");
}

#[test]
fn the_runner_reports_the_trap_with_names_from_the_twin_in_json_and_text() {
    let dir = scratch("runner");
    let twin = std::fs::read(conformance()).unwrap();
    let module = install(&dir);
    let twin_path = dir.join("elsewhere.names.wasm");
    std::fs::write(&twin_path, &twin).unwrap();
    let run = |json: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_proxy-wasm-run"));
        command
            .arg(&module)
            .args(["--config", "record panic=on_request_headers", "--names"])
            .arg(&twin_path);
        if json {
            command.arg("--json");
        }
        let output = command.output().expect("proxy-wasm-run runs");
        assert_eq!(
            output.status.code(),
            Some(3),
            "exit status 3: the plugin failed"
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let report: serde_json::Value = serde_json::from_str(&run(true)).unwrap();
    let trap = &report["trap"];
    assert_eq!(trap["callback"], "proxy_on_request_headers");
    assert_eq!(trap["kind"], "Trapped");
    assert_contains(
        trap["panic"].as_str().unwrap_or_default(),
        "guest panic in on_request_headers",
    );
    assert_eq!(
        trap["function"], "<conformance_guest::Scenario>::panic_in",
        "{trap:#}"
    );
    assert_contains(
        trap["names"].as_str().unwrap_or_default(),
        "elsewhere.names.wasm",
    );
    assert!(
        trap["backtrace"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["function"] == GUEST_CALLBACK),
        "{trap:#}"
    );
    let text = run(false);
    assert_contains(&text, "the plugin failed: proxy_on_request_headers trapped");
    assert_contains(&text, "\nin: <conformance_guest::Scenario>::panic_in\n");
    assert_contains(&text, &format!(": {GUEST_CALLBACK}\n"));
    assert_contains(&text, "\nbacktrace (names from ");
    let _ = std::fs::remove_dir_all(&dir);
}
