//! Plain Envoy: the Wasm filter (HTTP or network) or bootstrap extension, and static clusters for callouts.

use serde::Serialize;
use serde_norway::Mapping;

use super::{Inputs, json};
use crate::manifest::Kind;
use crate::mesh::{EnvVar, FailPolicy, Target, fields::ENVOY_FAILURE_POLICY};

/// One entry of an HTTP connection manager's `http_filters`, of a listener's network `filters`, or of the
/// bootstrap's `bootstrap_extensions` (a Wasm service).
#[derive(Serialize)]
pub(super) struct HttpFilter {
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

pub(super) fn envoy_filter(inputs: &Inputs) -> anyhow::Result<HttpFilter> {
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

/// The static clusters of the plugin's callout services, after a `---`.
pub(super) fn cluster_documents(inputs: &Inputs) -> anyhow::Result<String> {
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
    Ok(format!(
        "---\n# Envoy: add these to `static_resources.clusters`; the plugin calls them by these names.\n{}",
        serde_saphyr::to_string(&clusters)?
    ))
}
