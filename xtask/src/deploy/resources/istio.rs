//! Istio's WasmPlugin and TrafficExtension (`extensions.istio.io/v1alpha1`), and the ServiceEntry that gives a
//! callout service its cluster.

use serde::Serialize;
use serde_json::Value;

use super::{
    Inputs, K8s, Metadata, PolicyTargetRef, image, labels, metadata, pull_policy, target_refs,
};
use crate::maistra::Phase;
use crate::mesh::{EnvVar, FailPolicy, fields::ISTIO_FAIL_STRATEGY};
use serde_norway::Mapping;

/// Istio minor from which `networking.istio.io/v1` serves ServiceEntry.
const ISTIO_NETWORKING_V1: u32 = 22;

/// Istio minor whose WasmPlugin `priority` is an `Int32Value` (an `Int64Value` before: istio/api
/// `extensions/v1alpha1/wasm.proto` at tags 1.19.0 and 1.20.0; the CRD says `format: int32` from 1.22).
const ISTIO_PRIORITY_INT32: u32 = 20;

/// WasmPlugin spec (`extensions.istio.io/v1alpha1`): the placement and the plugin side by side.
#[derive(Serialize)]
pub(super) struct WasmPluginSpec {
    #[serde(flatten)]
    placement: IstioPlacement,
    #[serde(flatten)]
    wasm: IstioWasm,
}

/// TrafficExtension spec (`extensions.istio.io/v1alpha1`, Istio 1.30): the placement at the top, the plugin
/// under `wasm`.
#[derive(Serialize)]
pub(super) struct TrafficExtensionSpec {
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

/// The WasmPlugin phase for a Maistra phase, by where each lands in the filter chain
/// (reference §2.3): no WasmPlugin phase runs after Istio's stats filter, so PostStats gets
/// UNSPECIFIED_PHASE, which lands just before it.
fn wasm_plugin_phase(maistra: Phase) -> &'static str {
    match maistra {
        Phase::PreAuthN => "AUTHN",
        Phase::PostAuthN | Phase::PreAuthZ => "AUTHZ",
        Phase::PostAuthZ | Phase::PreStats => "STATS",
        Phase::PostStats => "UNSPECIFIED_PHASE",
    }
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

pub(super) fn wasm_plugin(inputs: &Inputs) -> anyhow::Result<K8s<WasmPluginSpec>> {
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

pub(super) fn traffic_extension(inputs: &Inputs) -> anyhow::Result<K8s<TrafficExtensionSpec>> {
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

/// A ServiceEntry for each of the plugin's callout services, after a `---`.
pub(super) fn service_entry_documents(inputs: &Inputs) -> anyhow::Result<String> {
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
