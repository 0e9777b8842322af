//! `cargo xtask deploy`: the resource that loads a packaged extension into a mesh, written from what
//! `package` produced so the phase, digest and config format cannot drift. Which resource a target reads and
//! which of its fields exist at that version is `mesh`'s knowledge:
//!
//! - OSSM 2.0: ServiceMeshExtension `maistra.io/v1alpha1` (`config` is a string);
//! - OSSM 2.1, 2.2: ServiceMeshExtension `maistra.io/v1` (`config` is an object);
//! - Istio and OSSM 2.2+: WasmPlugin `extensions.istio.io/v1alpha1`, `sha256` = manifest digest; Istio 1.30+ also
//!   TrafficExtension;
//! - Envoy Gateway: EnvoyExtensionPolicy `gateway.envoyproxy.io/v1alpha1`;
//! - plain Envoy: an `envoy.filters.http.wasm` HTTP filter loading the local `plugin.wasm` (for a network filter
//!   `envoy.filters.network.wasm`, for a Wasm service the bootstrap extension `envoy.bootstrap.wasm`).
//!
//! The extension's kind (`[package.metadata.extension] kind`) decides the filter chain: a network filter is written
//! with `type: NETWORK` where the resource has it, and refused, with the reason, where the target cannot run it.
//!
//! With `--callout-service`, the resources that give the plugin's callouts a cluster come along: an Istio
//! ServiceEntry, or an Envoy cluster. An extension that declares `stats-tags` gets the proxy configuration that
//! turns its metric names into labels (see `stats_tags`).

mod resources;
mod stats_tags;

use std::{fs, path::Path};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::maistra::Phase;
use crate::{
    flags,
    manifest::{self, Kind, Manifest},
    mesh::{
        self, CalloutService, EnvVar, FailPolicy, PluginType, PullPolicy, Resource, Resources,
        Target, TargetRef, fields,
    },
    oci::{layout::StoredImage, reference::Reference},
    workspace::{self, Extension},
};

/// Namespace when `--namespace` is not given: the control plane's, so the resource applies mesh-wide.
const DEFAULT_NAMESPACE: &str = "istio-system";

/// Everything a resource is written from.
pub(crate) struct Inputs {
    pub(crate) target: Target,
    pub(crate) name: String,
    pub(crate) namespace: String,
    /// `REGISTRY/REPO:TAG` (not for Envoy).
    pub(crate) image: Option<Reference>,
    /// Hex manifest digest of the local layout.
    pub(crate) digest_hex: String,
    pub(crate) phase: Phase,
    pub(crate) priority: i64,
    /// `key=value` labels, in the order given.
    pub(crate) selector: Vec<(String, String)>,
    /// The extension's example configuration, as JSON (key order kept): it is written into the YAML as
    /// JSON's own values, never re-read as YAML.
    pub(crate) config: Option<Value>,
    /// Absolute path of the module, for Envoy.
    pub(crate) module: String,
    /// WasmPlugin `imagePullSecret`, EnvoyExtensionPolicy `pullSecretRef`.
    pub(crate) pull_secret: Option<String>,
    /// `None`: the target's default, written explicitly where the resource has the field.
    pub(crate) fail: Option<FailPolicy>,
    pub(crate) pull_policy: Option<PullPolicy>,
    pub(crate) plugin_type: Option<PluginType>,
    /// What the extension declares it is (HTTP filter, network filter, service).
    pub(crate) kind: Kind,
    pub(crate) target_refs: Vec<TargetRef>,
    pub(crate) env: Vec<EnvVar>,
    pub(crate) callout_services: Vec<CalloutService>,
    /// `[package.metadata.extension] stats-tags`: written as the proxy configuration that applies them.
    pub(crate) stats_tags: Vec<stats_tags::StatsTag>,
}

impl flags::Deploy {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let target = self.target;
        let resource = target.resource(self.resource)?;
        let extension = workspace::single_extension(self.package.as_deref())?;
        // The resource is named after the extension, and Kubernetes takes a name only as a DNS subdomain.
        crate::new::check_name(&extension.name)
            .context("deploy names the resource after the extension")?;
        let inputs = self.inputs(target, resource, &extension)?;
        if matches!(resource, Resource::WasmPlugin | Resource::TrafficExtension)
            && inputs.phase == Phase::PostStats
        {
            eprintln!(
                "note: Istio has no phase after its stats filter (Maistra PostStats); written as the unspecified \
                 phase, which runs just before it"
            );
        }
        if resource == Resource::EnvoyExtensionPolicy {
            eprintln!(
                "note: Envoy Gateway runs the plugins of a policy in list order; the manifest's phase and priority \
                 do not apply"
            );
        }
        if inputs.config.is_none() && resource != Resource::EnvoyFilter {
            eprintln!(
                "note: {} does not exist, so the resource carries no configuration",
                example_config_path(&extension).display()
            );
        }
        let yaml = resources::render(resource, &inputs)?;
        match &self.output {
            Some(path) => {
                workspace::write_atomic(Path::new(path), yaml.as_bytes())?;
                eprintln!("{}: wrote {path}", extension.name);
            }
            None => print!("{yaml}"),
        }
        eprintln!(
            "hint: `cargo xtask check -p {} --for {}` runs this configuration in the host and checks the module \
             and image against {target} before it reaches the mesh",
            extension.name,
            target.flag()
        );
        Ok(())
    }

    fn inputs(
        &self,
        target: Target,
        resource: Resource,
        extension: &Extension,
    ) -> anyhow::Result<Inputs> {
        let image = match (&self.image, resource.pulls_an_image()) {
            (Some(_), false) => {
                bail!("--for envoy loads the local module, so it takes no --image")
            }
            (Some(text), true) => Some(Reference::parse(text, &extension.version)?),
            (None, false) => None,
            (None, true) => bail!(
                "--image REGISTRY/REPO[:TAG] is required: the image as pushed with `cargo xtask push`"
            ),
        };
        let env: Vec<EnvVar> = self.vm_env.all();
        let kind = manifest::kind_of(extension)?;
        let declared = format!("extensions/{}/Cargo.toml", extension.name);
        mesh::kinds::supported(kind, target, resource, &declared)?;
        let plugin_type = mesh::kinds::plugin_type(kind, self.plugin_type, resource, &declared)?;
        fields::check(
            target,
            resource,
            &fields::Requested {
                selector: !self.selector.is_empty(),
                namespace: self.namespace.is_some(),
                pull_secret: self.pull_secret.is_some(),
                fail: self.fail,
                pull_policy: self.pull_policy,
                plugin_type,
                target_refs: &self.target_ref,
                env: &env,
                callout_services: &self.callout_service,
            },
        )?;
        if let Some(secret) = &self.pull_secret {
            check_pull_secret(secret, resource)?;
        }
        let layout = StoredImage::open(&extension.layout_dir())?;
        if let Some(pinned) = image.as_ref().and_then(|r| r.digest.as_ref())
            && pinned != &layout.digest
        {
            bail!(
                "--image pins {pinned}, but the packaged image is {}; push it again or fix the digest",
                layout.digest
            );
        }
        if resource.pulls_an_image() {
            let variant = mesh::variant::of(&layout)?;
            mesh::variant::accepted(resource, variant)
                .map_err(|why| anyhow::anyhow!("--for {}: {why}", target.flag()))?;
        }
        let manifest = read_manifest(&extension.manifest_path())?;
        let config = read_config(&example_config_path(extension))?;
        if let Some(config) = &config
            && resource != Resource::SmeV1alpha1
            && resource != Resource::EnvoyFilter
            && !config.is_object()
        {
            bail!(
                "{}: {} takes its configuration as an object, so the file must hold a JSON object",
                example_config_path(extension).display(),
                match resource {
                    Resource::SmeV1 => "ServiceMeshExtension v1 `config`",
                    Resource::EnvoyExtensionPolicy => "EnvoyExtensionPolicy `config`",
                    _ => "`pluginConfig`",
                }
            );
        }
        Ok(Inputs {
            target,
            name: extension.name.clone(),
            namespace: self
                .namespace
                .clone()
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            image,
            digest_hex: layout.digest_hex().to_owned(),
            phase: manifest.phase,
            priority: manifest.priority,
            selector: self
                .selector
                .iter()
                .map(|label| (label.key.clone(), label.value.clone()))
                .collect(),
            config,
            module: extension.module_path().display().to_string(),
            pull_secret: self.pull_secret.clone(),
            fail: self.fail,
            pull_policy: self.pull_policy,
            plugin_type,
            kind,
            target_refs: self.target_ref.clone(),
            env,
            callout_services: self.callout_service.clone(),
            stats_tags: stats_tags::of(extension)?,
        })
    }
}

/// The extension's example plugin configuration file.
pub(crate) fn example_config_path(extension: &Extension) -> std::path::PathBuf {
    extension.dir.join("example-config.json")
}

pub(crate) fn read_manifest(path: &Path) -> anyhow::Result<Manifest> {
    let text = fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}; run `cargo xtask package` first",
            path.display()
        )
    })?;
    serde_norway::from_str(&text)
        .with_context(|| format!("{} is not a valid manifest", path.display()))
}

/// The example configuration, or `None` when the extension has none: parsed once, as JSON, keys in the file's
/// order. (Read as YAML it would change: YAML takes U+0085 for a line break, refuses keys over 1024 characters
/// and surrogate-pair escapes.)
pub(crate) fn read_config(path: &Path) -> anyhow::Result<Option<Value>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    let value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not valid JSON; fix the file (the plugin receives it as JSON)",
            path.display()
        )
    })?;
    Ok(Some(value))
}

/// The pull secret is used by WasmPlugin, TrafficExtension and EnvoyExtensionPolicy; the name must be a
/// Kubernetes object name.
fn check_pull_secret(secret: &str, resource: Resource) -> anyhow::Result<()> {
    match resource {
        Resource::WasmPlugin | Resource::TrafficExtension | Resource::EnvoyExtensionPolicy => {}
        Resource::SmeV1alpha1 | Resource::SmeV1 => bail!(
            "--pull-secret does not apply to a ServiceMeshExtension: OSSM 2.0-2.2 imports the image through an \
             ImageStream, which uses every docker secret in the extension's namespace; create the secret there \
             and drop --pull-secret"
        ),
        Resource::EnvoyFilter => {
            bail!("--for envoy loads the local module: --pull-secret does not apply")
        }
    }
    let valid = !secret.is_empty()
        && secret.len() <= 253
        && secret
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && secret.starts_with(|c: char| c.is_ascii_alphanumeric())
        && secret.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        bail!(
            "--pull-secret `{secret}` is not a Secret name: lowercase letters, digits, `-` and `.`, starting and \
             ending with a letter or digit (e.g. quay-pull)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
