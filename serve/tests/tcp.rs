//! `proxy-wasm-serve`'s TCP listener on the wire: a real client and real upstreams on loopback, the kinds guest run
//! as a network filter (`envoy.filters.network.wasm`) in front of the TCP proxy, as Envoy runs it
//! (`common/wasm/context.cc`: `onNewConnection`, `onData`, `onWrite`, `onEvent`; `tcp_proxy.cc`: the
//! `envoy.tcp_proxy.cluster` filter state picks the cluster).

mod support;

use std::path::PathBuf;

use support::*;

fn kinds() -> PathBuf {
    host::testing::guest_module("kinds-guest").expect("the kinds guest builds")
}

/// The proxy with the kinds guest as its network filter `t`, configured with `config`, plus `more` flags.
fn tcp_proxy(config: &str, more: &[&str]) -> Proxy {
    let filter = format!("t={}", kinds().display());
    let config = format!("t={config}");
    let mut args = vec!["--tcp-filter", &filter, "--config", &config];
    args.extend_from_slice(more);
    start(&args)
}

#[test]
fn a_network_filter_rewrites_the_clients_bytes_on_their_way_to_a_real_upstream() {
    // on_downstream_data's set_downstream_data (prefix-downstream) changes what the TCP proxy writes upstream; the
    // echo comes back through on_upstream_data unchanged.
    let upstream = TcpUpstream::start("echo:");
    let address = upstream.address.to_string();
    let proxy = tcp_proxy(
        "tcp prefix-downstream=[filtered]",
        &["--tcp-upstream", &address],
    );
    let answer = tcp_exchange(proxy.tcp(), b"ping");
    assert_eq!(answer, "echo:[filtered]ping", "{}", proxy.stderr());
    assert_eq!(upstream.received(), "[filtered]ping");
    proxy.wait_for_log("downstream data: ping");
    // The connection ended as both sides half-closed, and the filter's context ended with on_log.
    proxy.wait_for_stdout("\"Local both sides half-closed\"");
    proxy.wait_for_log("downstream data in on_log");
}

#[test]
fn a_network_filter_rewrites_the_upstreams_bytes_on_their_way_to_the_client() {
    // on_upstream_data's set_upstream_data (replace-upstream) replaces what each call shows; the built-in echo
    // upstream (no --tcp-upstream) sends back what it got, then its FIN. Envoy's onWrite runs for the FIN too, with
    // an empty buffer (on_upstream_data(0, true)), and the filter's replacement of nothing adds a second "pong".
    let proxy = tcp_proxy("tcp replace-upstream=pong", &[]);
    let answer = tcp_exchange(proxy.tcp(), b"ping");
    assert_eq!(answer, "pongpong", "{}", proxy.stderr());
    proxy.wait_for_log("upstream data: ping");
    proxy.wait_for_log("on_upstream_data 0 true");
}

#[test]
fn the_cluster_a_filter_picks_with_set_envoy_filter_state_is_the_upstream_serve_connects_to() {
    // route-by-source: a client from 127.0.0.1 is not internal, so the filter sets envoy.tcp_proxy.cluster to
    // `external` before iteration reaches the TCP proxy, which connects there instead of its own cluster.
    let own = TcpUpstream::start("own:");
    let external = TcpUpstream::start("external:");
    let own_address = own.address.to_string();
    let external_cluster = format!("external=tcp://{}", external.address);
    let proxy = tcp_proxy(
        "tcp route-by-source",
        &[
            "--tcp-upstream",
            &own_address,
            "--cluster",
            &external_cluster,
        ],
    );
    let answer = tcp_exchange(proxy.tcp(), b"hello");
    assert_eq!(answer, "external:hello", "{}", proxy.stderr());
    assert_eq!(external.received(), "hello");
    assert_eq!(own.received(), "");
    proxy.wait_for_stdout(&format!("-> external {} 5 ", external.address));
}

#[test]
fn a_cluster_serve_cannot_map_to_an_address_closes_the_connection_with_the_reason() {
    // Envoy's TCP proxy closes the downstream when the cluster the filter state names does not exist.
    let proxy = tcp_proxy("tcp route-by-source", &[]);
    let answer = tcp_exchange(proxy.tcp(), b"hello");
    assert_eq!(answer, "");
    proxy.wait_for_log("there is no --cluster external");
    // The filter heard the close as Envoy raises it after the TCP proxy's failure: LocalClose.
    proxy.wait_for_log("on_downstream_close Local");
}

#[test]
fn an_upstream_that_refuses_the_connection_closes_the_clients() {
    // The TCP proxy's connect fails (onPoolFailure → onInitFailure): the downstream closes, and the filter hears a
    // local close.
    let closed = format!("127.0.0.1:{}", closed_port());
    let proxy = tcp_proxy("tcp", &["--tcp-upstream", &closed]);
    let answer = tcp_exchange(proxy.tcp(), b"hello");
    assert_eq!(answer, "");
    proxy.wait_for_log(&format!("cannot connect to {closed}"));
    proxy.wait_for_log("on_downstream_close Local");
    proxy.wait_for_stdout("\"Local upstream reset\"");
}

#[test]
fn a_filter_that_closes_the_downstream_ends_the_clients_connection() {
    // proxy_close_stream(Downstream) from on_downstream_data: Envoy closes the connection (wasm_downstream_close);
    // the bytes the filter stopped on never reach the upstream.
    let upstream = TcpUpstream::start("");
    let address = upstream.address.to_string();
    let proxy = tcp_proxy(
        "tcp close-downstream-on=quit",
        &["--tcp-upstream", &address],
    );
    let answer = tcp_exchange(proxy.tcp(), b"quit");
    assert_eq!(answer, "", "{}", proxy.stderr());
    proxy.wait_for_stdout("wasm_downstream_close");
    assert_eq!(upstream.received(), "");
}

#[test]
fn a_connection_waits_for_the_filters_callout_and_goes_on_when_it_is_allowed() {
    // on_new_connection dispatches an HTTP callout to cluster `auth` and stops iteration, and on_downstream_data
    // keeps stopping (hold-downstream): the TCP proxy does not connect and the client's bytes wait in Envoy's read
    // buffer. The answer (a 200 from the scripted cluster, 50 ms later)
    // reaches on_http_call_response on the worker that sent it, and continue_downstream lets the held bytes through.
    let answers = std::env::temp_dir().join(format!("serve-tcp-auth-{}.json", std::process::id()));
    std::fs::write(&answers, r#"[{"status": 200, "delay_ms": 50}]"#).unwrap();
    let auth = format!("auth=@{}", answers.display());
    let proxy = tcp_proxy("tcp callout hold-downstream=1000", &["--cluster", &auth]);
    let answer = tcp_exchange(proxy.tcp(), b"let me in");
    let _ = std::fs::remove_file(&answers);
    assert_eq!(answer, "let me in", "{}", proxy.stderr());
    proxy.wait_for_log("callout answered 200");
    let logs = proxy.stderr();
    let answered = logs.find("callout answered 200").unwrap();
    let upstream = logs
        .find("upstream data: let me in")
        .expect("the echo came back through the filter");
    assert!(
        answered < upstream,
        "the upstream got the bytes only after the answer:\n{logs}"
    );
}

#[test]
fn a_connection_the_filters_callout_refuses_is_closed() {
    let answers = std::env::temp_dir().join(format!("serve-tcp-deny-{}.json", std::process::id()));
    std::fs::write(&answers, r#"[{"status": 403}]"#).unwrap();
    let auth = format!("auth=@{}", answers.display());
    let upstream = TcpUpstream::start("");
    let address = upstream.address.to_string();
    let proxy = tcp_proxy(
        "tcp callout hold-downstream=1000",
        &["--cluster", &auth, "--tcp-upstream", &address],
    );
    let answer = tcp_exchange(proxy.tcp(), b"let me in");
    let _ = std::fs::remove_file(&answers);
    assert_eq!(answer, "", "{}", proxy.stderr());
    proxy.wait_for_stdout("wasm_downstream_close");
    assert_eq!(upstream.received(), "");
}

#[test]
fn megabytes_both_ways_at_once_flow_without_stalling() {
    // An echo upstream answers while it still receives: serve writes towards one peer while it reads the other,
    // as Envoy's event loop does, so neither side's full socket buffer stops the other direction.
    let upstream = TcpUpstream::start("");
    let address = upstream.address.to_string();
    let proxy = tcp_proxy("tcp", &["--tcp-upstream", &address]);
    let total = 16 << 20;
    assert_eq!(
        tcp_stream_through(proxy.tcp(), total),
        total,
        "{}",
        proxy.stdout()
    );
    proxy.wait_for_stdout(&format!(" {total} {total} "));
}

#[test]
fn a_second_network_filter_is_refused_with_the_reason() {
    let kinds = kinds();
    let first = format!("t={}", kinds.display());
    let second = format!("u={}", kinds.display());
    let output = try_start(&["--tcp-filter", &first, "--tcp-filter", &second])
        .err()
        .expect("refused");
    assert!(output.contains("one network filter"), "{output}");
}
