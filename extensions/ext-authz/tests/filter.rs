//! The compiled module run the way Envoy runs it, through the workspace's `host::testing` (rebuilt from the current
//! sources first): each request is held while the service is asked, and the test plays the service, answering,
//! denying, failing or letting the call time out. gRPC messages are read and written with Envoy's own types
//! (envoy-types), so what the module sends is what an ext_authz server decodes.

use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse, check_response,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::google::rpc::Status;
use host::testing::{
    Action, GrpcResponse, HttpCallResponse, HttpStream, Level, Plugin, StartFailure,
};
use prost::Message;

const NAME: &str = env!("CARGO_PKG_NAME");
const CLUSTER: &str = "outbound|9000||authz.default.svc.cluster.local";

fn start(config: &str) -> Plugin {
    Plugin::extension(NAME)
        .config(config)
        .clusters(&[CLUSTER])
        .source_address("10.1.2.3:5678")
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn grpc(more: &str) -> Plugin {
    start(&format!(
        r#"{{"protocol": "grpc", "cluster": "{CLUSTER}"{more}}}"#
    ))
}

fn http(more: &str) -> Plugin {
    start(&format!(
        r#"{{"protocol": "http", "cluster": "{CLUSTER}"{more}}}"#
    ))
}

const REQUEST: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/orders?id=7"),
    (":authority", "shop.example.com"),
    ("authorization", "Bearer t"),
    ("x-tag", "a"),
    ("x-tag", "b"),
    ("cookie", "session=1"),
];

/// A request held by the plugin while the service is asked.
fn held(plugin: &Plugin) -> HttpStream<'_> {
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(REQUEST, false), Action::Pause);
    stream.upstream_request().assert_not_sent();
    stream
}

/// The one gRPC call pending: its token and the CheckRequest it carries.
fn pending_check(plugin: &Plugin) -> (u32, CheckRequest) {
    let calls = plugin.grpc_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(call.upstream, CLUSTER);
    assert_eq!(
        (call.service.as_str(), call.method.as_str()),
        ("envoy.service.auth.v3.Authorization", "Check")
    );
    let check = CheckRequest::decode(call.messages[0].as_slice()).expect("a CheckRequest");
    (call.token, check)
}

fn header(name: &str, value: &str, append_action: i32) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: name.into(),
            value: value.into(),
            ..Default::default()
        }),
        append_action,
        ..Default::default()
    }
}

fn allow(headers: Vec<HeaderValueOption>, remove: &[&str]) -> GrpcResponse {
    let response = CheckResponse {
        status: Some(Status::default()),
        http_response: Some(check_response::HttpResponse::OkResponse(OkHttpResponse {
            headers,
            headers_to_remove: remove.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })),
        ..Default::default()
    };
    GrpcResponse::ok(response.encode_to_vec())
}

fn deny(status: i32, headers: Vec<HeaderValueOption>, body: &str) -> GrpcResponse {
    let response = CheckResponse {
        status: Some(Status {
            code: 7,
            ..Default::default()
        }),
        http_response: Some(check_response::HttpResponse::DeniedResponse(
            DeniedHttpResponse {
                status: Some(HttpStatus { code: status }),
                headers,
                body: body.into(),
            },
        )),
        ..Default::default()
    };
    GrpcResponse::ok(response.encode_to_vec())
}

// What Envoy's CheckRequestUtils::createHttpCheck puts in the request: the peers, the method, path, host, scheme
// and the headers (several values joined with ',').
#[test]
fn grpc_the_check_request_describes_the_request_as_envoys_ext_authz_filter_does() {
    let plugin = grpc("");
    let _stream = held(&plugin);
    let (_, check) = pending_check(&plugin);
    let attributes = check.attributes.expect("attributes");
    let http = attributes.request.unwrap().http.unwrap();
    assert_eq!(
        (http.method.as_str(), http.path.as_str(), http.host.as_str()),
        ("POST", "/orders?id=7", "shop.example.com")
    );
    assert_eq!(http.scheme, "http");
    assert_eq!(http.headers["authorization"], "Bearer t");
    assert_eq!(http.headers["x-tag"], "a,b");
    assert_eq!(http.headers[":path"], "/orders?id=7");
    assert!(!http.id.is_empty(), "the request id");
    let source = attributes.source.unwrap().address.unwrap();
    let Some(envoy_types::pb::envoy::config::core::v3::address::Address::SocketAddress(socket)) =
        source.address
    else {
        panic!("a socket address")
    };
    assert_eq!(socket.address, "10.1.2.3");
    let calls = plugin.grpc_calls();
    assert_eq!(calls[0].timeout, Some(Duration::from_millis(200)));
}

#[test]
fn grpc_only_the_configured_request_headers_reach_the_service() {
    let plugin = grpc(r#", "request_headers": ["authorization"]"#);
    let _stream = held(&plugin);
    let (_, check) = pending_check(&plugin);
    let http = check.attributes.unwrap().request.unwrap().http.unwrap();
    assert_eq!(http.headers.keys().collect::<Vec<_>>(), ["authorization"]);
    assert_eq!(
        http.path, "/orders?id=7",
        "the path is sent whatever the headers"
    );
}

#[test]
fn grpc_an_allowed_request_goes_upstream_with_the_services_header_changes() {
    let plugin = grpc("");
    let mut stream = held(&plugin);
    let (token, _) = pending_check(&plugin);
    plugin.answer_grpc_call(
        token,
        allow(
            vec![
                header("x-user", "alice", 2),
                header("x-tag", "c", 0),
                header("x-absent-only", "kept", 1),
            ],
            &["cookie"],
        ),
    );
    let upstream = stream.upstream_request();
    upstream
        .assert_header(":path", "/orders?id=7")
        .assert_header("x-user", "alice")
        .assert_header_values("x-tag", &["a", "b", "c"])
        .assert_header("x-absent-only", "kept")
        .assert_no_header("cookie");
    stream.send_request_body("order", true);
    stream.upstream_request().assert_body("order");
    stream.send_response_headers(&[(":status", "201")], true);
    stream.client_response().assert_status(201);
    assert_eq!(plugin.counter("ext_authz.ok"), 1);
    plugin.assert_logged(Level::Debug, "ext-authz: POST /orders?id=7 allowed");
}

#[test]
fn grpc_a_denied_request_gets_the_services_status_headers_and_body() {
    let plugin = grpc("");
    let mut stream = held(&plugin);
    let (token, _) = pending_check(&plugin);
    plugin.answer_grpc_call(
        token,
        deny(
            401,
            vec![header("www-authenticate", "Bearer", 0)],
            "who are you?",
        ),
    );
    stream
        .client_response()
        .assert_status(401)
        .assert_header("www-authenticate", "Bearer")
        .assert_body("who are you?");
    stream.upstream_request().assert_not_sent();
    stream.finish();
    assert_eq!(plugin.counter("ext_authz.denied"), 1);
    plugin.assert_logged(Level::Debug, "ext-authz: POST /orders?id=7 denied with 401");
}

#[test]
fn a_configured_denial_replaces_the_services_answer() {
    let plugin = grpc(r#", "denied_response": {"status": 404, "body": "not here"}"#);
    let stream = held(&plugin);
    let (token, _) = pending_check(&plugin);
    plugin.answer_grpc_call(token, deny(401, vec![], "who are you?"));
    stream
        .client_response()
        .assert_status(404)
        .assert_body("not here");
}

#[test]
fn grpc_a_failed_call_is_denied_403_by_default_and_logged_at_warn() {
    let plugin = grpc("");
    let stream = held(&plugin);
    let (token, _) = pending_check(&plugin);
    plugin.answer_grpc_call(token, GrpcResponse::error(14, "no healthy upstream"));
    stream.client_response().assert_status(403);
    stream.upstream_request().assert_not_sent();
    assert_eq!(plugin.counter("ext_authz.error"), 1);
    plugin.assert_logged(
        Level::Warn,
        "ext-authz: check of POST /orders?id=7 failed: the call ended with gRPC status 14 Unavailable; denied with 403",
    );
}

#[test]
fn grpc_a_timed_out_call_meets_the_failure_policy() {
    for (more, status) in [
        ("", Some(403)),
        (r#", "status_on_error": 503"#, Some(503)),
        (r#", "failure_mode_allow": true"#, None),
    ] {
        let plugin = grpc(more);
        let mut stream = held(&plugin);
        // Envoy's router answers a call past its timeout (200 ms by default) with its 504, which the gRPC client
        // closes as 14 Unavailable (DeadlineExceeded only with the runtime guard of envoyproxy/envoy#44479).
        plugin.advance_time(Duration::from_millis(200));
        assert!(plugin.grpc_calls().is_empty(), "{more}: the call timed out");
        match status {
            Some(status) => {
                stream.client_response().assert_status(status);
                stream.upstream_request().assert_not_sent();
            }
            None => {
                stream
                    .upstream_request()
                    .assert_header(":path", "/orders?id=7");
                stream.send_request_body("", true);
                stream.send_response_headers(&[(":status", "200")], true);
                stream.client_response().assert_status(200);
                assert_eq!(plugin.counter("ext_authz.failure_mode_allowed"), 1);
            }
        }
        assert!(
            plugin
                .logs_at(Level::Warn)
                .iter()
                .any(|l| l.contains("gRPC status 14 Unavailable")),
            "{more}: {:?}",
            plugin.logs()
        );
    }
}

#[test]
fn an_answer_that_is_not_a_check_response_is_a_failure_not_a_trap() {
    let plugin = grpc("");
    let stream = held(&plugin);
    let (token, _) = pending_check(&plugin);
    plugin.answer_grpc_call(token, GrpcResponse::ok(b"\x0a\xff\xff\xff\xff\x0f"));
    stream.client_response().assert_status(403);
    plugin.assert_not_failed();
    plugin.assert_logged(Level::Warn, "is not protobuf");
}

#[test]
fn http_the_check_is_the_requests_method_and_prefixed_path_with_the_chosen_headers() {
    let plugin =
        http(r#", "path_prefix": "/authz", "request_headers": ["x-tag"], "timeout_ms": 500"#);
    let stream = held(&plugin);
    let call = stream.http_call();
    assert_eq!(call.cluster, CLUSTER);
    assert_eq!(call.timeout, Some(Duration::from_millis(500)));
    assert_eq!(call.headers.get(":method"), Some("POST"));
    assert_eq!(call.headers.get(":path"), Some("/authz/orders?id=7"));
    assert_eq!(call.headers.get(":authority"), Some("shop.example.com"));
    assert_eq!(call.headers.get("authorization"), Some("Bearer t"));
    assert_eq!(call.headers.get_all("x-tag"), ["a", "b"]);
    assert_eq!(call.headers.get("content-length"), Some("0"));
    assert!(!call.headers.contains("cookie"), "{:?}", call.headers);
    assert!(call.body.is_empty());
}

#[test]
fn http_200_allows_with_the_configured_headers_of_the_answer() {
    let plugin = http(r#", "upstream_headers": ["x-user-id"]"#);
    let mut stream = held(&plugin);
    let token = stream.http_call().token;
    plugin.answer_http_call(
        token,
        HttpCallResponse::new(200)
            .header("x-user-id", "42")
            .header("x-internal", "no")
            .header("x-envoy-auth-headers-to-remove", "cookie"),
    );
    stream
        .upstream_request()
        .assert_header("x-user-id", "42")
        .assert_no_header("x-internal")
        .assert_no_header("cookie")
        .assert_no_header("x-envoy-auth-headers-to-remove");
    stream.send_request_body("", true);
    assert_eq!(plugin.counter("ext_authz.ok"), 1);
}

#[test]
fn http_another_status_denies_with_the_services_answer() {
    let plugin = http("");
    let stream = held(&plugin);
    let token = stream.http_call().token;
    plugin.answer_http_call(
        token,
        HttpCallResponse::new(401)
            .header("www-authenticate", "Basic realm=shop")
            .body("log in first"),
    );
    stream
        .client_response()
        .assert_status(401)
        .assert_header("www-authenticate", "Basic realm=shop")
        .assert_body("log in first");
    stream.upstream_request().assert_not_sent();
}

#[test]
fn http_a_reset_a_5xx_and_a_timeout_are_failures() {
    let plugin = http(r#", "status_on_error": 503"#);
    let reset = held(&plugin);
    plugin.fail_http_call(reset.http_call().token);
    reset.client_response().assert_status(503);

    let broken = held(&plugin);
    plugin.answer_http_call(broken.http_call().token, HttpCallResponse::new(500));
    broken.client_response().assert_status(503);

    let slow = held(&plugin);
    plugin.advance_time(Duration::from_millis(200));
    slow.client_response().assert_status(503);
    slow.upstream_request().assert_not_sent();

    assert_eq!(plugin.counter("ext_authz.error"), 3);
    let warnings = plugin.logs_at(Level::Warn);
    assert_eq!(warnings.len(), 3, "one warning per failure: {warnings:?}");
    assert!(
        warnings[0].contains("reset or no healthy host"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("the service answered 500"),
        "{warnings:?}"
    );
    assert!(
        warnings[2].contains("the service answered 504"),
        "{warnings:?}"
    );
}

#[test]
fn a_cluster_the_proxy_does_not_have_is_a_logged_failure() {
    // Envoy refuses a callout to a cluster it lacks: proxy_grpc_call with ParseFailure, proxy_http_call with
    // BadArgument. The failure policy then answers.
    for (protocol, refusal) in [("grpc", "ParseFailure"), ("http", "BadArgument")] {
        let plugin = Plugin::extension(NAME)
            .config(format!(
                r#"{{"protocol": "{protocol}", "cluster": "authz"}}"#
            ))
            .clusters(&[CLUSTER])
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        let mut stream = plugin.http_stream();
        stream.send_request_headers(REQUEST, true);
        stream.client_response().assert_status(403);
        plugin.assert_logged(
            Level::Warn,
            &format!(r#"cannot call cluster "authz": {refusal} (is it the name the proxy gives the cluster?); denied with 403"#),
        );
    }
}

#[test]
fn skipped_paths_pass_unchecked() {
    let plugin = grpc(r#", "skip_paths": ["/healthz", "/public/*"]"#);
    for path in ["/healthz", "/healthz?verbose=1", "/public/logo.png"] {
        let mut stream = plugin.http_stream();
        assert_eq!(
            stream.send_request_headers(&[(":path", path)], true),
            Action::Continue,
            "{path}"
        );
        stream.upstream_request().assert_header(":path", path);
    }
    assert!(plugin.grpc_calls().is_empty());
    assert_eq!(plugin.counter("ext_authz.skipped"), 3);
    let _checked = {
        let mut stream = plugin.http_stream();
        stream.send_request_headers(&[(":path", "/healthz/deep")], true);
        stream
    };
    assert_eq!(plugin.grpc_calls().len(), 1);
}

#[test]
fn header_values_that_are_not_utf8_are_sent_replaced_and_the_plugin_keeps_working() {
    for plugin in [grpc(""), http(r#", "request_headers": ["x-odd"]"#)] {
        let mut stream = plugin.http_stream();
        let odd: &[(&str, &[u8])] = &[(":path", b"/a\xff"), ("x-odd", b"caf\xe9")];
        assert_eq!(stream.send_request_headers_bytes(odd, true), Action::Pause);
        if let Some(call) = plugin.grpc_calls().first() {
            let check = CheckRequest::decode(call.messages[0].as_slice()).expect("valid protobuf");
            let http = check.attributes.unwrap().request.unwrap().http.unwrap();
            assert_eq!(http.headers["x-odd"], "caf\u{fffd}");
            assert_eq!(http.path, "/a\u{fffd}");
        } else {
            assert_eq!(stream.http_call().headers.get("x-odd"), Some("caf\u{fffd}"));
        }
        plugin.assert_not_failed();
    }
}

#[test]
fn a_client_gone_before_the_answer_leaves_the_plugin_working() {
    let plugin = grpc("");
    let mut stream = held(&plugin);
    let (token, _) = pending_check(&plugin);
    stream.finish();
    // Whether or not the proxy still delivers it, an answer for a stream that is gone changes nothing.
    if plugin.grpc_calls().iter().any(|c| c.token == token) {
        plugin.answer_grpc_call(token, allow(vec![], &[]));
    }
    plugin.assert_not_failed();
    let next = held(&plugin);
    let (token, _) = pending_check(&plugin);
    plugin.answer_grpc_call(token, allow(vec![], &[]));
    next.upstream_request()
        .assert_header(":path", "/orders?id=7");
    plugin.assert_not_failed();
}

#[test]
fn a_refused_configuration_names_the_field() {
    let Err(error) = Plugin::extension(NAME)
        .config(r#"{"cluster": "authz", "status_on_error": 200}"#)
        .start()
    else {
        panic!("the configuration was taken")
    };
    assert!(matches!(error.failure, StartFailure::Configure), "{error}");
    assert!(
        error
            .reason()
            .contains(r#""status_on_error" 200 is not an error status"#),
        "{error}"
    );
}
