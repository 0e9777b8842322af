//! Conformance: the `proxy_status_t` each host function returns where Envoy returns something other than Ok —
//! the statuses that make the Rust SDK panic in production must make it panic here too. The conformance guest
//! (scenario `statuses`) calls the host functions directly and logs the raw status.

mod support;

use host::testing::*;
use support::*;

/// The `statuses` scenario through one whole stream: request headers, a body, response headers, the end.
fn run() -> Plugin {
    let plugin = start("statuses");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/s")], false);
    stream.send_request_body("abc", true);
    stream.send_response_headers(&[], true);
    stream.finish();
    plugin.assert_not_failed();
    plugin
}

#[test]
fn plugin_configuration_is_readable_in_on_configure() {
    assert_eq!(
        status(&run(), "plugin configuration in on_configure"),
        code::OK
    );
}

#[test]
fn plugin_configuration_outside_on_configure_is_not_found() {
    assert_eq!(
        status(&run(), "plugin configuration outside on_configure"),
        code::NOT_FOUND
    );
}

#[test]
fn set_property_on_the_root_context_is_not_found() {
    assert_eq!(
        status(&run(), "set_property on the root context"),
        code::NOT_FOUND
    );
}

#[test]
fn set_property_on_a_stream_is_ok() {
    assert_eq!(status(&run(), "set_property on a stream"), code::OK);
}

#[test]
fn proxy_done_outside_a_pending_shutdown_is_not_found() {
    assert_eq!(
        status(&run(), "proxy_done while not shutting down"),
        code::NOT_FOUND
    );
}

#[test]
fn set_effective_context_to_an_unknown_context_is_bad_argument() {
    assert_eq!(
        status(&run(), "set_effective_context unknown"),
        code::BAD_ARGUMENT
    );
}

#[test]
fn set_effective_context_to_a_live_stream_is_ok() {
    assert_eq!(status(&run(), "set_effective_context own stream"), code::OK);
}

#[test]
fn a_log_level_above_critical_is_bad_argument() {
    assert_eq!(status(&run(), "log level 9"), code::BAD_ARGUMENT);
}

#[test]
fn an_unknown_buffer_type_is_bad_argument() {
    assert_eq!(status(&run(), "buffer type 9"), code::BAD_ARGUMENT);
}

#[test]
fn an_unknown_map_type_is_bad_argument() {
    assert_eq!(status(&run(), "map type 9"), code::BAD_ARGUMENT);
}

#[test]
fn the_callout_response_body_without_a_response_is_not_found() {
    assert_eq!(
        status(&run(), "http call response body without a response"),
        code::NOT_FOUND
    );
}

#[test]
fn continue_stream_on_the_root_context_is_a_silent_ok() {
    assert_eq!(
        status(&run(), "continue_stream on the root context"),
        code::OK
    );
}

#[test]
fn continue_stream_with_an_unknown_stream_type_is_bad_argument() {
    assert_eq!(status(&run(), "continue_stream type 7"), code::BAD_ARGUMENT);
}

#[test]
fn continue_stream_upstream_is_unimplemented() {
    assert_eq!(
        status(&run(), "continue_stream upstream"),
        code::UNIMPLEMENTED
    );
}

#[test]
fn continue_stream_downstream_on_an_http_stream_is_ok() {
    assert_eq!(status(&run(), "continue_stream downstream"), code::OK);
}

#[test]
fn a_missing_property_is_not_found() {
    assert_eq!(status(&run(), "get_property missing"), code::NOT_FOUND);
}

#[test]
fn missing_shared_data_is_not_found() {
    assert_eq!(status(&run(), "get_shared_data missing"), code::NOT_FOUND);
}

#[test]
fn a_shared_data_write_with_a_wrong_cas_is_cas_mismatch() {
    let plugin = run();
    assert_eq!(status(&plugin, "set_shared_data new"), code::OK);
    assert_eq!(
        status(&plugin, "set_shared_data cas mismatch"),
        code::CAS_MISMATCH
    );
}

#[test]
fn an_unknown_queue_is_not_found_for_enqueue_and_dequeue() {
    let plugin = run();
    assert_eq!(status(&plugin, "enqueue unknown queue"), code::NOT_FOUND);
    assert_eq!(status(&plugin, "dequeue unknown queue"), code::NOT_FOUND);
}

#[test]
fn dequeue_from_an_empty_queue_is_empty() {
    assert_eq!(status(&run(), "dequeue empty queue"), code::EMPTY);
}

#[test]
fn an_unknown_metric_type_is_bad_argument() {
    assert_eq!(status(&run(), "define_metric type 3"), code::BAD_ARGUMENT);
}

#[test]
fn a_counter_only_increments_by_positive_amounts() {
    let plugin = run();
    assert_eq!(status(&plugin, "counter increment 0"), code::BAD_ARGUMENT);
    assert_eq!(status(&plugin, "counter increment -1"), code::BAD_ARGUMENT);
}

/// The scenario runs in `on_configure`, so the configuration canary records first: Envoy's stats store keeps one
/// counter per name for the canary and the worker's VM alike (`Context::defineMetric`, `counterFromElements` on the
/// Wasm's scope), and the worker's VM reads the sum.
#[test]
fn recording_a_counter_adds_to_it() {
    let plugin = run();
    assert_eq!(status(&plugin, "counter record 5"), code::OK);
    assert_eq!(status(&plugin, "counter record 5 again"), code::OK);
    assert_eq!(note(&plugin, "counter value "), "counter value (0, 20)");
    assert_eq!(plugin.counter("c"), 20);
}

#[test]
fn recording_a_gauge_sets_it_and_incrementing_may_subtract() {
    let plugin = run();
    assert_eq!(status(&plugin, "gauge record 7"), code::OK);
    assert_eq!(status(&plugin, "gauge increment -2"), code::OK);
    assert_eq!(note(&plugin, "gauge value "), "gauge value (0, 5)");
}

#[test]
fn a_histogram_records_but_cannot_be_read_or_incremented() {
    let plugin = run();
    assert_eq!(status(&plugin, "histogram record 3"), code::OK);
    assert_eq!(status(&plugin, "histogram increment"), code::BAD_ARGUMENT);
    assert_eq!(status(&plugin, "histogram get"), code::BAD_ARGUMENT);
    // Once from the configuration canary, once from the worker's VM (one histogram in Envoy's stats store).
    assert_eq!(plugin.histogram("h"), [3, 3]);
}

#[test]
fn an_unknown_metric_id_is_not_found() {
    assert_eq!(status(&run(), "unknown metric increment"), code::NOT_FOUND);
}

#[test]
fn a_missing_request_header_is_not_found() {
    assert_eq!(
        status(&run(), "request header missing key"),
        code::NOT_FOUND
    );
}

#[test]
fn the_request_body_outside_its_callback_is_ok_and_empty() {
    assert_eq!(
        status(&run(), "request body outside body callback (0 bytes)"),
        code::OK
    );
}

#[test]
fn setting_a_body_range_in_the_middle_is_bad_argument() {
    assert_eq!(status(&run(), "set body in the middle"), code::BAD_ARGUMENT);
}

#[test]
fn a_request_header_after_the_request_passed_is_bad_argument() {
    assert_eq!(
        status(&run(), "request header after the request passed"),
        code::BAD_ARGUMENT
    );
}

#[test]
fn request_header_pairs_after_the_request_passed_are_ok_and_empty() {
    assert_eq!(
        status(
            &run(),
            "request header pairs after the request passed (0 bytes)"
        ),
        code::OK
    );
}

#[test]
fn adding_a_request_header_after_the_request_passed_is_bad_argument() {
    assert_eq!(
        status(&run(), "add request header after the request passed"),
        code::BAD_ARGUMENT
    );
}

#[test]
fn a_missing_map_in_on_log_is_not_found_rather_than_bad_argument() {
    assert_eq!(
        status(&run(), "request trailers value in on_log without trailers"),
        code::NOT_FOUND
    );
}

#[test]
fn changing_headers_in_on_log_is_bad_argument() {
    assert_eq!(
        status(&run(), "add request header in on_log"),
        code::BAD_ARGUMENT
    );
}

// Envoy `Context::getBuffer(HttpRequestBody)` outside a body callback is a buffer with no instance, so cpp-host's
// `BufferBase::copyFrom` answers "Setting a string buffer not supported": BadArgument, not a silent Ok.
#[test]
fn setting_the_request_body_outside_a_body_callback_is_bad_argument() {
    assert_eq!(
        status(&run(), "set request body outside body callback"),
        code::BAD_ARGUMENT
    );
}

// `getBuffer(CallData)` is a string buffer: cpp-host `BufferBase::copyFrom` refuses writes to it.
#[test]
fn setting_call_data_is_bad_argument() {
    assert_eq!(status(&run(), "set call data"), code::BAD_ARGUMENT);
}

/// The `statuses` scenario with request trailers, ended by `finish` (so `on_log` runs).
fn run_with_request_trailers() -> Plugin {
    let plugin = start("statuses");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/s")], false);
    stream.send_request_body("abc", false);
    stream.send_request_trailers(&[("x-t", "1")]);
    stream.send_response_headers(&[], true);
    stream.finish();
    plugin.assert_not_failed();
    plugin
}

// Envoy `Context::getConstMap(RequestTrailers)`: `if (access_log_phase_) return nullptr;` — the access log keeps
// request headers, response headers and response trailers, never request trailers.
#[test]
fn request_trailers_are_gone_in_on_log() {
    let plugin = run_with_request_trailers();
    assert_eq!(
        status(&plugin, "request trailer value in on_log"),
        code::NOT_FOUND
    );
    assert_eq!(
        status(&plugin, "request trailer pairs in on_log (0 bytes)"),
        code::OK
    );
}
