//! Conformance: the plugin as a network (TCP) filter in front of Envoy's TCP proxy, with the kinds guest
//! (`host/guests/kinds`, scenario `tcp …`). Each test names the Envoy (`source/extensions/common/wasm/context.cc`)
//! or cpp-host (`src/context.cc`) function whose behaviour it pins.

use crate::support::{callbacks, note, notes, status};
use host::testing::*;

fn start(scenario: &str) -> Plugin {
    match kinds(scenario).start() {
        Ok(plugin) => plugin,
        Err(e) => panic!("the kinds guest did not start: {e}"),
    }
}

fn kinds(scenario: &str) -> PluginBuilder {
    Plugin::guest("kinds-guest")
        .config(scenario)
        .clusters(&["auth"])
}

#[test]
fn on_new_connection_creates_the_context_and_continue_lets_the_tcp_proxy_connect() {
    // Context::onNewConnection → onCreate, ContextBase::onNetworkNewConnection; FilterManagerImpl::onContinueReading.
    let plugin = start("tcp");
    let mut conn = plugin.tcp_connection();
    assert_eq!(
        conn.upstream_cluster(),
        None,
        "nothing connects before the client"
    );
    assert_eq!(conn.connect(), Action::Continue);
    assert_eq!(
        callbacks(&plugin, conn.id()),
        [format!("create {}", conn.id()), "on_new_connection".into()]
    );
    assert_eq!(conn.upstream_cluster().as_deref(), Some(TCP_PROXY_CLUSTER));
}

#[test]
fn downstream_data_reaches_the_upstream_when_the_filter_continues() {
    // Context::onData → on_downstream_data(size, end_of_stream); the TCP proxy's onData moves the read buffer on.
    let plugin = start("tcp");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    assert_eq!(conn.send_downstream("hello"), Action::Continue);
    assert_eq!(note(&plugin, "downstream data: "), "downstream data: hello");
    assert!(callbacks(&plugin, conn.id()).contains(&"on_downstream_data 5 false".to_string()));
    assert_eq!(
        conn.upstream_received(),
        Received {
            bytes: b"hello".to_vec(),
            end_of_stream: false
        }
    );
    assert!(conn.held_downstream().is_empty());
}

#[test]
fn a_driver_takes_what_passed_each_way_once_and_the_end_of_stream_stays_seen() {
    // The test API for a driver that writes what passed on sockets (serve): each take returns what passed since
    // the last one; the filter's view (Envoy's buffers) does not change.
    let plugin = start("tcp");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.send_downstream("ab");
    assert_eq!(conn.take_upstream_received().bytes, b"ab");
    conn.send_downstream("cd");
    conn.close_downstream();
    assert_eq!(
        conn.take_upstream_received(),
        Received {
            bytes: b"cd".to_vec(),
            end_of_stream: true
        }
    );
    assert_eq!(conn.upstream_received().bytes, b"");
    conn.send_upstream("ok");
    assert_eq!(conn.take_client_received().bytes, b"ok");
    assert_eq!(conn.take_client_received().bytes, b"");
    assert_eq!(
        notes(&plugin, "downstream data: "),
        [
            "downstream data: ab",
            "downstream data: cd",
            "downstream data: "
        ]
    );
}

#[test]
fn stop_iteration_on_data_keeps_the_read_buffer_and_shows_it_again_with_the_next_bytes() {
    // Context::onData keeps network_downstream_data_buffer_ on StopIteration; the read buffer is not drained, so
    // the next onRead hands the filter everything it holds.
    let plugin = start("tcp hold-downstream=6");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    assert_eq!(conn.send_downstream("abc"), Action::Pause);
    assert!(conn.upstream_received().bytes.is_empty());
    assert_eq!(conn.held_downstream(), b"abc");
    assert_eq!(conn.send_downstream("def"), Action::Continue);
    assert_eq!(
        notes(&plugin, "downstream data: "),
        ["downstream data: abc", "downstream data: abcdef"]
    );
    assert!(callbacks(&plugin, conn.id()).contains(&"on_downstream_data 6 false".to_string()));
    assert_eq!(conn.upstream_received().bytes, b"abcdef");
}

#[test]
fn stop_on_new_connection_keeps_the_tcp_proxy_unconnected_until_data_passes() {
    // FilterManagerImpl::onContinueReading: StopIteration from onNewConnection ends that pass; the next read starts
    // at the first filter again, and the TCP proxy initializes when iteration first passes this filter.
    let plugin = start("tcp stop-connection");
    let mut conn = plugin.tcp_connection();
    assert_eq!(conn.connect(), Action::Pause);
    assert_eq!(conn.upstream_cluster(), None);
    assert_eq!(conn.send_downstream("x"), Action::Continue);
    assert_eq!(conn.upstream_cluster().as_deref(), Some(TCP_PROXY_CLUSTER));
    assert_eq!(conn.upstream_received().bytes, b"x");
}

#[test]
fn resume_downstream_from_a_callout_answer_continues_reading() {
    // Context::continueStream(Downstream): a deferred continueReading(), from the filter after this one.
    let plugin = start("tcp callout hold-downstream=100");
    let mut conn = plugin.tcp_connection();
    assert_eq!(conn.connect(), Action::Pause);
    assert_eq!(conn.send_downstream("early"), Action::Pause);
    let call = conn.http_calls().pop().expect("the filter asked auth");
    assert_eq!(call.cluster, "auth");
    plugin.answer_http_call(call.token, HttpCallResponse::new(200));
    assert_eq!(note(&plugin, "callout answered "), "callout answered 200");
    assert_eq!(conn.upstream_cluster().as_deref(), Some(TCP_PROXY_CLUSTER));
    assert_eq!(conn.upstream_received().bytes, b"early");
    assert_eq!(conn.closed(), None);
}

#[test]
fn close_downstream_from_a_callout_answer_closes_the_connection_locally() {
    // Context::closeStream(Downstream): a deferred connection().close(FlushWrite, "wasm_downstream_close"), whose
    // LocalClose event reaches the filter (Context::onEvent), then onCloseTCP.
    let plugin = start("tcp callout");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    let call = conn.http_calls().pop().expect("a callout");
    plugin.answer_http_call(call.token, HttpCallResponse::new(403));
    let closed = conn.closed().expect("the filter closed the connection");
    assert_eq!(closed.by, PeerType::Local);
    assert_eq!(closed.reason, "wasm_downstream_close");
    let seen = callbacks(&plugin, conn.id());
    assert_eq!(
        seen[seen.len() - 3..],
        ["on_downstream_close Local", "on_done", "on_log"]
    );
    assert_eq!(
        conn.upstream_cluster(),
        None,
        "no upstream was ever connected"
    );
}

#[test]
fn a_client_half_close_then_the_upstreams_ends_the_connection_with_on_done_on_log() {
    // Context::onData(end_stream), Context::onWrite(end_stream) → onUpstreamConnectionClose(Unknown) (not yet
    // onCloseTCP: the downstream has not closed), then the flushed FIN closes the socket (LocalClose) →
    // onDownstreamConnectionClose → onCloseTCP: on_done → on_log → on_delete.
    let plugin = start("tcp");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.send_downstream("ping");
    assert_eq!(conn.close_downstream(), Action::Continue);
    assert!(conn.upstream_received().end_of_stream);
    assert_eq!(
        conn.closed(),
        None,
        "half-closed: the upstream may still answer"
    );
    conn.send_upstream("pong");
    conn.close_upstream();
    assert_eq!(
        conn.client_received(),
        Received {
            bytes: b"pong".to_vec(),
            end_of_stream: true
        }
    );
    assert_eq!(
        callbacks(&plugin, conn.id())[1..],
        [
            "on_new_connection",
            "on_downstream_data 4 false",
            "on_downstream_data 0 true",
            "on_upstream_data 4 false",
            "on_upstream_data 0 true",
            "on_upstream_close Unknown",
            "on_downstream_close Local",
            "on_done",
            "on_log",
        ]
    );
    assert_eq!(conn.closed().unwrap().by, PeerType::Local);
}

#[test]
fn the_upstreams_half_close_then_the_clients_is_a_remote_close() {
    // Context::onUpstreamConnectionClose runs onCloseTCP only once the downstream closed; the client's FIN read
    // last closes the socket as RemoteClose.
    let plugin = start("tcp");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.close_upstream();
    assert!(conn.client_received().end_of_stream);
    assert_eq!(conn.closed(), None);
    conn.close_downstream();
    let seen = callbacks(&plugin, conn.id());
    assert_eq!(
        seen[2..],
        [
            "on_upstream_data 0 true",
            "on_upstream_close Unknown",
            "on_downstream_data 0 true",
            "on_downstream_close Remote",
            "on_done",
            "on_log",
        ]
    );
    assert_eq!(conn.closed().unwrap().by, PeerType::Remote);
}

#[test]
fn a_client_reset_is_a_remote_close_without_an_end_of_stream() {
    // Context::onEvent(RemoteClose) → on_downstream_connection_close(Remote) → onCloseTCP.
    let plugin = start("tcp");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.send_downstream("partial");
    conn.reset_downstream();
    assert!(!conn.upstream_received().end_of_stream);
    let seen = callbacks(&plugin, conn.id());
    assert_eq!(
        seen[seen.len() - 3..],
        ["on_downstream_close Remote", "on_done", "on_log"]
    );
}

#[test]
fn an_upstream_reset_closes_the_downstream_locally_and_no_upstream_close_callback_runs() {
    // The TCP proxy closes the downstream connection (FlushWrite) when its upstream goes; Envoy's Wasm filter does
    // not watch the upstream connection (the comment in Context::onWrite), so only the downstream close is heard.
    let plugin = start("tcp");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.reset_upstream();
    let seen = callbacks(&plugin, conn.id());
    assert!(!seen.iter().any(|c| c.starts_with("on_upstream_close")));
    assert_eq!(
        seen[seen.len() - 3..],
        ["on_downstream_close Local", "on_done", "on_log"]
    );
    assert_eq!(conn.closed().unwrap().reason, "upstream reset");
}

#[test]
fn stopped_upstream_data_waits_for_a_later_chunk_the_filter_lets_through() {
    // Context::onWrite: StopIteration leaves the bytes in the upstream's read buffer; continue_stream(Upstream) is
    // Unimplemented, so only a later onWrite that returns Continue moves them to the client.
    let plugin = start("tcp hold-upstream=4");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    assert_eq!(conn.send_upstream("ab"), Action::Pause);
    assert!(conn.client_received().bytes.is_empty());
    assert_eq!(conn.held_upstream(), b"ab");
    assert_eq!(conn.send_upstream("cd"), Action::Continue);
    assert_eq!(conn.client_received().bytes, b"abcd");
    assert_eq!(
        notes(&plugin, "upstream data: "),
        ["upstream data: ab", "upstream data: abcd"]
    );
}

#[test]
fn set_downstream_data_prepends_and_set_upstream_data_replaces() {
    // Envoy Buffer::copyFrom on network_{downstream,upstream}_data_buffer_: start 0 and size 0 prepends, the whole
    // size replaces.
    let plugin = start("tcp prefix-downstream=>> replace-upstream=REDACTED");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.send_downstream("hi");
    conn.send_upstream("secret");
    assert_eq!(conn.upstream_received().bytes, b">>hi");
    assert_eq!(conn.client_received().bytes, b"REDACTED");
}

#[test]
fn close_upstream_closes_the_downstream_connection() {
    // Context::closeStream(Upstream) closes network_write_filter_callbacks_->connection(): the downstream
    // connection, as closeStream(Downstream) does, with reason wasm_upstream_close.
    let plugin = start("tcp close-upstream-on=quit");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.send_downstream("ok");
    assert_eq!(conn.send_downstream("quit"), Action::Pause);
    let closed = conn.closed().expect("closed");
    assert_eq!(
        (closed.by, closed.reason.as_str()),
        (PeerType::Local, "wasm_upstream_close")
    );
    assert_eq!(
        conn.upstream_received().bytes,
        b"ok",
        "the held bytes never left"
    );
}

#[test]
fn set_envoy_filter_state_picks_the_tcp_proxy_cluster_by_source_address() {
    // Context::setEnvoyFilterState("envoy.tcp_proxy.cluster") before iteration passes: the TCP proxy's route
    // (PerConnectionCluster) reads it when it initializes.
    let plugin = start("tcp route-by-source");
    let mut inside = plugin.tcp_connection();
    inside.set_source_address("10.1.2.3:4000");
    inside.connect();
    assert_eq!(inside.upstream_cluster().as_deref(), Some("internal"));
    assert_eq!(
        inside
            .envoy_filter_state("envoy.tcp_proxy.cluster")
            .map(|o| o.value),
        Some("internal".to_string())
    );
    let mut outside = plugin.tcp_connection();
    outside.set_source_address("192.0.2.7:4000");
    outside.connect();
    assert_eq!(outside.upstream_cluster().as_deref(), Some("external"));
    assert_eq!(
        notes(&plugin, "source "),
        [
            "source 10.1.2.3:4000: cluster internal Ok(None)",
            "source 192.0.2.7:4000: cluster external Ok(None)"
        ]
    );
}

#[test]
fn set_property_on_a_connection_is_its_filter_state() {
    // Context::setProperty on the connection's stream info.
    let plugin = start("tcp set-property");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    assert_eq!(
        conn.filter_state(&["conn_tag"]),
        Some(format!("conn-{}", conn.id()).into_bytes())
    );
}

#[test]
fn stream_calls_without_a_use_on_a_connection_answer_as_envoy() {
    // Context::continueStream: Request on a connection has no decoder callbacks (Ok, nothing), Upstream is
    // Unimplemented; closeStream(Request) Ok; getBuffer(NetworkUpstreamData) outside onWrite is an empty buffer.
    let plugin = start("tcp raw-statuses");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.send_downstream("x");
    assert_eq!(
        status(&plugin, "continue_stream request"),
        Status::Ok as i32
    );
    assert_eq!(
        status(&plugin, "continue_stream upstream"),
        Status::Unimplemented as i32
    );
    assert_eq!(status(&plugin, "close_stream request"), Status::Ok as i32);
    assert_eq!(
        status(&plugin, "get upstream data in downstream callback"),
        Status::Ok as i32
    );
    assert_eq!(
        note(&plugin, "upstream data seen: "),
        "upstream data seen: 0 bytes"
    );
    assert_eq!(conn.upstream_received().bytes, b"x", "nothing was closed");
}

#[test]
fn the_data_buffer_is_out_of_reach_in_on_log_after_the_filter_continued() {
    // Context::onData nulls network_downstream_data_buffer_ on Continue: getBuffer then serves an empty buffer
    // (Ok, no bytes), and Buffer::copyFrom without an instance is BadArgument.
    let plugin = start("tcp");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.send_downstream("abc");
    conn.reset_downstream();
    assert_eq!(
        status(&plugin, "get downstream data in on_log"),
        Status::Ok as i32
    );
    assert_eq!(
        note(&plugin, "downstream data in on_log: "),
        "downstream data in on_log: 0 bytes"
    );
    assert_eq!(
        status(&plugin, "set downstream data in on_log"),
        Status::BadArgument as i32
    );
    assert_eq!(note(&plugin, "connection id "), "connection id Some(1)");
}

#[test]
fn on_log_at_the_close_is_not_an_access_log_phase() {
    // Context::onCloseTCP calls onLog() directly, not through Context::log: access_log_phase_ stays false, so a
    // header map read finds no map and is BadArgument (NotFound only in the access-log phase), as anywhere on a
    // connection.
    let plugin = start("tcp");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.reset_downstream();
    assert_eq!(
        status(&plugin, "get request header in on_log"),
        Status::BadArgument as i32
    );
}

#[test]
fn a_trap_in_a_data_callback_closes_the_connection() {
    // cpp-host CHECK_FAIL_NET after on_downstream_data: failStream(Downstream) closes the connection (FlushWrite) at
    // once; the close callbacks and on_done/on_log of a failed VM are skipped.
    let plugin = start("tcp panic=on_downstream_data");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    assert_eq!(conn.send_downstream("boom"), Action::Pause);
    assert!(plugin.failure().is_some());
    let closed = conn.closed().expect("closed by the failure");
    assert_eq!(
        (closed.by, closed.reason.as_str()),
        (PeerType::Local, "wasm_fail_stream")
    );
    assert!(conn.upstream_received().bytes.is_empty());
    assert!(!callbacks(&plugin, conn.id()).contains(&"on_done".to_string()));
    // A connection after the failure under FAIL_CLOSED gets a context with no VM: closed at once.
    let mut next = plugin.tcp_connection();
    assert_eq!(next.connect(), Action::Pause);
    assert_eq!(next.closed().unwrap().reason, "wasm_fail_stream");
}

#[test]
fn under_fail_open_a_connection_after_the_failure_passes_without_the_filter() {
    // Envoy's network FilterConfig::createFilter returns no filter for a failed VM under fail-open.
    let plugin = kinds("tcp panic=on_downstream_data")
        .failure_policy(FailurePolicy::Open)
        .start()
        .expect("starts");
    let mut first = plugin.tcp_connection();
    first.connect();
    first.send_downstream("boom");
    assert!(plugin.failure().is_some());
    let mut conn = plugin.tcp_connection();
    assert_eq!(conn.connect(), Action::Continue);
    assert_eq!(conn.send_downstream("through"), Action::Continue);
    assert_eq!(conn.upstream_received().bytes, b"through");
    assert!(callbacks(&plugin, conn.id()).is_empty());
}

#[test]
fn data_after_the_clients_half_close_is_refused() {
    let plugin = start("tcp");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.close_downstream();
    let refused = conn.try_send_downstream("late").unwrap_err();
    assert_eq!(refused, ConnectionRefused::ClientHalfClosed);
    assert!(
        refused
            .to_string()
            .contains("the client already half-closed its side"),
        "{refused}"
    );
}

#[test]
fn data_after_the_connection_closed_is_refused() {
    let plugin = start("tcp");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    conn.reset_downstream();
    let refused = conn.try_send_downstream("late").unwrap_err();
    assert!(
        matches!(&refused, ConnectionRefused::Closed { closed, .. } if closed.by == PeerType::Remote),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .contains("is closed (Remote, downstream reset): nothing more reaches the filter"),
        "{refused}"
    );
}

#[test]
fn upstream_data_before_the_tcp_proxy_connected_is_refused() {
    let plugin = start("tcp stop-connection");
    let mut conn = plugin.tcp_connection();
    conn.connect();
    let refused = conn.try_send_upstream("too early").unwrap_err();
    assert_eq!(refused, ConnectionRefused::NoUpstreamYet);
    assert!(
        refused
            .to_string()
            .contains("the TCP proxy has no upstream connection yet"),
        "{refused}"
    );
}

#[test]
fn data_before_connect_is_refused() {
    let plugin = start("tcp");
    let refused = plugin
        .tcp_connection()
        .try_send_downstream("x")
        .unwrap_err();
    assert_eq!(refused, ConnectionRefused::NotConnected);
    assert!(
        refused.to_string().contains("call connect() first"),
        "{refused}"
    );
}
