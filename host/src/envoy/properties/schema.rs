//! What Envoy keeps where in its attribute tree (expr/context.h, the Envoy protos), for the values a test sets:
//! each attribute's type, the message fields the host models, and `google.protobuf.Struct` for metadata. A value
//! of the wrong type is refused with the path and the type Envoy has there, so a test cannot read a type Envoy
//! would never return.

use std::collections::BTreeMap;

use super::PropertyValue;

/// The type Envoy keeps at a place in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Int,
    Uint,
    Bool,
    Duration,
    /// Filter state: whatever the filter that wrote it stored.
    Any,
    /// `google.protobuf.Struct` (node and filter metadata): a map of JSON-like values.
    Struct,
    /// A value inside a Struct: null, number (always a double), string, bool, list or Struct.
    StructValue,
    /// `map<string, google.protobuf.Struct>` (`Metadata.filter_metadata`).
    StructMap,
    Message(Message),
}

/// The protobuf messages the host models, with the fields a plugin reads most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message {
    /// `envoy.config.core.v3.Node` (`xds.node`).
    Node,
    /// `envoy.config.core.v3.Locality`.
    Locality,
    /// `envoy.config.core.v3.Metadata` (`metadata`, `xds.*_metadata`).
    Metadata,
}

/// A modelled field: name, type, protobuf field number.
pub(crate) type Field = (&'static str, Kind, u32);

impl Message {
    /// The fields modelled; Envoy's other fields (`Node.extensions`, `client_features`, …,
    /// `Metadata.typed_filter_metadata`) read as NotFound here.
    pub(crate) fn fields(self) -> &'static [Field] {
        match self {
            Message::Node => &[
                ("id", Kind::String, 1),
                ("cluster", Kind::String, 2),
                ("metadata", Kind::Struct, 3),
                ("locality", Kind::Message(Message::Locality), 4),
                ("user_agent_name", Kind::String, 6),
                ("user_agent_version", Kind::String, 7),
            ],
            Message::Locality => &[
                ("region", Kind::String, 1),
                ("zone", Kind::String, 2),
                ("sub_zone", Kind::String, 3),
            ],
            Message::Metadata => &[("filter_metadata", Kind::StructMap, 1)],
        }
    }

    pub(crate) fn field(self, name: &str) -> Option<Kind> {
        self.fields()
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, kind, _)| *kind)
    }

    fn name(self) -> &'static str {
        match self {
            Message::Node => "envoy.config.core.v3.Node",
            Message::Locality => "envoy.config.core.v3.Locality",
            Message::Metadata => "envoy.config.core.v3.Metadata",
        }
    }
}

/// TLS attributes of `connection` and `upstream` (present only on TLS connections).
const TLS: &[&str] = &[
    "tls_version",
    "subject_local_certificate",
    "subject_peer_certificate",
    "uri_san_local_certificate",
    "uri_san_peer_certificate",
    "dns_san_local_certificate",
    "dns_san_peer_certificate",
    "sha256_peer_certificate_digest",
];

/// The type of attribute `root.key` a test may set; `Err` says why it cannot be set and what to do instead.
pub(crate) fn attribute(root: &str, key: &str) -> Result<Kind, String> {
    let kind = match (root, key) {
        ("source" | "destination", "address") => Kind::String,
        ("source" | "destination", "port") => Kind::Int,
        ("connection", "mtls") => Kind::Bool,
        ("connection", "id") => Kind::Uint,
        (
            "connection",
            "requested_server_name" | "termination_details" | "transport_failure_reason",
        ) => Kind::String,
        ("upstream", "address" | "local_address" | "transport_failure_reason") => Kind::String,
        ("upstream", "port") => Kind::Int,
        ("upstream", "request_attempt_count" | "num_endpoints") => Kind::Uint,
        ("upstream", "cx_pool_ready_duration") => Kind::Duration,
        ("upstream", "locality") => Kind::Message(Message::Locality),
        ("connection" | "upstream", key) if TLS.contains(&key) => Kind::String,
        ("xds", "node") => Kind::Message(Message::Node),
        ("xds", "cluster_name" | "route_name" | "virtual_host_name" | "filter_chain_name") => {
            Kind::String
        }
        (
            "xds",
            "cluster_metadata"
            | "route_metadata"
            | "virtual_host_metadata"
            | "upstream_host_metadata"
            | "upstream_host_locality_metadata"
            | "listener_metadata",
        ) => Kind::Message(Message::Metadata),
        ("xds", "listener_direction") => Kind::Int,
        ("request", "protocol") => Kind::String,
        ("filter_state", _) => Kind::Any,
        ("request" | "response", key) => return Err(derived(root, key)),
        _ => return Err(format!("`{root}.{key}` is not an attribute Envoy has")),
    };
    Ok(kind)
}

/// Why a request/response attribute cannot be set: Envoy derives it from the stream.
fn derived(root: &str, key: &str) -> String {
    let header = match (root, key) {
        ("request", "path" | "url_path" | "query") => Some(":path"),
        ("request", "host") => Some(":authority"),
        ("request", "scheme") => Some(":scheme"),
        ("request", "method") => Some(":method"),
        ("request", "referer") => Some("referer"),
        ("request", "useragent") => Some("user-agent"),
        ("request", "id") => Some("x-request-id"),
        ("response", "code") => Some(":status"),
        _ => None,
    };
    match header {
        Some(header) => format!(
            "`{root}.{key}` comes from the {root} header `{header}`: send that header with the stream instead"
        ),
        None => format!(
            "`{root}.{key}` is what Envoy derives from the stream (headers, body sizes, times, the reply): drive \
             the stream to get it; only `request.protocol` can be set"
        ),
    }
}

/// Descends one segment from `kind`; `Err` names the place that has no such field.
pub(crate) fn child(kind: Kind, segment: &str, at: &str) -> Result<Kind, String> {
    match kind {
        Kind::Message(message) => message.field(segment).ok_or_else(|| {
            let fields: Vec<&str> = message.fields().iter().map(|(n, _, _)| *n).collect();
            format!(
                "`{at}` is an {} message; the host models its fields {}, not `{segment}`",
                message.name(),
                fields.join(", ")
            )
        }),
        Kind::Struct | Kind::StructValue => Ok(Kind::StructValue),
        Kind::StructMap => Ok(Kind::Struct),
        _ => Err(format!(
            "`{at}` holds a single value ({kind:?}): it has no field `{segment}`"
        )),
    }
}

/// The value as Envoy would hold it at `kind` (integers become doubles inside a Struct, as JSON numbers do);
/// `Err` names the place and the type Envoy has there.
pub(crate) fn conform(kind: Kind, value: PropertyValue, at: &str) -> Result<PropertyValue, String> {
    let wrong = |value: &PropertyValue, expected: &str| {
        Err(format!(
            "`{at}` is {expected} in Envoy, not {} ({value})",
            value.type_name()
        ))
    };
    match (kind, value) {
        (Kind::Any, value) => Ok(value),
        (Kind::String, v @ PropertyValue::String(_)) => Ok(v),
        (Kind::Bool, v @ PropertyValue::Bool(_)) => Ok(v),
        (Kind::Duration, v @ PropertyValue::Duration(_)) => Ok(v),
        (Kind::Int, v @ PropertyValue::Int(_)) => Ok(v),
        (Kind::Int, PropertyValue::Uint(u)) if i64::try_from(u).is_ok() => {
            Ok(PropertyValue::Int(u as i64))
        }
        (Kind::Uint, v @ PropertyValue::Uint(_)) => Ok(v),
        (Kind::Uint, PropertyValue::Int(i)) if i >= 0 => Ok(PropertyValue::Uint(i as u64)),
        (Kind::StructValue, value) => struct_value(value, at),
        (Kind::Struct, PropertyValue::Map(map)) => {
            conform_entries(map, at, |_| Ok(Kind::StructValue))
        }
        (Kind::StructMap, PropertyValue::Map(map)) => {
            conform_entries(map, at, |_| Ok(Kind::Struct))
        }
        (Kind::Message(message), PropertyValue::Map(map)) => {
            conform_entries(map, at, |key| child(Kind::Message(message), key, at))
        }
        (Kind::String, v) => wrong(&v, "a string"),
        (Kind::Bool, v) => wrong(&v, "a bool"),
        (Kind::Duration, v) => wrong(&v, "a duration"),
        (Kind::Int, v) => wrong(&v, "an int (int64)"),
        (Kind::Uint, v) => wrong(&v, "a uint (uint64)"),
        (Kind::Struct, v) => wrong(&v, "a google.protobuf.Struct (a map)"),
        (Kind::StructMap, v) => wrong(&v, "a map of google.protobuf.Struct"),
        (Kind::Message(message), v) => wrong(&v, &format!("an {} message (a map)", message.name())),
    }
}

fn conform_entries(
    map: BTreeMap<String, PropertyValue>,
    at: &str,
    kind_of: impl Fn(&str) -> Result<Kind, String>,
) -> Result<PropertyValue, String> {
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let kind = kind_of(&key)?;
        let value = conform(kind, value, &format!("{at}.{key}"))?;
        out.insert(key, value);
    }
    Ok(PropertyValue::Map(out))
}

/// A `google.protobuf.Value`: JSON's types only, numbers as doubles.
fn struct_value(value: PropertyValue, at: &str) -> Result<PropertyValue, String> {
    match value {
        PropertyValue::Int(i) => Ok(PropertyValue::Double(i as f64)),
        PropertyValue::Uint(u) => Ok(PropertyValue::Double(u as f64)),
        v @ (PropertyValue::String(_)
        | PropertyValue::Double(_)
        | PropertyValue::Bool(_)
        | PropertyValue::Null) => Ok(v),
        PropertyValue::Map(map) => conform_entries(map, at, |_| Ok(Kind::StructValue)),
        PropertyValue::List(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| struct_value(item, &format!("{at}.{i}")))
            .collect::<Result<Vec<_>, _>>()
            .map(PropertyValue::List),
        v => Err(format!(
            "`{at}` is inside a google.protobuf.Struct, which holds only strings, numbers (doubles), bools, \
             null, lists and maps, not {} ({v})",
            v.type_name()
        )),
    }
}
