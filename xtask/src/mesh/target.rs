//! What `--for` names is a mesh at a version ([`envoy_targets::Target`], shared with the host); here, which
//! resource kinds each target reads. The version also decides which of their fields the mesh reads (`fields`),
//! which image variants it pulls (`variant`) and which Envoy (so which imports and behaviour) runs the module.

use std::str::FromStr;

use anyhow::bail;
pub(crate) use envoy_targets::Target;

/// The resource kinds `deploy` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    /// `maistra.io/v1alpha1` ServiceMeshExtension (OSSM 2.0): `config` is a string.
    SmeV1alpha1,
    /// `maistra.io/v1` ServiceMeshExtension (OSSM 2.1, 2.2): `config` is an object.
    SmeV1,
    /// `extensions.istio.io/v1alpha1` WasmPlugin.
    WasmPlugin,
    /// `extensions.istio.io/v1alpha1` TrafficExtension (Istio 1.30+).
    TrafficExtension,
    /// `gateway.envoyproxy.io/v1alpha1` EnvoyExtensionPolicy.
    EnvoyExtensionPolicy,
    /// An `envoy.filters.http.wasm` entry of an HTTP connection manager.
    EnvoyFilter,
}

/// The resource kinds a target reads.
pub(crate) trait Resources {
    /// The resource kinds this target reads, the default first.
    fn resources(self) -> &'static [Resource];
    /// The resource `deploy` writes: `chosen` (`--resource`) if the target has it, else its default.
    fn resource(self, chosen: Option<Resource>) -> anyhow::Result<Resource>;
}

impl Resources for Target {
    fn resources(self) -> &'static [Resource] {
        match self {
            Target::Ossm { minor: 0 } => &[Resource::SmeV1alpha1],
            Target::Ossm { minor: 1 } => &[Resource::SmeV1],
            Target::Ossm { minor: 2 } => &[Resource::SmeV1, Resource::WasmPlugin],
            Target::Ossm { .. } => &[Resource::WasmPlugin],
            Target::Istio { minor } if minor >= 30 => {
                &[Resource::WasmPlugin, Resource::TrafficExtension]
            }
            Target::Istio { .. } => &[Resource::WasmPlugin],
            Target::EnvoyGateway { .. } => &[Resource::EnvoyExtensionPolicy],
            Target::Envoy { .. } => &[Resource::EnvoyFilter],
        }
    }

    fn resource(self, chosen: Option<Resource>) -> anyhow::Result<Resource> {
        let offered = self.resources();
        match chosen {
            None => Ok(offered[0]),
            Some(resource) if offered.contains(&resource) => Ok(resource),
            Some(Resource::TrafficExtension)
                if matches!(self, Target::Istio { .. } | Target::Ossm { .. }) =>
            {
                bail!(
                    "--resource traffic-extension: TrafficExtension exists from Istio 1.30; {self} has {}",
                    names(offered)
                )
            }
            Some(resource) => bail!(
                "--resource {}: {self} has no {}; it reads {}",
                resource.flag(),
                resource.kind(),
                names(offered)
            ),
        }
    }
}

impl Resource {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Resource::SmeV1alpha1 | Resource::SmeV1 => "ServiceMeshExtension",
            Resource::WasmPlugin => "WasmPlugin",
            Resource::TrafficExtension => "TrafficExtension",
            Resource::EnvoyExtensionPolicy => "EnvoyExtensionPolicy",
            Resource::EnvoyFilter => "an Envoy HTTP filter",
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Resource::SmeV1alpha1 | Resource::SmeV1 => "service-mesh-extension",
            Resource::WasmPlugin => "wasm-plugin",
            Resource::TrafficExtension => "traffic-extension",
            Resource::EnvoyExtensionPolicy => "envoy-extension-policy",
            Resource::EnvoyFilter => "envoy-filter",
        }
    }

    /// Whether the resource pulls an OCI image (all but the Envoy filter, which loads a local file).
    pub(crate) fn pulls_an_image(self) -> bool {
        self != Resource::EnvoyFilter
    }
}

/// `--resource`: which resource kind to write where a target offers two.
impl FromStr for Resource {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Resource> {
        Ok(match text {
            "service-mesh-extension" => Resource::SmeV1,
            "wasm-plugin" => Resource::WasmPlugin,
            "traffic-extension" => Resource::TrafficExtension,
            other => bail!(
                "`{other}` is not a resource kind deploy writes by choice: use wasm-plugin, traffic-extension \
                 (Istio 1.30+) or service-mesh-extension (OSSM 2.2)"
            ),
        })
    }
}

fn names(resources: &[Resource]) -> String {
    resources
        .iter()
        .map(|r| r.kind())
        .collect::<Vec<_>>()
        .join(" or ")
}
