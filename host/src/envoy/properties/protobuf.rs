//! The protobuf wire form of the messages the host models, which Envoy's `serializeValue` returns for a whole
//! message (`xds.node`, `metadata`, `upstream.locality`): the modelled fields only, proto3 defaults omitted, map
//! entries in key order (Envoy's order is unspecified).

use std::collections::BTreeMap;

use super::PropertyValue;
use super::schema::{Kind, Message};

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

/// A message from the fields a test set (`None`: nothing set, the empty message).
pub(crate) fn message(
    message: Message,
    fields: Option<&BTreeMap<String, PropertyValue>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(fields) = fields else {
        return out;
    };
    for &(name, kind, number) in message.fields() {
        let Some(value) = fields.get(name) else {
            continue;
        };
        match (kind, value) {
            (Kind::String, PropertyValue::String(s)) if !s.is_empty() => {
                bytes_field(&mut out, number, s.as_bytes());
            }
            (Kind::Struct, PropertyValue::Map(map)) => {
                bytes_field(&mut out, number, &struct_message(map));
            }
            (Kind::StructMap, PropertyValue::Map(map)) => {
                for (key, value) in map {
                    let PropertyValue::Map(inner) = value else {
                        continue;
                    };
                    let mut entry = Vec::new();
                    bytes_field(&mut entry, 1, key.as_bytes());
                    bytes_field(&mut entry, 2, &struct_message(inner));
                    bytes_field(&mut out, number, &entry);
                }
            }
            (Kind::Message(inner), PropertyValue::Map(map)) => {
                bytes_field(&mut out, number, &self::message(inner, Some(map)));
            }
            _ => {}
        }
    }
    out
}

/// `google.protobuf.Struct { map<string, Value> fields = 1; }`.
fn struct_message(map: &BTreeMap<String, PropertyValue>) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in map {
        let mut entry = Vec::new();
        bytes_field(&mut entry, 1, key.as_bytes());
        bytes_field(&mut entry, 2, &value_message(value));
        bytes_field(&mut out, 1, &entry);
    }
    out
}

/// `google.protobuf.Value`: null_value = 1, number_value = 2, string_value = 3, bool_value = 4,
/// struct_value = 5, list_value = 6 (a `ListValue { repeated Value values = 1; }`).
fn value_message(value: &PropertyValue) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        PropertyValue::Null => varint_field(&mut out, 1, 0),
        PropertyValue::Double(d) => {
            tag(&mut out, 2, FIXED64);
            out.extend_from_slice(&d.to_le_bytes());
        }
        PropertyValue::String(s) => bytes_field(&mut out, 3, s.as_bytes()),
        PropertyValue::Bool(b) => varint_field(&mut out, 4, u64::from(*b)),
        PropertyValue::Map(map) => bytes_field(&mut out, 5, &struct_message(map)),
        PropertyValue::List(items) => {
            let mut list = Vec::new();
            for item in items {
                bytes_field(&mut list, 1, &value_message(item));
            }
            bytes_field(&mut out, 6, &list);
        }
        // Not storable in a Struct (the schema converts or refuses them before they get here).
        _ => {}
    }
    out
}

fn tag(out: &mut Vec<u8>, number: u32, wire: u8) {
    varint(out, (u64::from(number) << 3) | u64::from(wire));
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_field(out: &mut Vec<u8>, number: u32, v: u64) {
    tag(out, number, VARINT);
    varint(out, v);
}

fn bytes_field(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    tag(out, number, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_encodes_its_set_fields_in_field_order() {
        let node = PropertyValue::map()
            .with("id", "sidecar")
            .with("metadata", PropertyValue::map().with("REGION", "eu"));
        let PropertyValue::Map(fields) = node else {
            unreachable!()
        };
        let bytes = message(Message::Node, Some(&fields));
        // id (field 1, "sidecar"), then metadata (field 3): Struct{fields{key "REGION", value{string "eu"}}}.
        let mut expected = vec![0x0a, 7];
        expected.extend_from_slice(b"sidecar");
        let value = [0x1a, 2, b'e', b'u'];
        let mut entry = vec![0x0a, 6];
        entry.extend_from_slice(b"REGION");
        entry.extend_from_slice(&[0x12, value.len() as u8]);
        entry.extend_from_slice(&value);
        let mut structure = vec![0x0a, entry.len() as u8];
        structure.extend_from_slice(&entry);
        expected.extend_from_slice(&[0x1a, structure.len() as u8]);
        expected.extend_from_slice(&structure);
        assert_eq!(bytes, expected);
    }
}
