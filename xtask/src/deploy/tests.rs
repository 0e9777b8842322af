use serde_norway::Value;

use super::{Inputs, Target, resources};
use crate::oci::reference::Reference;

fn inputs(phase: &str, config: Option<&str>) -> Inputs {
    Inputs {
        name: "header-append".to_owned(),
        namespace: "bookinfo".to_owned(),
        image: Some(Reference::parse("quay.io/team/header-append", "0.3.0").unwrap()),
        digest_hex: "ab".repeat(32),
        phase: phase.to_owned(),
        priority: 7,
        selector: vec![("app".to_owned(), "httpbin".to_owned())],
        config: config.map(|c| serde_norway::from_str(c).unwrap()),
        module: "/w/target/extensions/header-append/plugin.wasm".to_owned(),
        pull_secret: None,
    }
}

fn rendered(target: Target, inputs: &Inputs) -> Value {
    serde_norway::from_str(&resources::render(target, inputs).unwrap()).unwrap()
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
        let doc = rendered(
            Target::WasmPlugin {
                fail_strategy: true,
            },
            &inputs(maistra, None),
        );
        assert_eq!(
            doc["spec"]["phase"].as_str(),
            Some(wasm_plugin),
            "{maistra}"
        );
    }
    let err = resources::wasm_plugin_phase("PostAuthz")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`PostAuthz` is not a Maistra phase"), "{err}");
}

#[test]
fn targets_are_named_by_mesh_and_version() {
    assert_eq!("ossm-2.0".parse::<Target>().unwrap(), Target::SmeV1alpha1);
    assert_eq!("ossm-2.2".parse::<Target>().unwrap(), Target::SmeV1);
    assert_eq!(
        "ossm-2.4".parse::<Target>().unwrap(),
        Target::WasmPlugin {
            fail_strategy: false
        }
    );
    assert_eq!(
        "istio".parse::<Target>().unwrap(),
        Target::WasmPlugin {
            fail_strategy: true
        }
    );
    let err = "ossm-3.0".parse::<Target>().unwrap_err().to_string();
    assert!(
        err.starts_with("`ossm-3.0` is not a target; use ossm-2.0"),
        "{err}"
    );
}

#[test]
fn config_is_a_string_in_v1alpha1_and_an_object_in_v1_with_key_order_kept() {
    let config = r#"{"z-first": "1", "a-second": {"value": "2", "mode": "append"}}"#;
    let old = rendered(Target::SmeV1alpha1, &inputs("PostAuthZ", Some(config)));
    assert_eq!(old["apiVersion"].as_str(), Some("maistra.io/v1alpha1"));
    assert_eq!(
        old["spec"]["config"].as_str(),
        Some(r#"{"z-first":"1","a-second":{"value":"2","mode":"append"}}"#)
    );
    let new = rendered(Target::SmeV1, &inputs("PostAuthZ", Some(config)));
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
    let doc = rendered(
        Target::WasmPlugin {
            fail_strategy: false,
        },
        &inputs("PostAuthZ", None),
    );
    assert!(doc["spec"].get("failStrategy").is_none());
    let doc = rendered(
        Target::WasmPlugin {
            fail_strategy: true,
        },
        &inputs("PostAuthZ", None),
    );
    assert_eq!(doc["spec"]["failStrategy"].as_str(), Some("FAIL_CLOSE"));
}
