//! `cargo xtask deploy` for every target, read back as YAML and checked field by field against the
//! packaged image (manifest, layout digest) and the extension's example configuration.

mod push_support;
mod support;

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
        &["--for", "istio", "--image", IMAGE],
        "run `cargo xtask package` first",
    );
}
