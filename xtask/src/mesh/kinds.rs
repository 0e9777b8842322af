//! Which kinds of plugin each target's resource can run, and the filter chain it joins: an HTTP filter runs
//! everywhere; a network filter only where the resource says `type: NETWORK` (WasmPlugin from Istio 1.20,
//! TrafficExtension) or as Envoy's `envoy.filters.network.wasm`; a Wasm service only as Envoy's bootstrap
//! extension `envoy.bootstrap.wasm`, which no mesh resource writes.

use anyhow::bail;

use super::fields::ISTIO_TYPE;
use super::{PluginType, Resource, Target};
use crate::manifest::Kind;

/// Refuses `kind` where `resource` at `target` cannot run it, saying what can. `declared` names where the kind
/// comes from (the extension's Cargo.toml) for the message.
pub(crate) fn supported(
    kind: Kind,
    target: Target,
    resource: Resource,
    declared: &str,
) -> anyhow::Result<()> {
    let what = match kind {
        Kind::Http => return Ok(()),
        Kind::Tcp => "a network (TCP) filter",
        Kind::Service => "a Wasm service",
    };
    let this = format!("{declared} declares {what} (kind = \"{}\")", kind.name());
    match (kind, resource) {
        (_, Resource::SmeV1alpha1 | Resource::SmeV1) => bail!(
            "{this}, but a ServiceMeshExtension ({target}) adds HTTP filters only{}",
            match kind {
                Kind::Tcp =>
                    ": deploy it with a WasmPlugin of `type: NETWORK` (Istio 1.20 and later, OSSM 2.6)",
                _ => ": a service runs as Envoy's bootstrap extension (see --for envoy)",
            }
        ),
        (Kind::Tcp, Resource::WasmPlugin) => {
            let minor = target.istio_minor().unwrap_or_default();
            if minor < ISTIO_TYPE {
                bail!(
                    "{this}, but a WasmPlugin runs as a network filter only with `type: NETWORK`, read from {}; \
                     {target} would run it as an HTTP filter",
                    target.istio_version_name(ISTIO_TYPE)
                );
            }
            Ok(())
        }
        (Kind::Tcp, Resource::TrafficExtension | Resource::EnvoyFilter) => Ok(()),
        (Kind::Tcp, Resource::EnvoyExtensionPolicy) => bail!(
            "{this}, but Envoy Gateway runs Wasm as an HTTP filter only (EnvoyExtensionPolicy has no type)"
        ),
        (Kind::Service, Resource::WasmPlugin | Resource::TrafficExtension) => bail!(
            "{this}, but a {} adds a filter to the proxy's listeners: Istio has no resource that starts a Wasm \
             service (Envoy's bootstrap extension envoy.bootstrap.wasm); add one to the proxy's bootstrap \
             yourself (--for envoy writes the entry) or make it a filter",
            resource.kind()
        ),
        (Kind::Service, Resource::EnvoyExtensionPolicy) => bail!(
            "{this}, but Envoy Gateway runs Wasm as an HTTP filter only: an EnvoyExtensionPolicy cannot start a \
             service"
        ),
        (Kind::Service, Resource::EnvoyFilter) => Ok(()),
        (Kind::Http, _) => unreachable!("returned above"),
    }
}

/// The `type` the resource is written with: what `--type` says, which must agree with the extension's kind, else
/// NETWORK for a network filter on a resource that has the field.
pub(crate) fn plugin_type(
    kind: Kind,
    given: Option<PluginType>,
    resource: Resource,
    declared: &str,
) -> anyhow::Result<Option<PluginType>> {
    let has_type = matches!(resource, Resource::WasmPlugin | Resource::TrafficExtension);
    match (kind, given) {
        (Kind::Http, Some(PluginType::Network)) => bail!(
            "--type network: {declared} declares an HTTP filter (no `kind`, or kind = \"http\"); if the module is a \
             network filter, set `kind = \"tcp\"` in its [package.metadata.extension]"
        ),
        (Kind::Tcp, Some(PluginType::Http)) => bail!(
            "--type http: {declared} declares a network filter (kind = \"tcp\"); drop --type, the kind decides"
        ),
        (Kind::Service, Some(_)) => bail!(
            "--type: {declared} declares a Wasm service (kind = \"service\"), which joins no filter chain"
        ),
        (Kind::Tcp, _) if has_type => Ok(Some(PluginType::Network)),
        // Envoy's filter for a network filter is the network one: the kind says so, not a `type` field.
        (Kind::Tcp, _) => Ok(None),
        (_, given) => Ok(given),
    }
}
