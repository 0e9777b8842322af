//! Conformance: one HTTP stream the way Envoy drives it — callback order and arguments, header maps, Pause on
//! headers and on bodies, deferred resume/local reply/close, local replies replacing the response, the end of the
//! stream — with the conformance guest (`host/guests/conformance`).

use crate::support::*;
use host::testing::*;

// cpp-host `Context::onRequestHeaders` turns Pause (1) into StopAllIterationAndWatermark unless Envoy's
// `allow_on_headers_stop_iteration` is set; `Context::onRequestBody` keeps 1 as StopIterationAndBuffer; a callback
// that sent a local reply stops iteration whatever it returned (`Context::sendLocalResponse`).
#[test]
fn each_callback_shows_what_the_plugin_returned_and_what_envoy_did_with_it() {
    let outcome = |callback, returned, envoy| CallbackOutcome {
        callback,
        returned: Some(returned),
        envoy,
    };
    let plugin = start("chunks pause-request-body");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    stream.send_request_body("ab", false);
    stream.send_request_body("c", true);
    assert_eq!(
        stream.callback_outcomes(),
        [
            outcome("on_request_headers", 0, "Continue"),
            outcome("on_request_body", 1, "StopIterationAndBuffer"),
            outcome("on_request_body", 0, "Continue"),
        ]
    );

    let held = |allow| {
        let plugin = guest("callout request")
            .allow_on_headers_stop_iteration(allow)
            .start()
            .unwrap();
        let mut stream = plugin.http_stream();
        stream.send_request_headers(&[], true);
        stream.callback_outcomes()
    };
    assert_eq!(
        held(false),
        [outcome(
            "on_request_headers",
            1,
            "StopAllIterationAndWatermark"
        )]
    );
    assert_eq!(
        held(true),
        [outcome("on_request_headers", 1, "StopIteration")]
    );

    let plugin = start("local-reply request-headers");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    // The local reply then passes through the filter's encoder callbacks, as Envoy's `sendLocalReply` does.
    assert_eq!(
        stream.callback_outcomes(),
        [
            outcome("on_request_headers", 0, "StopIteration after a local reply"),
            outcome("on_response_headers", 0, "Continue"),
            outcome("on_response_body", 0, "Continue"),
        ]
    );
}

#[test]
fn callbacks_run_in_envoy_order_and_the_stream_ends_with_log_done_delete() {
    let plugin = start("record");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":method", "POST"), (":path", "/upload")], false);
    stream.send_request_body("hello", false);
    stream.send_request_trailers(&[("x-checksum", "1")]);
    stream.send_response_headers(&[(":status", "200"), ("content-type", "text/plain")], false);
    stream.send_response_body("ok", true);
    stream.finish();
    assert_eq!(
        callbacks(&plugin, stream.id()),
        [
            "on_context_create 2",
            "on_request_headers 6 false",
            "on_request_body 5 false",
            "on_request_trailers 1",
            "on_response_headers 2 false",
            "on_response_body 2 true",
            "on_log",
            "on_done",
            "on_delete",
        ]
    );
    stream
        .upstream_request()
        .assert_body("hello")
        .assert_trailer("x-checksum", "1")
        .assert_complete();
    stream
        .client_response()
        .assert_status(200)
        .assert_body("ok")
        .assert_complete();
}

#[test]
fn the_stream_context_is_created_when_the_request_headers_arrive() {
    let plugin = start("record");
    let mut stream = plugin.http_stream();
    assert!(callbacks(&plugin, stream.id()).is_empty());
    stream.send_request_headers(&[], true);
    assert_eq!(callbacks(&plugin, stream.id())[0], "on_context_create 2");
}

#[test]
fn a_stream_that_never_reached_the_plugin_still_gets_log_done_delete() {
    let plugin = start("record");
    let mut stream = plugin.http_stream();
    stream.finish();
    assert_eq!(
        callbacks(&plugin, stream.id()),
        ["on_context_create 2", "on_log", "on_done", "on_delete"]
    );
}

#[test]
fn end_of_stream_on_headers_means_no_body_or_trailer_callbacks() {
    let plugin = start("record");
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Continue);
    assert_eq!(stream.send_response_headers(&[], true), Action::Continue);
    assert_eq!(
        callbacks(&plugin, stream.id()),
        [
            "on_context_create 2",
            "on_request_headers 6 true",
            "on_response_headers 1 true"
        ]
    );
    stream.upstream_request().assert_complete();
    stream.client_response().assert_complete();
}

#[test]
fn header_names_reach_the_guest_lower_cased_with_pseudo_headers_first() {
    let plugin = start("record");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[("X-Mixed-Case", "Value"), (":path", "/p")], true);
    let line = note(&plugin, "request headers: ");
    let entries: Vec<&str> = line["request headers: ".len()..].split(" | ").collect();
    assert!(entries.contains(&"x-mixed-case: Value"), "{line}");
    assert!(entries.contains(&":path: /p"), "{line}");
    let last_pseudo = entries.iter().rposition(|e| e.starts_with(':')).unwrap();
    let first_regular = entries.iter().position(|e| !e.starts_with(':')).unwrap();
    assert!(last_pseudo < first_regular, "pseudo-headers first: {line}");
    for default in [
        ":method: GET",
        ":scheme: http",
        ":authority: example.com",
        "x-forwarded-proto: http",
    ] {
        assert!(
            entries.contains(&default),
            "default {default} missing: {line}"
        );
    }
}

#[test]
fn multi_value_headers_are_separate_entries_and_the_getter_returns_the_first() {
    let plugin = start("record mutate");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[("x-multi", "1"), ("X-Multi", "2")], true);
    assert!(
        note(&plugin, "request headers: ").contains("x-multi: 1 | x-multi: 2"),
        "{:#?}",
        plugin.logs()
    );
    // The guest appended a third value before reading.
    assert_eq!(note(&plugin, "first x-multi: "), "first x-multi: 1");
    stream
        .upstream_request()
        .assert_header_values("x-multi", &["1", "2", "3"]);
}

#[test]
fn header_changes_by_the_guest_reach_the_upstream_lower_cased() {
    let plugin = start("record mutate");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[("x-replace", "old"), ("x-remove", "bye")], true);
    let upstream = stream.upstream_request();
    upstream
        .assert_header("x-added", "a")
        .assert_header_values("x-replace", &["new"])
        .assert_no_header("x-remove");
    let names: Vec<String> = upstream
        .headers
        .as_ref()
        .unwrap()
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert!(names.contains(&"x-added".to_string()), "{names:?}");
    assert!(
        names.iter().all(|n| n == &n.to_ascii_lowercase()),
        "the guest added `X-Added`: {names:?}"
    );
}

#[test]
fn response_header_changes_reach_the_client() {
    let plugin = start("record mutate");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[("server", "envoy")], true);
    stream
        .client_response()
        .assert_header("x-resp", "1")
        .assert_header_values("server", &["conformance"]);
}

#[test]
fn the_guest_can_replace_a_whole_header_map() {
    let plugin = start("record replace-map");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[("server", "envoy"), ("x-a", "1")], true);
    let response = stream.client_response();
    response.assert_status(202).assert_header("x-only", "1");
    assert_eq!(response.headers.as_ref().unwrap().len(), 2, "{response}");
}

#[test]
fn pause_on_request_headers_holds_headers_body_and_trailers() {
    let plugin = start("record pause-request-headers");
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], false), Action::Pause);
    assert_eq!(stream.send_request_body("abc", false), Action::Pause);
    assert_eq!(stream.send_request_trailers(&[("x-t", "1")]), Action::Pause);
    stream.upstream_request().assert_not_sent();
    assert_eq!(
        callbacks(&plugin, stream.id()),
        ["on_context_create 2", "on_request_headers 6 false"],
        "nothing more reaches a filter that stopped all iteration"
    );
}

#[test]
fn pause_on_request_headers_stops_iteration_until_resume() {
    let plugin = start("callout request");
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], false), Action::Pause);
    assert_eq!(stream.send_request_body("abc", true), Action::Pause);
    stream.upstream_request().assert_not_sent();

    let call = stream.http_call();
    plugin.answer_http_call(call.token, HttpCallResponse::new(200));
    // After the resume the body that arrived during the pause reaches the plugin in one callback.
    let seen = callbacks(&plugin, stream.id());
    let tail: Vec<&str> = seen[seen.len() - 2..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            format!("on_http_call_response {} 1 0 0", call.token).as_str(),
            "on_request_body 3 true"
        ]
    );
    stream
        .upstream_request()
        .assert_header("x-auth-status", "200")
        .assert_body("abc")
        .assert_complete();
}

/// `ActiveStreamFilterBase::commonContinue` calls `doTrailers()` for trailers that arrived during the pause even
/// when the body callback it just ran buffers (StopIterationAndBuffer): the plugin sees the trailers, and their
/// Continue sends the buffered body and the trailers on.
#[test]
fn after_a_resume_the_trailers_callback_runs_even_when_the_body_callback_buffers_common_continue() {
    let plugin = start("callout request pause-request-body");
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], false), Action::Pause);
    stream.send_request_body("abc", false);
    stream.send_request_trailers(&[("x-t", "1")]);
    let call = stream.http_call();
    plugin.answer_http_call(call.token, HttpCallResponse::new(200));
    let seen = callbacks(&plugin, stream.id());
    let tail: Vec<&str> = seen[seen.len() - 2..].iter().map(String::as_str).collect();
    assert_eq!(tail, ["on_request_body 3 false", "on_request_trailers 1"]);
    stream
        .upstream_request()
        .assert_body("abc")
        .assert_trailer("x-t", "1")
        .assert_complete();
}

#[test]
fn pause_on_response_headers_stops_iteration_until_resume() {
    let plugin = start("callout response");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    assert_eq!(stream.send_response_headers(&[], false), Action::Pause);
    assert_eq!(stream.send_response_body("body", true), Action::Pause);
    stream.client_response().assert_not_sent();

    let token = plugin.http_calls()[0].token;
    plugin.answer_http_call(token, HttpCallResponse::new(200));
    stream
        .client_response()
        .assert_header("x-auth-status", "200")
        .assert_body("body")
        .assert_complete();
}

#[test]
fn with_allow_on_headers_stop_iteration_the_body_reaches_a_plugin_holding_the_headers() {
    let plugin = guest("record pause-request-headers")
        .allow_on_headers_stop_iteration(true)
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], false), Action::Pause);
    stream.upstream_request().assert_not_sent();
    // Continue from the body callback sends the held headers on, then the data.
    assert_eq!(stream.send_request_body("abc", false), Action::Continue);
    assert_eq!(notes(&plugin, "request body: "), ["request body: abc"]);
    stream
        .upstream_request()
        .assert_header(":path", "/")
        .assert_body("abc");
    assert_eq!(stream.send_request_body("de", true), Action::Continue);
    stream
        .upstream_request()
        .assert_body("abcde")
        .assert_complete();
}

#[test]
fn with_allow_on_headers_stop_iteration_a_body_pause_buffers_behind_the_held_headers() {
    let plugin = guest("record pause-request-headers pause-request-body")
        .allow_on_headers_stop_iteration(true)
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(stream.send_request_body("ab", false), Action::Pause);
    assert_eq!(stream.send_request_body("cd", false), Action::Pause);
    stream.upstream_request().assert_not_sent();
    assert_eq!(stream.send_request_body("ef", true), Action::Continue);
    assert_eq!(
        notes(&plugin, "request body: "),
        [
            "request body: ab",
            "request body: abcd",
            "request body: abcdef"
        ]
    );
    stream
        .upstream_request()
        .assert_header(":method", "GET")
        .assert_body("abcdef")
        .assert_complete();
}

#[test]
fn with_allow_on_headers_stop_iteration_trailers_reach_the_plugin_and_release_the_headers() {
    let plugin = guest("record pause-request-headers")
        .allow_on_headers_stop_iteration(true)
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(
        stream.send_request_trailers(&[("x-t", "1")]),
        Action::Continue
    );
    assert!(
        callbacks(&plugin, stream.id()).contains(&"on_request_trailers 1".to_string()),
        "{:#?}",
        callbacks(&plugin, stream.id())
    );
    stream
        .upstream_request()
        .assert_header(":path", "/")
        .assert_trailer("x-t", "1")
        .assert_complete();
}

#[test]
fn pause_on_request_body_redelivers_the_cumulative_body() {
    let plugin = start("record pause-request-body");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(stream.send_request_body("ab", false), Action::Pause);
    assert_eq!(stream.send_request_body("cd", false), Action::Pause);
    stream.upstream_request().assert_body("");
    assert_eq!(stream.send_request_body("ef", true), Action::Continue);
    assert_eq!(
        notes(&plugin, "request body: "),
        [
            "request body: ab",
            "request body: abcd",
            "request body: abcdef"
        ]
    );
    let bodies: Vec<String> = callbacks(&plugin, stream.id())
        .into_iter()
        .filter(|c| c.starts_with("on_request_body"))
        .collect();
    assert_eq!(
        bodies,
        [
            "on_request_body 2 false",
            "on_request_body 4 false",
            "on_request_body 6 true"
        ]
    );
    stream
        .upstream_request()
        .assert_body("abcdef")
        .assert_complete();
}

#[test]
fn pause_on_response_body_redelivers_the_cumulative_body() {
    let plugin = start("record pause-response-body");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[], false);
    assert_eq!(stream.send_response_body("12", false), Action::Pause);
    assert_eq!(stream.send_response_body("34", true), Action::Continue);
    assert_eq!(
        notes(&plugin, "response body: "),
        ["response body: 12", "response body: 1234"]
    );
    stream
        .client_response()
        .assert_body("1234")
        .assert_complete();
}

#[test]
fn a_request_body_buffered_past_the_buffer_limit_gets_envoys_413_without_calling_the_plugin() {
    let plugin = guest("record pause-request-body")
        .buffer_limit(8)
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(stream.send_request_body("abcde", false), Action::Pause);
    assert!(stream.local_reply().is_none(), "5 bytes fit in 8");
    assert_eq!(stream.send_request_body("fghij", false), Action::Pause);

    let reply = stream.local_reply().expect("Envoy's local reply");
    assert_eq!(
        (reply.status, reply.details.as_str()),
        (413, "request_payload_too_large")
    );
    stream
        .client_response()
        .assert_status(413)
        .assert_body("Payload Too Large")
        .assert_complete();
    stream.upstream_request().assert_body("");
    let seen = callbacks(&plugin, stream.id());
    let bodies: Vec<&String> = seen
        .iter()
        .filter(|c| c.starts_with("on_request_body"))
        .collect();
    assert_eq!(
        bodies,
        ["on_request_body 5 false"],
        "the VM is not called for the overflowing chunk"
    );
    assert!(
        seen.iter().any(|c| c.starts_with("on_response_headers")),
        "the 413 goes through this filter's encoder callbacks: {seen:#?}"
    );
    plugin.assert_not_failed();
}

#[test]
fn a_single_chunk_over_the_limit_reaches_the_plugin_then_overflows_when_buffered() {
    let plugin = guest("record pause-request-body")
        .buffer_limit(4)
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(stream.send_request_body("abcdef", false), Action::Pause);
    assert_eq!(notes(&plugin, "request body: "), ["request body: abcdef"]);
    assert_eq!(stream.local_reply().map(|r| r.status), Some(413));
}

#[test]
fn the_default_buffer_limit_is_envoys_one_mebibyte() {
    let plugin = start("record pause-request-body");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    stream.send_request_body(vec![b'a'; 1 << 20], false);
    assert!(
        stream.local_reply().is_none(),
        "exactly the limit is allowed"
    );
    stream.send_request_body("b", false);
    assert_eq!(stream.local_reply().map(|r| r.status), Some(413));
}

#[test]
fn a_response_body_buffered_past_the_limit_resets_the_stream_once_the_client_has_headers() {
    let plugin = guest("record pause-response-body")
        .buffer_limit(3)
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[], false);
    assert_eq!(stream.send_response_body("12", false), Action::Pause);
    assert_eq!(stream.send_response_body("34", false), Action::Pause);
    assert_eq!(
        stream.reset().as_deref(),
        Some("response_payload_too_large")
    );
    assert_eq!(stream.local_reply().map(|r| r.status), Some(500));
    stream.client_response().assert_status(200).assert_body("");
}

#[test]
fn a_body_held_while_headers_are_paused_never_gets_413() {
    // Pause on headers is StopAllIterationAndWatermark: Envoy applies back-pressure instead.
    let plugin = guest("record pause-request-headers")
        .buffer_limit(2)
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(stream.send_request_body("abcdef", false), Action::Pause);
    assert!(stream.local_reply().is_none());
}

#[test]
fn without_pause_each_body_chunk_is_delivered_and_passed_on_its_own() {
    let plugin = start("record");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(stream.send_request_body("ab", false), Action::Continue);
    assert_eq!(stream.send_request_body("cd", true), Action::Continue);
    assert_eq!(
        notes(&plugin, "request body: "),
        ["request body: ab", "request body: cd"]
    );
    stream
        .upstream_request()
        .assert_body("abcd")
        .assert_complete();
}

#[test]
fn the_guest_can_replace_and_append_the_body_at_end_of_stream() {
    let plugin = start("record mutate");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    stream.send_request_body("original", true);
    stream.upstream_request().assert_body("replaced+appended");
    stream.send_response_headers(&[], false);
    stream.send_response_body("upstream body", true);
    stream.client_response().assert_body("rewritten");
}

#[test]
fn trailers_can_be_added_from_the_last_body_callback() {
    let plugin = start("record mutate");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    stream.send_request_body("x", true);
    stream
        .upstream_request()
        .assert_trailer("x-added-trailer", "yes")
        .assert_complete();
}

#[test]
fn request_trailers_reach_the_guest_and_its_changes_reach_the_upstream() {
    let plugin = start("record mutate");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    stream.send_request_body("x", false);
    stream.send_request_trailers(&[("X-Checksum", "abc")]);
    assert_eq!(
        note(&plugin, "request trailers: "),
        "request trailers: x-checksum: abc"
    );
    stream
        .upstream_request()
        .assert_trailer("x-checksum", "abc")
        .assert_trailer("x-trailer-added", "1");
}

#[test]
fn response_trailers_reach_the_guest_and_the_client() {
    let plugin = start("record");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[], false);
    stream.send_response_body("x", false);
    stream.send_response_trailers(&[("grpc-status", "0")]);
    assert_eq!(
        note(&plugin, "response trailers: "),
        "response trailers: grpc-status: 0"
    );
    stream
        .client_response()
        .assert_trailer("grpc-status", "0")
        .assert_complete();
}

#[test]
fn resume_inside_a_callback_is_deferred_and_hides_the_request_headers_at_once() {
    let plugin = start("resume-in-callback");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/r")], true);
    // The guest kept running after resume_http_request, and could no longer read its request headers…
    assert_eq!(note(&plugin, "after resume"), "after resume");
    assert_eq!(
        status(&plugin, "request header after resume"),
        Status::BadArgument as i32
    );
    // …and once the callback returned (Pause), the deferred continue let the request through.
    stream
        .upstream_request()
        .assert_header(":path", "/r")
        .assert_complete();
}

#[test]
fn local_reply_replaces_the_response_with_status_headers_and_body() {
    let plugin = start("local-reply request-headers");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream
        .client_response()
        .assert_status(403)
        .assert_header("x-reason", "policy")
        .assert_header("content-type", "text/plain")
        .assert_header("content-length", "6")
        .assert_body("denied")
        .assert_complete();
    stream.upstream_request().assert_not_sent();
    assert_eq!(stream.local_reply().unwrap().status, 403);
}

#[test]
fn a_callback_that_sends_a_local_reply_stops_iteration_whatever_it_returns() {
    // The guest returns Continue after send_http_response.
    let plugin = start("local-reply request-headers");
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], false), Action::Pause);
    assert_eq!(stream.send_request_body("late", true), Action::Pause);
    stream.upstream_request().assert_not_sent();
    assert!(
        !callbacks(&plugin, stream.id())
            .iter()
            .any(|c| c.starts_with("on_request_body")),
        "no request callbacks after a local reply"
    );
}

#[test]
fn a_local_reply_is_sent_after_the_callback_returns_through_the_plugins_response_callbacks() {
    let plugin = start("local-reply request-headers");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    let infos = plugin.logs_at(Level::Info);
    let after = infos.iter().position(|m| m == "after local reply").unwrap();
    let response = infos
        .iter()
        .position(|m| m.starts_with("response headers: "))
        .unwrap();
    assert!(
        after < response,
        "the reply waited for the callback to return: {infos:#?}"
    );
    assert_eq!(
        callbacks(&plugin, stream.id())[2..],
        ["on_response_headers 4 false", "on_response_body 6 true"]
    );
    // A response from the upstream that arrives afterwards is not what the client gets.
    stream.send_response_headers(&[(":status", "200")], true);
    stream.client_response().assert_status(403);
}

#[test]
fn an_empty_local_reply_drops_content_type_and_content_length() {
    let plugin = start("local-reply request-headers empty");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream
        .client_response()
        .assert_status(204)
        .assert_header("x-reason", "policy")
        .assert_no_header("content-type")
        .assert_no_header("content-length")
        .assert_body("");
}

#[test]
fn a_grpc_local_reply_to_a_grpc_request_is_trailers_only_with_grpc_status() {
    let plugin = start("local-reply request-headers grpc");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[("content-type", "application/grpc")], false);
    stream
        .client_response()
        .assert_status(200)
        .assert_header("content-type", "application/grpc")
        .assert_header("grpc-status", "7")
        .assert_header("grpc-message", "access denied")
        .assert_header("x-reason", "policy")
        .assert_body("")
        .assert_complete();
    assert_eq!(stream.local_reply().unwrap().grpc_status, Some(7));
}

#[test]
fn a_grpc_local_reply_to_a_plain_http_request_is_a_text_body() {
    let plugin = start("local-reply request-headers grpc");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream
        .client_response()
        .assert_status(200)
        .assert_header("content-type", "text/plain")
        .assert_no_header("grpc-status")
        .assert_body("access denied");
}

/// `Grpc::Common::hasGrpcContentType`: a request is gRPC only for `application/grpc` or `application/grpc+…`;
/// `application/grpc-web` (and anything else starting `application/grpc`) gets a plain HTTP local reply.
#[test]
fn only_application_grpc_and_grpc_plus_get_a_grpc_local_reply_has_grpc_content_type() {
    for (content_type, grpc) in [
        ("application/grpc+proto", true),
        ("application/grpc-web", false),
        ("application/grpc-web+proto", false),
        ("application/grpcx", false),
    ] {
        let plugin = start("local-reply request-headers");
        let mut stream = plugin.http_stream();
        stream.send_request_headers(&[("content-type", content_type)], false);
        let response = stream.client_response();
        if grpc {
            response
                .assert_status(200)
                .assert_header("grpc-status", "7")
                .assert_header("grpc-message", "denied")
                .assert_body("");
        } else {
            response
                .assert_status(403)
                .assert_no_header("grpc-status")
                .assert_body("denied");
        }
    }
}

/// Envoy encodes `grpc-message` with `Http::Utility::PercentEncoding::encode` (`%`, `~`, control and non-ASCII
/// bytes escaped) and passes the details through `StringUtil::replaceAllEmptySpace` (space, `\t`, `\f`, `\v`,
/// `\n`, `\r` become `_`; a no-break space stays).
#[test]
fn grpc_message_is_percent_encoded_and_details_blanks_become_underscores_as_envoy_does() {
    let plugin = start("local-reply request-headers odd-text");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[("content-type", "application/grpc")], false);
    stream
        .client_response()
        .assert_header("grpc-status", "7")
        .assert_header("grpc-message", "50%25 off%7E caf%C3%A9%0A");
    assert_eq!(
        stream.local_reply().unwrap().details,
        "denied_by__policy_v_x\u{a0}y"
    );
}

#[test]
fn a_local_reply_from_a_request_body_callback_replaces_the_response() {
    let plugin = start("local-reply request-body");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(stream.send_request_body("payload", true), Action::Pause);
    stream.upstream_request().assert_body("");
    stream
        .client_response()
        .assert_status(403)
        .assert_body("denied");
}

#[test]
fn a_local_reply_from_response_headers_bypasses_the_plugins_response_callbacks() {
    let plugin = start("local-reply response-headers");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[(":status", "200")], false);
    stream.send_response_body("from upstream", true);
    stream
        .client_response()
        .assert_status(403)
        .assert_body("denied");
    let response_callbacks: Vec<String> = callbacks(&plugin, stream.id())
        .into_iter()
        .filter(|c| c.starts_with("on_response"))
        .collect();
    assert_eq!(response_callbacks, ["on_response_headers 1 false"]);
}

#[test]
fn close_stream_resets_the_stream_after_the_callback_returns() {
    let plugin = start("close request-headers");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(note(&plugin, "after close"), "after close");
    assert_eq!(stream.reset().as_deref(), Some("wasm_close_stream"));
    assert_eq!(stream.send_request_body("more", true), Action::Pause);
    assert_eq!(stream.send_response_headers(&[], true), Action::Pause);
    assert!(
        !callbacks(&plugin, stream.id())
            .iter()
            .any(|c| c.starts_with("on_request_body") || c.starts_with("on_response")),
        "nothing flows on a reset stream: {:#?}",
        callbacks(&plugin, stream.id())
    );
    stream.finish();
    assert_eq!(callbacks(&plugin, stream.id()).last().unwrap(), "on_delete");
}

#[test]
fn on_log_reads_the_access_log_copies_of_request_and_response_headers() {
    let plugin = start("record");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/logged")], true);
    stream.send_response_headers(&[(":status", "201")], true);
    stream.finish();
    assert_eq!(
        note(&plugin, "on_log sees "),
        "on_log sees :path /logged and :status 201"
    );
}

// Envoy's router is the last decoder filter: while this plugin holds the request headers (`decodeHeaders`
// returned StopAllIteration), no upstream request exists, so no upstream response can reach the plugin.
#[test]
fn the_test_api_refuses_an_upstream_response_while_the_plugin_holds_the_request() {
    let plugin = start("callout request");
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], true), Action::Pause);
    assert_eq!(stream.request_held_by(), Some("on_request_headers"));
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        stream.send_response_headers(&[], true);
    }))
    .expect_err("an upstream response while the request is held");
    let message = refused
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    for part in [
        "send_response_headers: the plugin still holds the request",
        "on_request_headers stopped iteration",
        "no upstream response can reach the plugin",
        "1 callout(s) pending",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert_eq!(
        callbacks(&plugin, stream.id()),
        ["on_context_create 2", "on_request_headers 6 true"],
        "the response never reached the plugin"
    );
    plugin.answer_http_call(stream.http_call().token, HttpCallResponse::new(200));
    assert_eq!(stream.request_held_by(), None, "resumed");
    assert_eq!(stream.send_response_headers(&[], true), Action::Continue);
}

/// A headers callback answering 3 is StopAllIterationAndBuffer (`FilterHeadersStatus`, cpp-host
/// `convertVmCallResultToFilterHeadersStatus`): the body is buffered while the headers are held, and past the
/// buffer limit Envoy answers 413 for a request (`requestDataTooLarge`), 500 for a response
/// (`responseDataTooLarge`). Under the limit it is only held.
#[test]
fn headers_answering_stop_all_iteration_and_buffer_buffer_the_body_under_the_limit_then_413_or_500()
{
    let start = || {
        Plugin::from_bytes(wat::parse_str(HEADERS_STOP_ALL_AND_BUFFER).expect("valid WAT"))
            .buffer_limit(8)
            .start()
            .unwrap()
    };
    let plugin = start();
    let mut stream = plugin.http_stream();
    assert_eq!(stream.send_request_headers(&[], false), Action::Pause);
    assert_eq!(stream.send_request_body("12345", false), Action::Pause);
    assert!(stream.local_reply().is_none(), "5 bytes fit in 8");
    stream.upstream_request().assert_not_sent();
    stream.send_request_body("67890", true);
    stream
        .client_response()
        .assert_status(413)
        .assert_body("Payload Too Large");
    assert_eq!(
        stream.local_reply().unwrap().details,
        "request_payload_too_large"
    );

    let plugin = start();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[("x-pass", "1")], true);
    assert_eq!(stream.send_response_headers(&[], false), Action::Pause);
    stream.send_response_body("123456789", true);
    stream.client_response().assert_status(500);
    assert_eq!(
        stream.local_reply().unwrap().details,
        "response_payload_too_large"
    );
}

/// Answers 3 (StopAllIterationAndBuffer) from the request headers callback unless they carry `x-pass`, and from
/// the response headers callback for a 2xx response (so Envoy's own 413 or 500 passes).
const HEADERS_STOP_ALL_AND_BUFFER: &str = r#"
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "x-pass")
  (data (i32.const 32) ":status")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (result i32)
      (i32.eqz (call $get (i32.const 0) (i32.const 16) (i32.const 6) (i32.const 100) (i32.const 104)))
      (then (i32.const 0))
      (else (i32.const 3))))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $get (i32.const 2) (i32.const 32) (i32.const 7) (i32.const 100) (i32.const 104)))
    (if (result i32) (i32.eq (i32.load8_u (i32.load (i32.const 100))) (i32.const 50))
      (then (i32.const 3))
      (else (i32.const 0))))
)
"#;

// Envoy `Context::decodeData`: `buffering_request_body_` is set only for StopIterationAndBuffer (1); after
// StopIterationAndWatermark (2) the next callback's buffer is its own chunk, though Envoy forwards all of it.
#[test]
fn body_return_value_2_does_not_buffer_the_next_callback_sees_only_its_chunk() {
    let plugin = Plugin::from_bytes(wat::parse_str(BODY_WATERMARK).expect("valid WAT"))
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    assert_eq!(stream.send_request_body("ab", false), Action::Pause);
    assert_eq!(stream.send_request_body("cd", false), Action::Pause);
    assert_eq!(stream.send_request_body("ef", true), Action::Continue);
    assert_eq!(plugin.logs_at(Level::Info), ["ab", "cd", "ef"]);
    stream
        .upstream_request()
        .assert_body("abcdef")
        .assert_complete();
}

/// Returns 2 (StopIterationAndWatermark) from `on_request_body` until end of stream, then 0; logs (Info) the body
/// buffer each callback sees.
const BODY_WATERMARK: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_body") (param i32) (param $size i32) (param $eos i32) (result i32)
    (drop (call $get_buffer (i32.const 0) (i32.const 0) (i32.const -1) (i32.const 100) (i32.const 104)))
    (drop (call $log (i32.const 2) (i32.load (i32.const 100)) (i32.load (i32.const 104))))
    (if (result i32) (local.get $eos) (then (i32.const 0)) (else (i32.const 2))))
)
"#;

// cpp-host `BufferBase::copyFrom` answers BadArgument for a body Envoy does not hold (here: in on_request_headers),
// and the Rust SDK's `set_http_request_body` panics on it: the VM fails, as it does in Envoy.
#[test]
fn setting_the_body_where_envoy_holds_none_makes_the_sdk_panic_and_fails_the_stream() {
    let plugin = start("record set-body-in-headers");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], false);
    let failure = plugin.failure().expect("the SDK panicked on BadArgument");
    assert!(
        failure.contains("proxy_on_request_headers trapped"),
        "{failure}"
    );
    stream.client_response().assert_status(503);
}
