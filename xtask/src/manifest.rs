//! `cargo xtask manifest`: write each extension's `manifest.yaml` (Maistra ServiceMeshExtension
//! format) from the workspace defaults in the root `manifest.yaml` and the extension's Cargo.toml.
//!
//! - `schemaVersion`, `phase`, `priority`, `module`: the root `manifest.yaml`.
//! - `name`, `description`, `version`: the extension's `[package]`.
//! - `phase`, `priority` may be overridden per extension in its Cargo.toml:
//!   `[package.metadata.extension]` `phase = "PreAuthZ"`, `priority = 10`.
//!
//! The extension's kind (`kind = "http" | "tcp" | "service"` there, HTTP by default) says where Envoy runs the module:
//! Maistra's manifest has no field for it, so it stays in Cargo.toml, where `run`, `deploy` and `check` read it.

pub(crate) mod validate;

use std::{fs, path::Path};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::maistra::Phase;
use crate::{
    flags,
    workspace::{self, Extension},
};

/// The file name the image's module has, and the only one Istio's WasmPlugin finds.
pub(crate) use workspace_layout::MODULE_FILE;

/// One extension's `manifest.yaml`, fields in Maistra's documented order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Manifest {
    pub(crate) schema_version: u32,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) version: String,
    pub(crate) phase: Phase,
    pub(crate) priority: i64,
    pub(crate) module: String,
}

/// The workspace defaults (root `manifest.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Defaults {
    pub(crate) phase: Phase,
    pub(crate) priority: i64,
    pub(crate) module: String,
}

/// An extension's own `[package.metadata.extension]` values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Overrides {
    pub(crate) phase: Option<Phase>,
    pub(crate) priority: Option<i64>,
    pub(crate) kind: Option<Kind>,
}

/// Which kind of proxy-wasm plugin an extension is, so where Envoy runs it (`[package.metadata.extension] kind`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An HTTP filter (`envoy.filters.http.wasm`).
    #[default]
    Http,
    /// A network filter (`envoy.filters.network.wasm`), in front of a TCP proxy.
    Tcp,
    /// A Wasm service (the bootstrap extension `envoy.bootstrap.wasm`): no traffic, a singleton VM.
    Service,
}

impl Kind {
    pub(crate) const NAMES: [&'static str; 3] = ["http", "tcp", "service"];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Tcp => "tcp",
            Kind::Service => "service",
        }
    }

    /// `--kind` on the command line.
    pub(crate) fn parse(name: &str) -> Result<Kind, String> {
        Kind::named(name).ok_or_else(|| {
            format!(
                "`{name}` is not a kind of plugin: give one of {}",
                Kind::NAMES.join(", ")
            )
        })
    }

    pub(crate) fn named(name: &str) -> Option<Kind> {
        Some(match name {
            "http" => Kind::Http,
            "tcp" => Kind::Tcp,
            "service" => Kind::Service,
            _ => return None,
        })
    }
}

/// The kind `extension` declares in its Cargo.toml (HTTP unless it says otherwise).
pub(crate) fn kind_of(extension: &Extension) -> anyhow::Result<Kind> {
    let cargo_toml = relative_to_root(&extension.dir.join("Cargo.toml"));
    Ok(validate::overrides(&cargo_toml, &extension.metadata)?
        .kind
        .unwrap_or_default())
}

impl flags::Manifest {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let extensions = workspace::extensions(&self.package)?;
        if self.check {
            return check(&extensions);
        }
        for (extension, _) in write(&extensions)? {
            println!(
                "{}: {}",
                extension.name,
                crate::report::relative_to_cwd(&extension.manifest_path()).display()
            );
        }
        Ok(())
    }
}

/// Writes every extension's `manifest.yaml`, after validating everything first (so a bad
/// override writes none of them); returns each extension with its rendered text.
pub(crate) fn write(extensions: &[Extension]) -> anyhow::Result<Vec<(Extension, String)>> {
    let defaults = load_defaults()?;
    let rendered = extensions
        .iter()
        .map(|ext| Ok((ext.clone(), render(&manifest_for(ext, &defaults)?)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (extension, text) in &rendered {
        workspace::write_atomic(&extension.manifest_path(), text.as_bytes())?;
    }
    Ok(rendered)
}

/// Reads and validates the root `manifest.yaml`.
pub(crate) fn load_defaults() -> anyhow::Result<Defaults> {
    let path = workspace::root().join("manifest.yaml");
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (the workspace defaults: schemaVersion, phase, priority, module)",
            path.display()
        )
    })?;
    validate::defaults("manifest.yaml", &text)
}

/// The manifest of `extension`: defaults, then its Cargo.toml package fields and overrides.
pub(crate) fn manifest_for(extension: &Extension, defaults: &Defaults) -> anyhow::Result<Manifest> {
    let cargo_toml = relative_to_root(&extension.dir.join("Cargo.toml"));
    let overrides = validate::overrides(&cargo_toml, &extension.metadata)?;
    if extension.description.trim().is_empty() {
        bail!(
            "{cargo_toml}: `[package] description` is missing; the manifest's `description` comes from it"
        );
    }
    Ok(Manifest {
        schema_version: 1,
        name: extension.name.clone(),
        description: extension.description.clone(),
        version: extension.version.clone(),
        phase: overrides.phase.unwrap_or(defaults.phase),
        priority: overrides.priority.unwrap_or(defaults.priority),
        module: defaults.module.clone(),
    })
}

/// The YAML text of `manifest`, checked to read back as the same manifest.
///
/// Written with serde-saphyr, like `deploy`'s YAML: it quotes `yes`, `on`, `no`… that a YAML 1.1 reader
/// (Maistra's mec uses gopkg.in/yaml.v2) would take for booleans.
pub(crate) fn render(manifest: &Manifest) -> anyhow::Result<String> {
    let body = serde_saphyr::to_string(manifest).context("cannot write manifest YAML")?;
    let text = format!(
        "# Written by `cargo xtask manifest` from manifest.yaml and extensions/{}/Cargo.toml.\n{body}",
        manifest.name
    );
    let back: Manifest =
        serde_norway::from_str(&text).context("the written manifest does not read back")?;
    if &back != manifest {
        bail!("the written manifest reads back differently: {back:?}");
    }
    Ok(text)
}

/// Fails unless every extension's `manifest.yaml` on disk is what `write` would write.
fn check(extensions: &[Extension]) -> anyhow::Result<()> {
    let defaults = load_defaults()?;
    let mut stale = Vec::new();
    for extension in extensions {
        let expected = render(&manifest_for(extension, &defaults)?)?;
        let path = extension.manifest_path();
        match fs::read_to_string(&path) {
            Ok(actual) if actual == expected => {}
            Ok(_) => stale.push(format!("{} is stale", path.display())),
            Err(_) => stale.push(format!("{} is missing", path.display())),
        }
    }
    if !stale.is_empty() {
        bail!("{}; run `cargo xtask manifest`", stale.join("; "));
    }
    Ok(())
}

/// `path` as written relative to the workspace root, for messages that name files.
fn relative_to_root(path: &Path) -> String {
    path.strip_prefix(workspace::root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests;
