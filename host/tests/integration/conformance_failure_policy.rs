//! Start-up and failure as Envoy runs them: the base VM and the configuration canary before the worker's VM
//! (cpp-host `createWasm`, `WasmHandleBase::canary`), and `failure_policy` FAIL_CLOSED / FAIL_OPEN / FAIL_RELOAD
//! (Envoy `PluginConfig::createContext`, `maybeReloadHandleIfNeeded`; cpp-host `CHECK_FAIL`).

use std::time::Duration;

use host::testing::*;

/// A filter that shows which VM does what: `_initialize` logs "initialize", `on_vm_start` "vm_start",
/// `on_configure` "configure" (and counts itself in shared data `configures`, refusing when it was 9, and dispatches
/// a callout to cluster `auth`); each request gets `x-requests: N`, N counted in a global (the VM's own state), and a request to `/trap`
/// traps.
const FILTER: &str = r#"(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_call" (func $grpc_call
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (global $requests (mut i32) (i32.const 0))
  (data (i32.const 100) "initialize")
  (data (i32.const 120) "vm_start")
  (data (i32.const 140) "configure")
  (data (i32.const 160) "configures")
  (data (i32.const 180) ":path")
  (data (i32.const 200) "x-requests")
  (data (i32.const 220) "auth")
  (data (i32.const 240) "svc.Check")
  (data (i32.const 2000) "\03\00\00\00\05\00\00\00\01\00\00\00\07\00\00\00\03\00\00\00\0a\00\00\00\01\00\00\00:path\00/\00:method\00GET\00:authority\00x\00")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize")
    (drop (call $log (i32.const 2) (i32.const 100) (i32.const 10))))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 120) (i32.const 8)))
    (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (local $n i32)
    (drop (call $log (i32.const 2) (i32.const 140) (i32.const 9)))
    ;; configures += 1, stored as one digit.
    (if (i32.eqz (call $get_shared (i32.const 160) (i32.const 10) (i32.const 300) (i32.const 304) (i32.const 308)))
      (then (local.set $n (i32.sub (i32.load8_u (i32.load (i32.const 300))) (i32.const 48)))))
    (i32.store8 (i32.const 320) (i32.add (i32.const 49) (local.get $n)))
    (drop (call $set_shared (i32.const 160) (i32.const 10) (i32.const 320) (i32.const 1) (i32.const 0)))
    (drop (call $http_call (i32.const 220) (i32.const 4) (i32.const 2000) (i32.const 61)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 400)))
    (drop (call $grpc_call (i32.const 220) (i32.const 4) (i32.const 240) (i32.const 3) (i32.const 244) (i32.const 5)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 404)))
    ;; Refuses the configuration when `configures` was 9.
    (i32.ne (local.get $n) (i32.const 9)))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (global.set $requests (i32.add (global.get $requests) (i32.const 1)))
    (drop (call $get (i32.const 0) (i32.const 180) (i32.const 5) (i32.const 300) (i32.const 304)))
    (if (i32.eq (i32.load8_u (i32.add (i32.load (i32.const 300)) (i32.const 1))) (i32.const 116))
      (then (unreachable)))
    (i32.store8 (i32.const 330) (i32.add (i32.const 48) (global.get $requests)))
    (drop (call $add (i32.const 0) (i32.const 200) (i32.const 10) (i32.const 330) (i32.const 1)))
    (i32.const 0))
)"#;

fn filter() -> PluginBuilder {
    Plugin::from_bytes(wat::parse_str(FILTER).expect("valid WAT")).clusters(&["auth"])
}

fn messages(logs: &[LogEntry]) -> Vec<(VmRole, u32, &str)> {
    logs.iter()
        .map(|l| (l.vm, l.context_id, l.message.as_str()))
        .collect()
}

/// A request through `plugin`: what the upstream got as `x-requests`, or the client's status if it was answered
/// locally.
fn request(plugin: &Plugin, path: &str) -> Result<String, u32> {
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", path)], true);
    if let Some(reply) = stream.local_reply() {
        return Err(reply.status);
    }
    let upstream = stream.upstream_request();
    stream.send_response_headers(&[(":status", "200")], true);
    stream.finish();
    Ok(upstream
        .header("x-requests")
        .unwrap_or_default()
        .to_string())
}

/// cpp-host `createWasm`: the base VM is loaded and initialized (`WasmBase::initialize` runs `_initialize`), then
/// `WasmHandleBase::canary` clones it, initializes the clone, runs `start` (`on_context_create`, `on_vm_start`) and
/// `configure` (`on_configure`) and kills it without `on_done`; then `getOrCreateThreadLocalPlugin` does the same in
/// the worker's own clone. So Envoy logs `_initialize` three times and `on_vm_start`/`on_configure` twice.
#[test]
fn start_up_runs_a_base_vm_and_a_configuration_canary_before_the_worker() {
    let plugin = filter().start().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        messages(&plugin.start_up_logs()),
        [
            (VmRole::Base, 0, "initialize"),
            (VmRole::Canary, 0, "initialize"),
            (VmRole::Canary, 1, "vm_start"),
            (VmRole::Canary, 1, "configure"),
        ]
    );
    assert_eq!(
        messages(&plugin.logs()),
        [
            (VmRole::Worker(0), 0, "initialize"),
            (VmRole::Worker(0), 1, "vm_start"),
            (VmRole::Worker(0), 1, "configure"),
        ]
    );
    assert_eq!(plugin.canary_logs().len(), 3);
    assert_eq!(plugin.all_logs().len(), 7);
}

/// `WasmHandleBase::canary`: the canary's `on_configure` runs for real, so its side effects stay: shared data is the
/// process's, and its HTTP callout and gRPC call were sent (then cancelled with the canary).
#[test]
fn the_canarys_side_effects_happen_twice() {
    let plugin = filter().start().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        plugin.shared_data("configures").map(|(v, _)| v),
        Some(b"2".to_vec()),
        "on_configure ran in the canary and in the worker's VM"
    );
    assert_eq!(plugin.canary_http_calls().len(), 1);
    assert_eq!(plugin.canary_http_calls()[0].cluster, "auth");
    assert_eq!(
        plugin.http_calls().len(),
        1,
        "only the worker's callout waits for an answer"
    );
    let grpc = plugin.canary_grpc_calls();
    assert_eq!(grpc.len(), 1);
    assert_eq!(
        (
            grpc[0].upstream.as_str(),
            grpc[0].service.as_str(),
            grpc[0].method.as_str()
        ),
        ("auth", "svc", "Check")
    );
    assert_eq!(
        plugin.grpc_calls().len(),
        1,
        "only the worker's call is pending"
    );
}

/// cpp-host `createWasm` caches base VMs per vm_key (`base_wasms`) and `canary` caches its result per plugin key
/// (`plugin_canary_cache_`): a second worker of the same plugin in the same Envoy runs neither again.
#[test]
fn a_second_worker_of_the_same_plugin_runs_no_canary() {
    let envoy = Envoy::new();
    let first = filter()
        .vm_id("shared")
        .on(&envoy)
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let second = filter()
        .vm_id("shared")
        .on(&envoy)
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.start_up_logs().len(), 4);
    assert_eq!(second.start_up_logs(), []);
    assert_eq!(
        envoy.shared_data("shared", "configures").map(|(v, _)| v),
        Some(b"3".to_vec()),
        "one canary, two workers"
    );
    // Another configuration is another plugin: its canary runs (the base VM is shared).
    let other = filter()
        .vm_id("shared")
        .config("other")
        .on(&envoy)
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        messages(&other.start_up_logs()),
        [
            (VmRole::Canary, 0, "initialize"),
            (VmRole::Canary, 1, "vm_start"),
            (VmRole::Canary, 1, "configure"),
        ]
    );
}

/// Envoy `PluginConfig::maybeReloadHandleIfNeeded`: under FAIL_RELOAD a VM that failed at run time
/// (`FailState::RuntimeError`) is replaced for a new stream once `nextBackOffMs()` (1–1.5 s by default) has passed
/// since it was loaded; meanwhile new streams get FAIL_CLOSED's 503. The new VM is a fresh clone
/// (`getOrCreateThreadLocalPlugin`: `_initialize`, `on_vm_start`, `on_configure`, no canary): its globals start
/// over, while shared data, which is the process's, survives.
#[test]
fn fail_reload_gives_a_later_stream_a_fresh_vm_after_the_backoff() {
    let plugin = filter()
        .failure_policy(FailurePolicy::Reload)
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(request(&plugin, "/a"), Ok("1".into()));
    assert_eq!(request(&plugin, "/a"), Ok("2".into()));
    // A stream that was in the VM before it failed stays with it.
    let mut in_flight = plugin.http_stream();
    in_flight.send_request_headers(&[(":path", "/a")], true);

    assert_eq!(request(&plugin, "/trap"), Err(503));
    assert!(plugin.failure().is_some());
    assert_eq!(request(&plugin, "/a"), Err(503), "within the backoff");
    assert_eq!(plugin.reloads(), 0);

    plugin.advance_time(Duration::from_millis(1500));
    assert_eq!(
        request(&plugin, "/a"),
        Ok("1".into()),
        "a fresh VM counts from 1"
    );
    assert_eq!(plugin.reloads(), 1);
    assert_eq!(plugin.failure(), None);
    assert_eq!(request(&plugin, "/a"), Ok("2".into()));
    assert_eq!(
        plugin.shared_data("configures").map(|(v, _)| v),
        Some(b"3".to_vec()),
        "canary, first worker VM, the reloaded one"
    );
    let reloaded: Vec<_> = plugin
        .logs()
        .into_iter()
        .filter(|l| l.vm == VmRole::Worker(1))
        .map(|l| l.message)
        .collect();
    assert_eq!(reloaded, ["initialize", "vm_start", "configure"]);

    // The in-flight stream's VM is the failed one: its response gets the 503 (cpp-host `CHECK_FAIL`).
    in_flight.send_response_headers(&[(":status", "200")], true);
    in_flight.client_response().assert_status(503);
}

/// `maybeReloadHandleIfNeeded`: when the new VM does not start (VmReloadFailure) the failed one stays, and the
/// next attempt waits for another backoff (`last_load` is updated either way).
#[test]
fn a_reload_whose_new_vm_does_not_start_keeps_the_failed_vm_and_tries_again_later() {
    let plugin = filter()
        .failure_policy(FailurePolicy::Reload)
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(request(&plugin, "/trap"), Err(503));
    plugin.advance_time(Duration::from_millis(1500));
    plugin.set_shared_data("configures", "9");
    assert_eq!(
        request(&plugin, "/a"),
        Err(503),
        "the new VM refused its configuration"
    );
    assert_eq!(plugin.reloads(), 0);
    assert!(
        plugin
            .logs()
            .iter()
            .any(|l| l.message.contains("FAIL_RELOAD could not start a new VM")),
        "{:#?}",
        plugin.logs()
    );
    plugin.set_shared_data("configures", "3");
    assert_eq!(
        request(&plugin, "/a"),
        Err(503),
        "within the backoff of the failed attempt"
    );
    plugin.advance_time(Duration::from_millis(1500));
    assert_eq!(request(&plugin, "/a"), Ok("1".into()));
    assert_eq!(plugin.reloads(), 1);
}

/// The reload backoff is `reload_config.backoff.base_interval` (Envoy `PluginConfig`: 1000 ms when unset).
#[test]
fn the_reload_backoff_is_configurable() {
    let plugin = filter()
        .failure_policy(FailurePolicy::Reload)
        .reload_backoff(Duration::from_secs(10))
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(request(&plugin, "/trap"), Err(503));
    plugin.advance_time(Duration::from_secs(9));
    assert_eq!(request(&plugin, "/a"), Err(503));
    plugin.advance_time(Duration::from_secs(6));
    assert_eq!(request(&plugin, "/a"), Ok("1".into()));
}

/// Envoy's `ReloadConfig` validation: `base_interval` of at least 1 ms.
#[test]
fn a_reload_backoff_under_a_millisecond_is_refused() {
    let error = filter()
        .failure_policy(FailurePolicy::Reload)
        .reload_backoff(Duration::ZERO)
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Config);
    assert!(error.message.contains("at least 1ms"), "{error}");
}

/// FAIL_CLOSED (the default) never reloads.
#[test]
fn fail_closed_answers_503_for_good() {
    let plugin = filter().start().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(request(&plugin, "/trap"), Err(503));
    plugin.advance_time(Duration::from_secs(60));
    assert_eq!(request(&plugin, "/a"), Err(503));
    assert_eq!(plugin.reloads(), 0);
}

/// Envoy `PluginConfig::createContext`: under FAIL_OPEN a stream created after the failure gets no context (the
/// filter is left out); cpp-host `CHECK_FAIL` reads only the legacy `fail_open`, so the stream the VM failed in
/// still gets the 503.
#[test]
fn fail_open_lets_later_streams_bypass_but_not_the_one_that_failed() {
    let plugin = filter()
        .failure_policy(FailurePolicy::Open)
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(request(&plugin, "/trap"), Err(503));
    assert_eq!(
        request(&plugin, "/a"),
        Ok(String::new()),
        "bypassed: no x-requests"
    );

    // The legacy `fail_open` (Envoy Gateway's `failOpen`) lets the failing stream through too.
    let legacy = filter()
        .fail_open(true)
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(request(&legacy, "/trap"), Ok(String::new()));
}

/// Envoy `PluginConfig`: "only one of fail_open or failure_policy can be set".
#[test]
fn fail_open_and_a_failure_policy_together_are_refused() {
    let error = filter()
        .fail_open(true)
        .failure_policy(FailurePolicy::Reload)
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Config);
    assert!(
        error
            .message
            .contains("only one of fail_open or failure_policy can be set"),
        "{error}"
    );
}
