//! Conformance: HTTP and gRPC callouts — what is recorded on dispatch, how answers, failures and timeouts reach
//! the guest — with the conformance guest (`host/guests/conformance`).

use std::time::Duration;

use crate::support::*;
use host::testing::*;

#[test]
fn an_http_callout_is_recorded_with_cluster_headers_body_trailers_and_timeout() {
    let plugin = start("callout request");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    let call = stream.http_call();
    assert_eq!(call.cluster, "auth");
    assert_eq!(call.context_id, stream.id());
    assert_eq!(call.headers.get(":method"), Some("POST"));
    assert_eq!(call.headers.get(":path"), Some("/check"));
    assert_eq!(call.headers.get(":authority"), Some("auth.local"));
    assert_eq!(call.headers.get("x-token"), Some("t1"));
    assert_eq!(
        call.headers.get("content-length"),
        Some("7"),
        "Envoy sets it for a body"
    );
    assert_eq!(call.body, b"payload");
    assert_eq!(call.trailers.get("x-checksum"), Some("c1"));
    assert_eq!(call.timeout, Some(Duration::from_millis(250)));
    assert_eq!(
        note(&plugin, "dispatched "),
        format!("dispatched {}", call.token)
    );
}

#[test]
fn a_callout_answer_arrives_on_the_dispatching_context_readable_through_the_callout_maps() {
    let plugin = start("callout request");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    let token = stream.http_call().token;
    plugin.answer_http_call(
        token,
        HttpCallResponse::new(200)
            .header("x-a", "1")
            .body("ok")
            .trailer("x-t", "2"),
    );
    assert!(
        callbacks(&plugin, stream.id()).contains(&format!("on_http_call_response {token} 2 2 1")),
        "{:#?}",
        callbacks(&plugin, stream.id())
    );
    let line = note(&plugin, "callout response: ");
    assert_eq!(
        line,
        "callout response: status 200; headers :status: 200 | x-a: 1; body ok; trailers x-t: 2"
    );
    let entry = plugin
        .logs()
        .into_iter()
        .find(|l| l.message == line)
        .unwrap();
    assert_eq!(
        entry.context_id,
        stream.id(),
        "the SDK switched to the dispatching context"
    );
    assert!(plugin.http_calls().is_empty());
}

#[test]
fn a_failed_callout_reports_zero_sizes_and_get_status_11_reset() {
    let plugin = start("callout request");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    let token = stream.http_call().token;
    plugin.fail_http_call(token);
    assert!(
        callbacks(&plugin, stream.id()).contains(&format!("on_http_call_response {token} 0 0 0"))
    );
    assert_eq!(
        note(&plugin, "callout failed: "),
        "callout failed: status 11 reset"
    );
    // What Envoy answers while no response exists: BadArgument for a value, an empty map, no body.
    assert_eq!(
        status(&plugin, "failed callout header value"),
        Status::BadArgument as i32
    );
    assert_eq!(
        status(&plugin, "failed callout header pairs (0 bytes)"),
        Status::Ok as i32
    );
    assert_eq!(
        status(&plugin, "failed callout body"),
        Status::NotFound as i32
    );
    stream
        .client_response()
        .assert_status(502)
        .assert_body("callout failed");
}

#[test]
fn a_callout_that_outlives_its_timeout_is_answered_with_a_504_response() {
    let plugin = start("callout request");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    plugin.advance_time(Duration::from_millis(249));
    assert_eq!(plugin.http_calls().len(), 1, "not yet");
    plugin.advance_time(Duration::from_millis(1));
    assert!(plugin.http_calls().is_empty());
    let line = note(&plugin, "callout response: ");
    assert!(line.starts_with("callout response: status 504;"), "{line}");
    assert!(line.contains("body upstream request timeout"), "{line}");
    stream
        .upstream_request()
        .assert_header("x-auth-status", "504");
}

#[test]
fn time_out_http_call_answers_with_the_same_504_at_once() {
    let plugin = start("callout request");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    plugin.time_out_http_call(stream.http_call().token);
    assert!(note(&plugin, "callout response: ").starts_with("callout response: status 504;"));
}

#[test]
fn a_callout_to_an_unknown_cluster_is_bad_argument() {
    let plugin = guest("callout request cluster=nowhere")
        .clusters(&["auth"])
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Continue);
    assert_eq!(
        note(&plugin, "dispatch failed: "),
        "dispatch failed: BadArgument"
    );
    assert!(plugin.http_calls().is_empty());
    stream.upstream_request().assert_complete();
}

#[test]
fn a_callout_without_a_path_is_bad_argument() {
    let plugin = start("callout request no-path");
    plugin.http_stream().send_request_headers(&[], true);
    assert_eq!(
        note(&plugin, "dispatch failed: "),
        "dispatch failed: BadArgument"
    );
    assert!(plugin.http_calls().is_empty());
}

#[test]
fn a_local_reply_from_a_callout_response_replaces_the_response() {
    let plugin = start("callout request deny");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    stream.send_request_body("held", true);
    plugin.answer_http_call(stream.http_call().token, HttpCallResponse::new(401));
    stream
        .client_response()
        .assert_status(403)
        .assert_header("x-denied-by", "callout")
        .assert_body("denied by callout");
    stream.upstream_request().assert_not_sent();
}

#[test]
fn a_callout_dispatched_by_the_root_context_is_answered_on_the_root_context() {
    let plugin = start("callout root");
    let calls = plugin.http_calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].context_id, 1);
    assert_eq!(calls[0].headers.get(":path"), Some("/keys"));
    plugin.answer_http_call(calls[0].token, HttpCallResponse::new(200).body("keys"));
    let entry = plugin
        .logs()
        .into_iter()
        .find(|l| l.message == "root callout response: keys")
        .expect("the root read the response body");
    assert_eq!(entry.context_id, 1);
}

// Envoy's `Context::onConfigure` runs in the worker's `on_configure` before the listener takes traffic, and the
// async clients' answers arrive on the worker's dispatcher whenever the cluster answers (`Context::onHttpCallSuccess`,
// `onGrpcReceive`): a test answers start-up calls before any stream, in the order they were dispatched.
#[test]
fn calls_dispatched_at_start_up_and_by_a_tick_before_any_request_are_answered_before_the_first_stream()
 {
    let plugin = start("start-up");
    let (grpc, http) = (plugin.grpc_calls(), plugin.http_calls());
    assert_eq!((grpc.len(), http.len()), (1, 1), "{grpc:#?} {http:#?}");
    assert_eq!(
        (grpc[0].service.as_str(), grpc[0].method.as_str()),
        ("pkg.Keys", "Fetch")
    );
    assert_eq!(grpc[0].messages, [b"keys\x00\xff".to_vec()]);
    assert_eq!(http[0].headers.get(":path"), Some("/config"));
    assert!(
        grpc[0].dispatch_index() < http[0].dispatch_index(),
        "the gRPC call was dispatched first: {} then {}",
        grpc[0].dispatch_index(),
        http[0].dispatch_index()
    );
    plugin.answer_grpc_call(grpc[0].token, GrpcResponse::ok(b"\x01\x02"));
    plugin.answer_http_call(http[0].token, HttpCallResponse::new(200).body("cfg"));
    assert_eq!(
        note(&plugin, "root grpc response "),
        format!(
            "root grpc response {}: status 0, message 0x0102",
            grpc[0].token
        )
    );
    assert_eq!(
        note(&plugin, "root callout response: "),
        "root callout response: cfg"
    );

    plugin.advance_time(Duration::from_millis(100));
    let tick = plugin.http_calls();
    assert_eq!(tick.len(), 1, "{tick:#?}");
    assert_eq!(tick[0].headers.get(":path"), Some("/tick"));
    assert!(tick[0].dispatch_index() > http[0].dispatch_index());
    plugin.answer_http_call(tick[0].token, HttpCallResponse::new(200).body("ticked"));
    assert_eq!(
        notes(&plugin, "root callout response: "),
        [
            "root callout response: cfg",
            "root callout response: ticked"
        ]
    );

    // The canary dispatched the same two; Envoy cancelled them with it.
    assert_eq!(plugin.canary_grpc_calls().len(), 1);
    assert_eq!(plugin.canary_http_calls().len(), 1);

    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Continue);
    stream.upstream_request().assert_sent();
}

// context.cc `Context::httpCall` (unknown cluster, missing `:path`/`:method`/`:authority`: BadArgument) and
// `Context::grpcCall` (unknown cluster: ParseFailure) refuse before anything is sent: the plugin gets a status and no
// token. A test sees each refusal as a call with that status.
#[test]
fn a_dispatch_envoy_refuses_is_listed_with_the_status_the_plugin_got() {
    let plugin = Plugin::guest("conformance-guest")
        .config("callout request")
        .clusters(&["other"])
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    assert_eq!(plugin.http_calls(), []);
    assert_eq!(
        plugin.refused_calls(),
        [RefusedCall {
            function: "proxy_http_call",
            context_id: stream.id(),
            upstream: "auth".into(),
            service: String::new(),
            method: String::new(),
            status: Status::BadArgument,
        }]
    );
    assert_eq!(plugin.refused_calls_omitted(), 0);

    let plugin = Plugin::guest("conformance-guest")
        .config("grpc-call")
        .clusters(&["other"])
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    let refused = plugin.refused_calls();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(
        (
            refused[0].function,
            refused[0].upstream.as_str(),
            refused[0].service.as_str(),
            refused[0].status
        ),
        (
            "proxy_grpc_call",
            "grpc-upstream",
            "pkg.Echo",
            Status::ParseFailure
        )
    );
}

#[test]
fn a_grpc_call_is_recorded_and_its_response_delivered_to_the_dispatching_context() {
    let plugin = start("grpc-call");
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Pause);
    let calls = plugin.grpc_calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let call = &calls[0];
    assert_eq!(
        (
            call.upstream.as_str(),
            call.service.as_str(),
            call.method.as_str()
        ),
        ("grpc-upstream", "pkg.Echo", "Say")
    );
    assert_eq!(call.initial_metadata.get("x-md"), Some("v"));
    assert_eq!(call.messages, [b"ping".to_vec()]);
    assert_eq!(call.timeout, Some(Duration::from_secs(2)));
    assert!(!call.stream);
    assert_eq!(call.context_id, stream.id());

    plugin.answer_grpc_call(call.token, GrpcResponse::ok("pong"));
    assert_eq!(
        note(&plugin, "grpc response "),
        format!(
            "grpc response {}: status 0, message pong, get_grpc_status (0, )",
            call.token
        )
    );
    stream.upstream_request().assert_complete();
}

#[test]
fn a_grpc_error_closes_the_call_with_its_status_and_message() {
    let plugin = start("grpc-call");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    let token = plugin.grpc_calls()[0].token;
    plugin.answer_grpc_call(token, GrpcResponse::error(14, "unavailable"));
    assert_eq!(
        note(&plugin, "grpc response "),
        format!("grpc response {token}: status 14, message , get_grpc_status (14, unavailable)")
    );
}

#[test]
fn a_cancelled_grpc_call_is_no_longer_pending() {
    let plugin = start("grpc-call cancel");
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Continue);
    assert_eq!(note(&plugin, "grpc cancelled"), "grpc cancelled");
    assert!(plugin.grpc_calls().is_empty());
}

#[test]
fn a_grpc_stream_sends_messages_and_receives_metadata_message_and_close() {
    let plugin = start("grpc-stream");
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Pause);
    let call = plugin.grpc_calls().remove(0);
    assert!(call.stream);
    assert_eq!(
        (call.service.as_str(), call.method.as_str()),
        ("pkg.Chat", "Talk")
    );
    assert_eq!(call.messages, [b"hello".to_vec(), b"bye".to_vec()]);
    assert!(call.closed_by_plugin, "the last message had end_stream");

    let mut response = GrpcResponse::ok("welcome");
    response.initial_metadata.add("x-initial", "i");
    response.trailing_metadata.add("x-trailing", "t");
    plugin.answer_grpc_call(call.token, response);
    let t = call.token;
    let seen = callbacks(&plugin, stream.id());
    assert_eq!(
        seen[seen.len() - 4..],
        [
            format!("on_grpc_stream_initial_metadata {t} 1"),
            format!("on_grpc_stream_message {t} 7"),
            format!("on_grpc_stream_trailing_metadata {t} 1"),
            format!("on_grpc_stream_close {t} 0"),
        ]
    );
    assert_eq!(
        note(&plugin, "grpc initial metadata: "),
        "grpc initial metadata: x-initial: i"
    );
    assert_eq!(
        note(&plugin, "grpc stream message: "),
        "grpc stream message: welcome"
    );
    assert_eq!(
        note(&plugin, "grpc trailing metadata: "),
        "grpc trailing metadata: x-trailing: t"
    );
    stream.upstream_request().assert_complete();
}

#[test]
fn a_grpc_stream_closed_by_the_plugin_is_recorded_as_closed() {
    let plugin = start("grpc-stream close");
    plugin.http_stream().send_request_headers(&[], true);
    let call = plugin.grpc_calls().remove(0);
    assert_eq!(call.messages, [b"hello".to_vec()]);
    assert!(call.closed_by_plugin);
}

#[test]
fn a_foreign_function_the_host_registered_is_called_and_an_unknown_one_is_not_found() {
    let plugin = guest("foreign")
        .foreign_function("reverse", |args| Ok(args.iter().rev().copied().collect()))
        .start()
        .unwrap();
    plugin.http_stream().send_request_headers(&[], true);
    assert_eq!(
        notes(&plugin, "foreign "),
        [
            "foreign reverse: Ok(Some(\"cba\"))",
            "foreign missing: Err(NotFound)"
        ]
    );
}

#[test]
fn callout_tokens_count_per_kind_as_cpp_host_numbers_them() {
    // One counter per kind, the kind in the low two bits: HTTP 4, 8…; gRPC calls 5, 9…; gRPC streams 6, 10….
    let grpc = start("grpc-call then-stream");
    for _ in 0..2 {
        grpc.http_stream().send_request_headers(&[], true);
    }
    let tokens: Vec<u32> = grpc.grpc_calls().iter().map(|c| c.token).collect();
    assert_eq!(tokens, [5, 6, 9, 10]);
    let http = start("callout request");
    for expected in [4, 8] {
        let mut stream = http.http_stream();
        stream.send_request_headers(&[], true);
        assert_eq!(stream.http_call().token, expected);
    }
}

// Envoy `Context::httpCall`: `thread_local_cluster == nullptr` ⇒ BadArgument. A test that declares no cluster
// runs on an Envoy without any: the callout is refused, and the host says which cluster and how to declare it.
#[test]
fn with_no_cluster_declared_an_http_callout_is_bad_argument_and_the_host_names_the_cluster() {
    let plugin = Plugin::guest("conformance-guest")
        .config("callout request")
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Continue);
    assert_eq!(
        note(&plugin, "dispatch failed: "),
        "dispatch failed: BadArgument"
    );
    assert!(plugin.http_calls().is_empty());
    let explained = host_lines(&plugin);
    assert_eq!(explained.len(), 1, "{explained:#?}");
    for part in [
        "proxy_http_call: unknown cluster \"auth\"",
        "no cluster is declared",
        "BadArgument",
        "PluginBuilder::clusters(&[\"auth\"])",
        "--cluster 'auth'",
    ] {
        assert!(explained[0].contains(part), "{part:?} in {explained:#?}");
    }
}

// Envoy `Context::grpcCall`: an upstream that does not parse as a `GrpcService` is a cluster name, and an unknown
// one is ParseFailure.
#[test]
fn a_grpc_call_to_an_undeclared_cluster_is_parse_failure_and_the_host_names_the_cluster() {
    let plugin = guest("grpc-call").clusters(&["auth"]).start().unwrap();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    assert_eq!(
        note(&plugin, "grpc dispatched "),
        "grpc dispatched Err(ParseFailure)"
    );
    assert!(plugin.grpc_calls().is_empty());
    let explained = host_lines(&plugin);
    assert!(
        explained[0].contains("proxy_grpc_call: unknown cluster \"grpc-upstream\"")
            && explained[0].contains("the clusters declared are [\"auth\"]")
            && explained[0].contains("ParseFailure"),
        "{explained:#?}"
    );
}

// Envoy `Context::grpcStream` resolves its upstream like `grpcCall`: an unknown cluster is ParseFailure, on which
// the SDK's `open_grpc_stream(..).unwrap()` panics, in Envoy as here.
#[test]
fn a_grpc_stream_to_an_undeclared_cluster_is_parse_failure() {
    let plugin = guest("grpc-stream").clusters(&[]).start().unwrap();
    plugin.http_stream().send_request_headers(&[], true);
    let failure = plugin.failure().expect("the guest unwrapped the refusal");
    assert!(
        failure.contains("proxy_on_request_headers trapped"),
        "{failure}"
    );
    assert!(
        host_lines(&plugin)[0].contains("proxy_grpc_stream: unknown cluster \"grpc-upstream\""),
        "{:#?}",
        plugin.logs()
    );
}

// Envoy `AsyncRequestImpl::onRemoteClose`: status OK without a response message is `onFailure(Internal, "")`.
#[test]
fn a_grpc_call_answered_ok_without_a_message_closes_with_internal() {
    let plugin = start("grpc-call");
    plugin.http_stream().send_request_headers(&[], true);
    let token = plugin.grpc_calls()[0].token;
    plugin.answer_grpc_call(token, GrpcResponse::default());
    assert_eq!(
        note(&plugin, "grpc response "),
        format!("grpc response {token}: status 13, message , get_grpc_status (13, )")
    );
}

// Envoy `Context::grpcCall` passes `timeout_milliseconds` to the async client; when it expires the router answers
// the gRPC request with its 504 local reply, which `Grpc::Utility::httpToGrpcStatus` makes 14 Unavailable
// "upstream request timeout", and `GrpcCallClientHandler::onFailure` closes the call with it.
#[test]
fn a_grpc_call_that_outlives_its_timeout_closes_with_unavailable_on_virtual_time() {
    let plugin = start("grpc-call");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    let token = plugin.grpc_calls()[0].token;
    plugin.advance_time(Duration::from_millis(1999));
    assert_eq!(
        plugin.grpc_calls().len(),
        1,
        "not yet: the guest's timeout is 2 s"
    );
    plugin.advance_time(Duration::from_millis(1));
    assert!(plugin.grpc_calls().is_empty());
    assert_eq!(
        note(&plugin, "grpc response "),
        format!(
            "grpc response {token}: status 14, message , get_grpc_status (14, upstream request timeout)"
        )
    );
    stream.upstream_request().assert_complete();
}

#[test]
fn time_out_grpc_call_closes_with_the_same_unavailable_at_once() {
    let plugin = start("grpc-call");
    plugin.http_stream().send_request_headers(&[], true);
    let token = plugin.grpc_calls()[0].token;
    plugin.time_out_grpc_call(token);
    assert!(
        note(&plugin, "grpc response ").ends_with("get_grpc_status (14, upstream request timeout)")
    );
}

// Envoy PR 44479 (`Filter::onUpstreamTimeoutAbort`): with the runtime guard
// `grpc_timeout_returns_deadline_exceeded` on, the router answers 4 DeadlineExceeded. The guard exists from Envoy
// 1.38 (FALSE_RUNTIME_GUARD); an older Envoy ignores the unknown runtime key and still answers 14.
#[test]
fn with_the_runtime_guard_a_timed_out_grpc_call_closes_with_deadline_exceeded_from_envoy_1_38() {
    for (target, status) in [("envoy-1.38", 4), ("envoy", 4), ("envoy-1.37", 14)] {
        let plugin = guest("grpc-call")
            .target(target)
            .grpc_timeout_returns_deadline_exceeded(true)
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        plugin.http_stream().send_request_headers(&[], true);
        plugin.advance_time(Duration::from_secs(2));
        assert!(
            note(&plugin, "grpc response ").ends_with(&format!(
                "get_grpc_status ({status}, upstream request timeout)"
            )),
            "{target}"
        );
    }
}

/// Dispatches a unary gRPC call to `grpc-upstream` from `on_request_headers` and logs (Info) the name of each gRPC
/// callback it gets: the Rust SDK forgives callbacks for a call it already closed, so only raw exports show them.
const GRPC_CALLBACKS: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_call"
    (func $grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "grpc-upstream")
  (data (i32.const 32) "pkg.Echo")
  (data (i32.const 48) "Say")
  (data (i32.const 64) "initial_metadata")
  (data (i32.const 96) "receive")
  (data (i32.const 112) "trailing_metadata")
  (data (i32.const 144) "close")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $grpc_call (i32.const 16) (i32.const 13) (i32.const 32) (i32.const 8) (i32.const 48) (i32.const 3)
      (i32.const 0) (i32.const 0) (i32.const 48) (i32.const 3) (i32.const 1000) (i32.const 200)))
    (i32.const 1))
  (func (export "proxy_on_grpc_receive_initial_metadata") (param i32 i32 i32)
    (drop (call $log (i32.const 2) (i32.const 64) (i32.const 16))))
  (func (export "proxy_on_grpc_receive") (param i32 i32 i32)
    (drop (call $log (i32.const 2) (i32.const 96) (i32.const 7))))
  (func (export "proxy_on_grpc_receive_trailing_metadata") (param i32 i32 i32)
    (drop (call $log (i32.const 2) (i32.const 112) (i32.const 17))))
  (func (export "proxy_on_grpc_close") (param i32 i32 i32)
    (drop (call $log (i32.const 2) (i32.const 144) (i32.const 5))))
)
"#;

fn grpc_callbacks_after(response: GrpcResponse) -> Vec<String> {
    let plugin = Plugin::from_bytes(wat::parse_str(GRPC_CALLBACKS).expect("valid WAT"))
        .clusters(&["grpc-upstream"])
        .start()
        .unwrap();
    plugin.http_stream().send_request_headers(&[], true);
    let token = plugin.grpc_calls()[0].token;
    plugin.answer_grpc_call(token, response);
    plugin.assert_not_failed();
    plugin.logs_at(Level::Info)
}

fn with_metadata(mut response: GrpcResponse) -> GrpcResponse {
    response.initial_metadata.add("x-initial", "i");
    response.trailing_metadata.add("x-trailing", "t");
    response
}

// Envoy `GrpcCallClientHandler::onSuccessRaw` → `onGrpcReceiveWrapper`: a unary success is `proxy_on_grpc_receive`
// and nothing else (the async request swallows metadata, `AsyncRequestImpl::onReceive*Metadata`).
#[test]
fn a_unary_grpc_success_is_on_grpc_receive_only() {
    assert_eq!(
        grpc_callbacks_after(with_metadata(GrpcResponse::ok("pong"))),
        ["receive"]
    );
}

// Envoy `GrpcCallClientHandler::onFailure` → `onGrpcCloseWrapper`: a unary failure is `proxy_on_grpc_close` only.
#[test]
fn a_unary_grpc_failure_is_on_grpc_close_only() {
    assert_eq!(
        grpc_callbacks_after(with_metadata(GrpcResponse::error(14, "unavailable"))),
        ["close"]
    );
}

/// The lines the host added to the plugin's log (refusals Envoy makes without a word).
fn host_lines(plugin: &Plugin) -> Vec<String> {
    plugin
        .logs()
        .into_iter()
        .filter(|l| l.origin == LogOrigin::Host)
        .map(|l| l.message)
        .collect()
}
