//! Bad input to the host: files that are not modules, modules Envoy refuses, guests that trap, loop, grow memory
//! without bound or hand the host bad pointers. Each gets a clear error and the test process carries on.
//! Raw-ABI fixtures are WAT text; panics come from the conformance guest (`panic=<callback>`).

use std::time::Duration;

use crate::support::*;
use host::testing::*;

/// A complete ABI 0.2.1 module: every callback exists and does nothing (Continue / true), except that
/// `on_configure` arms a 10 ms timer and registers queue `q`, and `on_request_headers` dispatches an HTTP callout
/// when the request has no end of stream. `replace` swaps `;; <callback>` markers for code (e.g. `unreachable`).
fn module(replace: &[(&str, &str)]) -> Vec<u8> {
    let mut text = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick (param i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $register (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response"
    (func $local_reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call"
    (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "q")
  (data (i32.const 24) "auth")
  ;; Serialized map: 3 pairs (:method GET, :path /, :authority a), 61 bytes.
  (data (i32.const 64) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\01\00\00\00\0a\00\00\00\01\00\00\00:method\00GET\00:path\00/\00:authority\00a\00")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    ;; malloc
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  ;; Logs a status as decimal digits (Info).
  (func $log_status (param $s i32)
    (i32.store8 (i32.const 8) (i32.add (i32.const 48) (i32.div_u (local.get $s) (i32.const 10))))
    (i32.store8 (i32.const 9) (i32.add (i32.const 48) (i32.rem_u (local.get $s) (i32.const 10))))
    (drop (call $log (i32.const 2) (i32.const 8) (i32.const 2))))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize")
    ;; _initialize
  )
  (func (export "proxy_on_context_create") (param i32 i32)
    ;; on_context_create
  )
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    ;; on_vm_start
    (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $tick (i32.const 10)))
    (drop (call $register (i32.const 16) (i32.const 1) (i32.const 32)))
    ;; on_configure
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32) (param $eos i32) (result i32)
    ;; on_request_headers
    (if (i32.eqz (local.get $eos))
      (then (drop (call $http_call (i32.const 24) (i32.const 4) (i32.const 64) (i32.const 61)
        (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 36)))))
    (i32.const 0))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
    ;; on_request_body
    (i32.const 0))
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32)
    ;; on_request_trailers
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    ;; on_response_headers
    (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32)
    ;; on_response_body
    (i32.const 0))
  (func (export "proxy_on_response_trailers") (param i32 i32) (result i32)
    ;; on_response_trailers
    (i32.const 0))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    ;; on_http_call_response
  )
  (func (export "proxy_on_tick") (param i32)
    ;; on_tick
  )
  (func (export "proxy_on_queue_ready") (param i32 i32)
    ;; on_queue_ready
  )
  (func (export "proxy_on_log") (param i32)
    ;; on_log
  )
  (func (export "proxy_on_done") (param i32) (result i32)
    ;; on_done
    (i32.const 1))
  (func (export "proxy_on_delete") (param i32)
    ;; on_delete
  )
)"#
    .to_string();
    for (marker, code) in replace {
        let marker = format!(";; {marker}\n");
        assert!(text.contains(&marker), "no marker {marker:?}");
        text = text.replace(&marker, &format!("{code}\n"));
    }
    wat::parse_str(&text).expect("valid WAT")
}

/// The module with `unreachable` in `callback`.
fn trapping_in(callback: &str) -> Vec<u8> {
    module(&[(callback, "unreachable")])
}

/// Starts the module on an Envoy that has the cluster the module calls out to (`auth`).
fn start_bytes(bytes: Vec<u8>) -> Plugin {
    match Plugin::from_bytes(bytes).clusters(&["auth"]).start() {
        Ok(plugin) => plugin,
        Err(e) => panic!("the module did not start: {e}"),
    }
}

#[track_caller]
fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "expected {part:?} in:\n{text}");
}

#[track_caller]
fn assert_failed_in(plugin: &Plugin, export: &str) {
    let failure = plugin.failure().expect("the VM failed");
    assert_contains(&failure, &format!("{export} trapped"));
}

/// A fresh stream on a failed, fail-closed plugin gets Envoy's 503 without reaching the guest.
#[track_caller]
fn assert_later_streams_get_503(plugin: &Plugin) {
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.client_response().assert_status(503);
    assert_eq!(stream.local_reply().unwrap().details, "wasm_fail_stream");
}

#[test]
fn bytes_that_are_not_wasm_are_a_load_error() {
    let error = Plugin::from_bytes(b"#!/bin/sh\necho filter\n".to_vec())
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Load);
    assert_contains(&error.to_string(), "the module did not load");
    assert_contains(&error.message, "magic header");
}

#[test]
fn a_truncated_module_is_a_load_error() {
    let bytes = std::fs::read(guest_module("conformance-guest").unwrap()).unwrap();
    let error = Plugin::from_bytes(bytes[..bytes.len() / 2].to_vec())
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Load);
    assert_contains(&error.message, "unexpected end");
}

#[test]
fn a_missing_module_file_is_a_load_error_naming_the_path() {
    let error = Plugin::load("/no/such/dir/filter.wasm")
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Load);
    assert_contains(
        &error.message,
        "cannot read the module /no/such/dir/filter.wasm",
    );
}

#[test]
fn a_guest_module_that_cannot_be_built_says_which_build_failed_and_why() {
    let error = Plugin::guest("no-such-guest").start().unwrap_err();
    assert_eq!(error.failure, StartFailure::Load);
    assert_contains(
        &error.message,
        "building `no-such-guest` from its current sources failed: `cargo xtask build -p no-such-guest`",
    );
    assert_contains(
        &error.message,
        "no extension named `no-such-guest` under extensions/ (known: ",
    );
    assert_contains(&error.message, "header-append");
    // Other guests join the list; the host's two oldest are always there.
    assert_contains(
        &error.message,
        "nor another cdylib of the workspace (known: conformance-guest, ",
    );
    assert_contains(&error.message, "sdk-0-1-guest)");
}

#[test]
fn a_module_without_memory_is_refused() {
    let bytes = wat::parse_str(
        r#"(module (func (export "proxy_abi_version_0_2_1")) (func (export "malloc") (param i32) (result i32) (i32.const 0)))"#,
    )
    .unwrap();
    let error = Plugin::from_bytes(bytes).start().unwrap_err();
    assert_eq!(error.failure, StartFailure::Load);
    assert_contains(&error.message, "exports no `memory`");
}

#[test]
fn a_module_without_an_allocator_is_refused_naming_malloc() {
    let bytes = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1")))"#,
    )
    .unwrap();
    let error = Plugin::from_bytes(bytes).start().unwrap_err();
    assert_eq!(error.failure, StartFailure::Load);
    assert_contains(&error.message, "missing malloc function");
}

/// The host's own limit on tables (V8, Envoy's default runtime, takes tables of up to 10,000,000 elements
/// (`kV8MaxWasmTableSize`) and more of them): the load fails naming the table and the limit, without the hint about
/// WebAssembly features other compile errors carry.
#[test]
fn tables_past_the_hosts_limit_are_refused_naming_the_limit() {
    let cases = [
        (
            "(table 2000000 funcref)",
            "table index 0 has a minimum element size of 2000000 which exceeds the limit of 1048576",
        ),
        (
            "(table 1 funcref) (table 1 funcref) (table 1 funcref) (table 1 funcref) (table 1 funcref)",
            "defined tables count of 5 exceeds the per-instance limit of 4",
        ),
    ];
    for (tables, refused) in cases {
        let bytes = wat::parse_str(format!(
            r#"(module
                 {tables}
                 (memory (export "memory") 1)
                 (func (export "malloc") (param i32) (result i32) (i32.const 1024))
                 (func (export "proxy_abi_version_0_2_1")))"#
        ))
        .unwrap();
        let error = Plugin::from_bytes(bytes).start().unwrap_err();
        assert_eq!(error.failure, StartFailure::Load);
        assert_contains(&error.message, refused);
        assert_contains(
            &error.message,
            "(a limit of this host, not of Envoy: each VM's tables and instance have slots of a fixed size, at most 4 \
             tables of 1048576 elements)",
        );
        assert!(
            !error.message.contains("WebAssembly 2.0"),
            "{}",
            error.message
        );
    }
}

/// cpp-host `WasmBase::getFunctions` takes `malloc` (or `proxy_on_memory_allocate`) as `(i32) -> i32`; the runtime's
/// `getModuleFunctionImpl` refuses another signature ("Bad function signature for: malloc"), which fails the load.
#[test]
fn an_allocator_with_the_wrong_signature_is_refused_naming_it() {
    let bytes = wat::parse_str(
        r#"(module
             (memory (export "memory") 1)
             (func (export "malloc") (param i32 i32) (result i32) (i32.const 0))
             (func (export "proxy_abi_version_0_2_1")))"#,
    )
    .unwrap();
    let error = Plugin::from_bytes(bytes).start().unwrap_err();
    assert_eq!(error.failure, StartFailure::Load);
    assert_contains(
        &error.message,
        "the allocator export must be (i32) -> i32: `malloc` is (type (func (param i32 i32) (result i32)))",
    );
}

#[test]
fn an_import_with_the_wrong_signature_is_refused_naming_it() {
    let bytes = wat::parse_str(
        r#"(module
             (import "env" "proxy_log" (func (param i32) (result i32)))
             (memory (export "memory") 1)
             (func (export "malloc") (param i32) (result i32) (i32.const 0))
             (func (export "proxy_abi_version_0_2_1")))"#,
    )
    .unwrap();
    let error = Plugin::from_bytes(bytes).start().unwrap_err();
    assert_eq!(error.failure, StartFailure::Load);
    assert_contains(&error.message, "proxy_log");
}

#[test]
fn a_callback_with_the_wrong_signature_is_refused_naming_it() {
    let bytes = wat::parse_str(
        r#"(module
             (memory (export "memory") 1)
             (func (export "malloc") (param i32) (result i32) (i32.const 0))
             (func (export "proxy_abi_version_0_2_1"))
             (func (export "proxy_on_request_headers") (param i32 i32) (result i32) (i32.const 0)))"#,
    )
    .unwrap();
    let error = Plugin::from_bytes(bytes).start().unwrap_err();
    assert_eq!(error.failure, StartFailure::Load);
    assert_contains(
        &error.message,
        "the export `proxy_on_request_headers` has the wrong signature",
    );
}

/// cpp-host checks a module's callbacks for every VM it links (`WasmBase::getFunctions`); the host checks them once
/// per compiled module, so a second plugin of the same bytes must be refused the same way.
#[test]
fn every_start_of_a_module_with_a_wrong_callback_is_refused_not_only_the_first() {
    let bytes = wat::parse_str(
        r#"(module
             (memory (export "memory") 1)
             (func (export "malloc") (param i32) (result i32) (i32.const 0))
             (func (export "proxy_abi_version_0_2_1"))
             (func (export "proxy_on_tick") (param i32 i32)))"#,
    )
    .unwrap();
    let first = Plugin::from_bytes(bytes.clone()).start().unwrap_err();
    let second = Plugin::from_bytes(bytes).start().unwrap_err();
    assert_eq!(second.failure, StartFailure::Load);
    assert_contains(
        &first.message,
        "the export `proxy_on_tick` has the wrong signature",
    );
    assert_eq!(first.message, second.message);
}

#[test]
fn a_host_call_other_than_logging_while_the_vm_starts_is_refused() {
    let error = Plugin::from_bytes(module(&[(
        "_initialize",
        "(drop (call $log (i32.const 2) (i32.const 16) (i32.const 1))) (drop (call $tick (i32.const 5)))",
    )]))
    .start()
    .unwrap_err();
    assert_eq!(error.failure, StartFailure::Initialize);
    assert_contains(&error.message, "restricted_callback");
    assert_contains(&error.message, "proxy_set_tick_period_milliseconds");
    assert_eq!(error.logs.len(), 1, "logging was allowed: {error}");
}

#[test]
fn a_trap_in_initialize_is_a_start_error() {
    let error = Plugin::from_bytes(trapping_in("_initialize"))
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Initialize);
    assert_contains(&error.message, "_initialize trapped");
}

#[test]
fn a_trap_in_the_root_on_context_create_is_a_start_error() {
    let error = Plugin::from_bytes(trapping_in("on_context_create"))
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::VmStart);
    assert_contains(&error.message, "proxy_on_context_create trapped");
}

#[test]
fn a_trap_in_on_vm_start_is_a_start_error() {
    let error = Plugin::from_bytes(trapping_in("on_vm_start"))
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::VmStart);
    assert_contains(&error.message, "proxy_on_vm_start trapped");
}

#[test]
fn a_trap_in_on_configure_is_a_start_error() {
    let error = Plugin::from_bytes(trapping_in("on_configure"))
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Configure);
    assert_contains(&error.message, "proxy_on_configure trapped");
}

#[test]
fn a_trap_in_on_request_headers_fails_the_stream_with_503() {
    let plugin = start_bytes(trapping_in("on_request_headers"));
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Pause);
    assert_failed_in(&plugin, "proxy_on_request_headers");
    stream.upstream_request().assert_not_sent();
    stream.client_response().assert_status(503).assert_body("");
    assert_later_streams_get_503(&plugin);
}

#[test]
fn a_trap_in_on_request_body_fails_the_stream_with_503() {
    let plugin = start_bytes(trapping_in("on_request_body"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(stream.send_request_body("x", true), Action::Pause);
    assert_failed_in(&plugin, "proxy_on_request_body");
    stream.client_response().assert_status(503);
    assert!(!stream.upstream_request().end_of_stream);
}

#[test]
fn a_trap_in_on_request_trailers_fails_the_stream_with_503() {
    let plugin = start_bytes(trapping_in("on_request_trailers"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    stream.send_request_body("x", false);
    assert_eq!(stream.send_request_trailers(&[("t", "1")]), Action::Pause);
    assert_failed_in(&plugin, "proxy_on_request_trailers");
    stream.client_response().assert_status(503);
}

#[test]
fn a_trap_in_on_response_headers_fails_the_stream_with_503() {
    let plugin = start_bytes(trapping_in("on_response_headers"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[(":status", "200")], true);
    assert_failed_in(&plugin, "proxy_on_response_headers");
    stream.client_response().assert_status(503);
}

#[test]
fn a_trap_in_on_response_body_resets_a_response_already_started() {
    let plugin = start_bytes(trapping_in("on_response_body"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[(":status", "200")], false);
    stream.send_response_body("x", true);
    assert_failed_in(&plugin, "proxy_on_response_body");
    // The client already has the 200 headers: Envoy can only reset the stream.
    assert_eq!(stream.reset().as_deref(), Some("wasm_fail_stream"));
    stream.client_response().assert_status(200);
}

#[test]
fn a_trap_in_on_response_trailers_resets_a_response_already_started() {
    let plugin = start_bytes(trapping_in("on_response_trailers"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[], false);
    stream.send_response_body("x", false);
    stream.send_response_trailers(&[("t", "1")]);
    assert_failed_in(&plugin, "proxy_on_response_trailers");
    assert_eq!(stream.reset().as_deref(), Some("wasm_fail_stream"));
}

#[test]
fn a_trap_in_on_http_call_response_fails_the_vm() {
    let plugin = start_bytes(trapping_in("on_http_call_response"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    let token = plugin.http_calls()[0].token;
    plugin.answer_http_call(token, HttpCallResponse::new(200));
    assert_failed_in(&plugin, "proxy_on_http_call_response");
    assert_later_streams_get_503(&plugin);
}

#[test]
fn a_trap_in_on_log_fails_the_vm_after_the_stream() {
    let plugin = start_bytes(trapping_in("on_log"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[], true);
    stream.finish();
    assert_failed_in(&plugin, "proxy_on_log");
    stream.client_response().assert_status(200);
    assert_later_streams_get_503(&plugin);
}

#[test]
fn a_trap_in_on_done_fails_the_vm() {
    let plugin = start_bytes(trapping_in("on_done"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.finish();
    assert_failed_in(&plugin, "proxy_on_done");
    assert_later_streams_get_503(&plugin);
}

#[test]
fn a_trap_in_on_delete_fails_the_vm() {
    let plugin = start_bytes(trapping_in("on_delete"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.finish();
    assert_failed_in(&plugin, "proxy_on_delete");
    assert_later_streams_get_503(&plugin);
}

#[test]
fn a_trap_in_on_tick_fails_the_vm() {
    let plugin = start_bytes(trapping_in("on_tick"));
    plugin.advance_time(Duration::from_millis(10));
    assert_failed_in(&plugin, "proxy_on_tick");
    // Time goes on without calling into the failed VM.
    plugin.advance_time(Duration::from_secs(1));
    assert_later_streams_get_503(&plugin);
}

#[test]
fn a_trap_in_on_queue_ready_fails_the_vm() {
    let plugin = start_bytes(trapping_in("on_queue_ready"));
    plugin.enqueue("q", "item");
    assert_failed_in(&plugin, "proxy_on_queue_ready");
}

#[test]
fn a_trap_in_the_allocator_during_a_host_call_fails_the_calling_callback() {
    let error = Plugin::from_bytes(module(&[
        ("malloc", "unreachable"),
        ("on_configure", "(drop (call $get_buffer (i32.const 7) (i32.const 0) (i32.const -1) (i32.const 40) (i32.const 44)))"),
    ]))
    .config("needs malloc")
    .start()
    .unwrap_err();
    assert_eq!(error.failure, StartFailure::Configure);
    assert_contains(&error.message, "proxy_on_configure trapped");
}

#[test]
fn a_loop_in_on_configure_is_stopped_by_the_deadline() {
    let error = Plugin::from_bytes(module(&[("on_configure", "(loop $l (br $l))")]))
        .call_deadline(Duration::from_millis(50))
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Configure);
    assert_contains(
        &error.message,
        "proxy_on_configure exceeded the 50ms deadline",
    );
}

#[test]
fn a_loop_in_initialize_is_stopped_by_the_deadline() {
    let error = Plugin::from_bytes(module(&[("_initialize", "(loop $l (br $l))")]))
        .call_deadline(Duration::from_millis(50))
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Initialize);
    assert_contains(&error.message, "_initialize exceeded the 50ms deadline");
}

#[test]
fn a_loop_in_on_tick_is_stopped_by_the_deadline_and_fails_the_vm() {
    let plugin = Plugin::from_bytes(module(&[("on_tick", "(loop $l (br $l))")]))
        .call_deadline(Duration::from_millis(50))
        .start()
        .unwrap();
    plugin.advance_time(Duration::from_millis(10));
    assert_contains(
        &plugin.failure().unwrap(),
        "proxy_on_tick exceeded the 50ms deadline",
    );
    assert_later_streams_get_503(&plugin);
}

#[test]
fn unbounded_memory_growth_in_on_configure_hits_the_limit_and_is_a_start_error() {
    let error = Plugin::from_bytes(module(&[(
        "on_configure",
        "(loop $more (drop (memory.grow (i32.const 16))) (br $more))",
    )]))
    .memory_limit(8 << 20)
    .start()
    .unwrap_err();
    assert_eq!(error.failure, StartFailure::Configure);
    assert_contains(&error.message, "proxy_on_configure trapped");
    assert_contains(&error.message, "growing memory");
}

#[test]
fn a_log_message_out_of_bounds_is_invalid_memory_access() {
    let plugin = start_bytes(module(&[(
        "on_configure",
        "(call $log_status (call $log (i32.const 2) (i32.const 0x7fff0000) (i32.const 100)))",
    )]));
    assert_eq!(plugin.logs_at(Level::Info), ["06"]);
}

#[test]
fn a_return_pointer_out_of_bounds_is_invalid_memory_access() {
    let plugin = Plugin::from_bytes(module(&[(
        "on_configure",
        "(call $log_status (call $get_buffer (i32.const 7) (i32.const 0) (i32.const -1) (i32.const 0x7ffffff0) (i32.const 44)))",
    )]))
    .config("config")
    .start()
    .unwrap();
    assert_eq!(plugin.logs_at(Level::Info), ["06"]);
}

#[test]
fn an_allocator_returning_an_out_of_bounds_pointer_is_invalid_memory_access() {
    let plugin = Plugin::from_bytes(module(&[
        ("malloc", "(return (i32.const 0x7fff0000))"),
        (
            "on_configure",
            "(call $log_status (call $get_buffer (i32.const 7) (i32.const 0) (i32.const -1) (i32.const 40) (i32.const 44)))",
        ),
    ]))
    .config("config")
    .start()
    .unwrap();
    assert_eq!(plugin.logs_at(Level::Info), ["06"]);
}

#[test]
fn a_local_reply_body_out_of_bounds_is_invalid_memory_access_and_sends_nothing() {
    let plugin = start_bytes(module(&[(
        "on_request_headers",
        "(call $log_status (call $local_reply (i32.const 403) (i32.const 0) (i32.const 0) \
           (i32.const 0x7fff0000) (i32.const 10) (i32.const 0) (i32.const 0) (i32.const -1)))",
    )]));
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Continue);
    assert_eq!(plugin.logs_at(Level::Info), ["06"]);
    assert_eq!(stream.local_reply(), None);
    stream.upstream_request().assert_complete();
}

#[test]
fn a_panic_in_on_configure_is_a_start_error_carrying_the_panic_message() {
    let error = guest("record panic=on_configure").start().unwrap_err();
    assert_eq!(error.failure, StartFailure::Configure);
    assert_contains(&error.message, "proxy_on_configure trapped");
    assert_contains(&error.message, "guest panic in on_configure");
    assert_contains(error.reason(), "guest panic in on_configure");
}

#[test]
fn a_panic_in_on_vm_start_is_a_start_error_carrying_the_panic_message() {
    let error = guest("record").vm_config("panic").start().unwrap_err();
    assert_eq!(error.failure, StartFailure::VmStart);
    assert_contains(&error.message, "guest panic in on_vm_start");
}

#[test]
fn a_panic_in_on_request_headers_fails_this_stream_and_later_ones_with_503() {
    let plugin = start("record panic=on_request_headers");
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Pause);
    let failure = plugin.failure().unwrap();
    assert_contains(&failure, "proxy_on_request_headers trapped");
    assert_contains(&failure, "guest panic in on_request_headers");
    stream.client_response().assert_status(503);
    stream.finish();
    assert!(
        !callbacks(&plugin, stream.id()).contains(&"on_log".to_string()),
        "a failed VM gets no more callbacks"
    );
    assert_later_streams_get_503(&plugin);
}

#[test]
fn a_panic_in_a_stream_context_create_fails_the_stream_with_503() {
    let plugin = start("record panic=on_context_create");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    assert_failed_in(&plugin, "proxy_on_context_create");
    stream.client_response().assert_status(503);
}

#[test]
fn a_panic_in_on_http_call_response_fails_the_vm_and_leaves_the_paused_stream_held() {
    let plugin = start("callout request panic=on_http_call_response");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    plugin.answer_http_call(stream.http_call().token, HttpCallResponse::new(200));
    assert_failed_in(&plugin, "proxy_on_http_call_response");
    // Envoy never resumes it: data that arrives is held by the stopped filter, as before the failure.
    assert_eq!(stream.send_request_body("x", true), Action::Pause);
    stream.upstream_request().assert_not_sent();
    stream.client_response().assert_not_sent();
    assert_later_streams_get_503(&plugin);
}

#[test]
fn a_panic_in_on_tick_fails_the_vm() {
    let plugin = start("ticker 100 panic=on_tick");
    plugin.advance_time(Duration::from_millis(100));
    assert_contains(&plugin.failure().unwrap(), "guest panic in on_tick");
    assert_later_streams_get_503(&plugin);
}

#[test]
fn fail_open_lets_streams_bypass_a_plugin_that_panicked() {
    let plugin = guest("record panic=on_request_headers")
        .fail_open(true)
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    assert_eq!(
        stream.send_request_headers(&[(":path", "/open")], true),
        Action::Continue
    );
    assert!(plugin.failure().is_some());
    stream
        .upstream_request()
        .assert_header(":path", "/open")
        .assert_complete();
    stream.send_response_headers(&[], true);
    stream.client_response().assert_status(200);
}

/// Calls `proxy_grpc_call` with `upstream` (WAT string escapes) from `on_request_headers` and logs (Info) `status NN`,
/// the two-digit status it got.
fn grpc_upstream_module(upstream: &str, len: usize) -> Vec<u8> {
    let text = format!(
        r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_call"
    (func $grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "{upstream}")
  (data (i32.const 64) "status 00")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $status i32)
    (local.set $status
      (call $grpc_call (i32.const 16) (i32.const {len}) (i32.const 64) (i32.const 1) (i32.const 64) (i32.const 1)
        (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 200)))
    (i32.store8 (i32.const 71) (i32.add (i32.const 48) (i32.div_u (local.get $status) (i32.const 10))))
    (i32.store8 (i32.const 72) (i32.add (i32.const 48) (i32.rem_u (local.get $status) (i32.const 10))))
    (drop (call $log (i32.const 2) (i32.const 64) (i32.const 9)))
    (i32.const 0))
)
"#
    );
    wat::parse_str(&text).expect("valid WAT")
}

/// The status the module got, and the host's explanation.
fn grpc_refusal(upstream: &str, len: usize) -> (Vec<String>, Vec<String>) {
    let plugin = Plugin::from_bytes(grpc_upstream_module(upstream, len))
        .clusters(&["grpc-upstream"])
        .start()
        .unwrap();
    plugin.http_stream().send_request_headers(&[], true);
    plugin.assert_not_failed();
    assert!(plugin.grpc_calls().is_empty());
    let host = plugin
        .logs()
        .into_iter()
        .filter(|l| l.origin == LogOrigin::Host)
        .map(|l| l.message)
        .collect();
    (plugin.logs_at(Level::Info), host)
}

#[test]
fn a_grpc_upstream_that_is_not_text_is_a_cluster_name_refused_with_its_bytes_shown() {
    // 0xff 0xfe: a varint that never ends, so not a GrpcService: a cluster name Envoy does not have.
    let (statuses, host) = grpc_refusal("\\ff\\fe", 2);
    assert_eq!(statuses, ["status 04"], "ParseFailure");
    assert!(
        host[0].contains("unknown cluster \"\u{fffd}\u{fffd}\"")
            && host[0].contains("grpc-upstream"),
        "{host:#?}"
    );
}

#[test]
fn an_empty_grpc_upstream_parses_as_a_service_without_target_and_is_bad_argument() {
    // Envoy's `GrpcService::ParseFromString("")` succeeds: an empty service, with no cluster to call.
    let (statuses, host) = grpc_refusal("", 0);
    assert_eq!(statuses, ["status 02"], "BadArgument");
    assert!(
        host[0].contains("parses as a serialized GrpcService without envoy_grpc or google_grpc"),
        "{host:#?}"
    );
}

#[test]
fn a_serialized_grpc_service_naming_an_undeclared_cluster_is_internal_failure() {
    // GrpcService { envoy_grpc { cluster_name: "elsewhere" } }: the client is made unchecked, the call fails inline.
    let (statuses, host) = grpc_refusal("\\0a\\0b\\0a\\09elsewhere", 13);
    assert_eq!(statuses, ["status 10"], "InternalFailure");
    assert!(
        host[0].contains("unknown cluster \"elsewhere\""),
        "{host:#?}"
    );
}
