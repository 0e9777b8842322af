//! Maistra's ServiceMeshExtension (`maistra.io` v1alpha1 and v1), for OpenShift Service Mesh 2.0–2.2.

use serde::Serialize;
use serde_json::Value;
use serde_norway::Mapping;

use super::{Inputs, K8s, image, json, labels, metadata};
use crate::maistra::Phase;

/// ServiceMeshExtension spec (`maistra.io` v1alpha1 and v1).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SmeSpec {
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_pull_policy: Option<&'static str>,
    phase: Phase,
    priority: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    workload_selector: Option<Labels>,
    /// A string in v1alpha1, an object in v1.
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<Value>,
}

#[derive(Serialize)]
struct Labels {
    labels: Mapping,
}

pub(super) fn sme(
    inputs: &Inputs,
    api_version: &'static str,
    config_as_string: bool,
) -> anyhow::Result<K8s<SmeSpec>> {
    let config = match &inputs.config {
        Some(config) if config_as_string => Some(Value::String(json(config)?)),
        other => other.clone(),
    };
    Ok(K8s {
        api_version,
        kind: "ServiceMeshExtension",
        metadata: metadata(inputs),
        spec: SmeSpec {
            image: image(inputs)?.tagged(),
            image_pull_policy: inputs.pull_policy.map(|p| p.as_str()),
            phase: inputs.phase,
            priority: inputs.priority,
            workload_selector: labels(inputs).map(|labels| Labels { labels }),
            config,
        },
    })
}
