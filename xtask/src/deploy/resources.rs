//! The YAML of each deployment resource, field for field as the CRDs and Envoy's API name them: one module per
//! project whose API it writes (`maistra`, `istio`, `gateway`, `envoy`); what they share is here.

mod envoy;
mod gateway;
mod istio;
mod maistra;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use serde_norway::Mapping;

use super::Inputs;
use crate::manifest::Kind;
use crate::mesh::Resource;

/// A Kubernetes resource.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct K8s<S> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: S,
}

#[derive(Serialize)]
pub(super) struct Metadata {
    pub(super) name: String,
    pub(super) namespace: String,
}

/// Gateway API `PolicyTargetReference`.
#[derive(Serialize)]
struct PolicyTargetRef {
    group: &'static str,
    kind: &'static str,
    name: String,
}

/// The YAML documents for `resource`, with comments saying what they are for.
pub(crate) fn render(resource: Resource, inputs: &Inputs) -> anyhow::Result<String> {
    let source = format!(
        "# Written by `cargo xtask deploy --for {}` from target/extensions/{1}/ (manifest.yaml, OCI layout) \
         and extensions/{1}/example-config.json.\n",
        inputs.target.flag(),
        inputs.name
    );
    let (comment, body) = match resource {
        Resource::SmeV1alpha1 => (
            "# ServiceMeshExtension for OpenShift Service Mesh 2.0: `config` is passed to the plugin verbatim.\n",
            serde_saphyr::to_string(&maistra::sme(inputs, "maistra.io/v1alpha1", true)?)?,
        ),
        Resource::SmeV1 => (
            "# ServiceMeshExtension for OpenShift Service Mesh 2.1/2.2: the plugin receives `config` as JSON.\n",
            serde_saphyr::to_string(&maistra::sme(inputs, "maistra.io/v1", false)?)?,
        ),
        Resource::WasmPlugin => (
            "# WasmPlugin for Istio / OpenShift Service Mesh 2.2+: `sha256` is the image manifest digest,\n\
             # the one `cargo xtask package` and `cargo xtask push` print.\n",
            serde_saphyr::to_string(&istio::wasm_plugin(inputs)?)?,
        ),
        Resource::TrafficExtension => (
            "# TrafficExtension for Istio 1.30+ (alpha API): `wasm.sha256` is the image manifest digest.\n",
            serde_saphyr::to_string(&istio::traffic_extension(inputs)?)?,
        ),
        Resource::EnvoyExtensionPolicy => (
            "# EnvoyExtensionPolicy for Envoy Gateway: the gateway controller pulls the image and serves the module\n\
             # to Envoy; `sha256` is the image manifest digest.\n",
            serde_saphyr::to_string(&gateway::extension_policy(inputs)?)?,
        ),
        Resource::EnvoyFilter => (
            match inputs.kind {
                Kind::Http => {
                    "# Envoy: add this to the `http_filters` of an HTTP connection manager, before\n\
                     # envoy.filters.http.router. The module is loaded from the local file below.\n"
                }
                Kind::Tcp => {
                    "# Envoy: add this to a filter chain's `filters`, before envoy.filters.network.tcp_proxy (a cluster\n\
                     # the plugin picks with set_envoy_filter_state(\"envoy.tcp_proxy.cluster\") overrides the proxy's).\n\
                     # The module is loaded from the local file below.\n"
                }
                Kind::Service => {
                    "# Envoy: add this to the bootstrap's `bootstrap_extensions`: a Wasm service, one VM on the main\n\
                     # thread (`singleton`), started with the server. The module is loaded from the local file below.\n"
                }
            },
            serde_saphyr::to_string(&[envoy::envoy_filter(inputs)?])?,
        ),
    };
    let mut out = format!("{source}{comment}{body}");
    if !inputs.callout_services.is_empty() {
        out += &callout_documents(resource, inputs)?;
    }
    if !inputs.stats_tags.is_empty() {
        out += &super::stats_tags::documents(resource, inputs)?;
    }
    Ok(out)
}

/// The documents that give the plugin's callouts a cluster, after a `---`.
fn callout_documents(resource: Resource, inputs: &Inputs) -> anyhow::Result<String> {
    if resource == Resource::EnvoyFilter {
        envoy::cluster_documents(inputs)
    } else {
        istio::service_entry_documents(inputs)
    }
}

fn pull_policy(inputs: &Inputs) -> &'static str {
    inputs.pull_policy.map_or("IfNotPresent", |p| p.as_str())
}

fn target_refs(inputs: &Inputs) -> Vec<PolicyTargetRef> {
    inputs
        .target_refs
        .iter()
        .map(|r| PolicyTargetRef {
            group: r.group,
            kind: r.kind,
            name: r.name.clone(),
        })
        .collect()
}

fn metadata(inputs: &Inputs) -> Metadata {
    Metadata {
        name: inputs.name.clone(),
        namespace: inputs.namespace.clone(),
    }
}

fn image(inputs: &Inputs) -> anyhow::Result<&crate::oci::reference::Reference> {
    inputs.image.as_ref().context("this target needs --image")
}

fn labels(inputs: &Inputs) -> Option<Mapping> {
    if inputs.selector.is_empty() {
        return None;
    }
    Some(
        inputs
            .selector
            .iter()
            .map(|(k, v)| {
                (
                    serde_norway::Value::String(k.clone()),
                    serde_norway::Value::String(v.clone()),
                )
            })
            .collect(),
    )
}

/// Compact JSON text of `config`, keys in the file's order.
fn json(config: &Value) -> anyhow::Result<String> {
    serde_json::to_string(config).context("the example configuration cannot be written as JSON")
}
