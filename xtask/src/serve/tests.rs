use std::path::Path;

use clap::Parser;
use serde_json::Value;

use super::*;

fn extension(name: &str, phase: Option<&str>, priority: Option<i64>) -> Extension {
    let mut extension = Extension::for_test(name, Path::new("/tmp/target"));
    let mut metadata = serde_json::Map::new();
    if let Some(phase) = phase {
        metadata.insert("phase".into(), phase.into());
    }
    if let Some(priority) = priority {
        metadata.insert("priority".into(), priority.into());
    }
    // What `[package.metadata.extension]` holds (`Extension::metadata` is that table).
    extension.metadata = serde_json::Value::Object(metadata);
    extension
}

#[test]
fn the_chain_is_ordered_by_phase_then_priority_higher_first() {
    // Named so that alphabetical order is the reverse of the mesh's.
    let chain = chain_order(&[
        extension("a-stats", Some("PostStats"), Some(100)),
        extension("b-low", Some("PreAuthZ"), Some(1)),
        extension("c-high", Some("PreAuthZ"), Some(50)),
        extension("d-authn", Some("PreAuthN"), Some(-5)),
    ])
    .unwrap();
    let names: Vec<&str> = chain.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["d-authn", "c-high", "b-low", "a-stats"]);
}

#[test]
fn services_start_beside_the_chain_and_a_network_filter_runs_on_the_tcp_listener() {
    let of_kind = |name: &str, kind: Option<&str>| {
        let mut extension = Extension::for_test(name, Path::new("/tmp/target"));
        if let Some(kind) = kind {
            extension.metadata = serde_json::json!({ "kind": kind });
        }
        extension
    };
    let [filters, services, network] = by_kind(&[
        of_kind("headers", None),
        of_kind("jobs", Some("service")),
        of_kind("sniffer", Some("tcp")),
        of_kind("auth", Some("http")),
    ])
    .unwrap();
    let names = |list: &[Extension]| list.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&filters), ["headers", "auth"]);
    assert_eq!(names(&services), ["jobs"]);
    assert_eq!(names(&network), ["sniffer"]);
    let one = one_network_filter(network.clone()).unwrap();
    assert_eq!(one.map(|e| e.name), Some("sniffer".to_owned()));
    let two = [network[0].clone(), of_kind("router", Some("tcp"))];
    let err = one_network_filter(two.to_vec()).unwrap_err().to_string();
    assert!(
        err.contains("these are all network filters: sniffer, router; pick one with -p NAME"),
        "{err}"
    );
    let err = by_kind(&[of_kind("x", Some("udp"))])
        .unwrap_err()
        .to_string();
    assert!(err.contains("`udp` is not a kind of plugin"), "{err}");
}

fn serve_flags(args: &[&str]) -> flags::Serve {
    let mut all = vec!["cargo xtask", "serve"];
    all.extend_from_slice(args);
    match flags::Xtask::parse_from(all).command {
        flags::Command::Serve(serve) => serve,
        other => panic!("parsed as {other:?}"),
    }
}

/// The bootstrap read back as a tree, field by field against Envoy's v3 API.
#[test]
fn the_envoy_bootstrap_runs_the_same_chain_with_the_same_configuration() {
    let first = extension("first", None, None);
    let second = extension("second", None, None);
    let flags = serve_flags(&[
        "--config",
        r#"first={"x-a": "b"}"#,
        "--config",
        "second=plain text",
        "--failure-policy",
        "second=fail-open",
        "--listen",
        "127.0.0.1:10001",
        "--upstream",
        "h2c://127.0.0.1:8080",
        "--cluster",
        "auth=http://auth.local:9000",
        "--cluster",
        "canned=@answers.json",
    ]);
    let chain = [first, second];
    let configs = flags.configs(&chain, &[], &[]).unwrap();
    let text = flags.envoy_bootstrap(&chain, &configs).unwrap();
    assert!(
        text.contains("# Cluster canned is scripted in serve and absent here"),
        "{text}"
    );
    let tree: Value = serde_norway::from_str(&text).unwrap();

    let listener = &tree["static_resources"]["listeners"][0];
    assert_eq!(
        listener["address"]["socket_address"]["address"],
        "127.0.0.1"
    );
    assert_eq!(listener["address"]["socket_address"]["port_value"], 10001);
    let hcm = &listener["filter_chains"][0]["filters"][0];
    assert_eq!(hcm["name"], "envoy.filters.network.http_connection_manager");
    assert_eq!(
        hcm["typed_config"]["@type"],
        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    );
    let route = &hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"][0];
    assert_eq!(route["route"]["cluster"], "upstream");

    let filters = hcm["typed_config"]["http_filters"].as_array().unwrap();
    let names: Vec<&str> = filters
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "envoy.filters.http.wasm",
            "envoy.filters.http.wasm",
            "envoy.filters.http.router"
        ]
    );
    let plugin = |i: usize| &filters[i]["typed_config"]["config"];
    assert_eq!(
        filters[0]["typed_config"]["@type"],
        "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
    );
    assert_eq!(plugin(0)["name"], "first");
    assert_eq!(plugin(0)["root_id"], "first");
    assert_eq!(
        plugin(0)["configuration"]["@type"],
        "type.googleapis.com/google.protobuf.StringValue"
    );
    assert_eq!(plugin(0)["configuration"]["value"], r#"{"x-a": "b"}"#);
    assert_eq!(plugin(0)["failure_policy"], "FAIL_CLOSED");
    assert_eq!(plugin(1)["name"], "second");
    assert_eq!(plugin(1)["configuration"]["value"], "plain text");
    assert_eq!(plugin(1)["failure_policy"], "FAIL_OPEN");
    let filename = plugin(1)["vm_config"]["code"]["local"]["filename"]
        .as_str()
        .unwrap();
    assert!(
        Path::new(filename).is_absolute() && filename.ends_with("second/plugin.wasm"),
        "{filename}"
    );
    assert_eq!(plugin(1)["vm_config"]["runtime"], "envoy.wasm.runtime.v8");

    let clusters = tree["static_resources"]["clusters"].as_array().unwrap();
    assert_eq!(
        clusters.len(),
        2,
        "the upstream and auth; the scripted cluster has no Envoy twin"
    );
    assert_eq!(clusters[0]["name"], "upstream");
    let options = &clusters[0]["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    assert!(
        options["explicit_http_config"]["http2_protocol_options"].is_object(),
        "h2c upstream: {options}"
    );
    assert_eq!(clusters[1]["name"], "auth");
    let endpoint =
        &clusters[1]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"];
    assert_eq!(endpoint["socket_address"]["address"], "auth.local");
    assert_eq!(endpoint["socket_address"]["port_value"], 9000);
}

#[test]
fn a_config_for_an_extension_not_in_the_chain_is_named() {
    let flags = serve_flags(&["--config", "nope={}"]);
    let error = flags
        .configs(&[extension("first", None, None)], &[], &[])
        .unwrap_err()
        .to_string();
    assert!(error.contains("--config nope={}"), "{error}");
    assert!(error.contains("one of the chain (first)"), "{error}");
}
