//! The YAML of each deployment resource, field for field as the CRDs and Envoy's API name them.

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use serde_norway::Mapping;

use super::Inputs;
use crate::maistra::Phase;
use crate::manifest::Kind;
use crate::mesh::{
    EnvVar, FailPolicy, Resource, Target,
    fields::{ENVOY_FAILURE_POLICY, ISTIO_FAIL_STRATEGY},
};

/// Istio minor from which `networking.istio.io/v1` serves ServiceEntry.
const ISTIO_NETWORKING_V1: u32 = 22;
/// Istio minor whose WasmPlugin `priority` is an `Int32Value` (an `Int64Value` before: istio/api
/// `extensions/v1alpha1/wasm.proto` at tags 1.19.0 and 1.20.0; the CRD says `format: int32` from 1.22).
const ISTIO_PRIORITY_INT32: u32 = 20;

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

/// ServiceMeshExtension spec (`maistra.io` v1alpha1 and v1).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SmeSpec {
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

/// WasmPlugin spec (`extensions.istio.io/v1alpha1`): the placement and the plugin side by side.
#[derive(Serialize)]
struct WasmPluginSpec {
    #[serde(flatten)]
    placement: IstioPlacement,
    #[serde(flatten)]
    wasm: IstioWasm,
}

/// TrafficExtension spec (`extensions.istio.io/v1alpha1`, Istio 1.30): the placement at the top, the plugin
/// under `wasm`.
#[derive(Serialize)]
struct TrafficExtensionSpec {
    #[serde(flatten)]
    placement: IstioPlacement,
    wasm: IstioWasm,
}

/// Which workloads run the plugin and where in their chain: the same fields in both of Istio's resources.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IstioPlacement {
    #[serde(skip_serializing_if = "Option::is_none")]
    selector: Option<MatchLabels>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    target_refs: Vec<PolicyTargetRef>,
    phase: &'static str,
    priority: i64,
}

/// The plugin: the fields WasmPlugin's spec and TrafficExtension's `wasm` share (istio/api
/// `extensions/v1alpha1/wasm.proto`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IstioWasm {
    url: String,
    sha256: String,
    image_pull_policy: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_pull_secret: Option<String>,
    plugin_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fail_strategy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vm_config: Option<IstioVmConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin_config: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MatchLabels {
    match_labels: Mapping,
}

/// Gateway API `PolicyTargetReference`.
#[derive(Serialize)]
struct PolicyTargetRef {
    group: &'static str,
    kind: &'static str,
    name: String,
}

#[derive(Serialize)]
struct IstioVmConfig {
    env: Vec<IstioEnv>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IstioEnv {
    name: String,
    value_from: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

/// EnvoyExtensionPolicy spec (`gateway.envoyproxy.io/v1alpha1`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExtensionPolicySpec {
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

/// One entry of an HTTP connection manager's `http_filters`, of a listener's network `filters`, or of the
/// bootstrap's `bootstrap_extensions` (a Wasm service).
#[derive(Serialize)]
struct HttpFilter {
    name: &'static str,
    typed_config: WasmFilter,
}

#[derive(Serialize)]
struct WasmFilter {
    #[serde(rename = "@type")]
    type_url: &'static str,
    /// `WasmService.singleton`: one VM on the main thread rather than one per worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    singleton: Option<bool>,
    config: PluginConfig,
}

#[derive(Serialize)]
struct PluginConfig {
    name: String,
    root_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    configuration: Option<StringValue>,
    vm_config: VmConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fail_open: Option<bool>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    environment_variables: Option<EnvironmentVariables>,
}

#[derive(Serialize)]
struct Code {
    local: Local,
}

#[derive(Serialize)]
struct Local {
    filename: String,
}

#[derive(Serialize)]
struct EnvironmentVariables {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    host_env_keys: Vec<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    key_values: Mapping,
}

/// An Istio ServiceEntry for a callout service: Istio names its cluster `outbound|PORT||HOST`.
#[derive(Serialize)]
struct ServiceEntrySpec {
    hosts: Vec<String>,
    location: &'static str,
    resolution: &'static str,
    ports: Vec<ServicePort>,
}

#[derive(Serialize)]
struct ServicePort {
    number: u16,
    name: String,
    protocol: &'static str,
}

/// A static Envoy cluster for a callout service.
#[derive(Serialize)]
struct Cluster {
    name: String,
    r#type: &'static str,
    connect_timeout: &'static str,
    load_assignment: LoadAssignment,
}

#[derive(Serialize)]
struct LoadAssignment {
    cluster_name: String,
    endpoints: Vec<serde_json::Value>,
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
            serde_saphyr::to_string(&sme(inputs, "maistra.io/v1alpha1", true)?)?,
        ),
        Resource::SmeV1 => (
            "# ServiceMeshExtension for OpenShift Service Mesh 2.1/2.2: the plugin receives `config` as JSON.\n",
            serde_saphyr::to_string(&sme(inputs, "maistra.io/v1", false)?)?,
        ),
        Resource::WasmPlugin => (
            "# WasmPlugin for Istio / OpenShift Service Mesh 2.2+: `sha256` is the image manifest digest,\n\
             # the one `cargo xtask package` and `cargo xtask push` print.\n",
            serde_saphyr::to_string(&wasm_plugin(inputs)?)?,
        ),
        Resource::TrafficExtension => (
            "# TrafficExtension for Istio 1.30+ (alpha API): `wasm.sha256` is the image manifest digest.\n",
            serde_saphyr::to_string(&traffic_extension(inputs)?)?,
        ),
        Resource::EnvoyExtensionPolicy => (
            "# EnvoyExtensionPolicy for Envoy Gateway: the gateway controller pulls the image and serves the module\n\
             # to Envoy; `sha256` is the image manifest digest.\n",
            serde_saphyr::to_string(&extension_policy(inputs)?)?,
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
            serde_saphyr::to_string(&[envoy_filter(inputs)?])?,
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
        let clusters: Vec<Cluster> = inputs.callout_services.iter().map(|s| {
            let name = s.envoy_cluster();
            Cluster {
                name: name.clone(),
                r#type: "STRICT_DNS",
                connect_timeout: "5s",
                load_assignment: LoadAssignment {
                    cluster_name: name,
                    endpoints: vec![serde_json::json!({"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": s.host, "port_value": s.port}}}}]})],
                },
            }
        }).collect();
        return Ok(format!(
            "---\n# Envoy: add these to `static_resources.clusters`; the plugin calls them by these names.\n{}",
            serde_saphyr::to_string(&clusters)?
        ));
    }
    let minor = inputs.target.istio_minor().unwrap_or_default();
    let api_version = if minor >= ISTIO_NETWORKING_V1 {
        "networking.istio.io/v1"
    } else {
        "networking.istio.io/v1beta1"
    };
    let mut out = String::new();
    for service in &inputs.callout_services {
        let entry = K8s {
            api_version,
            kind: "ServiceEntry",
            metadata: Metadata {
                name: format!("{}-{}", inputs.name, service.host.replace('.', "-")),
                namespace: inputs.namespace.clone(),
            },
            spec: ServiceEntrySpec {
                hosts: vec![service.host.clone()],
                location: "MESH_EXTERNAL",
                resolution: "DNS",
                ports: vec![ServicePort {
                    number: service.port,
                    name: format!("http-{}", service.port),
                    protocol: "HTTP",
                }],
            },
        };
        out += &format!(
            "---\n# ServiceEntry for a callout service: the plugin calls cluster `{}` with `:authority: {}`.\n\
             # For an HTTPS service, add a DestinationRule with `trafficPolicy.tls.mode: SIMPLE` so the sidecar\n\
             # originates TLS.\n{}",
            service.istio_cluster(),
            service.host,
            serde_saphyr::to_string(&entry)?
        );
    }
    Ok(out)
}

/// The WasmPlugin phase for a Maistra phase, by where each lands in the filter chain
/// (reference §2.3): no WasmPlugin phase runs after Istio's stats filter, so PostStats gets
/// UNSPECIFIED_PHASE, which lands just before it.
pub(crate) fn wasm_plugin_phase(maistra: Phase) -> &'static str {
    match maistra {
        Phase::PreAuthN => "AUTHN",
        Phase::PostAuthN | Phase::PreAuthZ => "AUTHZ",
        Phase::PostAuthZ | Phase::PreStats => "STATS",
        Phase::PostStats => "UNSPECIFIED_PHASE",
    }
}

fn sme(
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

/// Istio's `failStrategy`: explicit where the version has it, so what was tested is what runs.
fn fail_strategy(fail: Option<FailPolicy>) -> &'static str {
    match fail.unwrap_or(FailPolicy::Closed) {
        FailPolicy::Open => "FAIL_OPEN",
        FailPolicy::Closed => "FAIL_CLOSE",
        FailPolicy::Reload => "FAIL_RELOAD",
    }
}

/// The manifest priority, refused where the Istio version reads it as an int32, which istiod cannot convert a
/// larger value to.
fn istio_priority(inputs: &Inputs, kind: &str) -> anyhow::Result<i64> {
    let minor = inputs.target.istio_minor().unwrap_or_default();
    if minor >= ISTIO_PRIORITY_INT32 && i32::try_from(inputs.priority).is_err() {
        anyhow::bail!(
            "manifest priority {} does not fit {kind} `priority`, an int32 from Istio 1.{ISTIO_PRIORITY_INT32} on; \
             use a value from {} to {}",
            inputs.priority,
            i32::MIN,
            i32::MAX
        );
    }
    Ok(inputs.priority)
}

fn wasm_plugin(inputs: &Inputs) -> anyhow::Result<K8s<WasmPluginSpec>> {
    let minor = inputs.target.istio_minor().unwrap_or_default();
    let fail = (minor >= ISTIO_FAIL_STRATEGY).then(|| fail_strategy(inputs.fail));
    Ok(K8s {
        api_version: "extensions.istio.io/v1alpha1",
        kind: "WasmPlugin",
        metadata: metadata(inputs),
        spec: WasmPluginSpec {
            placement: istio_placement(inputs, wasm_plugin_phase(inputs.phase), "WasmPlugin")?,
            wasm: istio_wasm(inputs, fail)?,
        },
    })
}

fn traffic_extension(inputs: &Inputs) -> anyhow::Result<K8s<TrafficExtensionSpec>> {
    let phase = match wasm_plugin_phase(inputs.phase) {
        // TrafficExtension.ExecutionPhase names its zero value UNSPECIFIED.
        "UNSPECIFIED_PHASE" => "UNSPECIFIED",
        phase => phase,
    };
    Ok(K8s {
        api_version: "extensions.istio.io/v1alpha1",
        kind: "TrafficExtension",
        metadata: metadata(inputs),
        spec: TrafficExtensionSpec {
            placement: istio_placement(inputs, phase, "TrafficExtension")?,
            wasm: istio_wasm(inputs, Some(fail_strategy(inputs.fail)))?,
        },
    })
}

fn istio_placement(
    inputs: &Inputs,
    phase: &'static str,
    kind: &str,
) -> anyhow::Result<IstioPlacement> {
    Ok(IstioPlacement {
        selector: labels(inputs).map(|match_labels| MatchLabels { match_labels }),
        target_refs: target_refs(inputs),
        phase,
        priority: istio_priority(inputs, kind)?,
    })
}

fn istio_wasm(inputs: &Inputs, fail_strategy: Option<&'static str>) -> anyhow::Result<IstioWasm> {
    Ok(IstioWasm {
        url: format!("oci://{}", image(inputs)?.tagged()),
        sha256: inputs.digest_hex.clone(),
        image_pull_policy: pull_policy(inputs),
        image_pull_secret: inputs.pull_secret.clone(),
        plugin_name: inputs.name.clone(),
        fail_strategy,
        r#type: inputs.plugin_type.map(|t| t.as_str()),
        vm_config: istio_vm_config(inputs),
        plugin_config: inputs.config.clone(),
    })
}

fn extension_policy(inputs: &Inputs) -> anyhow::Result<K8s<ExtensionPolicySpec>> {
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

fn envoy_filter(inputs: &Inputs) -> anyhow::Result<HttpFilter> {
    let configuration = match &inputs.config {
        Some(config) => Some(StringValue {
            type_url: "type.googleapis.com/google.protobuf.StringValue",
            value: json(config)?,
        }),
        None => None,
    };
    let Target::Envoy { minor } = inputs.target else {
        anyhow::bail!("an Envoy filter is written for --for envoy only");
    };
    // `failure_policy` replaced `fail_open` in Envoy 1.33; setting both is rejected.
    let (failure_policy, fail_open) = match (inputs.fail, minor >= ENVOY_FAILURE_POLICY) {
        (fail, true) => (
            Some(match fail.unwrap_or(FailPolicy::Closed) {
                FailPolicy::Open => "FAIL_OPEN",
                FailPolicy::Closed => "FAIL_CLOSED",
                FailPolicy::Reload => "FAIL_RELOAD",
            }),
            None,
        ),
        (Some(FailPolicy::Open), false) => (None, Some(true)),
        (_, false) => (None, None),
    };
    let mut key_values = Mapping::new();
    let mut host_env_keys = Vec::new();
    for env in &inputs.env {
        match env {
            EnvVar::Inline { name, value } => {
                key_values.insert(
                    serde_norway::Value::String(name.clone()),
                    serde_norway::Value::String(value.clone()),
                );
            }
            EnvVar::Host { name } => host_env_keys.push(name.clone()),
        }
    }
    let (name, type_url, singleton) = match inputs.kind {
        Kind::Http => (
            "envoy.filters.http.wasm",
            "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            None,
        ),
        Kind::Tcp => (
            "envoy.filters.network.wasm",
            "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
            None,
        ),
        Kind::Service => (
            "envoy.bootstrap.wasm",
            "type.googleapis.com/envoy.extensions.wasm.v3.WasmService",
            Some(true),
        ),
    };
    Ok(HttpFilter {
        name,
        typed_config: WasmFilter {
            type_url,
            singleton,
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
                    environment_variables: (!inputs.env.is_empty()).then_some(
                        EnvironmentVariables {
                            host_env_keys,
                            key_values,
                        },
                    ),
                },
                failure_policy,
                fail_open,
            },
        },
    })
}

fn istio_vm_config(inputs: &Inputs) -> Option<IstioVmConfig> {
    if inputs.env.is_empty() {
        return None;
    }
    Some(IstioVmConfig {
        env: inputs
            .env
            .iter()
            .map(|e| match e {
                EnvVar::Inline { name, value } => IstioEnv {
                    name: name.clone(),
                    value_from: "INLINE",
                    value: Some(value.clone()),
                },
                EnvVar::Host { name } => IstioEnv {
                    name: name.clone(),
                    value_from: "HOST",
                    value: None,
                },
            })
            .collect(),
    })
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
