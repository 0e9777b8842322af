//! The compiled module run the way Envoy runs it, through the workspace's `host::testing` (rebuilt from the current
//! sources first): one limit per key, shared exactly by every worker's VM through shared data.

use std::time::Duration;

use host::testing::{Envoy, HttpStream, Level, Plugin, StartFailure};

const NAME: &str = env!("CARGO_PKG_NAME");

fn start(config: &str) -> Plugin {
    Plugin::extension(NAME)
        .config(config)
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Sends one request as `user`; the status the client got (200 when it went upstream and the upstream said so).
fn request(plugin: &Plugin, user: &str) -> u16 {
    let mut stream = plugin.http_stream();
    status_of(&mut stream, &[(":path", "/api?page=2"), ("x-user", user)])
}

fn status_of(stream: &mut HttpStream<'_>, headers: &[(&str, &str)]) -> u16 {
    stream.send_request_headers(headers, true);
    if stream.request_held_by().is_none() && stream.local_reply().is_none() {
        stream.send_response_headers(&[(":status", "200")], true);
    }
    let status = stream
        .client_response()
        .status()
        .expect("the client got a response");
    stream.finish();
    status
}

#[test]
fn a_key_gets_its_burst_then_429_with_retry_after_and_ratelimit_headers() {
    let plugin = start(r#"{"key": ["header:x-user"], "limit": 3, "period_seconds": 60}"#);
    let statuses: Vec<u16> = (0..4).map(|_| request(&plugin, "alice")).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/"), ("x-user", "alice")], true);
    // Three per minute: the next token comes in 20 s.
    stream
        .client_response()
        .assert_status(429)
        .assert_header("retry-after", "20")
        .assert_header("ratelimit-limit", "3")
        .assert_header("ratelimit-remaining", "0")
        .assert_header("ratelimit-reset", "20")
        .assert_body("rate limited\n");
    stream.upstream_request().assert_not_sent();
    stream.finish();
    assert_eq!(
        request(&plugin, "bob"),
        200,
        "another key has its own bucket"
    );
    assert_eq!(plugin.counter("rate_limit.allowed"), 4);
    assert_eq!(plugin.counter("rate_limit.limited"), 2);
    plugin.assert_logged(
        Level::Info,
        "rate-limit configured: 3 requests per 60 s (burst 3) per header:x-user, up to 10000 keys in domain rate-limit",
    );
    plugin.assert_logged(Level::Debug, "rate-limit: alice allowed, 2 left");
    plugin.assert_logged(Level::Debug, "rate-limit: alice limited, retry after 20 s");
}

#[test]
fn tokens_come_back_with_time_on_the_proxys_clock() {
    let plugin = start(r#"{"key": ["header:x-user"], "limit": 3, "period_seconds": 60}"#);
    for _ in 0..3 {
        assert_eq!(request(&plugin, "alice"), 200);
    }
    assert_eq!(request(&plugin, "alice"), 429);
    plugin.advance_time(Duration::from_secs(19));
    assert_eq!(request(&plugin, "alice"), 429);
    plugin.advance_time(Duration::from_secs(1));
    assert_eq!(request(&plugin, "alice"), 200);
    assert_eq!(request(&plugin, "alice"), 429);
    plugin.advance_time(Duration::from_secs(600));
    let statuses: Vec<u16> = (0..4).map(|_| request(&plugin, "alice")).collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 429],
        "a quiet key refills to its burst, no further"
    );
}

/// Envoy runs one VM per worker; shared data is the process's. Requests spread over two workers still get
/// exactly the limit, because every update is a compare-and-swap on one bucket.
#[test]
fn two_workers_share_one_limit_exactly() {
    let envoy = Envoy::new();
    let config = r#"{"key": ["header:x-user"], "limit": 5, "period_seconds": 60}"#;
    let worker = || {
        Plugin::extension(NAME)
            .config(config)
            .on(&envoy)
            .start()
            .unwrap()
    };
    let (one, two) = (worker(), worker());
    let statuses: Vec<u16> = (0..10)
        .map(|i| request(if i % 2 == 0 { &one } else { &two }, "alice"))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(statuses[..5], [200; 5]);
}

#[test]
fn the_source_key_is_the_address_without_its_port() {
    let plugin = start(r#"{"key": ["source"], "limit": 1, "period_seconds": 60}"#);
    let from = |address: &str| {
        let mut stream = plugin.http_stream();
        stream.set_source_address(address);
        status_of(&mut stream, &[(":path", "/")])
    };
    assert_eq!(from("10.0.0.1:5000"), 200);
    assert_eq!(
        from("10.0.0.1:6000"),
        429,
        "another connection of the same client"
    );
    assert_eq!(from("10.0.0.2:5000"), 200);
    assert_eq!(from("[2001:db8::1]:5000"), 200);
    assert_eq!(from("[2001:db8::1]:7000"), 429);
}

#[test]
fn a_path_and_method_key_ignores_the_query() {
    let plugin = start(r#"{"key": ["method", "path"], "limit": 1, "period_seconds": 60}"#);
    let send = |method: &str, path: &str| {
        let mut stream = plugin.http_stream();
        status_of(&mut stream, &[(":method", method), (":path", path)])
    };
    assert_eq!(send("GET", "/a?x=1"), 200);
    assert_eq!(send("GET", "/a?x=2"), 429);
    assert_eq!(send("POST", "/a"), 200);
    assert_eq!(send("GET", "/b"), 200);
}

/// Shared data has no delete: the plugin keeps at most `max_keys` buckets. A key whose slot another key holds
/// shares that bucket while it is busy, and takes it over once it has refilled (gone quiet).
#[test]
fn keys_beyond_max_keys_share_a_busy_bucket_and_take_over_a_quiet_one() {
    let plugin =
        start(r#"{"key": ["header:x-user"], "limit": 2, "period_seconds": 10, "max_keys": 1}"#);
    assert_eq!(request(&plugin, "alice"), 200);
    assert_eq!(
        request(&plugin, "bob"),
        200,
        "bob shares alice's busy bucket"
    );
    assert_eq!(request(&plugin, "bob"), 429);
    plugin.advance_time(Duration::from_secs(10));
    assert_eq!(
        request(&plugin, "bob"),
        200,
        "the quiet bucket is bob's now"
    );
    assert_eq!(request(&plugin, "bob"), 200);
    assert_eq!(request(&plugin, "bob"), 429);
    let slots: Vec<_> = (0..2)
        .filter_map(|i| plugin.shared_data(&format!("rate-limit/{i}")))
        .collect();
    assert_eq!(
        slots.len(),
        1,
        "one key of shared data, whatever the number of users"
    );
}

#[test]
fn a_bad_configuration_is_refused_with_the_field_named() {
    let Err(error) = Plugin::extension(NAME)
        .config(r#"{"key": ["cookie"], "limit": 5, "period_seconds": 60}"#)
        .start()
    else {
        panic!("the plugin accepted an unknown key part");
    };
    assert!(matches!(error.failure, StartFailure::Configure), "{error}");
    assert!(
        error.reason().contains(r#""key" part "cookie" is unknown"#),
        "{error}"
    );
}
