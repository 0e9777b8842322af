//! Traps name the Rust function: the conformance guest reads a request header with the SDK's `String` getter, which
//! panics on a value that is not UTF-8 (proxy-wasm-rust-sdk#310). Envoy reports such a trap with wasm function
//! indices only (cpp-host `WasmBase::fail` with the runtime's message); the host's report adds the callback, the host
//! call the guest was answering, the panic message and the backtrace with Rust names, taken from the module, from
//! its names twin beside it, or explained as missing.

use std::path::{Path, PathBuf};

use host::testing::{
    HostCallAnswer, NamesSource, Plugin, PluginBuilder, Status, TrapReport, guest_module,
};
use wasmparser::{Parser, Payload};

use crate::support::CLUSTERS;

/// The SDK's panic on a non-UTF-8 header value, in on_request_headers.
const READS_A_HEADER: &str = "record read-header=x-bin";

/// The trait method of the guest's stream that panics (through the SDK's getter, or `Scenario::panic_in`).
const GUEST_CALLBACK: &str = "<conformance_guest::stream::Stream as proxy_wasm::traits::HttpContext>::on_http_request_headers";

fn conformance() -> PathBuf {
    guest_module("conformance-guest").unwrap_or_else(|e| panic!("{e:#}"))
}

/// Starts `builder` with the header-reading scenario and sends a header that is not UTF-8: the report of the trap,
/// and the failure message.
fn trap_on_a_binary_header(builder: PluginBuilder) -> (TrapReport, String) {
    let plugin = builder
        .config(READS_A_HEADER)
        .clusters(&CLUSTERS)
        .start()
        .unwrap_or_else(|e| panic!("the guest did not start: {e}"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers_bytes(&[("x-bin", b"\xff\xfe")], true);
    let failure = plugin.failure().expect("the guest trapped");
    let trap = plugin.trap().expect("the failure is a trap");
    (trap, failure)
}

/// A directory of this test's own, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trap-reports-{}-{name}", std::process::id()));
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

/// `dir/plugin.wasm`, the conformance guest without names, and optionally `dir/plugin.names.wasm`.
fn install(dir: &Path, twin: Option<&[u8]>) -> PathBuf {
    let named = std::fs::read(conformance()).unwrap();
    let module = dir.join("plugin.wasm");
    std::fs::write(&module, shipped(&named)).unwrap();
    if let Some(twin) = twin {
        std::fs::write(dir.join("plugin.names.wasm"), twin).unwrap();
    }
    module
}

#[track_caller]
fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "expected `{part}` in:\n{text}");
}

fn function_names(trap: &TrapReport) -> Vec<&str> {
    trap.frames
        .iter()
        .filter_map(|f| f.function.as_deref())
        .collect()
}

#[test]
fn a_panic_on_a_binary_header_names_the_callback_the_host_call_the_panic_and_the_rust_functions() {
    let (trap, failure) = trap_on_a_binary_header(Plugin::guest("conformance-guest"));
    assert_eq!(trap.callback, "proxy_on_request_headers");
    assert_eq!(
        trap.answering(),
        Some(&HostCallAnswer {
            name: "proxy_get_header_map_value",
            status: Some(Status::Ok)
        }),
        "{failure}"
    );
    assert_contains(trap.panic.as_deref().unwrap_or_default(), "FromUtf8Error");
    assert_eq!(
        trap.names,
        NamesSource::Module,
        "the guest's cargo module keeps its names"
    );
    assert!(
        function_names(&trap).contains(&GUEST_CALLBACK),
        "the backtrace names the guest's method:\n{failure}"
    );
    assert_contains(
        &failure,
        "proxy_on_request_headers trapped: wasm trap: wasm `unreachable` instruction executed",
    );
    assert_contains(
        &failure,
        "answering: proxy_get_header_map_value returned Ok",
    );
    assert_contains(&failure, "panic: panicked at");
    // The innermost function outside std and core: where the SDK unwrapped the conversion.
    assert_eq!(trap.culprit(), Some("proxy_wasm::hostcalls::get_map_value"));
    assert_contains(&failure, "\nin: proxy_wasm::hostcalls::get_map_value\n");
    assert_contains(&failure, GUEST_CALLBACK);
}

#[test]
fn a_shipped_module_without_names_takes_them_from_its_twin_beside_it() {
    let dir = scratch("twin");
    let twin = std::fs::read(conformance()).unwrap();
    let module = install(&dir, Some(&twin));
    let (trap, failure) = trap_on_a_binary_header(Plugin::load(&module));
    assert_eq!(trap.names, NamesSource::Twin(dir.join("plugin.names.wasm")));
    assert!(function_names(&trap).contains(&GUEST_CALLBACK), "{failure}");
    assert_contains(
        &failure,
        &format!("names from {}", dir.join("plugin.names.wasm").display()),
    );
    // The same frames, by index, as the module that keeps its own names.
    let (named, _) = trap_on_a_binary_header(Plugin::guest("conformance-guest"));
    assert_eq!(trap.frames, named.frames);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_twin_the_report_has_indices_and_says_where_the_names_would_be() {
    let dir = scratch("none");
    let module = install(&dir, None);
    let (trap, failure) = trap_on_a_binary_header(Plugin::load(&module));
    assert!(!trap.frames.is_empty(), "{failure}");
    assert!(function_names(&trap).is_empty(), "{failure}");
    let NamesSource::Missing(why) = &trap.names else {
        panic!("names from {:?}", trap.names);
    };
    assert_contains(why, "plugin.names.wasm");
    assert_contains(why, "cargo xtask build");
    // Still the callback, the host call and the panic: they do not need names.
    assert_eq!(
        trap.answering().map(|c| c.name),
        Some("proxy_get_header_map_value")
    );
    assert_contains(&failure, "panic: panicked at");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_twin_of_another_build_is_refused_rather_than_naming_the_wrong_functions() {
    let dir = scratch("stale");
    let other =
        wat::parse_str(r#"(module (func $elsewhere) (memory (export "memory") 1))"#).unwrap();
    let module = install(&dir, Some(&other));
    let (trap, failure) = trap_on_a_binary_header(Plugin::load(&module));
    assert!(function_names(&trap).is_empty(), "{failure}");
    let NamesSource::Missing(why) = &trap.names else {
        panic!("names from {:?}", trap.names);
    };
    assert_contains(why, "is not this module with names");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_panic_in_on_configure_is_a_start_error_whose_trap_names_the_root_method() {
    let error = Plugin::guest("conformance-guest")
        .config("record panic=on_configure")
        .start()
        .unwrap_err();
    let trap = error.trap.expect("a trap report with the start error");
    assert_eq!(trap.callback, "proxy_on_configure");
    assert_contains(
        trap.panic.as_deref().unwrap_or_default(),
        "guest panic in on_configure",
    );
    assert!(
        function_names(&trap)
            .iter()
            .any(|f| f.ends_with("RootContext>::on_configure")),
        "{}",
        error.message
    );
}
