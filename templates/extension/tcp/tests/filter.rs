//! The compiled module run the way Envoy runs a network filter, through the workspace's `host::testing`. It
//! runs `target/extensions/<name>/plugin.wasm`, which the host first rebuilds from the current sources
//! (`cargo xtask build -p <name>`), so `cargo test -p <name>` always tests the code as it is now.

use host::testing::{Action, Level, PeerType, Plugin, StartFailure, TCP_PROXY_CLUSTER};

const NAME: &str = env!("CARGO_PKG_NAME");

fn plugin() -> Plugin {
    Plugin::extension(NAME)
        .config(include_str!("../example-config.json"))
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_client_in_a_routed_range_reaches_its_cluster() {
    let plugin = plugin();
    let mut conn = plugin.tcp_connection();
    conn.set_source_address("10.1.2.3:5000");
    assert_eq!(conn.connect(), Action::Continue);
    assert_eq!(conn.upstream_cluster().as_deref(), Some("internal"));
    conn.send_downstream("ping");
    conn.send_upstream("pong");
    conn.close_downstream();
    conn.close_upstream();
    assert_eq!(conn.upstream_received().text(), "ping");
    assert_eq!(conn.client_received().text(), "pong");
    assert_eq!(conn.closed().map(|c| c.by), Some(PeerType::Local));
    assert_eq!(plugin.counter("tcp_bytes_from_clients"), 4);
}

#[test]
fn other_clients_go_to_the_tcp_proxys_own_cluster() {
    let plugin = plugin();
    let mut conn = plugin.tcp_connection();
    conn.set_source_address("172.16.0.9:4000");
    conn.connect();
    assert_eq!(conn.upstream_cluster().as_deref(), Some(TCP_PROXY_CLUSTER));
}

#[test]
fn a_denied_client_is_disconnected_before_anything_reaches_the_upstream() {
    let plugin = plugin();
    let mut conn = plugin.tcp_connection();
    conn.set_source_address("192.0.2.77:4000");
    assert_eq!(conn.connect(), Action::Pause);
    let closed = conn.closed().expect("closed");
    assert_eq!(closed.reason, "wasm_downstream_close");
    assert_eq!(conn.upstream_cluster(), None);
    plugin.assert_logged(Level::Warn, "refused a client from 192.0.2.77:4000");
}

#[test]
fn a_bad_configuration_is_refused_with_the_reason_logged() {
    let Err(error) = Plugin::extension(NAME)
        .config(r#"{"deny": ["10.0.0.0/40"]}"#)
        .start()
    else {
        panic!("the plugin accepted a /40");
    };
    assert!(matches!(error.failure, StartFailure::Configure), "{error}");
    assert!(
        error.reason().contains("the prefix length must be 0 to 32"),
        "{error}"
    );
}
