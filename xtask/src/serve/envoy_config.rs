//! `cargo xtask serve --envoy-config FILE`: the Envoy bootstrap for the chain `serve` runs, so a user with Envoy
//! runs the same filters, in the same order, with the same configuration: `envoy -c FILE`. Field names are those
//! of Envoy's v3 API (`config/bootstrap/v3/bootstrap.proto`, `http_connection_manager.proto`,
//! `extensions/filters/http/wasm/v3/wasm.proto`, `extensions/wasm/v3/wasm.proto`, `config/cluster/v3/cluster.proto`).

use serde_json::{Value, json};

/// One extension of the chain as Envoy will run it.
pub(crate) struct ChainEntry {
    pub(crate) name: String,
    pub(crate) module: String,
    pub(crate) configuration: String,
    /// `FAIL_CLOSED`, `FAIL_OPEN` or `FAIL_RELOAD`.
    pub(crate) failure_policy: &'static str,
}

/// Where a cluster's requests go: host, port and whether it speaks HTTP/2 with prior knowledge.
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) http2: bool,
}

pub(crate) struct Setup {
    pub(crate) listen: (String, u16),
    pub(crate) admin: (String, u16),
    pub(crate) chain: Vec<ChainEntry>,
    /// `None`: serve's built-in echo upstream, which Envoy has not; the route answers directly instead.
    pub(crate) upstream: Option<Endpoint>,
    pub(crate) clusters: Vec<(String, Endpoint)>,
}

pub(crate) const UPSTREAM_CLUSTER: &str = "upstream";

pub(crate) fn bootstrap(setup: &Setup) -> Value {
    let mut http_filters: Vec<Value> = setup.chain.iter().map(wasm_filter).collect();
    http_filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }));
    let route = match &setup.upstream {
        Some(_) => json!({"match": {"prefix": "/"}, "route": {"cluster": UPSTREAM_CLUSTER}}),
        None => json!({
            "match": {"prefix": "/"},
            "direct_response": {"status": 200, "body": {"inline_string": "serve's echo upstream is not part of Envoy; give --upstream\n"}},
        }),
    };
    let mut clusters: Vec<Value> = Vec::new();
    if let Some(upstream) = &setup.upstream {
        clusters.push(cluster(UPSTREAM_CLUSTER, upstream));
    }
    clusters.extend(
        setup
            .clusters
            .iter()
            .map(|(name, endpoint)| cluster(name, endpoint)),
    );
    json!({
        "admin": {"address": socket_address(&setup.admin.0, setup.admin.1)},
        "static_resources": {
            "listeners": [{
                "name": "serve",
                "address": socket_address(&setup.listen.0, setup.listen.1),
                "filter_chains": [{
                    "filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "serve",
                            "codec_type": "AUTO",
                            "access_log": [{
                                "name": "envoy.access_loggers.stdout",
                                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"},
                            }],
                            "route_config": {
                                "name": "serve",
                                "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}],
                            },
                            "http_filters": http_filters,
                        },
                    }],
                }],
            }],
            "clusters": clusters,
        },
    })
}

fn wasm_filter(entry: &ChainEntry) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": entry.name,
                // As `deploy --for envoy` writes it, and as serve starts the plugin.
                "root_id": entry.name,
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": entry.configuration,
                },
                "vm_config": {
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": entry.module}},
                },
                "failure_policy": entry.failure_policy,
            },
        },
    })
}

fn cluster(name: &str, endpoint: &Endpoint) -> Value {
    let mut cluster = json!({
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(&endpoint.host, endpoint.port)}}]}],
        },
    });
    if endpoint.http2 {
        cluster["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            },
        });
    }
    cluster
}

fn socket_address(host: &str, port: u16) -> Value {
    json!({"socket_address": {"address": host, "port_value": port}})
}
