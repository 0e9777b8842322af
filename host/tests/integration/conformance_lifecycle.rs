//! Conformance: plugin start and configure, shutdown, log capture — with the conformance guest
//! (`host/guests/conformance`, a proxy-wasm 0.2.5 Rust filter).

use crate::support::*;
use host::testing::*;

// Envoy's stats live in its stats store, not in the VM: what a plugin that then refused its configuration defined
// is still there (and in /stats) after the failed start.
#[test]
fn the_metrics_a_plugin_defined_before_its_start_failed_are_in_the_start_error() {
    let error = crate::support::guest("metrics then-fail")
        .start()
        .expect_err("on_configure refuses");
    assert_eq!(error.failure, StartFailure::Configure);
    assert!(error.reason().contains("then-fail"), "{}", error.reason());
    let mut names: Vec<&str> = error.metrics.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["active_requests", "request_size", "requests_total"]);
}

#[test]
fn plugin_start_runs_context_create_then_vm_start_then_configure() {
    let plugin = guest("record").vm_config("vm-config").start().unwrap();
    assert_eq!(
        callbacks(&plugin, 1),
        [
            "root on_context_create 1",
            "root on_vm_start 9",
            "root on_configure 6"
        ]
    );
    assert_eq!(
        note(&plugin, "vm configuration: "),
        "vm configuration: vm-config"
    );
    assert_eq!(
        note(&plugin, "plugin configuration: "),
        "plugin configuration: record"
    );
    plugin.assert_not_failed();
}

#[test]
fn a_false_on_configure_is_a_start_error_with_the_guests_logged_reason() {
    let error = guest("configure-fails").start().unwrap_err();
    assert_eq!(error.failure, StartFailure::Configure);
    assert_eq!(
        error.reason(),
        "refusing the configuration: scenario configure-fails"
    );
    assert!(
        error
            .to_string()
            .contains("proxy_on_configure returned false"),
        "{error}"
    );
}

#[test]
fn a_false_on_vm_start_is_a_start_error_with_the_guests_logged_reason() {
    let error = guest("record").vm_config("fail").start().unwrap_err();
    assert_eq!(error.failure, StartFailure::VmStart);
    assert_eq!(
        error.reason(),
        "refusing to start: the VM configuration says fail"
    );
    // on_configure never ran.
    assert!(
        !error
            .logs
            .iter()
            .any(|l| l.message.starts_with("root on_configure")),
        "{error}"
    );
}

#[test]
fn shutdown_runs_on_done_then_on_delete_on_the_root_context() {
    let plugin = start("record");
    plugin.shutdown();
    assert!(plugin.is_deleted());
    let root = callbacks(&plugin, 1);
    assert_eq!(root[root.len() - 2..], ["root on_done", "root on_delete"]);
}

#[test]
fn a_root_returning_false_from_on_done_is_deleted_only_after_proxy_done() {
    let plugin = start("shutdown-pending");
    plugin.shutdown();
    assert!(!plugin.is_deleted(), "on_done returned false: pending");
    assert_eq!(callbacks(&plugin, 1).last().unwrap(), "root on_done");

    // The guest calls proxy_done from its next tick; on_delete follows that VM call.
    plugin.advance_time(std::time::Duration::from_millis(10));
    assert!(plugin.is_deleted());
    let root = callbacks(&plugin, 1);
    assert_eq!(root[root.len() - 2..], ["root on_tick", "root on_delete"]);
    assert_eq!(note(&plugin, "called proxy_done"), "called proxy_done");
}

#[test]
fn log_lines_are_captured_at_each_level() {
    let plugin = start("log-levels");
    for (level, text) in [
        (Level::Trace, "level trace"),
        (Level::Debug, "level debug"),
        (Level::Info, "level info"),
        (Level::Warn, "level warn"),
        (Level::Error, "level error"),
        (Level::Critical, "level critical"),
    ] {
        assert!(
            plugin.logs_at(level).iter().any(|m| m == text),
            "no {level:?} line {text:?}: {:#?}",
            plugin.logs()
        );
    }
    let entry = plugin
        .logs()
        .into_iter()
        .find(|l| l.message == "level info")
        .unwrap();
    assert_eq!(entry.context_id, 1, "logged from the root context");
}

#[test]
fn the_envoy_log_level_drops_lower_levels_and_is_what_get_log_level_returns() {
    let plugin = guest("log-levels").log_level(Level::Warn).start().unwrap();
    assert!(
        plugin.logs_at(Level::Info).is_empty(),
        "{:#?}",
        plugin.logs()
    );
    assert!(plugin.logs_at(Level::Debug).is_empty());
    assert_eq!(
        plugin.logs_at(Level::Warn),
        ["level warn", "log crate warn"]
    );
    assert!(
        plugin
            .logs_at(Level::Critical)
            .contains(&"get_log_level: Ok(Warn)".to_string()),
        "{:#?}",
        plugin.logs()
    );
}

#[test]
fn set_log_level_filters_the_log_crate_inside_the_guest() {
    // Envoy runs at Trace here; the guest's own `set_log_level(Warn)` drops its `log::info!` before any host call.
    let plugin = start("log-levels");
    let all: Vec<String> = plugin.logs().into_iter().map(|l| l.message).collect();
    assert!(
        !all.iter().any(|m| m.starts_with("log crate info")),
        "{all:#?}"
    );
    assert!(
        plugin
            .logs_at(Level::Warn)
            .contains(&"log crate warn".to_string())
    );
    assert!(
        plugin
            .logs_at(Level::Error)
            .contains(&"log crate error".to_string())
    );
}
