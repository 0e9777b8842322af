//! The compiled module run the way Envoy runs it, through the workspace's `host::testing`. It runs
//! `target/extensions/<name>/plugin.wasm`, which the host first rebuilds from the current sources
//! (`cargo xtask build -p <name>`), so `cargo test -p <name>` always tests the code as it is now.

use host::testing::{Level, Plugin, StartFailure};

const NAME: &str = env!("CARGO_PKG_NAME");

#[test]
fn responses_get_the_configured_header() {
    let plugin = Plugin::extension(NAME)
        .config(include_str!("../example-config.json"))
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":method", "GET"), (":path", "/")], true);
    stream.upstream_request().assert_no_header("x-greeting");
    stream.send_response_headers(&[(":status", "200"), ("x-greeting", "upstream")], true);
    stream
        .client_response()
        .assert_status(200)
        .assert_header_values("x-greeting", &["hello"]);
    stream.finish();
    plugin.assert_logged(
        Level::Info,
        &format!("{NAME} configured: sets x-greeting on responses"),
    );
}

#[test]
fn a_bad_configuration_is_refused_with_the_reason_logged() {
    let Err(error) = Plugin::extension(NAME)
        .config(r#"{"name": "x greeting", "value": "hello"}"#)
        .start()
    else {
        panic!("the plugin accepted a header name with a space");
    };
    assert!(matches!(error.failure, StartFailure::Configure), "{error}");
    assert!(
        error
            .reason()
            .contains(r#""name" "x greeting" is not an HTTP header name"#),
        "{error}"
    );
}
