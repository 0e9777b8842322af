//! The core of the host, proven with tiny hand-written modules (no SDK): start, configure, headers, failure.

use std::time::Duration;

use host::testing::*;

/// A minimal ABI 0.2.1 filter: logs its configuration (refusing an empty one), adds `x-wat: yes` to requests, and
/// spins forever on a request whose `:path` is `/loop` (first byte after `/` is `l`).
const FILTER: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "x-wat")
  (data (i32.const 32) "yes")
  (data (i32.const 48) ":path")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param $ctx i32) (param $size i32) (result i32)
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size) (i32.const 100) (i32.const 104)))
    (drop (call $log (i32.const 2) (i32.load (i32.const 100)) (i32.load (i32.const 104))))
    (i32.ne (local.get $size) (i32.const 0)))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $get (i32.const 0) (i32.const 48) (i32.const 5) (i32.const 100) (i32.const 104)))
    (if (i32.eq (i32.load8_u (i32.add (i32.load (i32.const 100)) (i32.const 1))) (i32.const 108))
      (then (loop $forever (br $forever))))
    (drop (call $add (i32.const 0) (i32.const 16) (i32.const 5) (i32.const 32) (i32.const 3)))
    (i32.const 0))
)
"#;

fn filter() -> Vec<u8> {
    wat::parse_str(FILTER).expect("valid WAT")
}

#[test]
fn starts_configures_and_filters_request_headers() {
    let plugin = Plugin::from_bytes(filter())
        .config("hello")
        .start()
        .expect("starts");
    assert_eq!(plugin.logs_at(Level::Info), ["hello"]);
    assert_eq!(plugin.abi_version(), AbiVersion::V0_2_1);

    let mut stream = plugin.http_stream();
    assert_eq!(
        stream.id(),
        2,
        "the root context is 1, streams share its counter"
    );
    let action = stream.send_request_headers(&[(":path", "/a"), ("X-Mixed", "1")], true);
    assert_eq!(action, Action::Continue);
    stream
        .upstream_request()
        .assert_header("x-wat", "yes")
        .assert_header("x-mixed", "1")
        .assert_header(":method", "GET")
        .assert_complete();
    stream.finish();
}

#[test]
fn a_false_on_configure_is_a_start_error_carrying_the_logs() {
    let error = Plugin::from_bytes(filter())
        .start()
        .expect_err("empty configuration is refused");
    assert_eq!(error.failure, StartFailure::Configure);
    assert!(
        error
            .to_string()
            .contains("proxy_on_configure returned false"),
        "{error}"
    );
}

#[test]
fn an_import_envoy_does_not_provide_fails_the_load_naming_it() {
    let module = FILTER.replace(
        r#"(import "env" "proxy_log""#,
        r#"(import "env" "proxy_no_such_call""#,
    );
    let error = Plugin::from_bytes(wat::parse_str(module).unwrap())
        .config("x")
        .start()
        .expect_err("refused");
    assert_eq!(error.failure, StartFailure::Load);
    assert!(
        error.message.contains("`env.proxy_no_such_call`"),
        "{error}"
    );
}

#[test]
fn a_guest_stuck_in_a_loop_is_stopped_and_fails_closed_with_503() {
    let plugin = Plugin::from_bytes(filter())
        .config("x")
        .call_deadline(Duration::from_millis(50))
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    assert_eq!(
        stream.send_request_headers(&[(":path", "/loop")], true),
        Action::Pause
    );
    let failure = plugin.failure().expect("the VM failed");
    assert!(failure.contains("deadline"), "{failure}");
    stream.client_response().assert_status(503);
    stream.upstream_request().assert_not_sent();
    assert_eq!(stream.local_reply().unwrap().details, "wasm_fail_stream");

    // Later streams: fail closed, without calling the guest.
    let mut next = plugin.http_stream();
    next.send_request_headers(&[(":path", "/a")], true);
    next.client_response().assert_status(503);
}

#[test]
fn fail_open_lets_requests_bypass_a_failed_plugin() {
    let plugin = Plugin::from_bytes(filter())
        .config("x")
        .fail_open(true)
        .call_deadline(Duration::from_millis(50))
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    assert_eq!(
        stream.send_request_headers(&[(":path", "/loop")], true),
        Action::Continue
    );
    stream
        .upstream_request()
        .assert_header(":path", "/loop")
        .assert_no_header("x-wat");
}

#[test]
fn a_guest_growing_memory_without_bound_hits_the_limit_and_fails() {
    let module = r#"
    (module
      (memory (export "memory") 1)
      (func (export "malloc") (param i32) (result i32) (i32.const 0))
      (func (export "proxy_abi_version_0_2_1"))
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (loop $more (drop (memory.grow (i32.const 16))) (br $more))
        (i32.const 0))
    )"#;
    let plugin = Plugin::from_bytes(wat::parse_str(module).unwrap())
        .memory_limit(4 << 20)
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Pause);
    let failure = plugin.failure().expect("the VM failed");
    assert!(
        failure.contains("proxy_on_request_headers trapped") && failure.contains("growing memory"),
        "{failure}"
    );
    stream.client_response().assert_status(503);
}

#[test]
fn memory_bytes_is_the_declared_memory_plus_what_the_guest_grew() {
    let module = r#"
    (module
      (memory (export "memory") 2)
      (func (export "malloc") (param i32) (result i32) (i32.const 0))
      (func (export "proxy_abi_version_0_2_1"))
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (drop (memory.grow (i32.const 3)))
        (i32.const 0))
    )"#;
    let plugin = Plugin::from_bytes(wat::parse_str(module).unwrap())
        .start()
        .unwrap();
    assert_eq!(plugin.memory_bytes(), 2 * 65536);
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.finish();
    assert_eq!(plugin.memory_bytes(), 5 * 65536);
}
