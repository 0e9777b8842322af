//! Envoy stream semantics, proven with a hand-written module: pause on headers and resume from a callout
//! response, body buffering with cumulative sizes, local replies through the plugin's own response callbacks,
//! ticks on virtual time, callout timeouts.

use std::time::Duration;

use host::testing::*;

/// Behaviour chosen by the first letter of the request path:
/// `/p…` dispatches an HTTP callout and pauses; the callout response adds `x-auth: ok` and
/// `x-callout-status: <the callout response's :status>` and resumes the request.
/// `/r…` sends a local reply 403 "no" (and returns Continue, which Envoy turns into stop).
/// `/b…` pauses the body until end of stream, then replaces it with `X`.
/// Every response gets `x-resp: 1`; every tick increments counter `ticks` (period 100 ms, set in on_configure).
const FILTER: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick_period (param i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $increment (param i32 i64) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $stream (mut i32) (i32.const 0))
  (data (i32.const 16) ":path")
  (data (i32.const 32) "x-auth")
  (data (i32.const 40) "ok")
  (data (i32.const 48) "x-resp")
  (data (i32.const 56) "1")
  (data (i32.const 64) "auth-cluster")
  (data (i32.const 80) "no")
  (data (i32.const 88) "X")
  (data (i32.const 96) "ticks")
  (data (i32.const 220) ":status")
  (data (i32.const 232) "x-callout-status")
  (data (i32.const 128) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\05\00\00\00\0a\00\00\00\04\00\00\00:method\00GET\00:path\00/auth\00:authority\00auth\00")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $tick_period (i32.const 100)))
    (drop (call $define (i32.const 0) (i32.const 96) (i32.const 5) (i32.const 200)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (drop (call $increment (i32.load (i32.const 200)) (i64.const 1))))
  (func $mode (result i32)
    (drop (call $get (i32.const 0) (i32.const 16) (i32.const 5) (i32.const 300) (i32.const 304)))
    (i32.load8_u (i32.add (i32.load (i32.const 300)) (i32.const 1))))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (local $m i32)
    (global.set $stream (local.get $ctx))
    (local.set $m (call $mode))
    (if (i32.eq (local.get $m) (i32.const 112))
      (then
        (drop (call $http_call (i32.const 64) (i32.const 12) (i32.const 128) (i32.const 68)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 308)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $m) (i32.const 114))
      (then
        (drop (call $reply (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 80) (i32.const 2)
          (i32.const 0) (i32.const 0) (i32.const -1)))))
    (i32.const 0))
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $set_buffer (i32.const 0) (i32.const 0) (local.get $size) (i32.const 88) (i32.const 1)))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $add (i32.const 2) (i32.const 48) (i32.const 6) (i32.const 56) (i32.const 1)))
    (i32.const 0))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (drop (call $effective (global.get $stream)))
    (drop (call $add (i32.const 0) (i32.const 32) (i32.const 6) (i32.const 40) (i32.const 2)))
    (drop (call $get (i32.const 6) (i32.const 220) (i32.const 7) (i32.const 312) (i32.const 316)))
    (drop (call $add (i32.const 0) (i32.const 232) (i32.const 16) (i32.load (i32.const 312)) (i32.load (i32.const 316))))
    (drop (call $continue (i32.const 0))))
)
"#;

fn plugin() -> Plugin {
    Plugin::from_bytes(wat::parse_str(FILTER).expect("valid WAT"))
        .clusters(&["auth-cluster"])
        .start()
        .expect("starts")
}

#[test]
fn paused_request_resumes_after_the_callout_response_with_the_body_buffered_meanwhile() {
    let plugin = plugin();
    let mut stream = plugin.http_stream();
    assert_eq!(
        stream.send_request_headers(&[(":method", "POST"), (":path", "/p")], false),
        Action::Pause
    );
    // Stopped on headers: the body is held without calling the plugin.
    assert_eq!(stream.send_request_body("abc", true), Action::Pause);
    stream.upstream_request().assert_not_sent();

    let call = stream.http_call();
    assert_eq!(call.cluster, "auth-cluster");
    assert_eq!(call.headers.get(":path"), Some("/auth"));
    assert_eq!(call.timeout, Some(Duration::from_secs(1)));
    plugin.answer_http_call(call.token, HttpCallResponse::new(200));

    // Resumed: headers pass with the header added meanwhile; the held body reaches the plugin in one callback
    // (end of stream), which replaces it.
    stream
        .upstream_request()
        .assert_header("x-auth", "ok")
        .assert_body("X")
        .assert_complete();
    plugin.assert_not_failed();
}

#[test]
fn body_pause_buffers_and_redelivers_the_cumulative_body() {
    let plugin = plugin();
    let mut stream = plugin.http_stream();
    assert_eq!(
        stream.send_request_headers(&[(":method", "POST"), (":path", "/b")], false),
        Action::Continue
    );
    assert_eq!(stream.send_request_body("12", false), Action::Pause);
    assert_eq!(stream.send_request_body("34", false), Action::Pause);
    stream.upstream_request().assert_sent().assert_body("");
    assert_eq!(stream.send_request_body("5", true), Action::Continue);
    // The plugin replaced the whole (cumulative) body with "X".
    stream.upstream_request().assert_body("X").assert_complete();
}

#[test]
fn a_local_reply_goes_through_the_plugins_own_response_callbacks() {
    let plugin = plugin();
    let mut stream = plugin.http_stream();
    // The callback returned Continue, but sending a local reply forces stop.
    assert_eq!(
        stream.send_request_headers(&[(":path", "/r")], true),
        Action::Pause
    );
    stream.upstream_request().assert_not_sent();
    stream
        .client_response()
        .assert_status(403)
        .assert_body("no")
        .assert_header("content-type", "text/plain")
        .assert_header("content-length", "2")
        .assert_header("x-resp", "1")
        .assert_complete();
    // The upstream never answers a stream that ended locally.
    assert_eq!(
        stream.send_response_headers(&[(":status", "200")], true),
        Action::Pause
    );
    stream.client_response().assert_status(403);
}

#[test]
fn a_grpc_request_gets_a_trailers_only_local_reply() {
    let plugin = plugin();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(
        &[(":path", "/r"), ("content-type", "application/grpc")],
        true,
    );
    stream
        .client_response()
        .assert_status(200)
        .assert_header("grpc-status", "7")
        .assert_header("grpc-message", "no")
        .assert_body("");
}

#[test]
fn ticks_fire_on_virtual_time() {
    let plugin = plugin();
    assert_eq!(plugin.tick_period(), Some(Duration::from_millis(100)));
    plugin.advance_time(Duration::from_millis(99));
    assert_eq!(plugin.counter("ticks"), 0);
    plugin.advance_time(Duration::from_millis(1));
    assert_eq!(plugin.counter("ticks"), 1);
    plugin.advance_time(Duration::from_millis(1000));
    assert_eq!(plugin.counter("ticks"), 11);
}

#[test]
fn an_unanswered_callout_times_out_as_a_504_response() {
    let plugin = plugin();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/p")], true);
    assert_eq!(plugin.http_calls().len(), 1);
    plugin.advance_time(Duration::from_millis(999));
    assert_eq!(
        plugin.http_calls().len(),
        1,
        "not before its 1000 ms timeout"
    );
    plugin.advance_time(Duration::from_millis(1));
    // Envoy's AsyncClient answers an expired callout with a 504 "upstream request timeout" response
    // (the router filter inside it, `Router::Filter::onResponseTimeout` → `onUpstreamTimeoutAbort`), not a failure:
    // the plugin sees response headers with :status 504.
    assert!(plugin.http_calls().is_empty());
    stream
        .upstream_request()
        .assert_header("x-auth", "ok")
        .assert_header("x-callout-status", "504");
}

#[test]
fn response_headers_pass_with_the_plugins_header() {
    let plugin = plugin();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/a")], true);
    assert_eq!(
        stream.send_response_headers(
            &[(":status", "201"), ("set-cookie", "a"), ("set-cookie", "b")],
            false
        ),
        Action::Continue
    );
    stream.send_response_body("hi", true);
    stream
        .client_response()
        .assert_status(201)
        .assert_header("x-resp", "1")
        .assert_header_values("set-cookie", &["a", "b"])
        .assert_body("hi")
        .assert_complete();
    stream.finish();
}

/// A module whose header, body and trailer callbacks return the given words.
fn answering(headers: i32, body: i32, trailers: i32) -> Plugin {
    let wat = format!(
        r#"(module
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const {headers}))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const {body}))
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32) (i32.const {trailers})))"#
    );
    Plugin::from_bytes(wat::parse_str(&wat).expect("valid WAT"))
        .start()
        .expect("starts")
}

// cpp-host `convertVmCallResultToFilter{Headers,Data,Trailers}Status` reads the guest's word as unsigned and turns a
// value past the last status into the last one: 7 is StopAllIterationAndWatermark, -1 StopIterationNoBuffer (the
// chunk is dropped), 5 StopIteration.
#[test]
fn an_answer_past_the_last_filter_status_is_the_last_one() {
    let outcome = |callback, returned, envoy| CallbackOutcome {
        callback,
        returned: Some(returned),
        envoy,
    };
    let plugin = answering(7, 0, 0);
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], false), Action::Pause);
    assert_eq!(
        stream.callback_outcomes(),
        [outcome(
            "on_request_headers",
            7,
            "StopAllIterationAndWatermark"
        )]
    );

    let plugin = answering(0, -1, 0);
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], false), Action::Continue);
    assert_eq!(stream.send_request_body("dropped", false), Action::Pause);
    assert_eq!(
        stream.callback_outcomes()[1],
        outcome("on_request_body", -1, "StopIterationNoBuffer")
    );
    stream.upstream_request().assert_body("");

    let plugin = answering(0, 0, 5);
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(stream.send_request_trailers(&[("x", "1")]), Action::Pause);
    assert_eq!(
        stream.callback_outcomes()[1],
        outcome("on_request_trailers", 5, "StopIteration")
    );
    plugin.assert_not_failed();
}
