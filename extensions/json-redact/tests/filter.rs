//! The compiled module run the way Envoy runs it, through the workspace's `host::testing` (rebuilt from the current
//! sources first): JSON bodies held until complete, rewritten once, everything else untouched.

use host::testing::{HttpStream, Plugin, StartFailure};

const NAME: &str = env!("CARGO_PKG_NAME");

fn start(config: &str) -> Plugin {
    Plugin::extension(NAME)
        .config(config)
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A response with `headers` and `chunks` through a stream whose request already passed.
fn respond<'p>(plugin: &'p Plugin, headers: &[(&str, &str)], chunks: &[&str]) -> HttpStream<'p> {
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/")], true);
    stream.send_response_headers(headers, false);
    for (i, chunk) in chunks.iter().enumerate() {
        stream.send_response_body(chunk, i + 1 == chunks.len());
    }
    stream
}

const JSON: [(&str, &str); 3] = [
    (":status", "200"),
    ("content-type", "application/json; charset=utf-8"),
    ("content-length", "58"),
];

#[test]
fn a_json_response_in_chunks_reaches_the_client_redacted_whole_without_a_stale_length() {
    let plugin = start(include_str!("../example-config.json"));
    let mut stream = respond(
        &plugin,
        &JSON,
        &[
            r#"{"user": {"name": "ada", "ssn": "1"#,
            r#"23"}, "password": "hunter2"}"#,
        ],
    );
    let response = stream.client_response();
    response
        .assert_status(200)
        .assert_no_header("content-length")
        .assert_body(r#"{"user":{"name":"ada","ssn":"***"},"password":"***"}"#);
    stream.finish();
    plugin.assert_logged(
        host::testing::Level::Debug,
        "json-redact: response body: 2 field(s) redacted",
    );
}

#[test]
fn remove_on_both_sides_rewrites_the_request_body_too() {
    let plugin = start(r#"{"fields": ["token"], "action": "remove", "on": "both"}"#);
    let mut stream = plugin.http_stream();
    stream.send_request_headers(
        &[
            (":method", "POST"),
            ("content-type", "application/vnd.api+json"),
        ],
        false,
    );
    stream.send_request_body(r#"{"token": "t", "keep": [1, {"token": 2}]}"#, true);
    stream
        .upstream_request()
        .assert_no_header("content-length")
        .assert_body(r#"{"keep":[1,{}]}"#);
    stream.finish();
}

#[test]
fn bodies_that_are_not_plain_json_pass_byte_for_byte() {
    let plugin = start(include_str!("../example-config.json"));
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[(":status", "200"), ("content-type", "text/plain")],
            r#"{"password": "x"}"#,
        ),
        (
            &[
                (":status", "200"),
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            "\u{1f}\u{8b} compressed",
        ),
        (
            &[(":status", "200"), ("content-type", "application/json")],
            r#"{"password": "#,
        ),
        (
            &[(":status", "200"), ("content-type", "application/json")],
            r#"{ "nothing" : "to redact" }"#,
        ),
    ];
    for (headers, body) in cases {
        let mut stream = respond(&plugin, headers, &[body]);
        stream.client_response().assert_body(body);
        stream.finish();
    }
    plugin.assert_logged(
        host::testing::Level::Debug,
        "json-redact: response body is gzip-encoded JSON, passed unread",
    );
}

#[test]
fn a_body_over_max_body_bytes_passes_unchanged_never_half_rewritten() {
    let plugin = start(r#"{"fields": ["password"], "max_body_bytes": 16}"#);
    let body = r#"{"password": "x", "padding": "0123456789"}"#;
    let mut stream = respond(
        &plugin,
        &[(":status", "200"), ("content-type", "application/json")],
        &[&body[..10], &body[10..]],
    );
    stream.client_response().assert_body(body);
    stream.finish();
    // Declared too long up front: not held at all, its content-length kept.
    let mut stream = respond(
        &plugin,
        &[
            (":status", "200"),
            ("content-type", "application/json"),
            ("content-length", "42"),
        ],
        &[body],
    );
    stream
        .client_response()
        .assert_header("content-length", "42")
        .assert_body(body);
    stream.finish();
}

#[test]
fn a_bad_configuration_is_refused_with_the_field_named() {
    let Err(error) = Plugin::extension(NAME)
        .config(r#"{"fields": ["a"], "action": "hide"}"#)
        .start()
    else {
        panic!("the plugin accepted an unknown action");
    };
    assert!(matches!(error.failure, StartFailure::Configure), "{error}");
    assert!(
        error
            .reason()
            .contains(r#""action" "hide" is unknown: give "mask" or "remove""#),
        "{error}"
    );
}
