//! `proxy-wasm-serve` on the wire: real clients (curl, hyper) through real sockets on loopback, the plugins run
//! by the host as Envoy runs them.

mod support;

use std::time::Duration;

use support::*;

fn header_append_chain() -> Proxy {
    let module = header_append();
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../extensions/header-append/example-config.json"
    );
    start(&[
        "--plugin",
        &format!("header-append={}", module.display()),
        "--config",
        &format!("header-append=@{config}"),
    ])
}

#[test]
fn curl_sees_header_append_on_http1_and_http2_and_the_upstream_sees_envoys_request() {
    let proxy = header_append_chain();
    for http in ["--http1.1", "--http2-prior-knowledge"] {
        let reply = curl(&[http, "-H", "x-client: 1", &proxy.url("/anything?q=1")]);
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(
            reply.header("x-powered-by"),
            Some("mesh-wasm"),
            "{http}: {reply:?}"
        );
        assert_eq!(
            reply.header("cache-control"),
            Some("no-store"),
            "{http}: {reply:?}"
        );
        let echoed = reply.echoed();
        let headers = &echoed["headers"];
        assert_eq!(echoed["url"], "/anything?q=1");
        assert_eq!(
            headers["x-request-source"], "mesh",
            "{http}: the plugin's request header"
        );
        assert_eq!(headers["x-client"], "1");
        // What Envoy's connection manager adds before any filter: the scheme and a request id.
        assert_eq!(headers["x-forwarded-proto"], "http");
        let id = headers["x-request-id"].as_str().unwrap();
        assert_eq!(id.len(), 36, "a v4 UUID: {id}");
        // :authority goes upstream as host.
        assert_eq!(headers["host"], proxy.listen.to_string().as_str());
    }
    // The access log is written once the stream ends, which may be just after the client has its response.
    proxy.wait_for_stdout("\"GET /anything?q=1 HTTP/1.1\" 200 - 0");
    proxy.wait_for_stdout("\"GET /anything?q=1 HTTP/2\" 200 - 0");
    let logs = proxy.stop();
    assert!(
        logs.contains("[info][wasm] wasm log header-append: #1 header-append configured"),
        "{logs}"
    );
}

#[test]
fn a_body_streams_in_chunks_with_trailers_and_reaches_the_upstream_whole() {
    let proxy = header_append_chain();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, echoed) = runtime.block_on(async {
        use http_body_util::BodyExt;
        let (tx, rx) = tokio::sync::mpsc::channel::<
            Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>,
        >(4);
        let body = http_body_util::StreamBody::new(tokio_stream(rx));
        let request = hyper::Request::post(proxy.url("/upload"))
            .header("content-type", "text/plain")
            .body(body)
            .unwrap();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(true)
                .build_http();
        let sending = tokio::spawn(async move {
            for chunk in ["first ", "second ", "third"] {
                tx.send(Ok(hyper::body::Frame::data(bytes::Bytes::from(chunk))))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            let mut trailers = hyper::HeaderMap::new();
            trailers.insert("x-checksum", "abc".parse().unwrap());
            tx.send(Ok(hyper::body::Frame::trailers(trailers)))
                .await
                .unwrap();
        });
        let response = client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        sending.await.unwrap();
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        )
    });
    assert_eq!(status, 200);
    assert_eq!(echoed["body"], "first second third");
    assert_eq!(echoed["headers"]["x-request-source"], "mesh");
    // Envoy's HTTP/1.1 codec drops trailers unless `enable_trailers` is set, which it is not by default.
    assert_eq!(echoed["trailers"], serde_json::Value::Null, "{echoed}");
}

#[test]
fn trailers_reach_an_http2_upstream() {
    let upstream = TestServer::start(Canned {
        status: 200,
        header: None,
        body: ECHO_TRAILERS,
        delay: Duration::ZERO,
    });
    let proxy = start_with(
        &plugin("header-append", &header_append(), r#"{"x-seen": "yes"}"#),
        &["--upstream", &format!("h2c://{}", upstream.address)],
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seen = runtime.block_on(async {
        use http_body_util::BodyExt;
        let mut trailers = hyper::HeaderMap::new();
        trailers.insert("x-checksum", "abc".parse().unwrap());
        let body = http_body_util::Full::new(bytes::Bytes::from("data"))
            .with_trailers(std::future::ready(Some(Ok(trailers))));
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(true)
                .build_http();
        let response = client
            .request(hyper::Request::post(proxy.url("/")).body(body).unwrap())
            .await
            .unwrap();
        String::from_utf8(
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap()
    });
    assert!(
        seen.contains("\"x-checksum\": \"abc\""),
        "the upstream got: {seen}"
    );
}

/// A stream of frames from a channel, for hyper's request body.
fn tokio_stream<T>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_core_stream::Stream<Item = T> {
    futures_core_stream::from_fn(move |cx| rx.poll_recv(cx))
}

mod futures_core_stream {
    //! The smallest `Stream` over a poll function, so the test needs no stream crate.
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub use futures_core::Stream;

    pub struct FromFn<F>(F);

    pub fn from_fn<T, F: FnMut(&mut Context<'_>) -> Poll<Option<T>> + Unpin>(f: F) -> FromFn<F> {
        FromFn(f)
    }

    impl<T, F: FnMut(&mut Context<'_>) -> Poll<Option<T>> + Unpin> Stream for FromFn<F> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            (self.0)(cx)
        }
    }
}

#[test]
fn two_plugins_run_requests_in_chain_order_and_responses_in_reverse() {
    let module = header_append();
    let proxy = start(&[
        "--plugin",
        &format!("first={}", module.display()),
        "--plugin",
        &format!("second={}", module.display()),
        "--config",
        r#"first={"x-chain": {"value": "first", "on": "both", "mode": "append"}}"#,
        "--config",
        r#"second={"x-chain": {"value": "second", "on": "both", "mode": "append"}}"#,
    ]);
    let reply = curl(&[&proxy.url("/")]);
    assert_eq!(reply.status, 200);
    // The request passed `first`, then `second`; the response `second`, then `first`.
    let upstream = reply.echoed()["headers"]["x-chain"].clone();
    assert_eq!(
        upstream,
        serde_json::json!(["first", "second"]),
        "{}",
        reply.body
    );
    assert_eq!(reply.all("x-chain"), ["second", "first"], "{reply:?}");
}

#[test]
fn callouts_go_to_the_mapped_cluster_and_fail_or_time_out_as_in_envoy() {
    let guest = conformance();
    let allow = TestServer::start(Canned {
        status: 200,
        header: None,
        body: "ok",
        delay: Duration::ZERO,
    });
    let deny = TestServer::start(Canned {
        status: 403,
        header: None,
        body: "no",
        delay: Duration::ZERO,
    });
    let slow = TestServer::start(Canned {
        status: 200,
        header: None,
        body: "late",
        delay: Duration::from_secs(3),
    });
    let cases = [
        (allow.url(), 200, Some("200")),
        (deny.url(), 403, None),
        (format!("http://127.0.0.1:{}", closed_port()), 502, None),
        // The guest's callout timeout is 250 ms: Envoy's router answers it 504, so the guest denies.
        (slow.url(), 403, None),
    ];
    for (cluster, status, auth_status) in cases {
        let proxy = start_with(
            &plugin("guard", &guest, "callout request deny"),
            &["--cluster", &format!("auth={cluster}"), "--workers", "1"],
        );
        let reply = curl(&[&proxy.url("/")]);
        assert_eq!(
            reply.status,
            status,
            "cluster {cluster}: {reply:?}\n{}",
            proxy.stderr()
        );
        if let Some(code) = auth_status {
            assert_eq!(reply.echoed()["headers"]["x-auth-status"], code);
        }
        let logs = proxy.stop();
        if status == 502 {
            assert!(logs.contains("callout failed: status 11"), "{logs}");
        }
        if cluster == slow.url() {
            assert!(logs.contains("callout response: status 504"), "{logs}");
        }
    }
    assert_eq!(allow.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(slow.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn a_scripted_cluster_answers_callouts_in_order() {
    let script = std::env::temp_dir().join(format!("serve-script-{}.json", std::process::id()));
    std::fs::write(
        &script,
        r#"[{"status": 200, "headers": {"x-user": "alice"}, "body": "ok", "delay_ms": 10},
            {"status": 500},
            {"reset": true},
            {"timeout": true}]"#,
    )
    .unwrap();
    let proxy = start_with(
        &plugin("guard", &conformance(), "callout request deny"),
        &["--cluster", &format!("auth=@{}", script.display())],
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let reply = curl(&[&proxy.url("/")]);
        statuses.push(reply.status);
    }
    let _ = std::fs::remove_file(&script);
    // 200 lets the request through; 500 is denied; a reset fails the callout (502); a timeout is Envoy's 504,
    // denied.
    assert_eq!(statuses, [200, 403, 502, 403]);
    let logs = proxy.stop();
    assert!(
        logs.contains(
            "callout response: status 200; headers :status: 200 | x-user: alice; body ok"
        ),
        "{logs}"
    );
    assert!(logs.contains("callout response: status 504"), "{logs}");
}

#[test]
fn a_unary_grpc_call_goes_over_http2_to_its_cluster() {
    let server = TestServer::start(Canned {
        status: 200,
        header: None,
        body: GRPC_PONG,
        delay: Duration::ZERO,
    });
    for (cluster, expected) in [
        (server.url(), "status 0, message pong"),
        (format!("http://127.0.0.1:{}", closed_port()), "status 14"),
    ] {
        let proxy = start_with(
            &plugin("caller", &conformance(), "grpc-call"),
            &["--cluster", &format!("grpc-upstream={cluster}")],
        );
        let reply = curl(&[&proxy.url("/")]);
        assert_eq!(reply.status, 200, "{reply:?}");
        let logs = proxy.stop();
        assert!(
            logs.contains(&format!(": {expected}")) && logs.contains("grpc response "),
            "{cluster}: {logs}"
        );
    }
    assert_eq!(server.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn a_callout_to_a_cluster_not_declared_is_refused_as_envoy_refuses_it() {
    let guest = conformance();
    let proxy = start_with(
        &plugin("guard", &guest, "callout request cluster=nowhere"),
        &[],
    );
    let reply = curl(&[&proxy.url("/")]);
    // Envoy's `httpCall` answers BadArgument for an unknown cluster; the guest then lets the request through.
    assert_eq!(reply.status, 200, "{reply:?}");
    proxy.wait_for_log("dispatch failed: BadArgument");
}

#[test]
fn a_trapping_plugin_gets_its_policy_while_the_proxy_keeps_serving() {
    let guest = conformance();
    for (policy, later) in [("fail-closed", 503), ("fail-open", 200), ("reload", 503)] {
        let proxy = start_with(
            &plugin("crashy", &guest, "plain panic=on_request_headers"),
            // One worker, so the request after the burst meets the VM that failed (each worker has its own).
            &[
                "--failure-policy",
                &format!("crashy={policy}"),
                "--workers",
                "1",
            ],
        );
        let url = proxy.url("/");
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let clients: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| curl(&[&url]).status))
                .collect();
            clients.into_iter().map(|c| c.join().unwrap()).collect()
        });
        assert!(
            statuses.iter().all(|s| *s == 503 || *s == later),
            "{policy}: {statuses:?}"
        );
        assert!(
            statuses.contains(&503),
            "{policy}: the trapping stream gets 503: {statuses:?}"
        );
        // The proxy is still up and answers the next request as the policy says.
        let reply = curl(&[&url]);
        assert_eq!(reply.status, later, "{policy}: {reply:?}");
        let ready = curl(&[&proxy.admin_url("/ready")]);
        assert_eq!(ready.status, 200);
        let logs = proxy.stop();
        assert!(
            logs.contains("panicked at"),
            "{policy}: the panic message is logged:\n{logs}"
        );
        // The trap report names the Rust function that panicked and the method it was called from.
        assert!(
            logs.contains("the plugin's VM failed: proxy_on_request_headers trapped")
                && logs.contains("\n  in: <conformance_guest::Scenario>::panic_in\n")
                && logs.contains(
                    ": <conformance_guest::stream::Stream as proxy_wasm::traits::HttpContext>::on_http_request_headers\n"
                ),
            "{policy}: the trap report is logged:\n{logs}"
        );
    }
}

#[test]
fn admin_sums_the_workers_metrics_and_shows_the_chain() {
    let guest = conformance();
    let proxy = start_with(&plugin("counted", &guest, "metrics"), &[]);
    for _ in 0..5 {
        let reply = curl(&[&proxy.url("/")]);
        assert_eq!(reply.status, 200);
    }
    let stats = curl(&[&proxy.admin_url("/stats/prometheus")]);
    assert!(
        stats
            .body
            .contains("# TYPE requests_total counter\nrequests_total{} 5\n"),
        "{}",
        stats.body
    );
    assert!(
        stats.body.contains("request_size_count{} 10\n"),
        "{}",
        stats.body
    );
    let config = curl(&[&proxy.admin_url("/config_dump")]);
    let config: serde_json::Value = serde_json::from_str(&config.body).unwrap();
    assert_eq!(config["chain"][0]["name"], "counted");
    assert_eq!(config["chain"][0]["configuration"], "metrics");
    assert_eq!(config["workers"], 2);
    let missing = curl(&[&proxy.admin_url("/nope")]);
    assert_eq!(missing.status, 404);
    assert!(
        missing
            .body
            .contains("try /ready, /stats/prometheus or /config_dump")
    );
}

// `--for`: the plugins run as that target's Envoy. Before envoyproxy/envoy#17357 (Envoy 1.20) a plugin metric is
// an ordinary stat (`envoy_` in Prometheus); before #36456 (1.33) the filter has no `failure_policy`, and Envoy
// refuses a configuration that sets one.
#[test]
fn for_runs_the_chain_as_the_targets_envoy() {
    let guest = conformance();
    let proxy = start_with(
        &plugin("counted", &guest, "metrics"),
        &["--for", "envoy-1.19"],
    );
    assert_eq!(curl(&[&proxy.url("/")]).status, 200);
    let stats = curl(&[&proxy.admin_url("/stats/prometheus")]);
    assert!(
        stats
            .body
            .contains("# TYPE envoy_requests_total counter\nenvoy_requests_total{} 1\n"),
        "{}",
        stats.body
    );
    drop(proxy);

    let mut args = plugin("counted", &guest, "metrics").to_vec();
    args.extend([
        "--failure-policy".into(),
        "counted=reload".into(),
        "--for".into(),
        "envoy-1.32".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let refused = try_start(&args)
        .err()
        .expect("Envoy 1.32 has no failure_policy");
    assert!(
        refused.contains("Envoy 1.32's Wasm filter configuration has no `failure_policy`"),
        "{refused}"
    );
}

#[test]
fn shared_data_is_one_store_for_every_worker() {
    let guest = conformance();
    let proxy = start_with(&plugin("shared", &guest, "shared-data"), &[]);
    for _ in 0..6 {
        let reply = curl(&[&proxy.url("/")]);
        assert_eq!(reply.status, 200);
    }
    // Whichever worker took each request, the counter counts them all.
    proxy.wait_for_log("write counter 6: Ok");
}

#[test]
fn an_unreachable_upstream_is_envoys_503_through_the_chain() {
    let proxy = start_with(
        &plugin("header-append", &header_append(), r#"{"x-seen": "yes"}"#),
        &["--upstream", &format!("http://127.0.0.1:{}", closed_port())],
    );
    let reply = curl(&[&proxy.url("/")]);
    assert_eq!(reply.status, 503);
    assert!(
        reply
            .body
            .starts_with("upstream connect error or disconnect/reset before headers"),
        "{reply:?}"
    );
    // The router's reply went back through the filter.
    assert_eq!(reply.header("x-seen"), Some("yes"));
    proxy.wait_for_stdout("\" 503 UF ");
}

#[test]
fn bad_flags_a_busy_port_and_a_plugin_that_does_not_start_are_named() {
    let module = header_append();
    let given = format!("header-append={}", module.display());
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let error = try_start(&["--plugin", &given, "--listen", &busy])
        .err()
        .unwrap();
    assert!(
        error.contains(&format!("--listen {busy}: cannot listen")),
        "{error}"
    );
    assert!(error.contains("pick another port"), "{error}");

    let error = try_start(&["--plugin", &given, "--cluster", "auth=ftp://x"])
        .err()
        .unwrap();
    assert!(error.contains("--cluster auth=ftp://x"), "{error}");

    let error = try_start(&["--plugin", &given, "--config", "other={}"])
        .err()
        .unwrap();
    assert!(
        error.contains("no plugin or service named other (there are: header-append)"),
        "{error}"
    );

    let error = try_start(&["--plugin", "ghost=/nowhere/plugin.wasm"])
        .err()
        .unwrap();
    assert!(
        error.contains("--plugin ghost=/nowhere/plugin.wasm: no module there"),
        "{error}"
    );

    let picky = plugin("picky", &conformance(), "configure-fails");
    let picky: Vec<&str> = picky.iter().map(String::as_str).collect();
    let error = try_start(&picky).err().unwrap();
    assert!(
        error.contains("plugin picky: the plugin failed to configure (on_configure)"),
        "{error}"
    );
    // The first worker's start is the one reported (as Envoy's main thread runs the canary before workers).
    assert!(!error.contains("already failed in this Envoy"), "{error}");
}

#[test]
fn watch_swaps_a_rebuilt_module_while_requests_flow_and_keeps_serving_through_a_broken_one() {
    let dir = std::env::temp_dir().join(format!("serve-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("plugin.wasm");
    let bytes = std::fs::read(header_append()).unwrap();
    std::fs::write(&module, &bytes).unwrap();
    // A new module lands as a build writes it: a new file renamed over the old one.
    let land = |contents: &[u8]| {
        let next = dir.join("plugin.wasm.new");
        std::fs::write(&next, contents).unwrap();
        std::fs::rename(&next, &module).unwrap();
    };
    let proxy = start_with(
        &plugin("watched", &module, r#"{"x-seen": "yes"}"#),
        &["--watch"],
    );
    let url = proxy.url("/");
    let statuses = std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut statuses = Vec::new();
            for _ in 0..40 {
                let reply = curl(&[&url]);
                statuses.push((reply.status, reply.header("x-seen").map(str::to_owned)));
                std::thread::sleep(Duration::from_millis(25));
            }
            statuses
        });
        std::thread::sleep(Duration::from_millis(200));
        land(&bytes);
        proxy.wait_for_log("serve: new modules loaded");
        land(b"\0asm broken");
        proxy.wait_for_log("the new modules did not start; the old VMs keep serving");
        client.join().unwrap()
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(statuses.len(), 40);
    assert!(
        statuses
            .iter()
            .all(|(s, seen)| *s == 200 && seen.as_deref() == Some("yes")),
        "no request lost or unfiltered across the swaps: {statuses:?}"
    );
    let reply = curl(&[&url]);
    assert_eq!(
        reply.header("x-seen"),
        Some("yes"),
        "the old VMs still serve"
    );
}

#[test]
fn a_drain_lets_the_request_in_flight_finish_then_ends_the_vms() {
    let slow = TestServer::start(Canned {
        status: 200,
        header: None,
        body: "slow",
        delay: Duration::from_millis(500),
    });
    let proxy = start_with(
        &plugin("ends", &conformance(), "plain"),
        &["--upstream", &slow.url(), "--workers", "1"],
    );
    let url = proxy.url("/");
    let in_flight = std::thread::spawn(move || curl(&[&url]));
    std::thread::sleep(Duration::from_millis(150));
    let logs = proxy.stop();
    let reply = in_flight.join().unwrap();
    assert_eq!(
        reply.status, 200,
        "the request in flight finished: {reply:?}"
    );
    assert_eq!(reply.body, "slow");
    // Envoy's order at shutdown: the stream's access log and deletion, then the root context's on_done.
    let log_at = logs
        .find("wasm log ends ends: on_log")
        .unwrap_or_else(|| panic!("{logs}"));
    let done_at = logs
        .find("root on_done")
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(log_at < done_at, "{logs}");
}

/// A client body in `chunks`, sent with hyper over HTTP/2 (`proxy.url(path)`); the status and body that came back.
fn post_chunks(proxy: &Proxy, path: &str, chunks: Vec<Vec<u8>>) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use http_body_util::BodyExt;
        let (tx, rx) = tokio::sync::mpsc::channel::<
            Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>,
        >(4);
        let request = hyper::Request::post(proxy.url(path))
            .body(http_body_util::StreamBody::new(tokio_stream(rx)))
            .unwrap();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(true)
                .build_http();
        tokio::spawn(async move {
            for chunk in chunks {
                if tx
                    .send(Ok(hyper::body::Frame::data(chunk.into())))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let response = tokio::time::timeout(Duration::from_secs(20), client.request(request))
            .await
            .expect("an answer in time")
            .unwrap();
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

#[test]
fn a_plugin_that_buffers_the_body_rewrites_it_and_over_the_buffer_limit_gets_envoys_413() {
    // The guest rewrites both bodies at their end and leaves content-length alone, as Envoy would forward it: the
    // upstream answers without one.
    let upstream = TestServer::start(Canned {
        status: 200,
        header: None,
        body: ECHO_BODY,
        delay: Duration::ZERO,
    });
    let proxy = start_with(
        &plugin(
            "rewriter",
            &conformance(),
            "plain pause-request-body mutate",
        ),
        &["--upstream", &upstream.url()],
    );
    let (status, body) = post_chunks(&proxy, "/", vec![b"ab".to_vec(), b"cd".to_vec()]);
    assert_eq!(status, 200, "{body}");
    // The upstream got the buffered body as the plugin rewrote it ("replaced+appended") and echoed it; the
    // guest's response rewrite added "rewritten" on the way back.
    assert_eq!(body, "replaced+appendedrewritten", "{}", proxy.stderr());
    // Envoy's default per-connection buffer limit is 1 MiB: a body the plugin keeps buffering past it is refused.
    let chunks = vec![vec![b'x'; 256 << 10]; 6];
    let (status, body) = post_chunks(&proxy, "/", chunks);
    assert_eq!(status, 413, "{body}");
    // Envoy's local reply goes through the plugin's own encoder callbacks, where the guest rewrote it.
    assert_eq!(body, "rewritten");
    proxy.wait_for_log("response body: Payload Too Large");
}

#[test]
fn a_client_that_goes_away_mid_request_ends_the_stream_in_every_filter() {
    use std::io::Write;
    let proxy = start_with(
        &plugin("held", &conformance(), "plain pause-request-body"),
        &["--workers", "1"],
    );
    let mut socket = std::net::TcpStream::connect(proxy.listen).unwrap();
    socket
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
        .unwrap();
    proxy.wait_for_log("request body: 0123456789");
    drop(socket);
    // Envoy resets the stream: the filter's access log and destruction run, nothing is left waiting.
    proxy.wait_for_log("wasm log held held: on_log");
    proxy.wait_for_stdout("\"POST / HTTP/1.1\" 0 DC 10 ");
}

#[test]
fn a_callouts_trailers_reach_an_http2_cluster() {
    let server = TestServer::start(Canned {
        status: 200,
        header: None,
        body: ECHO_TRAILERS,
        delay: Duration::ZERO,
    });
    let proxy = start_with(
        &plugin("guard", &conformance(), "callout request"),
        &["--cluster", &format!("auth=h2c://{}", server.address)],
    );
    assert_eq!(curl(&[&proxy.url("/")]).status, 200);
    // The guest sends `x-checksum: c1` as its callout's trailer; the cluster answers with the trailers it got.
    proxy.wait_for_log(r#"body {"x-checksum": "c1"}"#);
}

#[test]
fn every_workers_root_context_ticks_on_the_real_clock() {
    let proxy = start_with(&plugin("ticker", &conformance(), "ticker 100"), &[]);
    let started = std::time::Instant::now();
    proxy.wait_for_log("tick 3 at");
    let logs = proxy.stop();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "three periods of 100 ms passed first"
    );
    for worker in ["worker-0", "worker-1"] {
        assert!(
            logs.lines()
                .any(|l| l.contains(worker) && l.contains("tick 2 at")),
            "{worker} ticks too:\n{logs}"
        );
    }
}

#[test]
fn rate_limit_holds_across_workers_on_the_wire() {
    let module = host::testing::extension_module("rate-limit").expect("rate-limit builds");
    let proxy = start_with(
        &plugin(
            "rate-limit",
            &module,
            r#"{"key": ["header:x-user"], "limit": 5, "period_seconds": 60}"#,
        ),
        &["--workers", "2"],
    );
    let url = proxy.url("/");
    // The first request creates alice's bucket: shared data cannot create a key only if absent, so a creation
    // raced on two workers at once could count one request twice (the plugin's README says so).
    assert_eq!(curl(&["-H", "x-user: alice", &url]).status, 200);
    let mut statuses: Vec<u16> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..11)
            .map(|_| scope.spawn(|| curl(&["-H", "x-user: alice", &url]).status))
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    statuses.push(200);
    // However the kernel spread the connections over the workers, one bucket counted them all.
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
    let stats = curl(&[&proxy.admin_url("/stats/prometheus")]).body;
    assert!(stats.contains("rate_limit_allowed{} 5\n"), "{stats}");
    assert!(stats.contains("rate_limit_limited{} 7\n"), "{stats}");
}

/// While a plugin holds the request, Envoy stops reading the client once its buffer limit is reached (watermarks)
/// and reads on when the plugin resumes. A 70 MiB upload behind a paused filter gets through whole: held in full,
/// it would pass the plugin's 64 MiB host budget and be refused with a 413.
#[test]
fn a_paused_filter_applies_back_pressure_to_the_client_instead_of_holding_everything() {
    let upstream = TestServer::start(Canned {
        status: 200,
        header: None,
        body: "stored",
        delay: Duration::ZERO,
    });
    let script = std::env::temp_dir().join(format!("serve-pause-{}.json", std::process::id()));
    std::fs::write(&script, r#"[{"status": 200, "delay_ms": 200}]"#).unwrap();
    let upload = std::env::temp_dir().join(format!("serve-upload-{}.bin", std::process::id()));
    std::fs::write(&upload, vec![b'x'; 70 << 20]).unwrap();
    let proxy = start_with(
        &plugin("guard", &conformance(), "callout request"),
        &[
            "--cluster",
            &format!("auth=@{}", script.display()),
            "--upstream",
            &upstream.url(),
            "--workers",
            "1",
        ],
    );
    let reply = curl(&[
        "--max-time",
        "120",
        "--data-binary",
        &format!("@{}", upload.display()),
        "-H",
        "content-type: application/octet-stream",
        &proxy.url("/upload"),
    ]);
    let _ = std::fs::remove_file(&upload);
    let _ = std::fs::remove_file(&script);
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "stored"),
        "{}",
        proxy.stderr()
    );
    proxy.wait_for_stdout(&format!("\"POST /upload HTTP/1.1\" 200 - {} ", 70 << 20));
}

#[test]
fn a_request_the_filters_made_unsendable_gets_a_503_instead_of_a_hang() {
    let proxy = start_with(
        &plugin(
            "breaker",
            &conformance(),
            "plain request:set,:path,no-slash",
        ),
        &["--workers", "1"],
    );
    let reply = curl(&[&proxy.url("/")]);
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(
        reply
            .body
            .starts_with("the request the filters passed cannot be sent upstream"),
        "{reply:?}"
    );
}

#[test]
fn a_services_callouts_go_on_the_wire_and_their_answers_reach_it() {
    // A Wasm service calls out like any plugin (Envoy's main thread has its async clients too): on each tick the
    // kinds guest's service GETs cluster `backend`, and logs the answer's status.
    let backend = TestServer::start(Canned {
        status: 204,
        header: None,
        body: "",
        delay: Duration::ZERO,
    });
    let kinds = host::testing::guest_module("kinds-guest").expect("the kinds guest builds");
    let service = format!("svc={}", kinds.display());
    let proxy = start_with(
        &plugin("producer", &kinds, "producer"),
        &[
            "--service",
            &service,
            "--config",
            "svc=service tick=100 stop-after=2 callout=backend",
            "--cluster",
            &format!("backend={}", backend.url()),
        ],
    );
    proxy.wait_for_log("answered 204 with 0 bytes");
    let logs = proxy.stop();
    assert!(
        logs.lines()
            .any(|l| l.contains("[main]") && l.contains("wasm log svc: callout")),
        "the service's callout is made and answered on the main thread:\n{logs}"
    );
    assert!(backend.hits.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[test]
fn a_service_runs_beside_the_chain_and_shares_data_and_queues_with_its_filters() {
    // As Envoy's bootstrap extension `envoy.bootstrap.wasm` (singleton): one VM on the main thread, on the real
    // clock, sharing shared data and queues with every worker's plugins.
    let kinds = host::testing::guest_module("kinds-guest").expect("the kinds guest builds");
    let service = format!("svc={}", kinds.display());
    let proxy = start_with(
        &plugin("producer", &kinds, "producer"),
        &["--service", &service, "--config", "svc=service tick=100"],
    );
    proxy.wait_for_stdout("services: svc");
    for path in ["/a", "/b"] {
        assert_eq!(curl(&[&proxy.url(path)]).status, 200);
    }
    proxy.wait_for_log("event: /a");
    proxy.wait_for_log("event: /b");
    proxy.wait_for_log(": requests 2");
    // The other way: the service's ticks counter in shared data, read by the HTTP filter on a worker and put on the
    // request the upstream echoes.
    let reply = curl(&[&proxy.url("/c")]);
    let ticks = reply.echoed()["headers"]["x-service-ticks"].clone();
    let ticks: u64 = ticks
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("the filter read the service's ticks: {reply:?}"));
    assert!(ticks >= 1, "{reply:?}");
    let logs = proxy.stop();
    assert!(
        logs.lines()
            .any(|l| l.contains("[main]") && l.contains("wasm log svc: event: /a")),
        "the service logs from the main thread:\n{logs}"
    );
}
