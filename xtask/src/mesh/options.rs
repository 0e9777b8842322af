//! The deploy flags that describe how the mesh runs the plugin, each parsed from its flag value. Which
//! target versions read them is `fields.rs`'s business.

use std::{fmt, str::FromStr};

use anyhow::bail;

/// A workload label `key=value` (`--selector`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Label {
    pub(crate) key: String,
    pub(crate) value: String,
}

impl FromStr for Label {
    type Err = anyhow::Error;

    fn from_str(label: &str) -> anyhow::Result<Label> {
        let Some((key, value)) = label
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, _)| !k.is_empty())
        else {
            bail!("`{label}` is not a label: write it as key=value, e.g. --selector app=httpbin");
        };
        // Only a Kubernetes label can match a pod, and from Istio 1.23 the WasmPlugin CRD refuses the rest: values
        // over 63 characters by its schema, `*` and empty keys by its CEL rules.
        let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
        let prefix_ok = prefix.is_empty() || dns_subdomain(prefix);
        if !prefix_ok || !label_part(name) || !(value.is_empty() || label_part(value)) {
            bail!(
                "`{label}` is not a Kubernetes label: a key of at most 63 letters, digits, `-`, `_` and `.` (with an \
                 optional DNS prefix and `/`) and a value of the same, each starting and ending with a letter or digit"
            );
        }
        Ok(Label {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// A label name or value: 1 to 63 letters, digits, `-`, `_` and `.`, a letter or digit at each end.
fn label_part(text: &str) -> bool {
    (1..=63).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A label key's prefix: a DNS subdomain (lowercase DNS labels joined by `.`, at most 253 characters).
fn dns_subdomain(text: &str) -> bool {
    text.len() <= 253
        && text.split('.').all(|part| {
            label_part(part)
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// `--fail`: what the proxy does when the plugin fails, as the host models it (`fail_open` / `failure_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailPolicy {
    /// Requests bypass a failed plugin.
    Open,
    /// Requests get a 503 while the plugin is failed (every mesh's default).
    Closed,
    /// A VM that failed at run time is replaced by a fresh one for the next request (Envoy 1.33+).
    Reload,
}

impl FromStr for FailPolicy {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<FailPolicy> {
        Ok(match text {
            "open" => FailPolicy::Open,
            "closed" => FailPolicy::Closed,
            "reload" => FailPolicy::Reload,
            other => bail!(
                "`{other}` is not a failure policy: use open (requests bypass a failed plugin), closed (503, the \
                 default) or reload (a fresh VM after a run-time failure)"
            ),
        })
    }
}

impl fmt::Display for FailPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailPolicy::Open => "open",
            FailPolicy::Closed => "closed",
            FailPolicy::Reload => "reload",
        })
    }
}

/// `--pull-policy`: Kubernetes' spelling, as WasmPlugin, TrafficExtension and EnvoyExtensionPolicy take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PullPolicy {
    IfNotPresent,
    Always,
}

impl FromStr for PullPolicy {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<PullPolicy> {
        Ok(match text {
            "IfNotPresent" => PullPolicy::IfNotPresent,
            "Always" => PullPolicy::Always,
            other => bail!("`{other}` is not a pull policy: use IfNotPresent or Always"),
        })
    }
}

impl PullPolicy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Always => "Always",
        }
    }
}

/// `--type`: the filter chain the plugin joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PluginType {
    Http,
    Network,
}

impl FromStr for PluginType {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<PluginType> {
        Ok(match text {
            "http" => PluginType::Http,
            "network" => PluginType::Network,
            other => bail!("`{other}` is not a plugin type: use http or network"),
        })
    }
}

impl PluginType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PluginType::Http => "HTTP",
            PluginType::Network => "NETWORK",
        }
    }
}

/// `--target-ref KIND/NAME`: a Gateway API style policy attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetRef {
    pub(crate) group: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) name: String,
}

/// The kinds a WasmPlugin, TrafficExtension or EnvoyExtensionPolicy may attach to, with their API group.
const KINDS: [(&str, &str); 9] = [
    ("Gateway", "gateway.networking.k8s.io"),
    ("GatewayClass", "gateway.networking.k8s.io"),
    ("HTTPRoute", "gateway.networking.k8s.io"),
    ("GRPCRoute", "gateway.networking.k8s.io"),
    ("TCPRoute", "gateway.networking.k8s.io"),
    ("TLSRoute", "gateway.networking.k8s.io"),
    ("UDPRoute", "gateway.networking.k8s.io"),
    ("Service", ""),
    ("ServiceEntry", "networking.istio.io"),
];

impl FromStr for TargetRef {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<TargetRef> {
        let known = || KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ");
        let Some((kind, name)) = text
            .split_once('/')
            .filter(|(k, n)| !k.is_empty() && !n.is_empty())
        else {
            bail!(
                "`{text}` is not KIND/NAME, e.g. Gateway/bookinfo-gateway (kinds: {})",
                known()
            );
        };
        let Some((kind, group)) = KINDS.iter().find(|(k, _)| *k == kind) else {
            bail!(
                "`{kind}` is not a kind a plugin attaches to; use one of {}",
                known()
            );
        };
        Ok(TargetRef {
            group,
            kind,
            name: name.to_owned(),
        })
    }
}

/// `--env NAME=VALUE` (a value written into the resource) or `--host-env NAME` (copied from the proxy's
/// own environment): the VM's environment variables, which WASI `environ_get` serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvVar {
    Inline { name: String, value: String },
    Host { name: String },
}

impl EnvVar {
    /// `--env NAME=VALUE`.
    pub(crate) fn inline(text: &str) -> anyhow::Result<EnvVar> {
        match text.split_once('=') {
            Some((name, value)) if valid_env_name(name) => Ok(EnvVar::Inline {
                name: name.to_owned(),
                value: value.to_owned(),
            }),
            _ => {
                bail!("`{text}` is not NAME=VALUE with a variable name of letters, digits and `_`")
            }
        }
    }

    /// `--host-env NAME`.
    pub(crate) fn host(text: &str) -> anyhow::Result<EnvVar> {
        if !valid_env_name(text) {
            bail!(
                "`{text}` is not a variable name: letters, digits and `_`, not starting with a digit"
            );
        }
        Ok(EnvVar::Host {
            name: text.to_owned(),
        })
    }
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `--callout-service [NAME=]HOST:PORT`: a service the plugin calls out to. In an Istio mesh its cluster is
/// `outbound|PORT||HOST` (`BuildSubsetKey`), for plain Envoy it is NAME (default HOST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CalloutService {
    pub(crate) name: Option<String>,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl FromStr for CalloutService {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<CalloutService> {
        let (name, address) = match text.split_once('=') {
            Some((name, address)) if !name.is_empty() => (Some(name.to_owned()), address),
            _ => (None, text),
        };
        let parsed = address
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok().filter(|p| *p > 0)?)))
            .filter(|(host, _)| {
                !host.is_empty()
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            });
        let Some((host, port)) = parsed else {
            bail!(
                "`{text}` is not [NAME=]HOST:PORT, e.g. authz.example.com:443 or auth=authz.example.com:443"
            );
        };
        Ok(CalloutService {
            name,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl CalloutService {
    /// The cluster name Istio gives the service's port (`model.BuildSubsetKey`, no subset).
    pub(crate) fn istio_cluster(&self) -> String {
        format!("outbound|{}||{}", self.port, self.host)
    }

    /// The cluster name `deploy` gives it for plain Envoy.
    pub(crate) fn envoy_cluster(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.host.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callout_services_name_their_istio_and_envoy_clusters() {
        let plain: CalloutService = "AuthZ.example.com:443".parse().unwrap();
        assert_eq!(plain.istio_cluster(), "outbound|443||authz.example.com");
        assert_eq!(plain.envoy_cluster(), "authz.example.com");
        let named: CalloutService = "auth=authz:8080".parse().unwrap();
        assert_eq!(named.envoy_cluster(), "auth");
        for bad in ["authz", "authz:0", ":80", "a b:80", "authz:http"] {
            let err = bad.parse::<CalloutService>().unwrap_err().to_string();
            assert!(err.contains("is not [NAME=]HOST:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn target_refs_know_their_groups() {
        let gateway: TargetRef = "Gateway/public".parse().unwrap();
        assert_eq!(
            (gateway.group, gateway.kind, gateway.name.as_str()),
            ("gateway.networking.k8s.io", "Gateway", "public")
        );
        let service: TargetRef = "Service/reviews".parse().unwrap();
        assert_eq!(service.group, "");
        let err = "Deployment/x".parse::<TargetRef>().unwrap_err().to_string();
        assert!(
            err.contains("`Deployment` is not a kind a plugin attaches to"),
            "{err}"
        );
        let err = "Gateway".parse::<TargetRef>().unwrap_err().to_string();
        assert!(err.contains("is not KIND/NAME"), "{err}");
    }

    #[test]
    fn selector_labels_are_kubernetes_labels() {
        let label: Label = "app.kubernetes.io/name=http_bin.v2".parse().unwrap();
        assert_eq!(
            (label.key.as_str(), label.value.as_str()),
            ("app.kubernetes.io/name", "http_bin.v2")
        );
        assert_eq!(
            "tier=".parse::<Label>().unwrap().value,
            "",
            "an empty value matches"
        );
        for bad in [
            "app*=x",
            "app=*",
            "app=a b",
            &format!("app={}", "v".repeat(64)),
            "Bad_Prefix/app=x",
            "-app=x",
        ] {
            let err = bad.parse::<Label>().unwrap_err().to_string();
            assert!(err.contains("is not a Kubernetes label"), "{bad}: {err}");
        }
        let err = "=x".parse::<Label>().unwrap_err().to_string();
        assert!(
            err.contains("is not a label: write it as key=value"),
            "{err}"
        );
    }

    #[test]
    fn env_names_are_checked() {
        assert_eq!(
            EnvVar::inline("REGION=eu-west=1").unwrap(),
            EnvVar::Inline {
                name: "REGION".into(),
                value: "eu-west=1".into()
            }
        );
        assert!(EnvVar::inline("1X=a").is_err());
        assert!(EnvVar::host("POD NAME").is_err());
    }
}
