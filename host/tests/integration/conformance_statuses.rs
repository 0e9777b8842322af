//! Conformance: the `proxy_status_t` each host function returns where Envoy returns something other than Ok —
//! the statuses that make the Rust SDK panic in production must make it panic here too. The conformance guest
//! (scenario `statuses`) calls the host functions directly and logs the raw status.

use crate::support::*;
use host::testing::*;

/// The `statuses` scenario through one whole stream: request headers, a body, response headers, the end.
fn run() -> Plugin {
    let plugin = start("statuses");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/s")], false);
    stream.send_request_body("abc", true);
    stream.send_response_headers(&[], true);
    stream.finish();
    drop(stream);
    plugin.assert_not_failed();
    plugin
}

#[test]
fn plugin_configuration_is_readable_in_on_configure() {
    assert_eq!(
        status(&run(), "plugin configuration in on_configure"),
        Status::Ok as i32
    );
}

#[test]
fn plugin_configuration_outside_on_configure_is_not_found() {
    assert_eq!(
        status(&run(), "plugin configuration outside on_configure"),
        Status::NotFound as i32
    );
}

#[test]
fn set_property_on_the_root_context_is_not_found() {
    assert_eq!(
        status(&run(), "set_property on the root context"),
        Status::NotFound as i32
    );
}

#[test]
fn set_property_on_a_stream_is_ok() {
    assert_eq!(
        status(&run(), "set_property on a stream"),
        Status::Ok as i32
    );
}

#[test]
fn proxy_done_outside_a_pending_shutdown_is_not_found() {
    assert_eq!(
        status(&run(), "proxy_done while not shutting down"),
        Status::NotFound as i32
    );
}

#[test]
fn set_effective_context_to_an_unknown_context_is_bad_argument() {
    assert_eq!(
        status(&run(), "set_effective_context unknown"),
        Status::BadArgument as i32
    );
}

#[test]
fn set_effective_context_to_a_live_stream_is_ok() {
    assert_eq!(
        status(&run(), "set_effective_context own stream"),
        Status::Ok as i32
    );
}

#[test]
fn a_log_level_above_critical_is_bad_argument() {
    assert_eq!(status(&run(), "log level 9"), Status::BadArgument as i32);
}

#[test]
fn an_unknown_buffer_type_is_bad_argument() {
    assert_eq!(status(&run(), "buffer type 9"), Status::BadArgument as i32);
}

#[test]
fn an_unknown_map_type_is_bad_argument() {
    assert_eq!(status(&run(), "map type 9"), Status::BadArgument as i32);
}

#[test]
fn the_callout_response_body_without_a_response_is_not_found() {
    assert_eq!(
        status(&run(), "http call response body without a response"),
        Status::NotFound as i32
    );
}

#[test]
fn continue_stream_on_the_root_context_is_a_silent_ok() {
    assert_eq!(
        status(&run(), "continue_stream on the root context"),
        Status::Ok as i32
    );
}

#[test]
fn continue_stream_with_an_unknown_stream_type_is_bad_argument() {
    assert_eq!(
        status(&run(), "continue_stream type 7"),
        Status::BadArgument as i32
    );
}

#[test]
fn continue_stream_upstream_is_unimplemented() {
    assert_eq!(
        status(&run(), "continue_stream upstream"),
        Status::Unimplemented as i32
    );
}

#[test]
fn continue_stream_downstream_on_an_http_stream_is_ok() {
    assert_eq!(
        status(&run(), "continue_stream downstream"),
        Status::Ok as i32
    );
}

#[test]
fn a_missing_property_is_not_found() {
    assert_eq!(
        status(&run(), "get_property missing"),
        Status::NotFound as i32
    );
}

#[test]
fn missing_shared_data_is_not_found() {
    assert_eq!(
        status(&run(), "get_shared_data missing"),
        Status::NotFound as i32
    );
}

#[test]
fn a_shared_data_write_with_a_wrong_cas_is_cas_mismatch() {
    let plugin = run();
    assert_eq!(status(&plugin, "set_shared_data new"), Status::Ok as i32);
    assert_eq!(
        status(&plugin, "set_shared_data cas mismatch"),
        Status::CasMismatch as i32
    );
}

#[test]
fn an_unknown_queue_is_not_found_for_enqueue_and_dequeue() {
    let plugin = run();
    assert_eq!(
        status(&plugin, "enqueue unknown queue"),
        Status::NotFound as i32
    );
    assert_eq!(
        status(&plugin, "dequeue unknown queue"),
        Status::NotFound as i32
    );
}

#[test]
fn dequeue_from_an_empty_queue_is_empty() {
    assert_eq!(status(&run(), "dequeue empty queue"), Status::Empty as i32);
}

#[test]
fn an_unknown_metric_type_is_bad_argument() {
    assert_eq!(
        status(&run(), "define_metric type 3"),
        Status::BadArgument as i32
    );
}

#[test]
fn a_counter_only_increments_by_positive_amounts() {
    let plugin = run();
    assert_eq!(
        status(&plugin, "counter increment 0"),
        Status::BadArgument as i32
    );
    assert_eq!(
        status(&plugin, "counter increment -1"),
        Status::BadArgument as i32
    );
}

/// The scenario runs in `on_configure`, so the configuration canary records first: Envoy's stats store keeps one
/// counter per name for the canary and the worker's VM alike (`Context::defineMetric`, `counterFromElements` on the
/// Wasm's scope), and the worker's VM reads the sum.
#[test]
fn recording_a_counter_adds_to_it() {
    let plugin = run();
    assert_eq!(status(&plugin, "counter record 5"), Status::Ok as i32);
    assert_eq!(status(&plugin, "counter record 5 again"), Status::Ok as i32);
    assert_eq!(note(&plugin, "counter value "), "counter value (0, 20)");
    assert_eq!(plugin.counter("c"), 20);
}

#[test]
fn recording_a_gauge_sets_it_and_incrementing_may_subtract() {
    let plugin = run();
    assert_eq!(status(&plugin, "gauge record 7"), Status::Ok as i32);
    assert_eq!(status(&plugin, "gauge increment -2"), Status::Ok as i32);
    assert_eq!(note(&plugin, "gauge value "), "gauge value (0, 5)");
}

#[test]
fn a_histogram_records_but_cannot_be_read_or_incremented() {
    let plugin = run();
    assert_eq!(status(&plugin, "histogram record 3"), Status::Ok as i32);
    assert_eq!(
        status(&plugin, "histogram increment"),
        Status::BadArgument as i32
    );
    assert_eq!(status(&plugin, "histogram get"), Status::BadArgument as i32);
    // Once from the configuration canary, once from the worker's VM (one histogram in Envoy's stats store).
    assert_eq!(plugin.histogram("h"), [3, 3]);
}

/// `Context::defineMetric` hands out a new id on every call, from one counter per type (`nextCounterMetricId`,
/// … in steps of 4 from the type: counters 4, 8, …, gauges 5, …, histograms 6, …); a second definition of `c`
/// gets a new id for the same stat.
#[test]
fn metric_ids_count_up_per_type_and_every_definition_gets_a_new_one_define_metric() {
    let plugin = run();
    assert_eq!(
        note(&plugin, "metric ids: "),
        "metric ids: counter 4, gauge 5, histogram 6, counter again 8"
    );
}

/// `Context::incrementMetric` and `getMetric` answer BadArgument for a histogram id or an id of type 3 before
/// looking it up, so an undefined one is BadArgument too, not NotFound.
#[test]
fn increment_or_get_on_a_histogram_id_is_bad_argument_defined_or_not() {
    let plugin = run();
    for what in [
        "undefined histogram increment",
        "undefined histogram get",
        "type 3 id increment",
    ] {
        assert_eq!(status(&plugin, what), Status::BadArgument as i32, "{what}");
    }
}

/// cpp-host `exports::set_buffer_bytes`: a buffer `getBuffer` does not return is NotFound (a callout body outside
/// its answer, the plugin configuration outside `on_configure`); one it returns but cannot change (the plugin
/// configuration in `on_configure`) is BadArgument (`BufferBase::copyFrom`).
#[test]
fn set_buffer_bytes_on_a_buffer_envoy_does_not_have_is_not_found() {
    let plugin = run();
    assert_eq!(
        status(&plugin, "set callout body outside its answer"),
        Status::NotFound as i32
    );
    assert_eq!(
        status(&plugin, "set plugin configuration outside on_configure"),
        Status::NotFound as i32
    );
    assert_eq!(
        status(&plugin, "set plugin configuration in on_configure"),
        Status::BadArgument as i32
    );
}

#[test]
fn an_unknown_metric_id_is_not_found() {
    assert_eq!(
        status(&run(), "unknown metric increment"),
        Status::NotFound as i32
    );
}

#[test]
fn a_missing_request_header_is_not_found() {
    assert_eq!(
        status(&run(), "request header missing key"),
        Status::NotFound as i32
    );
}

#[test]
fn the_request_body_outside_its_callback_is_ok_and_empty() {
    assert_eq!(
        status(&run(), "request body outside body callback (0 bytes)"),
        Status::Ok as i32
    );
}

#[test]
fn setting_a_body_range_in_the_middle_is_bad_argument() {
    assert_eq!(
        status(&run(), "set body in the middle"),
        Status::BadArgument as i32
    );
}

#[test]
fn a_request_header_after_the_request_passed_is_bad_argument() {
    assert_eq!(
        status(&run(), "request header after the request passed"),
        Status::BadArgument as i32
    );
}

#[test]
fn request_header_pairs_after_the_request_passed_are_ok_and_empty() {
    assert_eq!(
        status(
            &run(),
            "request header pairs after the request passed (0 bytes)"
        ),
        Status::Ok as i32
    );
}

#[test]
fn adding_a_request_header_after_the_request_passed_is_bad_argument() {
    assert_eq!(
        status(&run(), "add request header after the request passed"),
        Status::BadArgument as i32
    );
}

#[test]
fn a_missing_map_in_on_log_is_not_found_rather_than_bad_argument() {
    assert_eq!(
        status(&run(), "request trailers value in on_log without trailers"),
        Status::NotFound as i32
    );
}

#[test]
fn changing_headers_in_on_log_is_bad_argument() {
    assert_eq!(
        status(&run(), "add request header in on_log"),
        Status::BadArgument as i32
    );
}

// Envoy `Context::getBuffer(HttpRequestBody)` outside a body callback is a buffer with no instance, so cpp-host's
// `BufferBase::copyFrom` answers "Setting a string buffer not supported": BadArgument, not a silent Ok.
#[test]
fn setting_the_request_body_outside_a_body_callback_is_bad_argument() {
    assert_eq!(
        status(&run(), "set request body outside body callback"),
        Status::BadArgument as i32
    );
}

// `getBuffer(CallData)` is a string buffer: cpp-host `BufferBase::copyFrom` refuses writes to it.
#[test]
fn setting_call_data_is_bad_argument() {
    assert_eq!(status(&run(), "set call data"), Status::BadArgument as i32);
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
    drop(stream);
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
        Status::NotFound as i32
    );
    assert_eq!(
        status(&plugin, "request trailer pairs in on_log (0 bytes)"),
        Status::Ok as i32
    );
}
