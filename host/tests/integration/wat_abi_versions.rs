//! ABI 0.1.0 modules (e.g. Maistra's header-append-filter, built with proxy-wasm 0.1.3) load and run with the
//! 0.1.0 imports and two-argument header callbacks; imports of another ABI version are refused.

use host::testing::*;

const V0_1_0: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_configuration" (func $config (param i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "x-config")
  (data (i32.const 32) "missing")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_1_0"))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $config (i32.const 100) (i32.const 104)))
    (drop (call $log (i32.const 2) (i32.load (i32.const 100)) (i32.load (i32.const 104))))
    (i32.const 1))
  ;; Two arguments, no end_of_stream. Adds `x-config: <plugin config>` and, since 0.1.0 answers a missing
  ;; header with Ok + empty value, logs the status of looking up `missing` (0 = Ok).
  (func (export "proxy_on_request_headers") (param i32 i32) (result i32)
    (drop (call $config (i32.const 100) (i32.const 104)))
    (drop (call $add (i32.const 0) (i32.const 16) (i32.const 8) (i32.load (i32.const 100)) (i32.load (i32.const 104))))
    (i32.store8 (i32.const 200)
      (i32.add (i32.const 48) (call $get (i32.const 0) (i32.const 32) (i32.const 7) (i32.const 108) (i32.const 112))))
    (drop (call $log (i32.const 2) (i32.const 200) (i32.const 1)))
    (i32.const 0))
)
"#;

#[test]
fn an_abi_0_1_0_module_runs_with_two_argument_header_callbacks() {
    let plugin = Plugin::from_bytes(wat::parse_str(V0_1_0).unwrap())
        .config("plugin-config")
        .vm_config("vm-config")
        .start()
        .expect("starts");
    assert_eq!(plugin.abi_version(), AbiVersion::V0_1_0);
    // Inside on_configure `proxy_get_configuration` is the plugin configuration, elsewhere the VM's.
    assert_eq!(plugin.logs_at(Level::Info), ["plugin-config"]);
    let mut stream = plugin.http_stream();
    assert_eq!(
        stream.send_request_headers(&[(":path", "/")], true),
        Action::Continue
    );
    stream
        .upstream_request()
        .assert_header("x-config", "vm-config");
    assert_eq!(plugin.logs_at(Level::Info), ["plugin-config", "0"]);
}

#[test]
fn an_abi_0_1_0_module_may_not_import_0_2_functions() {
    let module = V0_1_0.replace(
        r#"(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))"#,
        r#"(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
           (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))"#,
    );
    let error = Plugin::from_bytes(wat::parse_str(module).unwrap())
        .start()
        .expect_err("refused");
    assert_eq!(error.failure, StartFailure::Load);
    assert!(
        error.message.contains("`env.proxy_continue_stream`")
            && error.message.contains("ABI 0.1.0"),
        "{error}"
    );
}

#[test]
fn a_module_without_an_abi_marker_is_refused() {
    let module = V0_1_0.replace(r#"(func (export "proxy_abi_version_0_1_0"))"#, "");
    let error = Plugin::from_bytes(wat::parse_str(module).unwrap())
        .start()
        .expect_err("refused");
    assert!(
        error
            .message
            .contains("missing or unknown proxy-wasm ABI version"),
        "{error}"
    );
}

// cpp-host `registerCallbacks`: `proxy_get_log_level` is registered for ABI 0.2.1 modules only, so an ABI 0.2.0
// module importing it does not load; the functions every 0.2.x module gets (`proxy_continue_stream`) do.
#[test]
fn an_abi_0_2_0_module_gets_abi_0_2_0s_functions_and_not_0_2_1s() {
    let module = |extra: &str| {
        format!(
            r#"(module
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  {extra}
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_0")))"#
        )
    };
    let plugin = Plugin::from_bytes(wat::parse_str(module("")).unwrap())
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plugin.abi_version(), AbiVersion::V0_2_0);
    let error = Plugin::from_bytes(
        wat::parse_str(module(
            r#"(import "env" "proxy_get_log_level" (func $level (param i32) (result i32)))"#,
        ))
        .unwrap(),
    )
    .start()
    .expect_err("refused");
    assert_eq!(error.failure, StartFailure::Load);
    assert!(
        error.message.contains("`env.proxy_get_log_level`") && error.message.contains("ABI 0.2.0"),
        "{error}"
    );
}
