//! Conformance: ABI 0.1.0, the ABI of proxy-wasm Rust SDK 0.1.x modules such as Maistra's header-append-filter.
//! A hand-written module with the 0.1.0 marker, two-argument header callbacks, `proxy_get_configuration`, and
//! `proxy_continue_request`/`proxy_continue_response`/`proxy_clear_route_cache` (no arguments, status result).

use std::time::Duration;

use host::testing::*;

/// Pauses request and response headers (returning 1) and resumes them from the next tick, switching to the
/// paused stream with `proxy_set_effective_context` as the SDK does. The request gets `x-config: <configuration>`.
/// Logs (Info) the configuration it sees in on_configure and `continue <status>` / `clear <status>` on resume.
const V0_1_0: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_configuration" (func $config (param i32 i32) (result i32)))
  (import "env" "proxy_continue_request" (func $continue_request (result i32)))
  (import "env" "proxy_continue_response" (func $continue_response (result i32)))
  (import "env" "proxy_clear_route_cache" (func $clear_route_cache (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $request (mut i32) (i32.const 0))
  (global $response (mut i32) (i32.const 0))
  (data (i32.const 16) "x-config")
  (data (i32.const 32) "continue 0")
  (data (i32.const 48) "clear 0")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  ;; Logs `<text at $at, $len bytes>` with its last byte replaced by the digit of $status.
  (func $log_status (param $at i32) (param $len i32) (param $status i32)
    (i32.store8 (i32.add (local.get $at) (i32.sub (local.get $len) (i32.const 1)))
      (i32.add (i32.const 48) (local.get $status)))
    (drop (call $log (i32.const 2) (local.get $at) (local.get $len))))
  (func (export "proxy_abi_version_0_1_0"))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $config (i32.const 100) (i32.const 104)))
    (drop (call $log (i32.const 2) (i32.load (i32.const 100)) (i32.load (i32.const 104))))
    (drop (call $tick (i32.const 10)))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32) (result i32)
    (drop (call $config (i32.const 100) (i32.const 104)))
    (drop (call $add (i32.const 0) (i32.const 16) (i32.const 8) (i32.load (i32.const 100)) (i32.load (i32.const 104))))
    (global.set $request (local.get $ctx))
    (i32.const 1))
  (func (export "proxy_on_response_headers") (param $ctx i32) (param i32) (result i32)
    (global.set $response (local.get $ctx))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (if (global.get $request) (then
      (drop (call $effective (global.get $request)))
      (call $log_status (i32.const 32) (i32.const 10) (call $continue_request))
      (call $log_status (i32.const 48) (i32.const 7) (call $clear_route_cache))
      (global.set $request (i32.const 0))))
    (if (global.get $response) (then
      (drop (call $effective (global.get $response)))
      (call $log_status (i32.const 32) (i32.const 10) (call $continue_response))
      (global.set $response (i32.const 0)))))
)
"#;

fn plugin() -> Plugin {
    Plugin::from_bytes(wat::parse_str(V0_1_0).expect("valid WAT"))
        .config("plugin-config")
        .vm_config("vm-config")
        .start()
        .expect("an ABI 0.1.0 module starts")
}

#[test]
fn abi_0_1_0_continue_request_resumes_a_request_paused_by_two_argument_on_request_headers() {
    let plugin = plugin();
    assert_eq!(plugin.abi_version(), AbiVersion::V0_1_0);
    assert_eq!(plugin.logs_at(Level::Info), ["plugin-config"]);
    let mut stream = plugin.http_stream();
    assert_eq!(
        stream.send_request_headers(&[(":path", "/old")], false),
        Action::Pause
    );
    assert_eq!(stream.send_request_body("held", true), Action::Pause);
    stream.upstream_request().assert_not_sent();

    plugin.advance_time(Duration::from_millis(10));
    assert_eq!(
        plugin.logs_at(Level::Info),
        ["plugin-config", "continue 0", "clear 0"]
    );
    // Outside on_configure, proxy_get_configuration is the VM configuration.
    stream
        .upstream_request()
        .assert_header("x-config", "vm-config")
        .assert_body("held")
        .assert_complete();
}

#[test]
fn abi_0_1_0_continue_response_resumes_a_paused_response() {
    let plugin = plugin();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    plugin.advance_time(Duration::from_millis(10));
    assert_eq!(
        stream.send_response_headers(&[(":status", "201")], true),
        Action::Pause
    );
    stream.client_response().assert_not_sent();

    plugin.advance_time(Duration::from_millis(10));
    stream
        .client_response()
        .assert_status(201)
        .assert_complete();
    assert_eq!(plugin.logs_at(Level::Info).last().unwrap(), "continue 0");
}

/// Reads request header `:path` in `on_response_headers` (the request passed: Envoy holds no request headers) and
/// request trailer `x` in `on_log` (the access log has no request trailers); logs `response N` / `log N`, N the
/// status of `proxy_get_header_map_value`.
const V0_1_0_UNAVAILABLE_MAP: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) ":path")
  (data (i32.const 32) "response 0")
  (data (i32.const 48) "log 0")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func $log_status (param $at i32) (param $len i32) (param $status i32)
    (i32.store8 (i32.add (local.get $at) (i32.sub (local.get $len) (i32.const 1)))
      (i32.add (i32.const 48) (local.get $status)))
    (drop (call $log (i32.const 2) (local.get $at) (local.get $len))))
  (func (export "proxy_abi_version_0_1_0"))
  (func (export "proxy_on_response_headers") (param i32) (param i32) (result i32)
    (call $log_status (i32.const 32) (i32.const 10)
      (call $get (i32.const 0) (i32.const 16) (i32.const 5) (i32.const 100) (i32.const 104)))
    (i32.const 0))
  (func (export "proxy_on_log") (param i32)
    (call $log_status (i32.const 48) (i32.const 5)
      (call $get (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 100) (i32.const 104))))
)
"#;

// Envoy `Context::getHeaderMapValue`: a map that is not available answers Ok + "" for ABI 0.1.0 only in the
// access-log phase; elsewhere "Requested map type is not currently available" is BadArgument, 0.1.0 included.
#[test]
fn abi_0_1_0_reading_an_unavailable_map_is_bad_argument_outside_the_access_log_phase() {
    let plugin = Plugin::from_bytes(wat::parse_str(V0_1_0_UNAVAILABLE_MAP).expect("valid WAT"))
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[], true);
    stream.finish();
    assert_eq!(plugin.logs_at(Level::Info), ["response 2", "log 0"]);
}
