//! Which deploy flags each target version reads. A flag the chosen version lacks is refused, naming the
//! version that introduced the field, so the YAML never carries a field the mesh would ignore or reject.
//! Versions: istio/api `extensions/v1alpha1/wasm.proto` and `traffic_extension.proto` history, envoyproxy/gateway
//! `api/v1alpha1/wasm_types.go` history, Envoy's `wasm.proto` (see the README's target table).

use anyhow::bail;

use super::{
    CalloutService, EnvVar, FailPolicy, PluginType, PullPolicy, Resource, Target, TargetRef,
};

/// Istio minors that first read a WasmPlugin / TrafficExtension field.
pub(crate) const ISTIO_FAIL_STRATEGY: u32 = 19;
const ISTIO_FAIL_RELOAD: u32 = 27;
/// `imagePullSecret` and `imagePullPolicy` exist from 1.12 but are read from 1.14 (istio/istio#37161, #38475).
const ISTIO_PULL: u32 = 14;
const ISTIO_ENV: u32 = 14;
pub(crate) const ISTIO_TYPE: u32 = 20;
const ISTIO_TARGET_REFS: u32 = 22;
/// Istio minor from which a WasmPlugin `targetRefs` entry may name each kind: 1.22 documents Gateway only, the
/// CRD's CEL rule admits Service from 1.23 and ServiceEntry from 1.24 and is gone in 1.25, which documents
/// GatewayClass (istio/api `extensions/v1alpha1/wasm.proto` and `kubernetes/customresourcedefinitions.gen.yaml`
/// at tags 1.22.0 … 1.25.0).
const ISTIO_TARGET_REF_KINDS: [(&str, u32); 4] = [
    ("Gateway", 22),
    ("Service", 23),
    ("ServiceEntry", 24),
    ("GatewayClass", 25),
];
/// Envoy Gateway minor that first reads `env.hostKeys`.
const GATEWAY_HOST_ENV: u32 = 3;
/// Envoy minor whose `VmConfig` has `environment_variables`: envoyproxy/data-plane-api 8e77eead (2021-03-08)
/// adds it after the "1.17.0 release" commit 3518ce95, and Envoy refuses a field its proto lacks.
const ENVOY_ENV: u32 = 18;
/// Envoy minor with `failure_policy` (FAIL_RELOAD); older ones have only `fail_open`.
pub(crate) const ENVOY_FAILURE_POLICY: u32 = 33;
/// Istio minor that hands Envoy `failure_policy` instead of the legacy `fail_open` (istio/istio febfa591f5a).
pub(crate) const ISTIO_FAILURE_POLICY: u32 = 25;

/// The flags that shape the resource.
pub(crate) struct Requested<'a> {
    pub(crate) selector: bool,
    pub(crate) namespace: bool,
    pub(crate) pull_secret: bool,
    pub(crate) fail: Option<FailPolicy>,
    pub(crate) pull_policy: Option<PullPolicy>,
    pub(crate) plugin_type: Option<PluginType>,
    pub(crate) target_refs: &'a [TargetRef],
    pub(crate) env: &'a [EnvVar],
    pub(crate) callout_services: &'a [CalloutService],
}

/// Refuses every flag `resource` at `target` does not read.
pub(crate) fn check(target: Target, resource: Resource, asked: &Requested) -> anyhow::Result<()> {
    match resource {
        Resource::SmeV1alpha1 | Resource::SmeV1 => service_mesh_extension(target, resource, asked),
        Resource::WasmPlugin | Resource::TrafficExtension => istio(target, resource, asked),
        Resource::EnvoyExtensionPolicy => gateway(target, asked),
        Resource::EnvoyFilter => envoy(target, asked),
    }
}

fn service_mesh_extension(
    target: Target,
    resource: Resource,
    asked: &Requested,
) -> anyhow::Result<()> {
    let lacks = |flag: &str| -> anyhow::Result<()> {
        bail!(
            "{flag}: a ServiceMeshExtension ({target}) has no such field; it exists from WasmPlugin on (OSSM 2.2+ with --resource wasm-plugin, OSSM 2.3+)"
        )
    };
    if let Some(fail) = asked.fail {
        lacks(&format!("--fail {fail}"))?;
    }
    if asked.plugin_type.is_some() {
        lacks("--type")?;
    }
    if !asked.target_refs.is_empty() {
        lacks("--target-ref")?;
    }
    if !asked.env.is_empty() {
        lacks("--env/--host-env")?;
    }
    if asked.pull_policy.is_some() && resource == Resource::SmeV1alpha1 {
        bail!(
            "--pull-policy: ServiceMeshExtension `imagePullPolicy` exists from maistra.io/v1 (OSSM 2.1); {target} lacks it"
        );
    }
    Ok(())
}

fn istio(target: Target, resource: Resource, asked: &Requested) -> anyhow::Result<()> {
    let minor = target.istio_minor().unwrap_or_default();
    let kind = resource.kind();
    let since = |flag: &str, field: &str, first: u32| -> anyhow::Result<()> {
        if minor < first {
            bail!(
                "{flag}: {kind} `{field}` is read from {}; {target} lacks it",
                target.istio_version_name(first)
            );
        }
        Ok(())
    };
    match asked.fail {
        Some(FailPolicy::Reload) => since(
            "--fail reload",
            "failStrategy: FAIL_RELOAD",
            ISTIO_FAIL_RELOAD,
        )?,
        Some(fail) => since(
            &format!("--fail {fail}"),
            "failStrategy",
            ISTIO_FAIL_STRATEGY,
        )?,
        None => {}
    }
    if asked.pull_secret {
        since("--pull-secret", "imagePullSecret", ISTIO_PULL)?;
    }
    if asked.pull_policy.is_some() {
        since("--pull-policy", "imagePullPolicy", ISTIO_PULL)?;
    }
    if !asked.env.is_empty() {
        since("--env/--host-env", "vmConfig.env", ISTIO_ENV)?;
    }
    if asked.plugin_type.is_some() {
        since("--type", "type", ISTIO_TYPE)?;
    }
    if !asked.target_refs.is_empty() {
        since("--target-ref", "targetRefs", ISTIO_TARGET_REFS)?;
        if asked.selector {
            bail!(
                "--selector and --target-ref: a {kind} takes one of `selector` and `targetRefs`, not both"
            );
        }
        if let Some(route) = asked.target_refs.iter().find(|r| r.kind.ends_with("Route")) {
            bail!(
                "--target-ref {}/{}: Istio attaches a {kind} to a Gateway, GatewayClass, Service (waypoints) or \
                 ServiceEntry, not to a route",
                route.kind,
                route.name
            );
        }
        for reference in asked.target_refs {
            let first = ISTIO_TARGET_REF_KINDS
                .iter()
                .find(|(k, _)| *k == reference.kind)
                .map_or(ISTIO_TARGET_REFS, |(_, first)| *first);
            since(
                &format!("--target-ref {}/{}", reference.kind, reference.name),
                &format!("targetRefs[].kind: {}", reference.kind),
                first,
            )?;
        }
    }
    Ok(())
}

fn gateway(target: Target, asked: &Requested) -> anyhow::Result<()> {
    let Target::EnvoyGateway { minor } = target else {
        unreachable!("EnvoyExtensionPolicy is Envoy Gateway's");
    };
    if !asked.namespace {
        bail!(
            "an EnvoyExtensionPolicy lives in the namespace of the Gateway or route it attaches to: give --namespace"
        );
    }
    if asked.pull_policy.is_some() {
        bail!(
            "--pull-policy: EnvoyExtensionPolicy applies `pullPolicy` only to an image without `sha256`, and deploy always pins the digest"
        );
    }
    if asked.selector {
        bail!(
            "--selector: an EnvoyExtensionPolicy attaches to Gateways and routes, not to workloads: use --target-ref Gateway/NAME or HTTPRoute/NAME"
        );
    }
    if asked.target_refs.is_empty() {
        bail!(
            "an EnvoyExtensionPolicy needs what it attaches to: --target-ref Gateway/NAME or HTTPRoute/NAME (repeatable)"
        );
    }
    if let Some(other) = asked
        .target_refs
        .iter()
        .find(|r| !(r.kind == "Gateway" || r.kind.ends_with("Route")))
    {
        bail!(
            "--target-ref {}/{}: an EnvoyExtensionPolicy attaches to a Gateway or an HTTPRoute, GRPCRoute, TCPRoute, TLSRoute or UDPRoute",
            other.kind,
            other.name
        );
    }
    if asked.fail == Some(FailPolicy::Reload) {
        bail!(
            "--fail reload: EnvoyExtensionPolicy has only `failOpen` (open or closed); no Envoy Gateway release reloads a failed VM"
        );
    }
    if asked.plugin_type == Some(PluginType::Network) {
        bail!("--type network: Envoy Gateway runs Wasm as an HTTP filter only");
    }
    for env in asked.env {
        match env {
            EnvVar::Inline { name, .. } => bail!(
                "--env {name}=…: EnvoyExtensionPolicy has no inline environment values, only `env.hostKeys` \
                 copied from the proxy's environment: use --host-env {name}"
            ),
            EnvVar::Host { .. } if minor < GATEWAY_HOST_ENV => bail!(
                "--host-env: EnvoyExtensionPolicy `env.hostKeys` is read from Envoy Gateway 1.{GATEWAY_HOST_ENV}; {target} lacks it"
            ),
            EnvVar::Host { .. } => {}
        }
    }
    if let Some(service) = asked.callout_services.first() {
        bail!(
            "--callout-service {}:{}: Envoy Gateway has no API that adds a cluster for a Wasm plugin to call \
             (envoyproxy/gateway#9952); call an existing route's cluster by its generated name or add one with an \
             EnvoyPatchPolicy",
            service.host,
            service.port
        );
    }
    Ok(())
}

fn envoy(target: Target, asked: &Requested) -> anyhow::Result<()> {
    let Target::Envoy { minor } = target else {
        unreachable!("the HTTP filter is for plain Envoy");
    };
    if asked.selector || asked.namespace {
        bail!(
            "--for envoy writes a filter for Envoy's own configuration: --selector and --namespace do not apply"
        );
    }
    if !asked.target_refs.is_empty() || asked.pull_policy.is_some() {
        bail!("--for envoy loads the local module: --target-ref and --pull-policy do not apply");
    }
    if asked.plugin_type == Some(PluginType::Network) {
        bail!("--type network: --for envoy writes an HTTP filter (envoy.filters.http.wasm)");
    }
    if !asked.env.is_empty() && minor < ENVOY_ENV {
        bail!(
            "--env/--host-env: `vm_config.environment_variables` exists from Envoy 1.{ENVOY_ENV}; {target} lacks it"
        );
    }
    if asked.fail == Some(FailPolicy::Reload) && minor < ENVOY_FAILURE_POLICY {
        bail!(
            "--fail reload: `failure_policy: FAIL_RELOAD` exists from Envoy 1.{ENVOY_FAILURE_POLICY}; {target} has only `fail_open`"
        );
    }
    Ok(())
}
