//! Conformance: the plugin as a Wasm service (Envoy's bootstrap extension `envoy.bootstrap.wasm`,
//! `WasmServiceExtension::createWasm`), with the kinds guest (`host/guests/kinds`, scenario `service …`): a root
//! context with no listener that lives on ticks (`Wasm::tickHandler`), shared data and queues.

use std::time::Duration;

use host::testing::*;

fn service(scenario: &str) -> PluginBuilder {
    Plugin::guest("kinds-guest").config(scenario)
}

fn notes(service: &Service, prefix: &str) -> Vec<String> {
    service
        .logs_at(Level::Info)
        .into_iter()
        .filter(|m| m.starts_with(prefix))
        .collect()
}

#[test]
fn a_service_ticks_on_virtual_time_and_keeps_its_counter_and_shared_data() {
    let service = service("service tick=100").start_service().expect("starts");
    assert_eq!(service.tick_period(), Some(Duration::from_millis(100)));
    service.assert_logged(Level::Info, "service started, ticking every 100 ms");
    service.advance_time(Duration::from_millis(350));
    assert_eq!(
        notes(&service, "tick "),
        [
            "tick 1: requests none",
            "tick 2: requests none",
            "tick 3: requests none"
        ]
    );
    assert_eq!(service.counter("service_ticks"), 3);
    assert_eq!(
        service.shared_data("ticks").map(|(v, _)| v),
        Some(b"3".to_vec())
    );
}

#[test]
fn a_zero_tick_period_stops_the_service_timer() {
    // Wasm::setTimerPeriod(0) disables the root context's timer.
    let service = service("service tick=10 stop-after=2")
        .start_service()
        .expect("starts");
    service.advance_time(Duration::from_secs(1));
    assert_eq!(notes(&service, "tick ").len(), 2);
    assert_eq!(service.tick_period(), None);
}

#[test]
fn a_service_shares_data_and_queues_with_http_filters_on_the_same_envoy() {
    // Shared data and queues are keyed by vm_id across the process (cpp-host getGlobalSharedData/Queue): an HTTP
    // filter's enqueue reaches the service's on_queue_ready through the dispatcher of the service's thread.
    let envoy = Envoy::new();
    let service = service("service tick=1000")
        .on(&envoy)
        .start_service()
        .expect("the service starts");
    let filter = Plugin::guest("kinds-guest")
        .config("producer")
        .on(&envoy)
        .start()
        .expect("the filter starts");
    for path in ["/a", "/b"] {
        filter
            .http_stream()
            .send_request_headers(&[(":path", path)], true);
    }
    service.dispatch();
    assert_eq!(notes(&service, "event: "), ["event: /a", "event: /b"]);
    service.advance_time(Duration::from_secs(1));
    assert_eq!(notes(&service, "tick "), ["tick 1: requests 2"]);
    assert_eq!(
        envoy.shared_data("", "ticks").map(|(v, _)| v),
        Some(b"1".to_vec())
    );
}

#[test]
fn a_service_whose_configuration_panics_does_not_start() {
    // The configuration canary (cpp-host WasmHandleBase::canary) fails, so createWasm fails: "Unable to create Wasm
    // service".
    let error = service("service panic=on_configure")
        .start_service()
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("on_configure") || error.reason().contains("on_configure"),
        "{error}"
    );
}

#[test]
fn a_service_shuts_down_with_on_done_and_on_delete() {
    let service = service("service").start_service().expect("starts");
    service.shutdown();
    assert!(service.is_deleted());
    // No tick after the root context is gone.
    service.advance_time(Duration::from_secs(5));
    assert!(notes(&service, "tick ").is_empty());
}
