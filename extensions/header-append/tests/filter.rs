//! The shipped module (`target/extensions/header-append/plugin.wasm`, rebuilt from the current sources by
//! `cargo xtask build` when the tests start) run the way Envoy runs it, through `host::testing`.

use host::testing::{HttpStream, Level, Message, Plugin, StartError, StartFailure};

fn start(config: &str) -> Plugin {
    match Plugin::extension("header-append").config(config).start() {
        Ok(plugin) => plugin,
        Err(e) => panic!("the plugin did not start with {config:?}: {e}"),
    }
}

fn rejection(config: impl AsRef<[u8]>) -> StartError {
    match Plugin::extension("header-append")
        .config(config.as_ref())
        .start()
    {
        Ok(plugin) => panic!(
            "expected {:?} to be rejected; the plugin started and logged {:#?}",
            String::from_utf8_lossy(config.as_ref()),
            plugin.logs()
        ),
        Err(e) => e,
    }
}

/// One GET through the filter; the upstream answers with `response` (`:status` defaults to 200).
fn exchange<'p>(
    plugin: &'p Plugin,
    request: &[(&str, &str)],
    response: &[(&str, &str)],
) -> HttpStream<'p> {
    let mut stream = plugin.http_stream();
    stream.send_request_headers(request, true);
    stream.send_response_headers(response, true);
    stream
}

/// Header names in the order the message carries them.
fn names(message: &Message) -> Vec<String> {
    let headers = message.headers.as_ref().expect("headers passed the filter");
    headers.iter().map(|(name, _)| name.to_owned()).collect()
}

#[test]
fn maistra_2_1_object_adds_every_header_to_responses_in_order() {
    let plugin =
        start(r#"{"header-one": "value one", "another-header": "another value", "third": "3"}"#);
    let stream = exchange(&plugin, &[], &[("content-type", "text/plain")]);
    let response = stream.client_response();
    response
        .assert_status(200)
        .assert_header("header-one", "value one")
        .assert_header("another-header", "another value")
        .assert_header("third", "3")
        .assert_header("content-type", "text/plain");
    assert_eq!(
        names(&response),
        [
            ":status",
            "content-type",
            "header-one",
            "another-header",
            "third"
        ]
    );
    stream.upstream_request().assert_no_header("header-one");
    plugin.assert_logged(
        Level::Info,
        "#1 header-append configured; responses: header-one, another-header, third",
    );
}

#[test]
fn maistra_2_0_string_becomes_custom_header() {
    let plugin = start("test");
    let stream = exchange(&plugin, &[], &[]);
    stream
        .client_response()
        .assert_header("custom-header", "test");
    assert_eq!(
        names(&stream.client_response()),
        [":status", "custom-header"]
    );
}

#[test]
fn append_keeps_the_upstream_value_and_replace_drops_it() {
    let plugin = start(
        r#"{"x-powered-by": "mesh", "cache-control": {"value": "no-store", "mode": "replace"},
            "x-absent": {"value": "set", "mode": "replace"}}"#,
    );
    let stream = exchange(
        &plugin,
        &[],
        &[
            ("x-powered-by", "upstream"),
            ("cache-control", "max-age=60"),
            ("cache-control", "public"),
        ],
    );
    stream
        .client_response()
        .assert_header_values("x-powered-by", &["upstream", "mesh"])
        .assert_header_values("cache-control", &["no-store"])
        .assert_header_values("x-absent", &["set"]);
}

#[test]
fn header_values_that_are_not_utf8_pass_untouched_and_never_fail_the_plugin() {
    let plugin = start(
        r#"{"x-powered-by": "mesh", "cache-control": {"value": "no-store", "mode": "replace", "on": "both"}}"#,
    );
    let mut stream = plugin.http_stream();
    stream.send_request_headers_bytes(&[("cache-control", b"\xfe"), ("x-raw", b"\xff")], true);
    stream.send_response_headers_bytes(&[("x-powered-by", b"caf\xe9"), ("x-raw", b"\xff")], true);
    plugin.assert_not_failed();

    let request = stream.upstream_request();
    let headers = request.headers.as_ref().expect("the request went upstream");
    assert_eq!(headers.get_bytes("x-raw"), Some(&b"\xff"[..]));
    request.assert_header_values("cache-control", &["no-store"]);
    let response = stream.client_response();
    let headers = response.headers.as_ref().expect("the response was sent");
    assert_eq!(headers.get_bytes("x-powered-by"), Some(&b"caf\xe9"[..]));
    assert_eq!(headers.get_bytes("x-raw"), Some(&b"\xff"[..]));
    response
        .assert_header_values("x-powered-by", &["caf\u{fffd}", "mesh"])
        .assert_header_values("cache-control", &["no-store"]);
}

#[test]
fn request_and_both_reach_the_upstream() {
    let plugin = start(
        r#"{"x-request-source": {"value": "mesh", "on": "request"},
            "x-zone": {"value": "eu-1", "on": "both"},
            "x-user": {"value": "anonymous", "on": "request", "mode": "replace"}}"#,
    );
    let stream = exchange(&plugin, &[("x-user", "alice"), ("x-zone", "client")], &[]);
    stream
        .upstream_request()
        .assert_header("x-request-source", "mesh")
        .assert_header_values("x-zone", &["client", "eu-1"])
        .assert_header_values("x-user", &["anonymous"]);
    stream
        .client_response()
        .assert_header_values("x-zone", &["eu-1"])
        .assert_no_header("x-request-source")
        .assert_no_header("x-user");
}

#[test]
fn example_config_works_as_documented() {
    let plugin = start(include_str!("../example-config.json"));
    let stream = exchange(&plugin, &[], &[("cache-control", "max-age=60")]);
    stream
        .upstream_request()
        .assert_header("x-request-source", "mesh")
        .assert_header("x-mesh-zone", "eu-west-1");
    stream
        .client_response()
        .assert_header("x-powered-by", "mesh-wasm")
        .assert_header_values("cache-control", &["no-store"])
        .assert_header("x-mesh-zone", "eu-west-1")
        .assert_no_header("x-request-source");
    // The line README.md shows under "What is logged".
    plugin.assert_logged(
        Level::Info,
        "#1 header-append configured; responses: x-powered-by, cache-control (replace), x-mesh-zone; \
         requests: x-request-source, x-mesh-zone",
    );
}

#[test]
fn local_replies_from_envoy_get_the_headers_too() {
    let plugin = start(r#"{"x-a": "b"}"#);
    // The router's "no healthy upstream": Envoy encodes it through the filter chain like any response.
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/")], true);
    stream.send_response_headers(&[(":status", "503"), ("content-type", "text/plain")], false);
    stream.send_response_body("no healthy upstream", true);
    stream
        .client_response()
        .assert_status(503)
        .assert_header("x-a", "b")
        .assert_body("no healthy upstream");
    // A headers-only reply, and one sent before the request reached this filter (an earlier filter said 403).
    let stream = exchange(&plugin, &[], &[(":status", "404")]);
    stream
        .client_response()
        .assert_status(404)
        .assert_header("x-a", "b");
    let mut stream = plugin.http_stream();
    stream.send_response_headers(&[(":status", "403")], true);
    stream
        .client_response()
        .assert_status(403)
        .assert_header("x-a", "b");
}

#[test]
fn every_stream_gets_the_headers() {
    let plugin = start(r#"{"x-a": "b"}"#);
    for _ in 0..3 {
        let mut stream = exchange(&plugin, &[], &[]);
        stream.client_response().assert_header_values("x-a", &["b"]);
        stream.finish();
    }
    plugin.assert_not_failed();
}

#[test]
fn bad_configuration_is_rejected_with_one_logged_reason() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"{\"x-a\": \"b\",}",
            "configuration is not valid JSON: trailing comma at line 1 column 13",
        ),
        (
            b"{\"x-a\": 1}",
            "header \"x-a\": expected a string or an object",
        ),
        (
            b"{\"x-a\": \"caf\xe9\"}",
            "configuration is not UTF-8 text: invalid byte at offset 12",
        ),
        (b"", "configuration is empty: nothing to add"),
        (b"null", "configuration is null: nothing to add"),
        (b"{}", "configuration is an empty object: nothing to add"),
        (
            b"[\"x-a\"]",
            "configuration must be a JSON object, not an array",
        ),
        (
            b"{\"x a\": \"b\"}",
            "header \"x a\": the name contains a space",
        ),
        (
            b"{\":status\": \"200\"}",
            "header \":status\": pseudo-headers",
        ),
        (
            b"{\"x-a\": \"b\\r\\nx-injected: 1\"}",
            "header \"x-a\": the value contains a carriage return",
        ),
        (
            b"line one\nline two",
            "configuration (Maistra 2.0 string for \"custom-header\"): the value contains a line feed (\\n) at byte 8",
        ),
        (
            b"{\"x-a\": {\"value\": \"b\", \"append\": true}}",
            "header \"x-a\": unknown option \"append\"",
        ),
        (
            b"{\"x-a\": {\"value\": \"b\", \"mode\": \"add\"}}",
            "header \"x-a\": \"mode\" must be \"append\" or \"replace\", not \"add\"",
        ),
        (
            b"{\"x-a\": {\"mode\": \"replace\"}}",
            "header \"x-a\": \"value\" is missing",
        ),
    ];
    for (config, reason) in cases {
        let error = rejection(config);
        assert!(matches!(error.failure, StartFailure::Configure), "{error}");
        let prefixed = format!("#1 header-append rejected its configuration: {reason}");
        assert!(
            error.reason().starts_with(&prefixed),
            "expected {prefixed:?}, got:\n{error}"
        );
        let errors: Vec<_> = error
            .logs
            .iter()
            .filter(|l| l.level >= Level::Warn)
            .collect();
        assert_eq!(errors.len(), 1, "expected one logged reason, got:\n{error}");
        assert_eq!(errors[0].level, Level::Error, "{error}");
    }
}
