//! A typed attribute value and its wire form, as Envoy's `serializeValue` (context.cc) writes a CEL value: strings
//! and bytes raw, int64/uint64/double 8 bytes little-endian, bool 1 byte, durations and timestamps as int64
//! nanoseconds, maps in the pairs format, lists as pairs whose keys are the items.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::spec::{Status, pairs};

/// A property value a test gives the plugin to read (`get_property`), typed as Envoy types it.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    String(String),
    Bytes(Vec<u8>),
    Int(i64),
    Uint(u64),
    Double(f64),
    Bool(bool),
    Duration(Duration),
    /// A point in time; read as nanoseconds since the Unix epoch.
    Timestamp(SystemTime),
    /// A map (a CEL map, or a `google.protobuf.Struct`); walked key by key, read whole in the pairs format.
    Map(BTreeMap<String, PropertyValue>),
    List(Vec<PropertyValue>),
    /// A JSON `null` in metadata: Envoy cannot serialize it (SerializationFailure).
    Null,
}

impl PropertyValue {
    /// An empty map, to build nested values with [`PropertyValue::with`].
    pub fn map() -> PropertyValue {
        PropertyValue::Map(BTreeMap::new())
    }

    /// This map with `key` set to `value` (a value that is not a map becomes one).
    pub fn with(self, key: &str, value: impl Into<PropertyValue>) -> PropertyValue {
        let mut map = match self {
            PropertyValue::Map(map) => map,
            _ => BTreeMap::new(),
        };
        map.insert(key.to_string(), value.into());
        PropertyValue::Map(map)
    }

    /// The type's name in messages (`int`, `string`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            PropertyValue::String(_) => "string",
            PropertyValue::Bytes(_) => "bytes",
            PropertyValue::Int(_) => "int",
            PropertyValue::Uint(_) => "uint",
            PropertyValue::Double(_) => "double",
            PropertyValue::Bool(_) => "bool",
            PropertyValue::Duration(_) => "duration",
            PropertyValue::Timestamp(_) => "timestamp",
            PropertyValue::Map(_) => "map",
            PropertyValue::List(_) => "list",
            PropertyValue::Null => "null",
        }
    }

    /// The bytes `proxy_get_property` returns; `Err` where Envoy's `serializeValue` fails.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, Status> {
        Ok(match self {
            PropertyValue::String(s) => s.as_bytes().to_vec(),
            PropertyValue::Bytes(b) => b.clone(),
            PropertyValue::Int(i) => i.to_le_bytes().to_vec(),
            PropertyValue::Uint(u) => u.to_le_bytes().to_vec(),
            PropertyValue::Double(d) => d.to_le_bytes().to_vec(),
            PropertyValue::Bool(b) => vec![u8::from(*b)],
            PropertyValue::Duration(d) => nanos(d.as_nanos()).to_le_bytes().to_vec(),
            PropertyValue::Timestamp(t) => unix_nanos(*t).to_le_bytes().to_vec(),
            PropertyValue::Map(map) => {
                let mut entries = Vec::with_capacity(map.len());
                for (key, value) in map {
                    entries.push((key.as_bytes().to_vec(), value.encode()?));
                }
                pairs::serialize(entries)
            }
            PropertyValue::List(items) => {
                let mut entries = Vec::with_capacity(items.len());
                for item in items {
                    entries.push((item.encode()?, Vec::new()));
                }
                pairs::serialize(entries)
            }
            PropertyValue::Null => return Err(Status::SerializationFailure),
        })
    }
}

/// Nanoseconds as CEL keeps them (int64), saturating.
fn nanos(n: u128) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Nanoseconds since the Unix epoch, negative before it (absl `ToUnixNanos`).
pub(crate) fn unix_nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => nanos(after.as_nanos()),
        Err(before) => -nanos(before.duration().as_nanos()),
    }
}

impl fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyValue::String(s) => write!(f, "{s:?}"),
            PropertyValue::Bytes(b) => write!(f, "bytes {b:?}"),
            PropertyValue::Int(i) => write!(f, "int {i}"),
            PropertyValue::Uint(u) => write!(f, "uint {u}"),
            PropertyValue::Double(d) => write!(f, "double {d}"),
            PropertyValue::Bool(b) => write!(f, "bool {b}"),
            PropertyValue::Duration(d) => write!(f, "duration {d:?}"),
            PropertyValue::Timestamp(t) => write!(f, "timestamp {} ns", unix_nanos(*t)),
            PropertyValue::Map(m) => write!(f, "map of {} entries", m.len()),
            PropertyValue::List(l) => write!(f, "list of {} items", l.len()),
            PropertyValue::Null => write!(f, "null"),
        }
    }
}

impl From<&str> for PropertyValue {
    fn from(v: &str) -> Self {
        PropertyValue::String(v.to_string())
    }
}

impl From<String> for PropertyValue {
    fn from(v: String) -> Self {
        PropertyValue::String(v)
    }
}

impl From<&String> for PropertyValue {
    fn from(v: &String) -> Self {
        PropertyValue::String(v.clone())
    }
}

impl From<&[u8]> for PropertyValue {
    fn from(v: &[u8]) -> Self {
        PropertyValue::Bytes(v.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for PropertyValue {
    fn from(v: &[u8; N]) -> Self {
        PropertyValue::Bytes(v.to_vec())
    }
}

impl From<Vec<u8>> for PropertyValue {
    fn from(v: Vec<u8>) -> Self {
        PropertyValue::Bytes(v)
    }
}

impl From<i64> for PropertyValue {
    fn from(v: i64) -> Self {
        PropertyValue::Int(v)
    }
}

impl From<i32> for PropertyValue {
    fn from(v: i32) -> Self {
        PropertyValue::Int(v.into())
    }
}

impl From<u64> for PropertyValue {
    fn from(v: u64) -> Self {
        PropertyValue::Uint(v)
    }
}

impl From<u32> for PropertyValue {
    fn from(v: u32) -> Self {
        PropertyValue::Uint(v.into())
    }
}

impl From<f64> for PropertyValue {
    fn from(v: f64) -> Self {
        PropertyValue::Double(v)
    }
}

impl From<bool> for PropertyValue {
    fn from(v: bool) -> Self {
        PropertyValue::Bool(v)
    }
}

impl From<Duration> for PropertyValue {
    fn from(v: Duration) -> Self {
        PropertyValue::Duration(v)
    }
}

impl From<SystemTime> for PropertyValue {
    fn from(v: SystemTime) -> Self {
        PropertyValue::Timestamp(v)
    }
}

impl From<BTreeMap<String, PropertyValue>> for PropertyValue {
    fn from(v: BTreeMap<String, PropertyValue>) -> Self {
        PropertyValue::Map(v)
    }
}

impl From<Vec<PropertyValue>> for PropertyValue {
    fn from(v: Vec<PropertyValue>) -> Self {
        PropertyValue::List(v)
    }
}
