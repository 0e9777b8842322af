//! `cargo xtask deploy` for every target, read back as YAML and checked field by field against the
//! packaged image (manifest, layout digest) and the extension's example configuration.

use crate::push_support;
use crate::support;

use std::fs;

use push_support::*;
use serde_norway::Value;

const IMAGE: &str = "quay.io/team/header-append";

/// The packaged manifest's phase, priority and version.
fn manifest(work: &Workdir) -> (String, i64, String) {
    let m: Value =
        serde_norway::from_str(&fs::read_to_string(work.out_dir().join("manifest.yaml")).unwrap())
            .unwrap();
    (
        m["phase"].as_str().unwrap().to_owned(),
        m["priority"].as_i64().unwrap(),
        m["version"].as_str().unwrap().to_owned(),
    )
}

/// The example configuration as JSON, and its top-level keys in file order.
fn example_config() -> (serde_json::Value, Vec<String>) {
    let text =
        fs::read_to_string(support::root().join("extensions/header-append/example-config.json"))
            .unwrap();
    let ordered: Value = serde_norway::from_str(&text).unwrap();
    let keys = ordered
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    (serde_json::from_str(&text).unwrap(), keys)
}

fn keys(value: &Value) -> Vec<String> {
    value
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// A YAML value converted to JSON, to compare with the example configuration.
fn as_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

fn deploy(work: &Workdir, target: &str, extra: &[&str]) -> Value {
    let mut args = vec!["deploy", "-p", "header-append", "--for", target];
    args.extend_from_slice(extra);
    serde_norway::from_str(&work.xtask(&args, &[], "").ok()).unwrap()
}

#[test]
fn ossm_2_0_gets_a_v1alpha1_service_mesh_extension_with_config_as_a_string() {
    let work = Workdir::new("deploy-ossm20");
    let (phase, priority, version) = manifest(&work);
    let (config, order) = example_config();
    let doc = deploy(
        &work,
        "ossm-2.0",
        &[
            "--image",
            IMAGE,
            "--selector",
            "app=httpbin",
            "--namespace",
            "bookinfo",
        ],
    );
    assert_eq!(doc["apiVersion"].as_str(), Some("maistra.io/v1alpha1"));
    assert_eq!(doc["kind"].as_str(), Some("ServiceMeshExtension"));
    assert_eq!(doc["metadata"]["name"].as_str(), Some("header-append"));
    assert_eq!(doc["metadata"]["namespace"].as_str(), Some("bookinfo"));
    let spec = &doc["spec"];
    assert_eq!(
        spec["image"].as_str(),
        Some(format!("{IMAGE}:{version}").as_str())
    );
    assert_eq!(spec["phase"].as_str(), Some(phase.as_str()));
    assert_eq!(spec["priority"].as_i64(), Some(priority));
    assert_eq!(
        spec["workloadSelector"]["labels"]["app"].as_str(),
        Some("httpbin")
    );
    let text = spec["config"]
        .as_str()
        .expect("v1alpha1 config is a string");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(text).unwrap(),
        config
    );
    let string_order: Value = serde_norway::from_str(text).unwrap();
    assert_eq!(keys(&string_order), order, "key order of the example kept");
}

#[test]
fn ossm_2_1_and_2_2_get_a_v1_service_mesh_extension_with_config_as_an_object() {
    let work = Workdir::new("deploy-ossm22");
    let (phase, priority, _) = manifest(&work);
    let (config, order) = example_config();
    for target in ["ossm-2.1", "ossm-2.2"] {
        let doc = deploy(&work, target, &["--image", &format!("{IMAGE}:v2")]);
        assert_eq!(
            doc["apiVersion"].as_str(),
            Some("maistra.io/v1"),
            "{target}"
        );
        assert_eq!(doc["kind"].as_str(), Some("ServiceMeshExtension"));
        assert_eq!(doc["metadata"]["namespace"].as_str(), Some("istio-system"));
        let spec = &doc["spec"];
        assert_eq!(spec["image"].as_str(), Some(format!("{IMAGE}:v2").as_str()));
        assert_eq!(spec["phase"].as_str(), Some(phase.as_str()));
        assert_eq!(spec["priority"].as_i64(), Some(priority));
        assert!(
            spec.get("workloadSelector").is_none(),
            "no selector given: whole namespace"
        );
        assert!(spec["config"].is_mapping(), "v1 config is an object");
        assert_eq!(as_json(&spec["config"]), config);
        assert_eq!(keys(&spec["config"]), order);
    }
}

#[test]
fn istio_gets_a_wasm_plugin_pinned_to_the_layout_manifest_digest() {
    let work = Workdir::new("deploy-istio");
    let (phase, priority, version) = manifest(&work);
    let (digest, _) = layout_manifest(&work.layout());
    let (config, order) = example_config();
    let output = work.xtask(
        &[
            "deploy",
            "--for",
            "istio",
            "--image",
            IMAGE,
            "--selector",
            "app=httpbin",
            "--selector",
            "sidecar=on",
        ],
        &[],
        "",
    );
    let text = output.ok();
    assert!(
        text.contains("sidecar: \"on\""),
        "YAML 1.1 booleans are quoted for Kubernetes:\n{text}"
    );
    let doc: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(
        doc["apiVersion"].as_str(),
        Some("extensions.istio.io/v1alpha1")
    );
    assert_eq!(doc["kind"].as_str(), Some("WasmPlugin"));
    let spec = &doc["spec"];
    assert_eq!(
        spec["url"].as_str(),
        Some(format!("oci://{IMAGE}:{version}").as_str())
    );
    assert_eq!(
        spec["sha256"].as_str(),
        Some(digest.trim_start_matches("sha256:"))
    );
    let expected_phase = match phase.as_str() {
        "PreAuthN" => "AUTHN",
        "PostAuthN" | "PreAuthZ" => "AUTHZ",
        "PostAuthZ" | "PreStats" => "STATS",
        _ => "UNSPECIFIED_PHASE",
    };
    assert_eq!(
        spec["phase"].as_str(),
        Some(expected_phase),
        "mapped from {phase}"
    );
    assert_eq!(spec["priority"].as_i64(), Some(priority));
    assert_eq!(spec["pluginName"].as_str(), Some("header-append"));
    assert_eq!(spec["failStrategy"].as_str(), Some("FAIL_CLOSE"));
    assert_eq!(spec["imagePullPolicy"].as_str(), Some("IfNotPresent"));
    assert!(spec.get("imagePullSecret").is_none(), "none unless asked");
    assert_eq!(
        spec["selector"]["matchLabels"]["app"].as_str(),
        Some("httpbin")
    );
    assert_eq!(
        spec["selector"]["matchLabels"]["sidecar"].as_str(),
        Some("on")
    );
    assert_eq!(as_json(&spec["pluginConfig"]), config);
    assert_eq!(keys(&spec["pluginConfig"]), order);

    let private = deploy(
        &work,
        "ossm-2.3",
        &["--image", IMAGE, "--pull-secret", "quay-pull"],
    );
    assert_eq!(
        private["spec"]["imagePullSecret"].as_str(),
        Some("quay-pull")
    );

    let older = deploy(&work, "ossm-2.4", &["--image", IMAGE]);
    assert_eq!(older["kind"].as_str(), Some("WasmPlugin"));
    assert!(
        older["spec"].get("failStrategy").is_none(),
        "OSSM 2.4 (Istio 1.16) has no failStrategy"
    );
}

#[test]
fn envoy_gets_an_http_filter_loading_the_local_module() {
    let work = Workdir::new("deploy-envoy");
    let (config, _) = example_config();
    let doc = deploy(&work, "envoy", &[]);
    let filter = &doc.as_sequence().expect("an http_filters list")[0];
    assert_eq!(filter["name"].as_str(), Some("envoy.filters.http.wasm"));
    let typed = &filter["typed_config"];
    assert_eq!(
        typed["@type"].as_str(),
        Some("type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm")
    );
    let module = typed["config"]["vm_config"]["code"]["local"]["filename"]
        .as_str()
        .unwrap();
    assert_eq!(
        module,
        work.out_dir().join("plugin.wasm").display().to_string()
    );
    assert!(
        fs::read(module).unwrap().starts_with(b"\0asm"),
        "a wasm module is there"
    );
    assert_eq!(
        typed["config"]["vm_config"]["runtime"].as_str(),
        Some("envoy.wasm.runtime.v8")
    );
    let configuration = &typed["config"]["configuration"];
    assert_eq!(
        configuration["@type"].as_str(),
        Some("type.googleapis.com/google.protobuf.StringValue")
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(configuration["value"].as_str().unwrap())
            .unwrap(),
        config
    );
}

#[test]
fn output_file_is_written_whole_and_matches_standard_output() {
    let work = Workdir::new("deploy-output");
    let stdout = work
        .xtask(&["deploy", "--for", "istio", "--image", IMAGE], &[], "")
        .ok();
    let path = work.dir.join("out/wasmplugin.yaml");
    let run = work.xtask(
        &[
            "deploy",
            "--for",
            "istio",
            "--image",
            IMAGE,
            "-o",
            path.to_str().unwrap(),
        ],
        &[],
        "",
    );
    assert_eq!(run.ok(), "", "nothing on stdout with -o");
    assert_eq!(fs::read_to_string(&path).unwrap(), stdout);
    let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        [std::ffi::OsString::from("wasmplugin.yaml")],
        "no temporary file left"
    );
}

#[test]
fn bad_deploy_command_lines_are_refused_with_a_reason() {
    let work = Workdir::new("deploy-errors");
    let refused = |args: &[&str], expected: &str| {
        let err = work.xtask(&[&["deploy"], args].concat(), &[], "").fails();
        assert!(err.contains(expected), "{args:?}: {err}");
    };
    refused(
        &["--for", "kuma", "--image", IMAGE],
        "invalid value 'kuma' for '--for <TARGET>': `kuma` is not a target; use ossm-2.0",
    );
    refused(
        &["--for", "istio"],
        "--image REGISTRY/REPO[:TAG] is required",
    );
    refused(
        &["--for", "envoy", "--image", IMAGE],
        "--for envoy loads the local module, so it takes no --image",
    );
    refused(
        &["--for", "istio", "--image", IMAGE, "--selector", "app"],
        "invalid value 'app' for '--selector <KEY=VALUE>': `app` is not a label: write it as key=value",
    );
    refused(
        &["--for", "istio", "--image", IMAGE, "--selector", "app=*"],
        "invalid value 'app=*' for '--selector <KEY=VALUE>': `app=*` is not a Kubernetes label",
    );
    refused(
        &[
            "--for",
            "ossm-2.2",
            "--image",
            IMAGE,
            "--pull-secret",
            "quay-pull",
        ],
        "--pull-secret does not apply to a ServiceMeshExtension: OSSM 2.0-2.2 imports the image through an \
         ImageStream, which uses every docker secret in the extension's namespace",
    );
    refused(
        &[
            "--for",
            "istio",
            "--image",
            IMAGE,
            "--pull-secret",
            "Quay_Pull",
        ],
        "--pull-secret `Quay_Pull` is not a Secret name",
    );
    let wrong = format!("{IMAGE}@sha256:{}", "0".repeat(64));
    refused(
        &["--for", "istio", "--image", &wrong],
        "but the packaged image is sha256:",
    );
    fs::remove_dir_all(work.layout()).unwrap();
    refused(
        &["-p", "header-append", "--for", "istio", "--image", IMAGE],
        "run `cargo xtask package` first",
    );
    // With several extensions and none packaged, nothing says which one was meant.
    refused(
        &["--for", "istio", "--image", IMAGE],
        "choose one with -p NAME",
    );
}

#[test]
fn istio_1_30_writes_a_traffic_extension_on_request() {
    let work = Workdir::new("deploy-traffic-extension");
    let (digest, _) = layout_manifest(&work.layout());
    let (config, order) = example_config();
    let doc = deploy(
        &work,
        "istio",
        &[
            "--resource",
            "traffic-extension",
            "--image",
            IMAGE,
            "--target-ref",
            "Gateway/public",
            "--fail",
            "reload",
            "--pull-policy",
            "Always",
            "--type",
            "http",
            "--env",
            "REGION=eu",
        ],
    );
    assert_eq!(
        doc["apiVersion"].as_str(),
        Some("extensions.istio.io/v1alpha1")
    );
    assert_eq!(doc["kind"].as_str(), Some("TrafficExtension"));
    let spec = &doc["spec"];
    assert_eq!(spec["targetRefs"][0]["kind"].as_str(), Some("Gateway"));
    assert_eq!(spec["targetRefs"][0]["name"].as_str(), Some("public"));
    assert!(spec.get("selector").is_none());
    let wasm = &spec["wasm"];
    assert_eq!(
        wasm["sha256"].as_str(),
        Some(digest.trim_start_matches("sha256:"))
    );
    assert_eq!(wasm["failStrategy"].as_str(), Some("FAIL_RELOAD"));
    assert_eq!(wasm["imagePullPolicy"].as_str(), Some("Always"));
    assert_eq!(wasm["type"].as_str(), Some("HTTP"));
    assert_eq!(wasm["vmConfig"]["env"][0]["value"].as_str(), Some("eu"));
    assert_eq!(as_json(&wasm["pluginConfig"]), config);
    assert_eq!(keys(&wasm["pluginConfig"]), order);
}

#[test]
fn envoy_gateway_gets_an_envoy_extension_policy() {
    let work = Workdir::new("deploy-envoy-gateway");
    let (digest, _) = layout_manifest(&work.layout());
    let (config, _) = example_config();
    let version = manifest(&work).2;
    let doc = deploy(
        &work,
        "envoy-gateway",
        &[
            "--image",
            IMAGE,
            "--namespace",
            "gateways",
            "--target-ref",
            "HTTPRoute/backend",
            "--fail",
            "open",
            "--host-env",
            "POD_NAME",
            "--pull-secret",
            "quay-pull",
        ],
    );
    assert_eq!(
        doc["apiVersion"].as_str(),
        Some("gateway.envoyproxy.io/v1alpha1")
    );
    assert_eq!(doc["kind"].as_str(), Some("EnvoyExtensionPolicy"));
    assert_eq!(doc["metadata"]["namespace"].as_str(), Some("gateways"));
    let wasm = &doc["spec"]["wasm"][0];
    assert_eq!(
        wasm["code"]["image"]["url"].as_str(),
        Some(format!("{IMAGE}:{version}").as_str())
    );
    assert_eq!(
        wasm["code"]["image"]["sha256"].as_str(),
        Some(digest.trim_start_matches("sha256:"))
    );
    assert_eq!(
        wasm["code"]["image"]["pullSecretRef"]["name"].as_str(),
        Some("quay-pull")
    );
    assert_eq!(wasm["failOpen"].as_bool(), Some(true));
    assert_eq!(wasm["env"]["hostKeys"][0].as_str(), Some("POD_NAME"));
    assert_eq!(as_json(&wasm["config"]), config);
    assert_eq!(
        doc["spec"]["targetRefs"][0]["group"].as_str(),
        Some("gateway.networking.k8s.io")
    );
}

#[test]
fn fields_a_target_version_lacks_are_refused_with_the_version_that_has_them() {
    let work = Workdir::new("deploy-versions");
    let refused = |args: &[&str], expected: &str| {
        let err = work
            .xtask(&[&["deploy", "--image", IMAGE], args].concat(), &[], "")
            .fails();
        assert!(err.contains(expected), "{args:?}: {err}");
    };
    refused(
        &["--for", "istio-1.18", "--fail", "open"],
        "--fail open: WasmPlugin `failStrategy` is read from Istio 1.19; Istio 1.18 lacks it",
    );
    refused(
        &["--for", "ossm-2.5", "--fail", "closed"],
        "WasmPlugin `failStrategy` is read from Istio 1.19 (OSSM 2.6); OSSM 2.5 (Istio 1.18) lacks it",
    );
    refused(
        &["--for", "istio-1.26", "--fail", "reload"],
        "`failStrategy: FAIL_RELOAD` is read from Istio 1.27",
    );
    refused(
        &["--for", "istio-1.21", "--target-ref", "Gateway/public"],
        "`targetRefs` is read from Istio 1.22",
    );
    refused(
        &["--for", "istio-1.23", "--target-ref", "ServiceEntry/ext"],
        "--target-ref ServiceEntry/ext: WasmPlugin `targetRefs[].kind: ServiceEntry` is read from Istio 1.24; Istio 1.23 lacks it",
    );
    refused(
        &["--for", "istio-1.24", "--target-ref", "GatewayClass/istio"],
        "`targetRefs[].kind: GatewayClass` is read from Istio 1.25",
    );
    refused(
        &["--for", "istio-1.22", "--target-ref", "Service/waypoint"],
        "`targetRefs[].kind: Service` is read from Istio 1.23",
    );
    refused(
        &["--for", "istio-1.19", "--type", "http"],
        "`type` is read from Istio 1.20",
    );
    // header-append declares no kind: an HTTP filter, which a network filter's type would misplace.
    refused(
        &["--for", "istio", "--type", "network"],
        "--type network: extensions/header-append/Cargo.toml declares an HTTP filter",
    );
    refused(
        &["--for", "istio-1.13", "--env", "A=b"],
        "`vmConfig.env` is read from Istio 1.14",
    );
    refused(
        &[
            "--for",
            "istio",
            "--selector",
            "app=x",
            "--target-ref",
            "Gateway/public",
        ],
        "takes one of `selector` and `targetRefs`, not both",
    );
    refused(
        &["--for", "istio-1.29", "--resource", "traffic-extension"],
        "TrafficExtension exists from Istio 1.30; Istio 1.29 has WasmPlugin",
    );
    refused(
        &["--for", "ossm-2.0", "--fail", "open"],
        "--fail open: a ServiceMeshExtension (OSSM 2.0 (Istio 1.6)) has no such field",
    );
    let gateway = [
        "--for",
        "envoy-gateway-1.2",
        "--namespace",
        "gw",
        "--target-ref",
        "Gateway/public",
    ];
    refused(
        &[&gateway[..], &["--host-env", "POD_NAME"]].concat(),
        "`env.hostKeys` is read from Envoy Gateway 1.3; Envoy Gateway 1.2 lacks it",
    );
    refused(
        &[&gateway[..], &["--env", "A=b"]].concat(),
        "EnvoyExtensionPolicy has no inline environment values",
    );
    refused(
        &[&gateway[..], &["--fail", "reload"]].concat(),
        "EnvoyExtensionPolicy has only `failOpen`",
    );
    refused(
        &[&gateway[..], &["--callout-service", "authz:8080"]].concat(),
        "Envoy Gateway has no API that adds a cluster for a Wasm plugin to call",
    );
    refused(
        &["--for", "envoy-gateway", "--namespace", "gw"],
        "an EnvoyExtensionPolicy needs what it attaches to: --target-ref",
    );
    refused(
        &["--for", "envoy-gateway", "--target-ref", "Gateway/public"],
        "give --namespace",
    );
    let err = work
        .xtask(&["deploy", "--for", "envoy-1.17", "--env", "A=b"], &[], "")
        .fails();
    assert!(
        err.contains(
            "--env/--host-env: `vm_config.environment_variables` exists from Envoy 1.18; Envoy 1.17 lacks it"
        ),
        "{err}"
    );
    let err = work
        .xtask(
            &["deploy", "--for", "envoy-1.32", "--fail", "reload"],
            &[],
            "",
        )
        .fails();
    assert!(
        err.contains(
            "`failure_policy: FAIL_RELOAD` exists from Envoy 1.33; Envoy 1.32 has only `fail_open`"
        ),
        "{err}"
    );
}

#[test]
fn an_artifact_image_is_refused_for_a_service_mesh_extension() {
    let work = Workdir::new("deploy-artifact");
    work.use_artifact_image();
    let err = work
        .xtask(&["deploy", "--for", "ossm-2.1", "--image", IMAGE], &[], "")
        .fails();
    assert!(
        err.contains("--for ossm-2.1: a ServiceMeshExtension reads /manifest.yaml from the single layer of the dual image, and this is the wasm artifact")
            && err.contains("package with `--format dual`"),
        "{err}"
    );
    let doc = deploy(&work, "istio", &["--image", IMAGE]);
    assert_eq!(
        doc["kind"].as_str(),
        Some("WasmPlugin"),
        "Istio pulls the artifact"
    );
}

#[test]
fn callout_services_get_a_service_entry_in_istio() {
    let work = Workdir::new("deploy-callout");
    let text = work
        .xtask(
            &[
                "deploy",
                "-p",
                "header-append",
                "--for",
                "istio",
                "--image",
                IMAGE,
                "--callout-service",
                "authz.example.com:8443",
            ],
            &[],
            "",
        )
        .ok();
    let docs: Vec<Value> = text
        .split("\n---\n")
        .map(|d| serde_norway::from_str(d).unwrap())
        .collect();
    assert_eq!(docs[0]["kind"].as_str(), Some("WasmPlugin"));
    assert_eq!(docs[1]["kind"].as_str(), Some("ServiceEntry"));
    assert_eq!(
        docs[1]["apiVersion"].as_str(),
        Some("networking.istio.io/v1")
    );
    assert!(
        text.contains("the plugin calls cluster `outbound|8443||authz.example.com`"),
        "{text}"
    );
}

#[test]
fn a_manifest_priority_past_int32_is_refused_for_istio_versions_that_read_an_int32() {
    let work = Workdir::new("deploy-priority");
    let (_, priority, _) = manifest(&work);
    let path = work.out_dir().join("manifest.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace(&format!("priority: {priority}"), "priority: 3000000000"),
    )
    .unwrap();
    let err = work
        .xtask(
            &["deploy", "--for", "istio-1.20", "--image", IMAGE],
            &[],
            "",
        )
        .fails();
    assert!(
        err.contains("manifest priority 3000000000 does not fit WasmPlugin `priority`, an int32 from Istio 1.20 on"),
        "{err}"
    );
    let doc = deploy(&work, "istio-1.19", &["--image", IMAGE]);
    assert_eq!(
        doc["spec"]["priority"].as_i64(),
        Some(3_000_000_000),
        "an Int64Value until Istio 1.19"
    );
}
