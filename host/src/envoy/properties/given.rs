//! The attribute values a test gives (`Properties`): checked against Envoy's attribute tree when set, so a value
//! sits only where Envoy has one, with the type Envoy gives it.

use std::collections::BTreeMap;
use std::fmt;

use super::PropertyValue;
use super::schema::{self, Kind, Message};

/// Attribute values for a plugin (every stream sees them) or for one stream, set by path as a plugin reads them:
/// `["xds", "node", "metadata", "REGION"]`, `["metadata", "filter_metadata", "envoy.filters.http.lua", "key"]`,
/// `["source", "address"]`, `["filter_state", "my.filter.key"]`, or a single name `["my_key"]`, which is filter
/// state `wasm.my_key` (what `set_property(["my_key"])` of an earlier Wasm filter leaves).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Properties {
    tree: BTreeMap<String, PropertyValue>,
}

/// A value set at a path Envoy does not have, or with a type Envoy does not give it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyError(pub String);

impl fmt::Display for PropertyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PropertyError {}

/// The attribute roots Envoy's CEL activation has (evaluator.cc `StreamActivation::FindValue`).
const ROOTS: &str =
    "request, response, connection, upstream, source, destination, metadata, filter_state, xds";

impl Properties {
    pub fn new() -> Properties {
        Properties::default()
    }

    /// Sets `path` to `value`, checked against Envoy's attribute tree (integers become doubles inside metadata,
    /// as JSON numbers do in a `google.protobuf.Struct`).
    pub fn set(
        &mut self,
        path: &[&str],
        value: impl Into<PropertyValue>,
    ) -> Result<&mut Properties, PropertyError> {
        let (stored, mut kind) = placement(path).map_err(PropertyError)?;
        let at = path.join(".");
        for i in kind_start(&stored)..stored.len() {
            kind =
                schema::child(kind, &stored[i], &stored[..i].join(".")).map_err(PropertyError)?;
        }
        let value = schema::conform(kind, value.into(), &at).map_err(PropertyError)?;
        insert(&mut self.tree, &stored, value);
        Ok(self)
    }

    /// `xds.node.metadata.<key>` (Istio puts the proxy's labels, mesh id, … there).
    pub fn node_metadata(
        &mut self,
        key: &str,
        value: impl Into<PropertyValue>,
    ) -> Result<&mut Properties, PropertyError> {
        self.set(&["xds", "node", "metadata", key], value)
    }

    /// `metadata.filter_metadata.<filter>.<key>`: dynamic metadata an earlier filter (Lua, ext_authz, jwt_authn, …)
    /// left for this request.
    pub fn filter_metadata(
        &mut self,
        filter: &str,
        key: &str,
        value: impl Into<PropertyValue>,
    ) -> Result<&mut Properties, PropertyError> {
        self.set(&["metadata", "filter_metadata", filter, key], value)
    }

    /// `source.address` and `source.port` from `ip:port` (the downstream peer).
    pub fn source_address(&mut self, address: &str) -> Result<&mut Properties, PropertyError> {
        self.address("source", address)
    }

    /// `destination.address` and `destination.port` from `ip:port` (the listener address the request came to).
    pub fn destination_address(&mut self, address: &str) -> Result<&mut Properties, PropertyError> {
        self.address("destination", address)
    }

    fn address(&mut self, root: &str, address: &str) -> Result<&mut Properties, PropertyError> {
        let port = address
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .ok_or_else(|| {
                PropertyError(format!(
                    "`{address}` is not an address with a port: write `IP:PORT`, e.g. `10.1.2.3:5000` or \
                     `[::1]:8080`"
                ))
            })?;
        self.set(&[root, "address"], address)?;
        self.set(&[root, "port"], i64::from(port))
    }

    /// The value set at `path` (the stored path: a single name is `filter_state` / `wasm.<name>`).
    pub(crate) fn get(&self, path: &[&str]) -> Option<&PropertyValue> {
        let (first, rest) = path.split_first()?;
        let mut value = self.tree.get(*first)?;
        for segment in rest {
            match value {
                PropertyValue::Map(map) => value = map.get(*segment)?,
                _ => return None,
            }
        }
        Some(value)
    }

    /// The fields set under `path`, if it holds a map (a message's fields).
    pub(crate) fn fields(&self, path: &[&str]) -> Option<&BTreeMap<String, PropertyValue>> {
        match self.get(path)? {
            PropertyValue::Map(map) => Some(map),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

/// Where the walk into the attribute's value starts: after `metadata`, after `root.key` otherwise.
fn kind_start(stored: &[String]) -> usize {
    if stored.first().map(String::as_str) == Some("metadata") {
        1
    } else {
        2
    }
}

/// The path as stored and the kind at its attribute: a bare name becomes `filter_state` / `wasm.<name>`.
fn placement(path: &[&str]) -> Result<(Vec<String>, Kind), String> {
    let owned = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let Some((&root, rest)) = path.split_first() else {
        return Err(
            "an empty property path: give at least one segment, e.g. `source.address`".into(),
        );
    };
    match root {
        "plugin_name" | "plugin_root_id" | "plugin_vm_id" => Err(format!(
            "`{root}` comes from the plugin's settings: use PluginBuilder::name / root_id / vm_id (proxy-wasm-run \
             --root-id / --vm-id)"
        )),
        "connection_id" => Err("`connection_id` is `connection.id`: set that instead".into()),
        "metadata" => Ok((owned(path), Kind::Message(Message::Metadata))),
        "request" | "response" | "connection" | "upstream" | "source" | "destination" | "xds"
        | "filter_state" => {
            let Some(&key) = rest.first() else {
                return Err(format!(
                    "`{root}` is a group of attributes: set one of them, e.g. `{}`",
                    example(root)
                ));
            };
            if root == "filter_state" && rest.len() > 1 {
                return Err(format!(
                    "filter state `{key}` is one value: set `filter_state.{key}` itself (a key with dots is one \
                     segment)"
                ));
            }
            Ok((owned(path), schema::attribute(root, key)?))
        }
        _ if rest.is_empty() => Ok((
            vec!["filter_state".to_string(), format!("wasm.{root}")],
            Kind::Any,
        )),
        _ => Err(format!(
            "`{}` does not exist in Envoy: a path starts with an attribute ({ROOTS}) or names one filter state \
             value `wasm.<name>` by a single segment (the node is `xds.node.*`, not `node.*`)",
            path.join(".")
        )),
    }
}

fn example(root: &str) -> &'static str {
    match root {
        "xds" => "xds.node.id",
        "connection" => "connection.mtls",
        "upstream" => "upstream.address",
        "filter_state" => "filter_state.my.filter.key",
        "request" => "request.protocol",
        _ => "source.address",
    }
}

fn insert(tree: &mut BTreeMap<String, PropertyValue>, path: &[String], value: PropertyValue) {
    let (last, parents) = path.split_last().expect("placement gives a non-empty path");
    let mut map = tree;
    for segment in parents {
        let slot = map
            .entry(segment.clone())
            .or_insert_with(PropertyValue::map);
        if !matches!(slot, PropertyValue::Map(_)) {
            *slot = PropertyValue::map();
        }
        let PropertyValue::Map(inner) = slot else {
            unreachable!("made a map above")
        };
        map = inner;
    }
    map.insert(last.clone(), value);
}
