//! Envoy Gateway's EnvoyExtensionPolicy (`gateway.envoyproxy.io/v1alpha1`).

use serde::Serialize;
use serde_json::Value;

use super::{Inputs, K8s, PolicyTargetRef, image, metadata, target_refs};
use crate::mesh::{EnvVar, FailPolicy};

/// EnvoyExtensionPolicy spec (`gateway.envoyproxy.io/v1alpha1`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExtensionPolicySpec {
    target_refs: Vec<PolicyTargetRef>,
    wasm: Vec<GatewayWasm>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GatewayWasm {
    name: String,
    #[serde(rename = "rootID")]
    root_id: String,
    code: GatewayCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<Value>,
    fail_open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<GatewayEnv>,
}

#[derive(Serialize)]
struct GatewayCode {
    r#type: &'static str,
    image: GatewayImage,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GatewayImage {
    url: String,
    sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pull_secret_ref: Option<SecretRef>,
}

#[derive(Serialize)]
struct SecretRef {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GatewayEnv {
    host_keys: Vec<String>,
}

pub(super) fn extension_policy(inputs: &Inputs) -> anyhow::Result<K8s<ExtensionPolicySpec>> {
    let host_keys: Vec<String> = inputs
        .env
        .iter()
        .filter_map(|e| match e {
            EnvVar::Host { name } => Some(name.clone()),
            EnvVar::Inline { .. } => None,
        })
        .collect();
    Ok(K8s {
        api_version: "gateway.envoyproxy.io/v1alpha1",
        kind: "EnvoyExtensionPolicy",
        metadata: metadata(inputs),
        spec: ExtensionPolicySpec {
            target_refs: target_refs(inputs),
            wasm: vec![GatewayWasm {
                name: inputs.name.clone(),
                root_id: inputs.name.clone(),
                code: GatewayCode {
                    r#type: "Image",
                    image: GatewayImage {
                        url: image(inputs)?.tagged(),
                        sha256: inputs.digest_hex.clone(),
                        pull_secret_ref: inputs.pull_secret.clone().map(|name| SecretRef { name }),
                    },
                },
                config: inputs.config.clone(),
                fail_open: inputs.fail == Some(FailPolicy::Open),
                env: (!host_keys.is_empty()).then_some(GatewayEnv { host_keys }),
            }],
        },
    })
}
