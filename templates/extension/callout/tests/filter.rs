//! The compiled module run the way Envoy runs it, through the workspace's `host::testing`. It runs
//! `target/extensions/<name>/plugin.wasm`, which the host first rebuilds from the current sources
//! (`cargo xtask build -p <name>`), so `cargo test -p <name>` always tests the code as it is now.
//!
//! Testing a callout: the request pauses, `stream.http_call()` shows what was sent, then the test plays
//! the other service with `plugin.answer_http_call`, `fail_http_call` or `time_out_http_call`.

use host::testing::{Action, HttpCallResponse, Plugin, StartFailure};
use std::time::Duration;

const NAME: &str = env!("CARGO_PKG_NAME");
const CLUSTER: &str = "outbound|80||auth.default.svc.cluster.local";

fn start() -> Plugin {
    Plugin::extension(NAME)
        .config(include_str!("../example-config.json"))
        .clusters(&[CLUSTER])
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

const REQUEST: &[(&str, &str)] = &[
    (":method", "GET"),
    (":path", "/orders"),
    ("authorization", "Bearer t"),
];

#[test]
fn an_allowed_request_goes_upstream_after_the_check() {
    let plugin = start();
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(REQUEST, true), Action::Pause);
    stream.upstream_request().assert_not_sent();

    let call = stream.http_call();
    assert_eq!(call.cluster, CLUSTER);
    assert_eq!(call.headers.get(":path"), Some("/check"));
    assert_eq!(call.headers.get("authorization"), Some("Bearer t"));
    assert_eq!(call.timeout, Some(Duration::from_millis(500)));
    plugin.answer_http_call(call.token, HttpCallResponse::new(200));

    stream.upstream_request().assert_header(":path", "/orders");
    stream.send_response_headers(&[(":status", "200")], true);
    stream.client_response().assert_status(200);
}

#[test]
fn a_denied_request_gets_403_and_never_reaches_the_upstream() {
    let plugin = start();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(REQUEST, true);
    plugin.answer_http_call(stream.http_call().token, HttpCallResponse::new(401));
    stream
        .client_response()
        .assert_status(403)
        .assert_body("denied");
    stream.upstream_request().assert_not_sent();
}

#[test]
fn an_authorization_header_that_is_not_utf8_is_denied_and_the_plugin_keeps_working() {
    let plugin = start();
    let mut stream = plugin.http_stream();
    let odd: &[(&str, &[u8])] = &[(":path", b"/orders"), ("authorization", b"Bearer \xff")];
    assert_eq!(stream.send_request_headers_bytes(odd, true), Action::Pause);
    stream
        .client_response()
        .assert_status(403)
        .assert_body("denied");
    assert!(
        stream.http_calls().is_empty(),
        "no callout for a refused request"
    );
    plugin.assert_not_failed();

    let mut next = plugin.http_stream();
    assert_eq!(next.send_request_headers(REQUEST, true), Action::Pause);
    assert_eq!(
        next.http_call().headers.get("authorization"),
        Some("Bearer t")
    );
}

#[test]
fn a_failed_or_slow_service_gives_503() {
    let plugin = start();
    for fail in [Plugin::fail_http_call, Plugin::time_out_http_call] {
        let mut stream = plugin.http_stream();
        stream.send_request_headers(REQUEST, true);
        fail(&plugin, stream.http_call().token);
        stream.client_response().assert_status(503);
        stream.upstream_request().assert_not_sent();
    }
}

#[test]
fn a_bad_configuration_is_refused_with_the_reason_logged() {
    let Err(error) = Plugin::extension(NAME)
        .config(r#"{"cluster": "auth", "timeout_ms": 0}"#)
        .start()
    else {
        panic!("the plugin accepted a zero timeout");
    };
    assert!(matches!(error.failure, StartFailure::Configure), "{error}");
    assert!(
        error
            .reason()
            .contains(r#""timeout_ms" 0 must be between 1 and 60000"#),
        "{error}"
    );
}
