//! The compiled module run the way Envoy runs a Wasm service, through the workspace's `host::testing`. It runs
//! `target/extensions/<name>/plugin.wasm`, which the host first rebuilds from the current sources
//! (`cargo xtask build -p <name>`), so `cargo test -p <name>` always tests the code as it is now.

use std::time::Duration;

use host::testing::{Level, Plugin, StartFailure};

const NAME: &str = env!("CARGO_PKG_NAME");

#[test]
fn queued_events_are_counted_and_published_on_the_next_tick() {
    let service = Plugin::extension(NAME)
        .config(include_str!("../example-config.json"))
        .start_service()
        .unwrap_or_else(|e| panic!("{e}"));
    service.assert_logged(Level::Info, "consuming queue events, reporting every 1000 ms");
    // What a filter of the same vm_id would enqueue.
    for item in ["/login", "/login", "/logout"] {
        service.enqueue("events", item);
    }
    assert_eq!(service.counter("service_events"), 3);
    assert_eq!(service.shared_data("events.counts"), None, "not before the tick");
    service.advance_time(Duration::from_secs(1));
    let (published, _) = service.shared_data("events.counts").expect("published");
    assert_eq!(
        String::from_utf8(published).unwrap(),
        r#"{"/login":2,"/logout":1}"#
    );
}

#[test]
fn a_bad_configuration_is_refused_with_the_reason_logged() {
    let Err(error) = Plugin::extension(NAME)
        .config(r#"{"queue": "events", "report_every_ms": 0}"#)
        .start_service()
    else {
        panic!("the service accepted a zero period");
    };
    assert!(matches!(error.failure, StartFailure::Configure), "{error}");
    assert!(error.reason().contains("stops the timer"), "{error}");
}
