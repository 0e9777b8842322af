use serde_norway::Value;

use super::{
    Inputs, resources,
    stats_tags::{self, StatsTag},
};
use crate::{
    manifest::Kind,
    mesh::{
        CalloutService, EnvVar, FailPolicy, PluginType, Resource, Resources, Target, TargetRef,
        kinds,
    },
    oci::reference::Reference,
    workspace::Extension,
};

fn inputs(target: &str, phase: &str, config: Option<&str>) -> Inputs {
    Inputs {
        target: target.parse().unwrap(),
        name: "header-append".to_owned(),
        namespace: "bookinfo".to_owned(),
        image: Some(Reference::parse("quay.io/team/header-append", "0.3.0").unwrap()),
        digest_hex: "ab".repeat(32),
        phase: phase.parse().unwrap(),
        priority: 7,
        selector: vec![("app".to_owned(), "httpbin".to_owned())],
        config: config.map(|c| serde_json::from_str(c).unwrap()),
        module: "/w/target/extensions/header-append/plugin.wasm".to_owned(),
        pull_secret: None,
        fail: None,
        pull_policy: None,
        plugin_type: None,
        kind: Kind::Http,
        target_refs: Vec::new(),
        env: Vec::new(),
        callout_services: Vec::new(),
        stats_tags: Vec::new(),
    }
}

fn rendered(resource: Resource, inputs: &Inputs) -> Value {
    serde_norway::from_str(&resources::render(resource, inputs).unwrap()).unwrap()
}

/// Every YAML document of the output.
fn documents(resource: Resource, inputs: &Inputs) -> Vec<Value> {
    let text = resources::render(resource, inputs).unwrap();
    text.split("\n---\n")
        .map(|doc| serde_norway::from_str(doc).unwrap())
        .collect()
}

#[test]
fn every_maistra_phase_maps_to_the_wasm_plugin_phase_that_lands_at_the_same_anchor() {
    let expected = [
        ("PreAuthN", "AUTHN"),
        ("PostAuthN", "AUTHZ"),
        ("PreAuthZ", "AUTHZ"),
        ("PostAuthZ", "STATS"),
        ("PreStats", "STATS"),
        ("PostStats", "UNSPECIFIED_PHASE"),
    ];
    for (maistra, wasm_plugin) in expected {
        let doc = rendered(Resource::WasmPlugin, &inputs("istio", maistra, None));
        assert_eq!(
            doc["spec"]["phase"].as_str(),
            Some(wasm_plugin),
            "{maistra}"
        );
    }
    let err = "PostAuthz".parse::<crate::maistra::Phase>().unwrap_err();
    assert!(
        err.contains("`PostAuthz` is not a Maistra phase (did you mean `PostAuthZ`?)"),
        "{err}"
    );
}

#[test]
fn targets_are_named_by_mesh_and_version() {
    assert_eq!(
        "ossm-2.0".parse::<Target>().unwrap(),
        Target::Ossm { minor: 0 }
    );
    assert_eq!(
        "ossm-2.0".parse::<Target>().unwrap().resources(),
        [Resource::SmeV1alpha1]
    );
    assert_eq!(
        "ossm-2.2".parse::<Target>().unwrap().resources(),
        [Resource::SmeV1, Resource::WasmPlugin]
    );
    let ossm24: Target = "ossm-2.4".parse().unwrap();
    assert_eq!(ossm24.resources(), [Resource::WasmPlugin]);
    assert_eq!(ossm24.istio_minor(), Some(16));
    assert_eq!(ossm24.envoy_minor(), 24);
    assert_eq!(
        "istio".parse::<Target>().unwrap(),
        Target::Istio { minor: 30 }
    );
    assert_eq!(
        "istio".parse::<Target>().unwrap().resources(),
        [Resource::WasmPlugin, Resource::TrafficExtension]
    );
    assert_eq!(
        "istio-1.29".parse::<Target>().unwrap().resources(),
        [Resource::WasmPlugin]
    );
    assert_eq!(
        "envoy-gateway-1.4".parse::<Target>().unwrap().envoy_minor(),
        34
    );
    assert_eq!(
        "envoy".parse::<Target>().unwrap(),
        Target::Envoy { minor: 40 }
    );
    for bad in [
        "ossm-3.0",
        "istio-1.11",
        "istio-1.31",
        "envoy-gateway-1.0",
        "envoy-1.16",
        "kuma",
    ] {
        let err = bad.parse::<Target>().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("`{bad}` is not a target; use ossm-2.0")),
            "{err}"
        );
    }
    let err = Target::Istio { minor: 29 }
        .resource(Some(Resource::TrafficExtension))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "--resource traffic-extension: TrafficExtension exists from Istio 1.30; Istio 1.29 has WasmPlugin"
    );
}

#[test]
fn config_is_a_string_in_v1alpha1_and_an_object_in_v1_with_key_order_kept() {
    let config = r#"{"z-first": "1", "a-second": {"value": "2", "mode": "append"}}"#;
    let old = rendered(
        Resource::SmeV1alpha1,
        &inputs("ossm-2.0", "PostAuthZ", Some(config)),
    );
    assert_eq!(old["apiVersion"].as_str(), Some("maistra.io/v1alpha1"));
    assert_eq!(
        old["spec"]["config"].as_str(),
        Some(r#"{"z-first":"1","a-second":{"value":"2","mode":"append"}}"#)
    );
    let new = rendered(
        Resource::SmeV1,
        &inputs("ossm-2.1", "PostAuthZ", Some(config)),
    );
    assert_eq!(new["apiVersion"].as_str(), Some("maistra.io/v1"));
    let keys: Vec<_> = new["spec"]["config"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(keys, ["z-first", "a-second"]);
    assert_eq!(
        new["spec"]["workloadSelector"]["labels"]["app"].as_str(),
        Some("httpbin")
    );
    assert_eq!(
        new["spec"]["image"].as_str(),
        Some("quay.io/team/header-append:0.3.0")
    );
}

#[test]
fn older_ossm_wasm_plugins_leave_out_fail_strategy() {
    let doc = rendered(Resource::WasmPlugin, &inputs("ossm-2.4", "PostAuthZ", None));
    assert!(doc["spec"].get("failStrategy").is_none());
    let doc = rendered(Resource::WasmPlugin, &inputs("ossm-2.6", "PostAuthZ", None));
    assert_eq!(doc["spec"]["failStrategy"].as_str(), Some("FAIL_CLOSE"));
    let mut reload = inputs("istio-1.27", "PostAuthZ", None);
    reload.fail = Some(FailPolicy::Reload);
    let doc = rendered(Resource::WasmPlugin, &reload);
    assert_eq!(doc["spec"]["failStrategy"].as_str(), Some("FAIL_RELOAD"));
}

#[test]
fn a_priority_past_int32_is_refused_where_istio_reads_an_int32() {
    let mut old = inputs("istio-1.19", "PostAuthZ", None);
    old.priority = i64::from(i32::MAX) + 1;
    let doc = rendered(Resource::WasmPlugin, &old);
    assert_eq!(
        doc["spec"]["priority"].as_i64(),
        Some(old.priority),
        "an Int64Value until 1.19"
    );
    for (target, resource) in [
        ("istio-1.20", Resource::WasmPlugin),
        ("istio", Resource::TrafficExtension),
    ] {
        let mut new = inputs(target, "PostAuthZ", None);
        new.priority = i64::from(i32::MIN) - 1;
        let err = resources::render(resource, &new).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "manifest priority -2147483649 does not fit {} `priority`, an int32 from Istio 1.20 on",
                resource.kind()
            )),
            "{err}"
        );
        new.priority = i64::from(i32::MIN);
        assert_eq!(
            rendered(resource, &new)["spec"]["priority"].as_i64(),
            Some(new.priority)
        );
    }
}

#[test]
fn a_traffic_extension_nests_the_plugin_under_wasm() {
    let mut te = inputs("istio", "PostStats", Some(r#"{"x-a": "b"}"#));
    te.selector.clear();
    te.target_refs = vec!["Gateway/public".parse::<TargetRef>().unwrap()];
    te.env = vec![
        EnvVar::inline("REGION=eu").unwrap(),
        EnvVar::host("POD_NAME").unwrap(),
    ];
    te.fail = Some(FailPolicy::Open);
    let doc = rendered(Resource::TrafficExtension, &te);
    assert_eq!(doc["kind"].as_str(), Some("TrafficExtension"));
    let spec = &doc["spec"];
    assert_eq!(
        spec["phase"].as_str(),
        Some("UNSPECIFIED"),
        "TrafficExtension's zero phase"
    );
    assert_eq!(spec["priority"].as_i64(), Some(7));
    assert!(spec.get("selector").is_none());
    assert_eq!(
        spec["targetRefs"][0]["group"].as_str(),
        Some("gateway.networking.k8s.io")
    );
    assert_eq!(spec["targetRefs"][0]["kind"].as_str(), Some("Gateway"));
    assert_eq!(spec["targetRefs"][0]["name"].as_str(), Some("public"));
    let wasm = &spec["wasm"];
    assert_eq!(
        wasm["url"].as_str(),
        Some("oci://quay.io/team/header-append:0.3.0")
    );
    assert_eq!(wasm["sha256"].as_str(), Some("ab".repeat(32).as_str()));
    assert_eq!(wasm["pluginName"].as_str(), Some("header-append"));
    assert_eq!(wasm["failStrategy"].as_str(), Some("FAIL_OPEN"));
    assert_eq!(wasm["pluginConfig"]["x-a"].as_str(), Some("b"));
    assert_eq!(wasm["vmConfig"]["env"][0]["name"].as_str(), Some("REGION"));
    assert_eq!(
        wasm["vmConfig"]["env"][0]["valueFrom"].as_str(),
        Some("INLINE")
    );
    assert_eq!(wasm["vmConfig"]["env"][0]["value"].as_str(), Some("eu"));
    assert_eq!(
        wasm["vmConfig"]["env"][1]["valueFrom"].as_str(),
        Some("HOST")
    );
    assert!(wasm["vmConfig"]["env"][1].get("value").is_none());
}

#[test]
fn an_envoy_extension_policy_pins_the_image_and_attaches_to_routes() {
    let mut eg = inputs("envoy-gateway-1.3", "PostAuthZ", Some(r#"{"x-a": "b"}"#));
    eg.selector.clear();
    eg.target_refs = vec!["HTTPRoute/backend".parse().unwrap()];
    eg.env = vec![EnvVar::host("POD_NAME").unwrap()];
    eg.pull_secret = Some("quay-pull".into());
    let doc = rendered(Resource::EnvoyExtensionPolicy, &eg);
    assert_eq!(
        doc["apiVersion"].as_str(),
        Some("gateway.envoyproxy.io/v1alpha1")
    );
    assert_eq!(doc["kind"].as_str(), Some("EnvoyExtensionPolicy"));
    let spec = &doc["spec"];
    assert_eq!(spec["targetRefs"][0]["kind"].as_str(), Some("HTTPRoute"));
    let wasm = &spec["wasm"][0];
    assert_eq!(wasm["name"].as_str(), Some("header-append"));
    assert_eq!(wasm["rootID"].as_str(), Some("header-append"));
    assert_eq!(wasm["code"]["type"].as_str(), Some("Image"));
    assert_eq!(
        wasm["code"]["image"]["url"].as_str(),
        Some("quay.io/team/header-append:0.3.0")
    );
    assert_eq!(
        wasm["code"]["image"]["sha256"].as_str(),
        Some("ab".repeat(32).as_str())
    );
    assert_eq!(
        wasm["code"]["image"]["pullSecretRef"]["name"].as_str(),
        Some("quay-pull")
    );
    assert_eq!(wasm["config"]["x-a"].as_str(), Some("b"));
    assert_eq!(wasm["failOpen"].as_bool(), Some(false));
    assert_eq!(wasm["env"]["hostKeys"][0].as_str(), Some("POD_NAME"));
}

/// request-metrics' rules, as its Cargo.toml declares them.
fn route_tags() -> Vec<StatsTag> {
    let metadata = serde_json::json!({"stats-tags": [
        {"name": "route", "regex": r"^wasmcustom\.request_metrics(\.route\.([^.]+))\."},
        {"name": "method", "regex": r"^wasmcustom\.request_metrics\.route\.[^.]+(\.method\.([^.]+))\."},
    ]});
    let mut extension = Extension::for_test(
        "request-metrics",
        std::path::Path::new("/w/extensions/request-metrics"),
    );
    extension.metadata = metadata;
    stats_tags::of(&extension).unwrap()
}

#[test]
fn declared_stats_tags_come_with_the_proxy_configuration_that_applies_them() {
    let mut envoy = inputs("envoy", "PreAuthN", None);
    envoy.stats_tags = route_tags();
    let docs = documents(Resource::EnvoyFilter, &envoy);
    let tags = &docs[1]["stats_config"]["stats_tags"];
    assert_eq!(tags[0]["tag_name"].as_str(), Some("route"));
    assert_eq!(
        tags[0]["regex"].as_str(),
        Some(r"^wasmcustom\.request_metrics(\.route\.([^.]+))\."),
        "the regex reaches Envoy unchanged"
    );
    assert_eq!(tags[1]["tag_name"].as_str(), Some("method"));

    let mut istio = inputs("istio-1.24", "PreAuthN", None);
    istio.stats_tags = route_tags();
    let text = resources::render(Resource::WasmPlugin, &istio).unwrap();
    assert!(
        text.contains("#   sidecar.istio.io/bootstrapOverride: header-append-stats-tags\n"),
        "{text}"
    );
    assert!(text.contains(r#""proxyStatsMatcher""#), "{text}");
    let docs = documents(Resource::WasmPlugin, &istio);
    let map = &docs[1];
    assert_eq!(map["kind"].as_str(), Some("ConfigMap"));
    let bootstrap: serde_json::Value =
        serde_json::from_str(map["data"]["custom_bootstrap.json"].as_str().unwrap()).unwrap();
    assert_eq!(
        bootstrap["stats_config"]["stats_tags"][0]["tag_name"],
        "route"
    );

    let mut gateway = inputs("envoy-gateway-1.3", "PreAuthN", None);
    gateway.stats_tags = route_tags();
    let docs = documents(Resource::EnvoyExtensionPolicy, &gateway);
    let proxy = docs.last().unwrap();
    assert_eq!(proxy["kind"].as_str(), Some("EnvoyProxy"));
    assert_eq!(proxy["spec"]["bootstrap"]["type"].as_str(), Some("Merge"));
    let merged: Value =
        serde_norway::from_str(proxy["spec"]["bootstrap"]["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        merged["stats_config"]["stats_tags"][1]["tag_name"].as_str(),
        Some("method")
    );

    assert!(
        !resources::render(
            Resource::WasmPlugin,
            &inputs("istio-1.24", "PreAuthN", None)
        )
        .unwrap()
        .contains("stats"),
        "no rules, no extra document"
    );
}

#[test]
fn a_stats_tag_rule_that_envoy_could_not_use_is_refused_with_its_field() {
    for (metadata, expected) in [
        (
            serde_json::json!({"stats-tags": {"name": "route"}}),
            "must be a list of { name, regex } tables",
        ),
        (
            serde_json::json!({"stats-tags": [{"name": "Route", "regex": "^x(y)"}]}),
            "entry 0: `name` must be a Prometheus label name",
        ),
        (
            serde_json::json!({"stats-tags": [{"name": "route", "regex": "^x"}]}),
            "entry 0 (route): `regex` needs a group",
        ),
    ] {
        let mut extension = Extension::for_test("m", std::path::Path::new("/w/extensions/m"));
        extension.metadata = metadata;
        let error = stats_tags::of(&extension).unwrap_err().to_string();
        assert!(
            error.contains("extensions/m/Cargo.toml: `[package.metadata.extension] stats-tags`"),
            "{error}"
        );
        assert!(error.contains(expected), "{expected:?} not in {error}");
    }
}

#[test]
fn callout_services_come_with_a_service_entry_or_an_envoy_cluster() {
    let mut istio = inputs("istio-1.21", "PostAuthZ", None);
    istio.callout_services = vec!["authz.example.com:8443".parse::<CalloutService>().unwrap()];
    let docs = documents(Resource::WasmPlugin, &istio);
    assert_eq!(docs.len(), 2);
    let entry = &docs[1];
    assert_eq!(
        entry["apiVersion"].as_str(),
        Some("networking.istio.io/v1beta1"),
        "v1 only from 1.22"
    );
    assert_eq!(entry["kind"].as_str(), Some("ServiceEntry"));
    assert_eq!(
        entry["spec"]["hosts"][0].as_str(),
        Some("authz.example.com")
    );
    assert_eq!(entry["spec"]["location"].as_str(), Some("MESH_EXTERNAL"));
    assert_eq!(
        entry["spec"]["resolution"].as_str(),
        Some("DNS"),
        "not NONE: an ORIGINAL_DST cluster cannot serve a callout"
    );
    assert_eq!(entry["spec"]["ports"][0]["number"].as_u64(), Some(8443));

    let mut envoy = inputs("envoy", "PostAuthZ", None);
    envoy.selector.clear();
    envoy.image = None;
    envoy.callout_services = vec![
        "auth=authz.example.com:8443"
            .parse::<CalloutService>()
            .unwrap(),
    ];
    let docs = documents(Resource::EnvoyFilter, &envoy);
    let cluster = &docs[1][0];
    assert_eq!(cluster["name"].as_str(), Some("auth"));
    assert_eq!(cluster["type"].as_str(), Some("STRICT_DNS"));
    let address = &cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        ["socket_address"];
    assert_eq!(address["address"].as_str(), Some("authz.example.com"));
    assert_eq!(address["port_value"].as_u64(), Some(8443));
    let filter = &docs[0][0]["typed_config"]["config"];
    assert_eq!(
        filter["failure_policy"].as_str(),
        Some("FAIL_CLOSED"),
        "explicit from Envoy 1.33"
    );
    let mut old = inputs("envoy-1.30", "PostAuthZ", None);
    old.fail = Some(FailPolicy::Open);
    let filter = &rendered(Resource::EnvoyFilter, &old)[0]["typed_config"]["config"];
    assert!(filter.get("failure_policy").is_none());
    assert_eq!(filter["fail_open"].as_bool(), Some(true));
}

/// Every value in `doc` (mappings and sequences walked), strings included.
fn all_values(doc: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = vec![doc];
    match doc {
        serde_json::Value::Object(map) => map.values().for_each(|v| out.extend(all_values(v))),
        serde_json::Value::Array(items) => items.iter().for_each(|v| out.extend(all_values(v))),
        _ => {}
    }
    out
}

#[test]
fn json_configuration_survives_deploys_yaml_unchanged() {
    let long_key = "k".repeat(2000);
    // Escapes a YAML reader would take differently: a surrogate pair, U+0085 (a YAML 1.1 line break) escaped and
    // raw, U+2028, control characters, a key over YAML's 1024-character limit for implicit keys, YAML's booleans
    // and comment and flow indicators, and key order that is not sorted.
    let text = format!(
        "{{\"z-first\": \"\\ud83d\\ude00 pair\", \"nel\": \"a\\u0085b\", \"raw-nel\": \"a\u{85}b\u{2028}c\", \
         \"ctl\": \"\\u0001\\u001b[2J\\u007f\\t\\r\\n end\", \"{long_key}\": 1, \"on\": \"yes\", \
         \"x\": \"# no comment {{[\", \"m\": {{\"b\": [1, 2.5, -3, true, null, \"\"], \"a\": \"\"}}}}"
    );
    let dir = std::env::temp_dir().join(format!("xtask-deploy-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("example-config.json");
    std::fs::write(&path, &text).unwrap();
    let config = super::read_config(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let compact = serde_json::to_string(&expected).unwrap();
    assert!(compact.starts_with("{\"z-first\":\"😀 pair\",\"nel\":\"a\u{85}b\""));
    for (target, resource) in [
        ("istio", Resource::WasmPlugin),
        ("istio", Resource::TrafficExtension),
        ("ossm-2.1", Resource::SmeV1),
        ("envoy-gateway", Resource::EnvoyExtensionPolicy),
        ("ossm-2.0", Resource::SmeV1alpha1),
        ("envoy", Resource::EnvoyFilter),
    ] {
        let mut inputs = inputs(target, "PostAuthZ", None);
        inputs.config = config.clone();
        let yaml = resources::render(resource, &inputs).unwrap();
        let found = yaml.split("\n---\n").any(|doc| {
            let doc: serde_json::Value = serde_norway::from_str(doc)
                .unwrap_or_else(|e| panic!("{resource:?}: the YAML does not parse back: {e}"));
            all_values(&doc).into_iter().any(|v| match v {
                serde_json::Value::String(s) => s == &compact,
                v => serde_json::to_string(v).unwrap() == compact,
            })
        });
        assert!(
            found,
            "{resource:?}: the configuration did not come back unchanged:\n{yaml}"
        );
    }
}

mod crd;

#[test]
fn a_network_filter_is_envoys_network_wasm_filter_and_a_service_its_bootstrap_extension() {
    let mut tcp = inputs("envoy", "PostAuthZ", Some(r#"{"routes": []}"#));
    tcp.kind = Kind::Tcp;
    let text = resources::render(Resource::EnvoyFilter, &tcp).unwrap();
    assert!(
        text.contains("before envoy.filters.network.tcp_proxy"),
        "{text}"
    );
    let doc: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(doc[0]["name"].as_str(), Some("envoy.filters.network.wasm"));
    assert_eq!(
        doc[0]["typed_config"]["@type"].as_str(),
        Some("type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm")
    );
    assert!(doc[0]["typed_config"].get("singleton").is_none());
    let mut service = inputs("envoy", "PostAuthZ", None);
    service.kind = Kind::Service;
    let doc = rendered(Resource::EnvoyFilter, &service);
    assert_eq!(doc[0]["name"].as_str(), Some("envoy.bootstrap.wasm"));
    assert_eq!(
        doc[0]["typed_config"]["@type"].as_str(),
        Some("type.googleapis.com/envoy.extensions.wasm.v3.WasmService")
    );
    assert_eq!(doc[0]["typed_config"]["singleton"].as_bool(), Some(true));
    assert_eq!(
        doc[0]["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"].as_str(),
        Some("/w/target/extensions/header-append/plugin.wasm")
    );
}

#[test]
fn a_network_filter_is_a_network_wasm_plugin_where_istio_reads_type() {
    let declared = "extensions/x/Cargo.toml";
    let mut tcp = inputs("istio-1.20", "PostAuthZ", None);
    tcp.kind = Kind::Tcp;
    kinds::supported(Kind::Tcp, tcp.target, Resource::WasmPlugin, declared).unwrap();
    tcp.plugin_type = kinds::plugin_type(Kind::Tcp, None, Resource::WasmPlugin, declared).unwrap();
    assert_eq!(
        rendered(Resource::WasmPlugin, &tcp)["spec"]["type"].as_str(),
        Some("NETWORK")
    );
    let err = kinds::supported(
        Kind::Tcp,
        "istio-1.18".parse().unwrap(),
        Resource::WasmPlugin,
        declared,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "extensions/x/Cargo.toml declares a network (TCP) filter (kind = \"tcp\"), but a WasmPlugin runs as a \
             network filter only with `type: NETWORK`, read from Istio 1.20"
        ),
        "{err}"
    );
    let err = kinds::plugin_type(
        Kind::Tcp,
        Some(PluginType::Http),
        Resource::WasmPlugin,
        declared,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--type http: extensions/x/Cargo.toml declares a network filter"),
        "{err}"
    );
    let err = kinds::plugin_type(
        Kind::Http,
        Some(PluginType::Network),
        Resource::WasmPlugin,
        declared,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("set `kind = \"tcp\"`"), "{err}");
}

#[test]
fn targets_that_cannot_run_a_kind_refuse_it_with_the_reason() {
    let declared = "extensions/x/Cargo.toml";
    let refused = |kind, target: &str, resource| {
        kinds::supported(kind, target.parse().unwrap(), resource, declared)
            .unwrap_err()
            .to_string()
    };
    let err = refused(Kind::Service, "ossm-2.1", Resource::SmeV1);
    assert!(
        err.contains(
            "declares a Wasm service (kind = \"service\"), but a ServiceMeshExtension (OSSM 2.1"
        ) && err.contains("adds HTTP filters only"),
        "{err}"
    );
    let err = refused(Kind::Tcp, "ossm-2.0", Resource::SmeV1alpha1);
    assert!(
        err.contains("deploy it with a WasmPlugin of `type: NETWORK`"),
        "{err}"
    );
    let err = refused(Kind::Service, "istio", Resource::WasmPlugin);
    assert!(
        err.contains("Istio has no resource that starts a Wasm service"),
        "{err}"
    );
    let err = refused(Kind::Service, "istio", Resource::TrafficExtension);
    assert!(err.contains("a TrafficExtension adds a filter"), "{err}");
    let err = refused(Kind::Tcp, "envoy-gateway", Resource::EnvoyExtensionPolicy);
    assert!(
        err.contains("Envoy Gateway runs Wasm as an HTTP filter only"),
        "{err}"
    );
    for (kind, target, resource) in [
        (Kind::Tcp, "istio", Resource::TrafficExtension),
        (Kind::Tcp, "envoy", Resource::EnvoyFilter),
        (Kind::Service, "envoy", Resource::EnvoyFilter),
        (Kind::Http, "ossm-2.0", Resource::SmeV1alpha1),
    ] {
        kinds::supported(kind, target.parse().unwrap(), resource, declared).unwrap();
    }
}
