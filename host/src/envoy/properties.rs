//! `proxy_get_property` / `proxy_set_property`: Envoy's attributes for the acting stream, with defaults a test can
//! override. Values are serialized like Envoy's `serializeValue`: strings raw, integers 8 bytes little-endian,
//! booleans one byte, maps in the pairs format.

use super::{Dir, Headers, HostState, HttpStream};
use crate::abi::pairs;

/// A property value in its wire form; built from `&str`, `String`, integers, `bool` or raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyValue(pub Vec<u8>);

impl From<&str> for PropertyValue {
    fn from(v: &str) -> Self {
        PropertyValue(v.as_bytes().to_vec())
    }
}

impl From<String> for PropertyValue {
    fn from(v: String) -> Self {
        PropertyValue(v.into_bytes())
    }
}

impl From<&[u8]> for PropertyValue {
    fn from(v: &[u8]) -> Self {
        PropertyValue(v.to_vec())
    }
}

impl From<Vec<u8>> for PropertyValue {
    fn from(v: Vec<u8>) -> Self {
        PropertyValue(v)
    }
}

impl From<i64> for PropertyValue {
    fn from(v: i64) -> Self {
        PropertyValue(v.to_le_bytes().to_vec())
    }
}

impl From<u64> for PropertyValue {
    fn from(v: u64) -> Self {
        PropertyValue(v.to_le_bytes().to_vec())
    }
}

impl From<bool> for PropertyValue {
    fn from(v: bool) -> Self {
        PropertyValue(vec![v as u8])
    }
}

/// The NUL-joined key under which a path is stored (the SDK's own path encoding).
pub(crate) fn path_key(path: &[&str]) -> Vec<u8> {
    path.join("\0").into_bytes()
}

impl HostState {
    /// Resolves a property for the acting context: what the plugin set, what the test set, then Envoy's attributes.
    pub(crate) fn property(&self, path: &[u8]) -> Option<Vec<u8>> {
        let stream = self.stream();
        if let Some(stream) = stream {
            // A `proxy_set_property` value is found under its own name, like Envoy's `wasm.<name>` filter state.
            if let Some(v) = stream
                .filter_state
                .get(path)
                .or_else(|| stream.properties.get(path))
            {
                return Some(v.clone());
            }
        }
        if let Some(v) = self.settings.properties.get(path) {
            return Some(v.clone());
        }
        let segments: Vec<&str> = std::str::from_utf8(path).ok()?.split('\0').collect();
        self.builtin(&segments, stream)
    }

    fn builtin(&self, path: &[&str], stream: Option<&HttpStream>) -> Option<Vec<u8>> {
        let s = |v: &str| Some(v.as_bytes().to_vec());
        match path {
            ["plugin_name"] => s(&self.settings.name),
            ["plugin_root_id"] => s(&self.settings.root_id),
            ["plugin_vm_id"] => s(&self.settings.vm_id),
            ["source", "address"] => s("10.0.0.2:34567"),
            ["source", "port"] => Some(34567i64.to_le_bytes().to_vec()),
            ["destination", "address"] => s("10.0.0.1:8080"),
            ["destination", "port"] => Some(8080i64.to_le_bytes().to_vec()),
            ["connection", "mtls"] => Some(vec![0]),
            ["connection", "id"] | ["connection_id"] => Some(1u64.to_le_bytes().to_vec()),
            ["request", rest @ ..] => {
                request(stream?, rest, self.settings.start_time.as_nanos() as i64)
            }
            ["response", rest @ ..] => response(stream?, rest),
            _ => None,
        }
    }
}

fn request(stream: &HttpStream, path: &[&str], start: i64) -> Option<Vec<u8>> {
    let headers = stream.side(Dir::Request).headers.as_ref()?;
    let h = |name: &str| headers.get(name).map(|v| v.as_bytes().to_vec());
    let full_path = headers.get(":path").unwrap_or("");
    match path {
        ["path"] => h(":path"),
        ["url_path"] => Some(
            full_path
                .split('?')
                .next()
                .unwrap_or("")
                .as_bytes()
                .to_vec(),
        ),
        ["query"] => Some(
            full_path
                .split_once('?')
                .map_or("", |(_, q)| q)
                .as_bytes()
                .to_vec(),
        ),
        ["host"] => h(":authority"),
        ["scheme"] => h(":scheme"),
        ["method"] => h(":method"),
        ["referer"] => h("referer"),
        ["useragent"] => h("user-agent"),
        ["id"] => h("x-request-id"),
        ["protocol"] => Some(b"HTTP/1.1".to_vec()),
        ["time"] => Some(start.to_le_bytes().to_vec()),
        ["headers"] => Some(serialize(headers)),
        ["headers", name] => h(name),
        _ => None,
    }
}

fn response(stream: &HttpStream, path: &[&str]) -> Option<Vec<u8>> {
    let side = stream.side(Dir::Response);
    let headers = side.forwarded.headers.as_ref().or(side.headers.as_ref());
    match path {
        ["code"] => {
            let code: i64 = headers?.get(":status")?.parse().ok()?;
            Some(code.to_le_bytes().to_vec())
        }
        ["code_details"] => Some(
            stream
                .local_reply
                .as_ref()
                .map_or("via_upstream".to_string(), |r| r.details.clone())
                .into_bytes(),
        ),
        ["headers"] => Some(serialize(headers?)),
        ["headers", name] => headers?.get(name).map(|v| v.as_bytes().to_vec()),
        ["trailers"] => Some(serialize(side.trailers.as_ref()?)),
        ["grpc_status"] => {
            let code: i64 = side
                .trailers
                .as_ref()
                .or(headers)?
                .get("grpc-status")?
                .parse()
                .ok()?;
            Some(code.to_le_bytes().to_vec())
        }
        ["size"] => Some((side.forwarded.body.len() as i64).to_le_bytes().to_vec()),
        _ => None,
    }
}

fn serialize(headers: &Headers) -> Vec<u8> {
    pairs::serialize(headers.pairs())
}
