//! The Envoy a plugin is deployed to (`PluginBuilder::target`, the names of `cargo xtask deploy --for`): what that
//! release links (cpp-host `FOR_ALL_WASI_FUNCTIONS` at the commit the release pinned) and how its Wasm filter
//! behaves where releases differ (`envoy_targets::DIFFERENCES`). Each test names the release boundary it pins.

use crate::support::*;
use host::testing::*;

/// An ABI 0.2.1 module whose `proxy_on_vm_start` calls WASI `name` with i32 `args` and logs the errno it got as
/// two digits.
fn calling_wasi(name: &str, args: &[i32]) -> Vec<u8> {
    let params = vec!["i32"; args.len()].join(" ");
    let args: String = args.iter().map(|a| format!("(i32.const {a}) ")).collect();
    let wat = format!(
        r#"(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "{name}" (func $call (param {params}) (result i32)))
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 32768))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (local $errno i32)
    (local.set $errno (call $call {args}))
    (i32.store8 (i32.const 100) (i32.add (i32.const 48) (i32.div_u (local.get $errno) (i32.const 10))))
    (i32.store8 (i32.const 101) (i32.add (i32.const 48) (i32.rem_u (local.get $errno) (i32.const 10))))
    (drop (call $log (i32.const 2) (i32.const 100) (i32.const 2)))
    (i32.const 1))
)"#
    );
    wat::parse_str(&wat).unwrap_or_else(|e| panic!("{e}\n{wat}"))
}

/// `poll_oneoff(in, out, nsubscriptions, nevents)` over zeroed memory.
const POLL: [i32; 4] = [1024, 2048, 0, 4096];

fn start_on(target: &str, module: Vec<u8>) -> Result<Plugin, StartError> {
    Plugin::from_bytes(module).target(target).start()
}

// cpp-host c4d7bb0 (#427) added `poll_oneoff` to `FOR_ALL_WASI_FUNCTIONS` answering ENOSYS; it is the Envoy 1.33.0
// pin. cpp-host 94091cd (#533, in the 1.39.0 pin) answers success with zero events ("Go runtime requires
// poll_oneoff to return ESUCCESS").
#[test]
fn poll_oneoff_is_missing_before_envoy_1_33_enosys_until_1_38_and_succeeds_from_1_39() {
    let error =
        start_on("envoy-1.32", calling_wasi("poll_oneoff", &POLL)).expect_err("no poll_oneoff");
    assert_eq!(error.failure, StartFailure::Load);
    assert!(
        error.message.contains(
            "Failed to load Wasm module due to a missing import: wasi_snapshot_preview1.poll_oneoff"
        ) && error.message.contains("Envoy 1.32 does not provide"),
        "{error}"
    );
    for (target, errno) in [
        ("envoy-1.33", "52"),
        ("istio-1.30", "52"),
        ("envoy-1.39", "00"),
        ("envoy", "00"),
    ] {
        let plugin = start_on(target, calling_wasi("poll_oneoff", &POLL))
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        assert_eq!(plugin.logs_at(Level::Info), [errno], "{target}");
    }
}

// cpp-host 94091cd added 27 WASI functions (`fd_filestat_get` among them) in the Envoy 1.39.0 pin; Istio 1.30
// runs Envoy 1.38.
#[test]
fn a_wasi_function_of_a_newer_release_does_not_load_on_an_older_one() {
    let filestat = || calling_wasi("fd_filestat_get", &[3, 1024]);
    let error = start_on("istio-1.30", filestat()).expect_err("no fd_filestat_get");
    assert_eq!(error.failure, StartFailure::Load);
    assert!(
        error
            .message
            .contains("wasi_snapshot_preview1.fd_filestat_get")
            && error.message.contains("Envoy 1.38"),
        "{error}"
    );
    let plugin = start_on("envoy-1.39", filestat()).unwrap_or_else(|e| panic!("{e}"));
    // cpp-host `wasi_unstable_fd_filestat_get`: EBADF for a descriptor other than stdout and stderr.
    assert_eq!(plugin.logs_at(Level::Info), ["08"]);
}

// envoyproxy/envoy#36456 (1.33) added `PluginConfig.failure_policy`; #40213 (1.35) `allow_on_headers_stop_iteration`.
// An older Envoy's proto has no such field, so the configuration is refused.
#[test]
fn configuration_fields_a_release_lacks_are_refused_as_envoy_refuses_them() {
    let error = guest("noop")
        .target("envoy-1.32")
        .failure_policy(FailurePolicy::Reload)
        .start()
        .expect_err("no failure_policy in 1.32");
    assert_eq!(error.failure, StartFailure::Config);
    assert!(
        error.message.contains("Envoy 1.32") && error.message.contains("`failure_policy`"),
        "{error}"
    );
    guest("noop")
        .target("envoy-1.32")
        .fail_open(true)
        .start()
        .unwrap_or_else(|e| panic!("fail_open exists in 1.32: {e}"));

    // Istio 1.26 runs Envoy 1.34.
    let error = guest("noop")
        .target("istio-1.26")
        .allow_on_headers_stop_iteration(true)
        .start()
        .expect_err("no allow_on_headers_stop_iteration in 1.34");
    assert_eq!(error.failure, StartFailure::Config);
    assert!(
        error.message.contains("Envoy 1.34")
            && error.message.contains("`allow_on_headers_stop_iteration`")
            && error.message.contains("from Envoy 1.35"),
        "{error}"
    );
    guest("noop")
        .target("envoy-gateway-1.5")
        .allow_on_headers_stop_iteration(true)
        .start()
        .unwrap_or_else(|e| panic!("Envoy Gateway 1.5 runs Envoy 1.35: {e}"));
}

// `Context::findValue` before envoyproxy/envoy#31365 (1.29) knew the node as the Wasm token `node`
// (`PropertyToken::NODE`); 1.29 added `xds.node`; #36619 (1.33) removed the top-level names.
#[test]
fn the_node_is_node_before_envoy_1_29_both_until_1_32_and_only_xds_node_from_1_33() {
    for (target, node, xds_node) in [
        ("istio-1.20", "sidecar", "none"),
        ("envoy-1.30", "sidecar", "sidecar"),
        ("envoy-1.33", "none", "sidecar"),
        ("envoy", "none", "sidecar"),
    ] {
        let plugin = guest("properties node/id xds/node/id")
            .target(target)
            .property(&["xds", "node", "id"], "sidecar")
            .start()
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        plugin.http_stream().send_request_headers(&[], true);
        assert_eq!(
            note(&plugin, "property request-headers node/id = "),
            format!("property request-headers node/id = {node}"),
            "{target}"
        );
        assert_eq!(
            note(&plugin, "property request-headers xds/node/id = "),
            format!("property request-headers xds/node/id = {xds_node}"),
            "{target}"
        );
    }
}

// What each control plane writes when no failure policy is given: nothing (Istio before 1.19, OSSM's
// ServiceMeshExtension), `fail_open: false` (Envoy Gateway's `failOpen` default), FAIL_CLOSE (Istio 1.19+). Envoy
// reads each as fail closed (`PluginConfig::PluginConfig`: UNSPECIFIED is FAIL_CLOSED; `Context::failStream`):
// the failed stream and every later one get a 503.
#[test]
fn with_no_failure_policy_configured_every_target_fails_closed() {
    for target in [
        "ossm-2.1",
        "istio-1.18",
        "istio-1.28",
        "envoy-gateway-1.5",
        "envoy-1.32",
        "envoy",
    ] {
        let plugin = guest("record panic=on_request_headers")
            .target(target)
            .start()
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        for _ in 0..2 {
            let mut stream = plugin.http_stream();
            stream.send_request_headers(&[], true);
            stream.client_response().assert_status(503);
        }
    }
}

#[test]
fn an_unknown_target_names_the_ones_there_are() {
    let Err(error) = guest("noop").try_target("istio-1.2") else {
        panic!("istio-1.2 is not a target");
    };
    assert!(matches!(error, BuilderError::Target(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("`istio-1.2` is not a target; use ossm-2.0"),
        "{error}"
    );
}
