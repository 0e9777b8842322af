//! The YAML of each deployment resource, field for field as the CRDs and Envoy's API name them.

use anyhow::Context;
use serde::Serialize;
use serde_norway::{Mapping, Value};

use super::{Inputs, Target};

/// A Kubernetes resource.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource<S> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: S,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
    namespace: String,
}

/// ServiceMeshExtension spec (`maistra.io` v1alpha1 and v1).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SmeSpec {
    image: String,
    phase: String,
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

/// WasmPlugin spec (`extensions.istio.io/v1alpha1`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmPluginSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    selector: Option<MatchLabels>,
    url: String,
    sha256: String,
    image_pull_policy: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_pull_secret: Option<String>,
    phase: &'static str,
    priority: i64,
    plugin_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fail_strategy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin_config: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MatchLabels {
    match_labels: Mapping,
}

/// One entry of an HTTP connection manager's `http_filters`.
#[derive(Serialize)]
struct HttpFilter {
    name: &'static str,
    typed_config: WasmFilter,
}

#[derive(Serialize)]
struct WasmFilter {
    #[serde(rename = "@type")]
    type_url: &'static str,
    config: PluginConfig,
}

#[derive(Serialize)]
struct PluginConfig {
    name: String,
    root_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    configuration: Option<StringValue>,
    vm_config: VmConfig,
}

/// `google.protobuf.StringValue`: Envoy hands `value` to the plugin as is.
#[derive(Serialize)]
struct StringValue {
    #[serde(rename = "@type")]
    type_url: &'static str,
    value: String,
}

#[derive(Serialize)]
struct VmConfig {
    runtime: &'static str,
    code: Code,
}

#[derive(Serialize)]
struct Code {
    local: Local,
}

#[derive(Serialize)]
struct Local {
    filename: String,
}

/// The YAML document for `target`, with a comment saying what it is for.
pub(crate) fn render(target: Target, inputs: &Inputs) -> anyhow::Result<String> {
    let source = format!(
        "# Written by `cargo xtask deploy` from target/extensions/{0}/ (manifest.yaml, OCI layout) \
         and extensions/{0}/example-config.json.\n",
        inputs.name
    );
    let (comment, body) = match target {
        Target::SmeV1alpha1 => (
            "# ServiceMeshExtension for OpenShift Service Mesh 2.0: `config` is passed to the plugin verbatim.\n",
            serde_saphyr::to_string(&sme(inputs, "maistra.io/v1alpha1", true)?)?,
        ),
        Target::SmeV1 => (
            "# ServiceMeshExtension for OpenShift Service Mesh 2.1/2.2: the plugin receives `config` as JSON.\n",
            serde_saphyr::to_string(&sme(inputs, "maistra.io/v1", false)?)?,
        ),
        Target::WasmPlugin { fail_strategy } => (
            "# WasmPlugin for Istio / OpenShift Service Mesh 2.3+: `sha256` is the image manifest digest,\n\
             # the one `cargo xtask package` and `cargo xtask push` print.\n",
            serde_saphyr::to_string(&wasm_plugin(inputs, fail_strategy)?)?,
        ),
        Target::Envoy => (
            "# Envoy: add this to the `http_filters` of an HTTP connection manager, before\n\
             # envoy.filters.http.router. The module is loaded from the local file below.\n",
            serde_saphyr::to_string(&[envoy_filter(inputs)?])?,
        ),
    };
    Ok(format!("{source}{comment}{body}"))
}

/// The WasmPlugin phase for a Maistra phase, by where each lands in the filter chain
/// (reference §2.3): no WasmPlugin phase runs after Istio's stats filter, so PostStats gets
/// UNSPECIFIED_PHASE, which lands just before it.
pub(crate) fn wasm_plugin_phase(maistra: &str) -> anyhow::Result<&'static str> {
    Ok(match maistra {
        "PreAuthN" => "AUTHN",
        "PostAuthN" | "PreAuthZ" => "AUTHZ",
        "PostAuthZ" | "PreStats" => "STATS",
        "PostStats" => "UNSPECIFIED_PHASE",
        other => anyhow::bail!(
            "manifest phase `{other}` is not a Maistra phase (PreAuthN PostAuthN PreAuthZ PostAuthZ PreStats PostStats)"
        ),
    })
}

fn sme(
    inputs: &Inputs,
    api_version: &'static str,
    config_as_string: bool,
) -> anyhow::Result<Resource<SmeSpec>> {
    let config = match &inputs.config {
        Some(config) if config_as_string => Some(Value::String(json(config)?)),
        other => other.clone(),
    };
    Ok(Resource {
        api_version,
        kind: "ServiceMeshExtension",
        metadata: metadata(inputs),
        spec: SmeSpec {
            image: image(inputs)?.tagged(),
            phase: inputs.phase.clone(),
            priority: inputs.priority,
            workload_selector: labels(inputs).map(|labels| Labels { labels }),
            config,
        },
    })
}

fn wasm_plugin(inputs: &Inputs, fail_strategy: bool) -> anyhow::Result<Resource<WasmPluginSpec>> {
    Ok(Resource {
        api_version: "extensions.istio.io/v1alpha1",
        kind: "WasmPlugin",
        metadata: metadata(inputs),
        spec: WasmPluginSpec {
            selector: labels(inputs).map(|match_labels| MatchLabels { match_labels }),
            url: format!("oci://{}", image(inputs)?.tagged()),
            sha256: inputs.digest_hex.clone(),
            image_pull_policy: "IfNotPresent",
            image_pull_secret: inputs.pull_secret.clone(),
            phase: wasm_plugin_phase(&inputs.phase)?,
            priority: inputs.priority,
            plugin_name: inputs.name.clone(),
            fail_strategy: fail_strategy.then_some("FAIL_CLOSE"),
            plugin_config: inputs.config.clone(),
        },
    })
}

fn envoy_filter(inputs: &Inputs) -> anyhow::Result<HttpFilter> {
    let configuration = match &inputs.config {
        Some(config) => Some(StringValue {
            type_url: "type.googleapis.com/google.protobuf.StringValue",
            value: json(config)?,
        }),
        None => None,
    };
    Ok(HttpFilter {
        name: "envoy.filters.http.wasm",
        typed_config: WasmFilter {
            type_url: "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            config: PluginConfig {
                name: inputs.name.clone(),
                root_id: inputs.name.clone(),
                configuration,
                vm_config: VmConfig {
                    runtime: "envoy.wasm.runtime.v8",
                    code: Code {
                        local: Local {
                            filename: inputs.module.clone(),
                        },
                    },
                },
            },
        },
    })
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
            .map(|(k, v)| (Value::String(k.clone()), Value::String(v.clone())))
            .collect(),
    )
}

/// Compact JSON text of `config`, keys in the file's order.
fn json(config: &Value) -> anyhow::Result<String> {
    serde_json::to_string(config).context("the example configuration cannot be written as JSON")
}
