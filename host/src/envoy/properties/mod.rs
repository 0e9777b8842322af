//! `proxy_get_property` / `proxy_set_property` as Envoy resolves them. `Context::getProperty` (context.cc) looks the
//! first path segment up with `Context::findValue`: a CEL attribute root (`StreamActivation::FindValue`,
//! evaluator.cc), else a Wasm token (`plugin_name`, `plugin_root_id`, `plugin_vm_id`, `connection_id`), else
//! filter state `wasm.<segment>`; every later segment walks a map key, a message field or a list index. The
//! attributes (expr/context.cc) follow what Envoy holds at the time: request headers while the plugin has them and
//! their access-log copy in `on_log`, nothing of the stream in a root context. `Context::setProperty` stores filter
//! state `wasm.<path as given>`.
//!
//! Messages are modelled for `xds.node` (id, cluster, metadata, locality, user agent), `metadata` and
//! `xds.*_metadata` (`filter_metadata`) and `upstream.locality`: walked field by field, and read whole as their
//! protobuf encoding (the modelled fields only).

mod attributes;
mod given;
mod protobuf;
mod schema;
mod value;

use std::borrow::Cow;
use std::collections::BTreeMap;

pub use given::{Properties, PropertyError};
pub use value::PropertyValue;

use super::{Headers, HostState, HttpStream, Refusal};
use crate::spec::{Status, pairs};
use envoy_targets::Change;
use schema::{Kind, Message};

/// The id of the one downstream connection every stream arrives on (`connection.id`, `connection_id`).
const CONNECTION_ID: u64 = 1;

/// What a path resolved to so far; the next segment walks into it.
enum Found<'a> {
    Value(Cow<'a, PropertyValue>),
    /// A message: its modelled fields as a test set them (`None`: none set).
    Message(Message, Option<&'a BTreeMap<String, PropertyValue>>),
    /// A header map (`None`: Envoy holds none now; it reads as an empty map).
    Headers(Option<&'a Headers>),
    /// An attribute group (`request`, `xds`, …): its keys can be walked, but Envoy's wrapper cannot list them, so
    /// reading it whole is a SerializationFailure.
    Group(Group),
}

#[derive(Debug, Clone, Copy)]
enum Group {
    Request,
    Response,
    Connection,
    Upstream,
    Source,
    Destination,
    Xds,
    FilterState,
}

/// Everything a lookup reads: the plugin, the acting stream (`None` in a root context) and the values the test set.
struct Scope<'a> {
    state: &'a HostState,
    stream: Option<&'a HttpStream>,
    given: &'a Properties,
}

impl HostState {
    /// `Context::getProperty` for the acting context: the value's bytes, or Envoy's status.
    pub(crate) fn property(&self, path: &[u8]) -> Result<Vec<u8>, Status> {
        let stream = self.stream();
        let given = stream
            .and_then(|s| s.properties.as_deref())
            .unwrap_or(&self.settings.properties);
        let scope = Scope {
            state: self,
            stream,
            given,
        };
        if path.is_empty() {
            // No segment: the value stays CEL's null, which `serializeValue` cannot write.
            return Err(Status::SerializationFailure);
        }
        // Segments end at NUL; a trailing NUL adds no empty segment (Envoy's loop stops at the path's end).
        let mut segments = path.strip_suffix(&[0]).unwrap_or(path).split(|&b| b == 0);
        let first = segments.next().unwrap_or_default();
        let mut found = scope.top(first)?;
        for segment in segments {
            let segment = std::str::from_utf8(segment).map_err(|_| Status::NotFound)?;
            found = scope.walk(found, segment)?;
        }
        encode(found)
    }

    /// `Context::setProperty`: filter state `wasm.<path>` (the path as the guest passed it, NUL separators
    /// included) on the acting stream; a root context has no stream info, so NotFound. The host keeps filter state
    /// for the test to read, so it counts against the plugin's byte budget like the other bytes the host holds.
    pub(crate) fn set_property(&mut self, path: &[u8], value: &[u8]) -> Result<(), Refusal> {
        let key = filter_state_key(path);
        let stream = self.stream().ok_or(Status::NotFound)?;
        // A read-only property declared with `declare_property` takes one write per stream.
        let already_set = stream.filter_state.contains_key(&key);
        self.check_property_write(path, already_set)?;
        let stream = self.stream().ok_or(Status::NotFound)?;
        let replaced = stream
            .filter_state
            .get(&key)
            .map(|old| key.len() + old.len());
        self.budget.replace_entry(
            "filter state (set_property)",
            replaced,
            key.len() + value.len(),
        )?;
        let stream = self.stream_mut().ok_or(Status::NotFound)?;
        stream.filter_state.insert(key, value.to_vec());
        Ok(())
    }
}

/// The top-level names Envoy resolved before the `xds` attributes replaced them (`PropertyToken::NODE`,
/// `CLUSTER_NAME`, …), each reading the `xds` attribute of the same name.
const LEGACY_XDS_TOKENS: [&str; 8] = [
    "node",
    "listener_direction",
    "listener_metadata",
    "cluster_name",
    "cluster_metadata",
    "route_name",
    "route_metadata",
    "upstream_host_metadata",
];

fn legacy_xds_token(name: &str) -> Option<&'static str> {
    LEGACY_XDS_TOKENS.into_iter().find(|token| *token == name)
}

/// Envoy's filter-state key for a `set_property` path.
pub(crate) fn filter_state_key(path: &[u8]) -> Vec<u8> {
    let mut key = b"wasm.".to_vec();
    key.extend_from_slice(path);
    key
}

impl<'a> Scope<'a> {
    /// `Context::findValue`: CEL attribute roots, then Wasm tokens, then filter state `wasm.<name>`.
    fn top(&self, name: &[u8]) -> Result<Found<'a>, Status> {
        let text = std::str::from_utf8(name).unwrap_or("");
        let envoy = self.state.settings.envoy;
        if let Some(key) = legacy_xds_token(text)
            && !envoy.has(Change::TopLevelXdsNamesRemoved)
        {
            return self.xds(key);
        }
        let group = match text {
            "xds" if envoy.has(Change::XdsAttributes) => return Ok(Found::Group(Group::Xds)),
            "request" => Some(Group::Request),
            "response" => Some(Group::Response),
            "connection" => Some(Group::Connection),
            "upstream" => Some(Group::Upstream),
            "source" => Some(Group::Source),
            "destination" => Some(Group::Destination),
            "filter_state" => Some(Group::FilterState),
            _ => None,
        };
        let settings = &self.state.settings;
        let string = |s: &str| Ok(Found::Value(Cow::Owned(PropertyValue::String(s.into()))));
        match (text, group, self.stream) {
            (_, Some(group), Some(_)) => Ok(Found::Group(group)),
            // Without stream info the activation has nothing but `xds`.
            (_, Some(_), None) => Err(Status::NotFound),
            ("metadata", _, Some(_)) => Ok(Found::Message(
                Message::Metadata,
                self.given.fields(&["metadata"]),
            )),
            ("plugin_name", ..) => string(&settings.name),
            ("plugin_root_id", ..) => string(&settings.root_id),
            ("plugin_vm_id", ..) => string(&settings.vm_id),
            ("connection_id", _, Some(_)) => Ok(self.connection_id()),
            (_, _, Some(_)) => self.filter_state(&filter_state_key(name)),
            _ => Err(Status::NotFound),
        }
    }

    /// One segment further: a map key, a message field, a header, a list index or an attribute of a group.
    fn walk(&self, found: Found<'a>, segment: &str) -> Result<Found<'a>, Status> {
        match found {
            Found::Value(Cow::Borrowed(value)) => child(value, segment)
                .map(|v| Found::Value(Cow::Borrowed(v)))
                .ok_or(Status::NotFound),
            Found::Value(Cow::Owned(value)) => child(&value, segment)
                .map(|v| Found::Value(Cow::Owned(v.clone())))
                .ok_or(Status::NotFound),
            Found::Message(message, fields) => {
                let kind = message.field(segment).ok_or(Status::NotFound)?;
                let set = fields.and_then(|f| f.get(segment));
                Ok(field(kind, set))
            }
            Found::Headers(headers) => header(headers.ok_or(Status::NotFound)?, segment.as_bytes())
                .map(|v| Found::Value(Cow::Owned(PropertyValue::Bytes(v))))
                .ok_or(Status::NotFound),
            Found::Group(group) => self.attribute(group, segment),
        }
    }

    fn attribute(&self, group: Group, key: &str) -> Result<Found<'a>, Status> {
        if let Group::Xds = group {
            return self.xds(key);
        }
        let stream = self.stream.ok_or(Status::NotFound)?;
        match group {
            Group::Request => self.request(stream, key),
            Group::Response => self.response(stream, key),
            Group::Connection => self.connection(key),
            Group::Upstream => self.upstream(stream, key),
            Group::Source => self.peer("source", key, "10.0.0.2:34567", 34567),
            Group::Destination => self.peer("destination", key, "10.0.0.1:8080", 8080),
            Group::FilterState => self.filter_state(key.as_bytes()),
            Group::Xds => unreachable!("answered above"),
        }
    }

    /// A value the test set for `root.key`, as the kind Envoy keeps there.
    fn given(&self, root: &str, key: &str) -> Option<Found<'a>> {
        let value = self.given.get(&[root, key])?;
        match schema::attribute(root, key) {
            Ok(Kind::Message(message)) => {
                Some(Found::Message(message, self.given.fields(&[root, key])))
            }
            _ => Some(Found::Value(Cow::Borrowed(value))),
        }
    }

    /// Filter state `key`: what the plugin stored with `set_property`, else what the test set.
    fn filter_state(&self, key: &[u8]) -> Result<Found<'a>, Status> {
        if let Some(value) = self.stream.and_then(|s| s.filter_state.get(key)) {
            return Ok(Found::Value(Cow::Owned(PropertyValue::Bytes(
                value.clone(),
            ))));
        }
        let key = std::str::from_utf8(key).map_err(|_| Status::NotFound)?;
        self.given
            .get(&["filter_state", key])
            .map(|v| Found::Value(Cow::Borrowed(v)))
            .ok_or(Status::NotFound)
    }
}

fn owned<'a>(value: PropertyValue) -> Found<'a> {
    Found::Value(Cow::Owned(value))
}

/// A message field: what the test set, else the proto3 default Envoy reads for an unset field.
fn field(kind: Kind, set: Option<&PropertyValue>) -> Found<'_> {
    match (kind, set) {
        (Kind::Message(message), Some(PropertyValue::Map(map))) => {
            Found::Message(message, Some(map))
        }
        (Kind::Message(message), _) => Found::Message(message, None),
        (_, Some(value)) => Found::Value(Cow::Borrowed(value)),
        (Kind::String, None) => owned("".into()),
        (_, None) => owned(PropertyValue::map()),
    }
}

/// A map key or a list index (`CelList` by position).
fn child<'v>(value: &'v PropertyValue, segment: &str) -> Option<&'v PropertyValue> {
    match value {
        PropertyValue::Map(map) => map.get(segment),
        PropertyValue::List(items) => items.get(segment.parse::<usize>().ok()?),
        _ => None,
    }
}

/// `HeadersWrapper` → `getAllOfHeaderAsString`: every value of `name` joined with `,` (`host` is `:authority` in request headers).
fn header(headers: &Headers, name: &[u8]) -> Option<Vec<u8>> {
    let name = String::from_utf8_lossy(name);
    let mut values = headers.all_bytes(&name);
    let mut joined = values.next()?.to_vec();
    for value in values {
        joined.push(b',');
        joined.extend_from_slice(value);
    }
    Some(joined)
}

/// `HeaderMap::byteSize`: names and values.
fn byte_size(headers: &Headers) -> i64 {
    headers.byte_len() as i64
}

/// The value's bytes, as `serializeValue` writes them.
fn encode(found: Found<'_>) -> Result<Vec<u8>, Status> {
    match found {
        Found::Value(value) => value.encode(),
        Found::Message(message, fields) => Ok(protobuf::message(message, fields)),
        Found::Headers(headers) => {
            let mut entries: Vec<(&[u8], Vec<u8>)> = Vec::new();
            for (name, _) in headers.iter().flat_map(|h| h.pairs()) {
                if !entries.iter().any(|(n, _)| *n == name) {
                    let joined = headers.and_then(|h| header(h, name)).unwrap_or_default();
                    entries.push((name, joined));
                }
            }
            Ok(pairs::serialize(entries))
        }
        Found::Group(_) => Err(Status::SerializationFailure),
    }
}

/// `Grpc::Utility::httpToGrpcStatus`.
fn http_to_grpc(code: i64) -> i64 {
    match code {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => 14,
        _ => 2,
    }
}
