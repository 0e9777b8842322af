//! `cargo xtask deploy`: the resource that loads a packaged extension into a mesh, written from
//! what `package` produced so the phase, digest and config format cannot drift:
//!
//! - OSSM 2.0: ServiceMeshExtension `maistra.io/v1alpha1` (`config` is a string);
//! - OSSM 2.1, 2.2: ServiceMeshExtension `maistra.io/v1` (`config` is an object);
//! - Istio and OSSM 2.3+: WasmPlugin `extensions.istio.io/v1alpha1`, `sha256` = manifest digest;
//! - plain Envoy: an `envoy.filters.http.wasm` HTTP filter loading the local `plugin.wasm`.

mod resources;

use std::{fs, path::Path};

use anyhow::{Context, bail};
use serde_norway::Value;

use crate::{
    flags,
    manifest::Manifest,
    oci::{layout::StoredImage, reference::Reference},
    workspace::{self, Extension},
};

/// Namespace when `--namespace` is not given: the control plane's, so the resource applies mesh-wide.
const DEFAULT_NAMESPACE: &str = "istio-system";

/// What `--for` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// OSSM 2.0.
    SmeV1alpha1,
    /// OSSM 2.1 and 2.2.
    SmeV1,
    /// Istio and OSSM 2.3+; `failStrategy` exists from Istio 1.19 (OSSM 2.6) and is only written there.
    WasmPlugin {
        fail_strategy: bool,
    },
    Envoy,
}

/// Everything a resource is written from.
pub(crate) struct Inputs {
    pub(crate) name: String,
    pub(crate) namespace: String,
    /// `REGISTRY/REPO:TAG` (not for Envoy).
    pub(crate) image: Option<Reference>,
    /// Hex manifest digest of the local layout.
    pub(crate) digest_hex: String,
    pub(crate) phase: String,
    pub(crate) priority: i64,
    /// `key=value` labels, in the order given.
    pub(crate) selector: Vec<(String, String)>,
    /// The extension's example configuration, key order kept.
    pub(crate) config: Option<Value>,
    /// Absolute path of the module, for Envoy.
    pub(crate) module: String,
    /// WasmPlugin `imagePullSecret`.
    pub(crate) pull_secret: Option<String>,
}

impl flags::Deploy {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let target = self.target;
        let extension = workspace::single_extension(self.package.as_deref())?;
        let inputs = self.inputs(target, &extension)?;
        if matches!(target, Target::WasmPlugin { .. }) && inputs.phase == "PostStats" {
            eprintln!(
                "note: WasmPlugin has no phase after Istio's stats filter (Maistra PostStats); \
                 written as UNSPECIFIED_PHASE, which runs just before it"
            );
        }
        if inputs.config.is_none() && target != Target::Envoy {
            eprintln!(
                "note: {} does not exist, so the resource carries no configuration",
                example_config_path(&extension).display()
            );
        }
        let yaml = resources::render(target, &inputs)?;
        match &self.output {
            Some(path) => {
                workspace::write_atomic(Path::new(path), yaml.as_bytes())?;
                eprintln!("{}: wrote {path}", extension.name);
            }
            None => print!("{yaml}"),
        }
        Ok(())
    }

    fn inputs(&self, target: Target, extension: &Extension) -> anyhow::Result<Inputs> {
        let image = match (&self.image, target) {
            (Some(_), Target::Envoy) => {
                bail!("--for envoy loads the local module, so it takes no --image")
            }
            (Some(text), _) => Some(Reference::parse(text, &extension.version)?),
            (None, Target::Envoy) => None,
            (None, _) => bail!(
                "--image REGISTRY/REPO[:TAG] is required: the image as pushed with `cargo xtask push`"
            ),
        };
        if target == Target::Envoy && (!self.selector.is_empty() || self.namespace.is_some()) {
            bail!(
                "--for envoy writes a filter for Envoy's own configuration: --selector and --namespace do not apply"
            );
        }
        if let Some(secret) = &self.pull_secret {
            check_pull_secret(secret, target)?;
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
        let manifest = read_manifest(&extension.manifest_path())?;
        let selector = self
            .selector
            .iter()
            .map(|label| (label.key.clone(), label.value.clone()))
            .collect();
        let config = read_config(&example_config_path(extension))?;
        if let Some(config) = &config
            && matches!(target, Target::SmeV1 | Target::WasmPlugin { .. })
            && !config.is_mapping()
        {
            bail!(
                "{}: {} takes its configuration as an object, so the file must hold a JSON object",
                example_config_path(extension).display(),
                if target == Target::SmeV1 {
                    "ServiceMeshExtension v1 `config`"
                } else {
                    "WasmPlugin `pluginConfig`"
                }
            );
        }
        Ok(Inputs {
            name: extension.name.clone(),
            namespace: self
                .namespace
                .clone()
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            image,
            digest_hex: layout.digest_hex().to_owned(),
            phase: manifest.phase,
            priority: manifest.priority,
            selector,
            config,
            module: extension.module_path().display().to_string(),
            pull_secret: self.pull_secret.clone(),
        })
    }
}

impl std::str::FromStr for Target {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Target> {
        Ok(match text {
            "ossm-2.0" => Target::SmeV1alpha1,
            "ossm-2.1" | "ossm-2.2" => Target::SmeV1,
            "istio" | "ossm-2.6" => Target::WasmPlugin {
                fail_strategy: true,
            },
            "ossm-2.3" | "ossm-2.4" | "ossm-2.5" => Target::WasmPlugin {
                fail_strategy: false,
            },
            "envoy" => Target::Envoy,
            other => bail!(
                "`{other}` is not a target; use ossm-2.0 (ServiceMeshExtension v1alpha1), ossm-2.1 or \
                 ossm-2.2 (ServiceMeshExtension v1), istio or ossm-2.3…ossm-2.6 (WasmPlugin), or envoy"
            ),
        })
    }
}

/// The extension's example plugin configuration file.
fn example_config_path(extension: &Extension) -> std::path::PathBuf {
    extension.dir.join("example-config.json")
}

fn read_manifest(path: &Path) -> anyhow::Result<Manifest> {
    let text = fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}; run `cargo xtask package` first",
            path.display()
        )
    })?;
    serde_norway::from_str(&text)
        .with_context(|| format!("{} is not a valid manifest", path.display()))
}

/// The example configuration, or `None` when the extension has none. Checked as JSON first (for
/// precise errors), then read as YAML, a superset, whose mappings keep the file's key order.
fn read_config(path: &Path) -> anyhow::Result<Option<Value>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let value =
        serde_norway::from_str(&text).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(value))
}

/// Only WasmPlugin has a pull secret that is used; the name must be a Kubernetes object name.
fn check_pull_secret(secret: &str, target: Target) -> anyhow::Result<()> {
    match target {
        Target::WasmPlugin { .. } => {}
        Target::SmeV1alpha1 | Target::SmeV1 => bail!(
            "--pull-secret does not apply to a ServiceMeshExtension: OSSM 2.0-2.2 imports the image through an \
             ImageStream, which uses every docker secret in the extension's namespace; create the secret there \
             and drop --pull-secret"
        ),
        Target::Envoy => bail!("--for envoy loads the local module: --pull-secret does not apply"),
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

/// A workload label `key=value` (`--selector`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Label {
    pub(crate) key: String,
    pub(crate) value: String,
}

impl std::str::FromStr for Label {
    type Err = anyhow::Error;

    fn from_str(label: &str) -> anyhow::Result<Label> {
        match label.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok(Label {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
            }),
            _ => bail!(
                "`{label}` is not a label: write it as key=value, e.g. --selector app=httpbin"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
