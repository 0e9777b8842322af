//! The compiled module run the way Envoy runs it, through the workspace's `host::testing`. It runs
//! `target/extensions/<name>/plugin.wasm`, which the host first rebuilds from the current sources
//! (`cargo xtask build -p <name>`), so `cargo test -p <name>` always tests the code as it is now.
//!
//! Testing a body: send it in chunks as a client would (`send_request_body(chunk, end_of_stream)`);
//! `Pause` means Envoy buffers it, and the upstream request shows what got through.

use host::testing::{Action, Plugin, StartFailure};

const NAME: &str = env!("CARGO_PKG_NAME");

fn start() -> Plugin {
    Plugin::extension(NAME)
        .config(include_str!("../example-config.json"))
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

const POST: &[(&str, &str)] = &[(":method", "POST"), (":path", "/orders")];

#[test]
fn a_json_body_in_chunks_reaches_the_upstream_whole() {
    let plugin = start();
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(POST, false), Action::Continue);
    assert_eq!(stream.send_request_body(r#"{"item": "#, false), Action::Pause);
    assert_eq!(stream.send_request_body(r#""book"}"#, true), Action::Continue);
    stream
        .upstream_request()
        .assert_body(r#"{"item": "book"}"#)
        .assert_complete();
    plugin.assert_not_failed();
}

#[test]
fn a_body_that_is_not_json_gets_400_and_never_completes_upstream() {
    let plugin = start();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(POST, false);
    stream.send_request_body("item=book", true);
    stream
        .client_response()
        .assert_status(400)
        .assert_body("request body is not valid JSON");
    assert!(!stream.upstream_request().end_of_stream);
}

#[test]
fn a_body_over_max_bytes_gets_413_when_declared_or_when_it_grows_too_large() {
    let plugin = start();
    let mut declared = plugin.http_stream();
    let too_long = [POST, &[("content-length", "5000")]].concat();
    assert_eq!(declared.send_request_headers(&too_long, false), Action::Pause);
    declared.client_response().assert_status(413);
    declared.upstream_request().assert_not_sent();

    // Without a content-length, body_size (the whole body so far) crosses the limit.
    let mut chunked = plugin.http_stream();
    chunked.send_request_headers(POST, false);
    assert_eq!(chunked.send_request_body(vec![b' '; 600], false), Action::Pause);
    assert_eq!(chunked.send_request_body(vec![b' '; 600], false), Action::Pause);
    chunked
        .client_response()
        .assert_status(413)
        .assert_body("request body too large");
}

#[test]
fn a_bad_configuration_is_refused_with_the_reason_logged() {
    let Err(error) = Plugin::extension(NAME)
        .config(r#"{"max_bytes": 0}"#)
        .start()
    else {
        panic!("the plugin accepted max_bytes 0");
    };
    assert!(matches!(error.failure, StartFailure::Configure), "{error}");
    assert!(
        error.reason().contains(r#""max_bytes" 0 must be between 1 and"#),
        "{error}"
    );
}
