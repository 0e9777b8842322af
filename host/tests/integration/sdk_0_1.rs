//! A module built with the real proxy-wasm Rust SDK 0.1.3 (`host/guests/sdk-0-1`), the ABI 0.1.0 of Maistra
//! 2.0-era filters: detection, configuration, header callbacks, local replies, callouts and the end of a stream,
//! as Envoy runs them. The hand-written WAT in `conformance_abi_0_1_0.rs` pins each host call; this shows the
//! calls the SDK really makes fit together.

use host::testing::*;

fn plugin(config: &str) -> Plugin {
    match Plugin::guest("sdk-0-1-guest")
        .config(config)
        .clusters(&["auth"])
        .start()
    {
        Ok(plugin) => plugin,
        Err(e) => panic!("the SDK 0.1.3 guest did not start: {e}"),
    }
}

#[test]
fn an_sdk_0_1_module_is_detected_as_abi_0_1_0_and_reads_its_configuration() {
    let plugin = plugin("from the mesh");
    assert_eq!(plugin.abi_version(), AbiVersion::V0_1_0);
    plugin.assert_logged(Level::Info, "configured: from the mesh");
}

#[test]
fn an_sdk_0_1_module_that_refuses_its_configuration_does_not_start() {
    let error = match Plugin::guest("sdk-0-1-guest").config([0xff, 0xfe]).start() {
        Ok(_) => panic!("a non-UTF-8 configuration was accepted"),
        Err(e) => e,
    };
    assert_eq!(error.failure, StartFailure::Configure, "{error}");
    assert!(
        error.to_string().contains("configuration is not UTF-8"),
        "{error}"
    );
}

#[test]
fn two_argument_header_callbacks_edit_the_request_and_the_response() {
    let plugin = plugin("v1");
    let mut stream = plugin.http_stream();
    assert_eq!(
        stream.send_request_headers(&[(":path", "/hello")], true),
        Action::Continue
    );
    stream
        .upstream_request()
        .assert_header(":path", "/hello")
        .assert_header("x-config", "v1")
        .assert_complete();
    assert_eq!(
        stream.send_response_headers(&[(":status", "200")], true),
        Action::Continue
    );
    stream
        .client_response()
        .assert_status(200)
        .assert_header("custom-header", "v1")
        .assert_complete();
    stream.finish();
    plugin.assert_logged(Level::Info, "log /hello 200");
    plugin.assert_not_failed();
}

#[test]
fn a_local_reply_from_sdk_0_1_replaces_the_response() {
    let plugin = plugin("v1");
    let mut stream = plugin.http_stream();
    assert_eq!(
        stream.send_request_headers(&[(":path", "/deny")], true),
        Action::Pause
    );
    let reply = stream.local_reply().expect("a local reply");
    assert_eq!(reply.status, 403);
    assert_eq!(reply.grpc_status, None, "the SDK passes -1: plain HTTP");
    stream
        .client_response()
        .assert_status(403)
        .assert_header("x-denied-by", "sdk-0-1")
        .assert_body("denied");
    stream.upstream_request().assert_not_sent();
    plugin.assert_not_failed();
}

#[test]
fn a_callout_answer_resumes_the_paused_request_with_proxy_continue_request() {
    let plugin = plugin("v1");
    let mut stream = plugin.http_stream();
    assert_eq!(
        stream.send_request_headers(&[(":path", "/check")], true),
        Action::Pause
    );
    stream.upstream_request().assert_not_sent();
    let call = stream.http_call();
    assert_eq!(call.cluster, "auth");
    assert_eq!(call.headers.get(":path"), Some("/verify"));
    assert_eq!(call.timeout, Some(std::time::Duration::from_secs(1)));

    plugin.answer_http_call(call.token, HttpCallResponse::new(200).body("alice"));
    plugin.assert_logged(
        Level::Info,
        &format!("callout {} answered Some(\"200\")", call.token),
    );
    stream
        .upstream_request()
        .assert_header(":path", "/check")
        .assert_header("x-auth", "alice")
        .assert_complete();
    plugin.assert_not_failed();
}

#[test]
fn a_refused_callout_answer_sends_a_local_reply_from_the_callout_callback() {
    let plugin = plugin("v1");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/check")], true);
    let token = stream.http_call().token;
    plugin.answer_http_call(token, HttpCallResponse::new(403));
    stream
        .client_response()
        .assert_status(401)
        .assert_body("unauthorized");
    stream.upstream_request().assert_not_sent();
    plugin.assert_not_failed();
}
