//! Field-by-field validation of the root `manifest.yaml` and of `[package.metadata.extension]`.
//! Every error names the file and the field, says what is allowed and, for a typo, what was meant.

use std::path::{Component, Path};

use anyhow::bail;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;

use super::{Defaults, Kind, MODULE_FILE, Overrides};
use crate::maistra::{PHASES, Phase, nearest};

/// Keys of the root `manifest.yaml`.
const DEFAULT_KEYS: [&str; 4] = ["schemaVersion", "phase", "priority", "module"];

/// Manifest keys that come from each extension's Cargo.toml instead.
const PACKAGE_KEYS: [&str; 3] = ["name", "description", "version"];

/// A field value, whichever format it was read from.
enum Scalar<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Other,
}

/// Parses and validates the root `manifest.yaml` (`file` is its name in messages).
pub(crate) fn defaults(file: &str, text: &str) -> anyhow::Result<Defaults> {
    let value: Yaml = match serde_norway::from_str(text) {
        Ok(value) => value,
        Err(err) => bail!("{file}: not valid YAML: {err}"),
    };
    let mapping = match value {
        Yaml::Mapping(mapping) => mapping,
        Yaml::Null => bail!(
            "{file}: empty; it holds the workspace defaults: {}",
            DEFAULT_KEYS.join(", ")
        ),
        _ => bail!("{file}: expected a mapping of {}", DEFAULT_KEYS.join(", ")),
    };
    for key in mapping.keys() {
        let Some(key) = key.as_str() else {
            bail!("{file}: keys must be strings, found {key:?}");
        };
        if DEFAULT_KEYS.contains(&key) {
            continue;
        }
        if PACKAGE_KEYS.contains(&key) {
            bail!(
                "{file}: `{key}` comes from each extension's Cargo.toml (`[package] {key}`); remove it here"
            );
        }
        let hint = nearest(key, &DEFAULT_KEYS)
            .map(|k| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default();
        bail!(
            "{file}: unknown field `{key}`{hint}; the fields are {}",
            DEFAULT_KEYS.join(", ")
        );
    }
    let field = |key: &str| {
        mapping.get(key).map(yaml_scalar).ok_or_else(|| {
            anyhow::anyhow!(
                "{file}: `{key}` is missing; add it (the fields are {})",
                DEFAULT_KEYS.join(", ")
            )
        })
    };
    schema_version(file, field("schemaVersion")?)?;
    Ok(Defaults {
        phase: phase(file, "phase", field("phase")?)?,
        priority: priority(file, "priority", field("priority")?)?,
        module: module(file, field("module")?)?,
    })
}

/// Validates an extension's `[package.metadata.extension]` (`file` is its Cargo.toml in messages).
/// Keys other than `phase`, `priority` and `kind` belong to other tools and are left alone.
pub(crate) fn overrides(file: &str, metadata: &Json) -> anyhow::Result<Overrides> {
    let table = match metadata {
        Json::Null => return Ok(Overrides::default()),
        Json::Object(table) => table,
        _ => bail!("{file}: `[package.metadata.extension]` must be a table"),
    };
    // Cargo hands the table over as JSON; read it in the YAML data model, like the root file.
    let field = |key: &str| -> anyhow::Result<Option<Yaml>> {
        Ok(table.get(key).map(serde_norway::to_value).transpose()?)
    };
    const PREFIX: &str = "[package.metadata.extension] ";
    Ok(Overrides {
        phase: match field("phase")? {
            Some(value) => Some(phase(file, &format!("{PREFIX}phase"), yaml_scalar(&value))?),
            None => None,
        },
        priority: match field("priority")? {
            Some(value) => Some(priority(
                file,
                &format!("{PREFIX}priority"),
                yaml_scalar(&value),
            )?),
            None => None,
        },
        kind: match field("kind")? {
            Some(value) => Some(kind(file, &format!("{PREFIX}kind"), yaml_scalar(&value))?),
            None => None,
        },
    })
}

fn kind(file: &str, field: &str, value: Scalar) -> anyhow::Result<Kind> {
    let allowed = Kind::NAMES.join(", ");
    match value {
        Scalar::Str(s) => Kind::named(s).ok_or_else(|| {
            let hint = nearest(s, &Kind::NAMES)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            anyhow::anyhow!(
                "{file}: `{field}`: `{s}` is not a kind of plugin{hint}; allowed: {allowed} (an HTTP filter, a \
                 network filter, a Wasm service)"
            )
        }),
        other => bail!(
            "{file}: `{field}` must be one of {allowed}, found {}",
            describe(&other)
        ),
    }
}

fn schema_version(file: &str, value: Scalar) -> anyhow::Result<()> {
    match value {
        Scalar::Int(1) => Ok(()),
        Scalar::Str("1") => Ok(()),
        other => bail!(
            "{file}: `schemaVersion` must be 1 (the only Maistra manifest schema), found {}",
            describe(&other)
        ),
    }
}

fn phase(file: &str, field: &str, value: Scalar) -> anyhow::Result<Phase> {
    let allowed = PHASES.join(" ");
    match value {
        Scalar::Str(s) => s
            .parse::<Phase>()
            .map_err(|e| anyhow::anyhow!("{file}: `{field}`: {e}")),
        other => bail!(
            "{file}: `{field}` must be one of {allowed}, found {}",
            describe(&other)
        ),
    }
}

fn priority(file: &str, field: &str, value: Scalar) -> anyhow::Result<i64> {
    match value {
        Scalar::Int(n) => Ok(n),
        Scalar::Str(s) if s.trim().parse::<i64>().is_ok() => {
            bail!(
                "{file}: `{field}` must be an integer, found the string \"{s}\"; write it without quotes"
            )
        }
        other => bail!(
            "{file}: `{field}` must be an integer (higher runs first), found {}",
            describe(&other)
        ),
    }
}

fn module(file: &str, value: Scalar) -> anyhow::Result<String> {
    let Scalar::Str(path) = value else {
        bail!(
            "{file}: `module` must be a path in the image, `{MODULE_FILE}`, found {}",
            describe(&value)
        );
    };
    let components: Vec<Component> = Path::new(path).components().collect();
    if components
        .iter()
        .any(|c| matches!(c, Component::RootDir | Component::Prefix(_)))
    {
        bail!(
            "{file}: `module` must be relative to the image root (Maistra reads `/` + module), found `{path}`; write `module: {MODULE_FILE}`"
        );
    }
    if components.iter().any(|c| matches!(c, Component::ParentDir)) {
        bail!(
            "{file}: `module` must stay inside the image (no `..`), found `{path}`; write `module: {MODULE_FILE}`"
        );
    }
    let normal: Vec<&Component> = components
        .iter()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if !matches!(normal.as_slice(), [Component::Normal(name)] if *name == MODULE_FILE) {
        bail!(
            "{file}: `module` is `{path}`, but the image holds the module at `{MODULE_FILE}` (the only name Istio's WasmPlugin finds); write `module: {MODULE_FILE}`"
        );
    }
    Ok(path.to_owned())
}

fn yaml_scalar(value: &Yaml) -> Scalar<'_> {
    match value {
        Yaml::String(s) => Scalar::Str(s),
        Yaml::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Scalar::Int(i),
            (None, Some(f)) => Scalar::Float(f),
            _ => Scalar::Other,
        },
        Yaml::Bool(b) => Scalar::Bool(*b),
        Yaml::Null => Scalar::Null,
        _ => Scalar::Other,
    }
}

fn describe(value: &Scalar) -> String {
    match value {
        Scalar::Str(s) => format!("\"{s}\""),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Null => "nothing (null)".to_owned(),
        Scalar::Other => "a list or mapping".to_owned(),
    }
}
