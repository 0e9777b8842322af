//! Shared by the conformance tests: the conformance guest (`host/guests/conformance`, behaviour chosen by its
//! plugin configuration) and readers for what it logs — callbacks at Debug, observations at Info, raw host-function
//! statuses as `status <what> = <n>`.

use host::testing::*;

/// The clusters the conformance guest calls out to (its default HTTP cluster and its gRPC upstream).
pub const CLUSTERS: [&str; 2] = ["auth", "grpc-upstream"];

/// The conformance guest, configured with `scenario` (words: a scenario name and its arguments), on an Envoy that
/// has the guest's [`CLUSTERS`].
pub fn guest(scenario: &str) -> PluginBuilder {
    Plugin::guest("conformance-guest")
        .config(scenario)
        .clusters(&CLUSTERS)
}

/// The conformance guest, started; panics with the start error and the guest's logs if it does not start.
#[track_caller]
pub fn start(scenario: &str) -> Plugin {
    match guest(scenario).start() {
        Ok(plugin) => plugin,
        Err(e) => panic!("the conformance guest did not start: {e}"),
    }
}

/// The callbacks context `context_id` received, in order (`on_request_headers 3 false`, `on_log`, …).
pub fn callbacks(plugin: &Plugin, context_id: u32) -> Vec<String> {
    plugin
        .logs()
        .into_iter()
        .filter(|l| l.level == Level::Debug && l.context_id == context_id)
        .map(|l| l.message)
        .collect()
}

/// What the guest observed (Info lines) that starts with `prefix`, in order.
pub fn notes(plugin: &Plugin, prefix: &str) -> Vec<String> {
    plugin
        .logs_at(Level::Info)
        .into_iter()
        .filter(|m| m.starts_with(prefix))
        .collect()
}

/// The one observation starting with `prefix`; panics, listing every log line, if there is not exactly one.
#[track_caller]
pub fn note(plugin: &Plugin, prefix: &str) -> String {
    let found = notes(plugin, prefix);
    match <[String; 1]>::try_from(found) {
        Ok([line]) => line,
        Err(found) => panic!(
            "expected one Info line starting with {prefix:?}, found {found:?}; the guest logged:\n{:#?}",
            plugin.logs()
        ),
    }
}

/// The status the host returned to the guest's raw call `what` (logged as `status <what> = <n>`), as a number to
/// compare with `Status::… as i32`.
#[track_caller]
pub fn status(plugin: &Plugin, what: &str) -> i32 {
    let line = note(plugin, &format!("status {what} = "));
    line.rsplit(" = ")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line}"))
}

/// A module whose `proxy_on_vm_start` draws 8 bytes with WASI `random_get` and logs them at Info as 16 hex digits.
pub fn random_get_module() -> Vec<u8> {
    let text = r#"(module
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "0123456789abcdef")
  (global $heap (mut i32) (i32.const 1024))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (local $i i32) (local $b i32)
    (drop (call $random (i32.const 0) (i32.const 8)))
    (loop $hex
      (local.set $b (i32.load8_u (local.get $i)))
      (i32.store8 (i32.add (i32.const 200) (i32.shl (local.get $i) (i32.const 1)))
        (i32.load8_u (i32.add (i32.const 100) (i32.shr_u (local.get $b) (i32.const 4)))))
      (i32.store8 (i32.add (i32.const 201) (i32.shl (local.get $i) (i32.const 1)))
        (i32.load8_u (i32.add (i32.const 100) (i32.and (local.get $b) (i32.const 15)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $hex (i32.lt_u (local.get $i) (i32.const 8))))
    (drop (call $log (i32.const 2) (i32.const 200) (i32.const 16)))
    (i32.const 1))
)"#;
    wat::parse_str(text).unwrap_or_else(|e| panic!("invalid WAT: {e}"))
}
