//! Stats tag rules an extension declares (`[package.metadata.extension] stats-tags`), written next to the plugin's
//! resource as the proxy configuration that applies them. Envoy exports a plugin's metric under the name the
//! plugin defines, prefixed `wasmcustom.`; only its `stats_config.stats_tags` turn parts of a name into Prometheus
//! labels, and those are bootstrap configuration, which no plugin resource carries.

use anyhow::bail;
use serde::Serialize;
use serde_json::Value;

use super::Inputs;
use crate::{mesh::Resource, workspace::Extension};

/// One `envoy.config.metrics.v3.TagSpecifier`: a stat whose name the regex matches gets label `tag_name`, valued
/// by the regex's second group (its first group is cut from the name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct StatsTag {
    pub(crate) tag_name: String,
    pub(crate) regex: String,
}

/// The extension's rules; none when it declares none.
pub(crate) fn of(extension: &Extension) -> anyhow::Result<Vec<StatsTag>> {
    let file = extension.dir.join("Cargo.toml");
    let field = "`[package.metadata.extension] stats-tags`";
    let example = r#"stats-tags = [{ name = "route", regex = '^wasmcustom\.my_plugin(\.route\.([^.]+))\.' }]"#;
    let Some(value) = extension.metadata.get("stats-tags") else {
        return Ok(Vec::new());
    };
    let Value::Array(rules) = value else {
        bail!(
            "{}: {field} must be a list of {{ name, regex }} tables, e.g. {example}",
            file.display()
        );
    };
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let text = |key: &str| rule.get(key).and_then(Value::as_str).unwrap_or_default();
            let (name, regex) = (text("name"), text("regex"));
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                bail!(
                    "{}: {field} entry {i}: `name` must be a Prometheus label name in lowercase letters and `_`, \
                     found {}; e.g. {example}",
                    file.display(),
                    rule.get("name").map_or("nothing".to_owned(), Value::to_string)
                );
            }
            if !regex.contains('(') {
                bail!(
                    "{}: {field} entry {i} ({name}): `regex` needs a group around the part Envoy cuts from the \
                     name (and a second around the label's value); e.g. {example}",
                    file.display()
                );
            }
            Ok(StatsTag {
                tag_name: name.to_owned(),
                regex: regex.to_owned(),
            })
        })
        .collect()
}

#[derive(Serialize)]
struct StatsConfig<'a> {
    stats_config: StatsTags<'a>,
}

#[derive(Serialize)]
struct StatsTags<'a> {
    stats_tags: &'a [StatsTag],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigMap {
    api_version: &'static str,
    kind: &'static str,
    metadata: super::resources::Metadata,
    data: std::collections::BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvoyProxy {
    api_version: &'static str,
    kind: &'static str,
    metadata: super::resources::Metadata,
    spec: EnvoyProxySpec,
}

#[derive(Serialize)]
struct EnvoyProxySpec {
    bootstrap: Bootstrap,
}

#[derive(Serialize)]
struct Bootstrap {
    r#type: &'static str,
    value: String,
}

/// The documents, after a `---`, that make the target's proxies apply the rules.
pub(crate) fn documents(resource: Resource, inputs: &Inputs) -> anyhow::Result<String> {
    let tags = &inputs.stats_tags;
    let stats_config = StatsConfig {
        stats_config: StatsTags { stats_tags: tags },
    };
    let metadata = || super::resources::Metadata {
        name: format!("{}-stats-tags", inputs.name),
        namespace: inputs.namespace.clone(),
    };
    let labels = tags
        .iter()
        .map(|t| t.tag_name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(match resource {
        Resource::EnvoyFilter => format!(
            "---\n# Envoy: merge into the bootstrap, so that /stats/prometheus shows the plugin's metrics with the \
             labels {labels}.\n{}",
            serde_saphyr::to_string(&stats_config)?
        ),
        Resource::EnvoyExtensionPolicy => format!(
            "---\n# Envoy Gateway: the proxies' bootstrap, merged, so that the plugin's metrics carry the labels \
             {labels}.\n# Reference it from the GatewayClass or Gateway (`parametersRef` / \
             `infrastructure.parametersRef`).\n{}",
            serde_saphyr::to_string(&EnvoyProxy {
                api_version: "gateway.envoyproxy.io/v1alpha1",
                kind: "EnvoyProxy",
                metadata: metadata(),
                spec: EnvoyProxySpec {
                    bootstrap: Bootstrap {
                        r#type: "Merge",
                        value: serde_saphyr::to_string(&stats_config)?,
                    },
                },
            })?
        ),
        _ => {
            // Istio merges a ConfigMap's custom_bootstrap.json into the sidecar's bootstrap (repeated fields are
            // appended to Istio's own stats_tags), and its stats matcher must let the metrics through.
            let inclusion: Vec<String> = tags.iter().map(|t| format!("{}.*", t.regex)).collect();
            let proxy_config =
                serde_json::json!({"proxyStatsMatcher": {"inclusionRegexps": inclusion}});
            let mut data = std::collections::BTreeMap::new();
            data.insert(
                "custom_bootstrap.json",
                serde_json::to_string(&stats_config)?,
            );
            format!(
                "---\n# Istio: the stats tag rules that give the plugin's metrics the labels {labels}, as a bootstrap \
                 override.\n# Create it in each workload's namespace and annotate the workloads' pod template:\n\
                 #   sidecar.istio.io/bootstrapOverride: {}-stats-tags\n\
                 #   proxy.istio.io/config: '{}'\n{}",
                inputs.name,
                proxy_config,
                serde_saphyr::to_string(&ConfigMap {
                    api_version: "v1",
                    kind: "ConfigMap",
                    metadata: metadata(),
                    data,
                })?
            )
        }
    })
}
