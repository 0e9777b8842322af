//! Bytes as the plugin sent or received them, shown without loss: text when they are UTF-8, base64 otherwise (never
//! U+FFFD) (the command line reads them back: `play::values::bytes`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// Inserts `key` (the text, or null when the bytes are not UTF-8) and `<key>_base64` (null for text, else the
/// bytes in standard base64) into a report object: a reader of `key` alone keeps what it read before, and nothing is
/// replaced by U+FFFD.
pub fn insert(object: &mut Map<String, Value>, key: &str, bytes: &[u8]) {
    let (text, base64) = split(bytes);
    object.insert(key.into(), text);
    object.insert(format!("{key}_base64"), base64);
}

/// [`insert`] for a list: `key` holds each item's text (null where it is not UTF-8), `<key>_base64` each item's
/// base64 (null where it is text), in the same order.
pub fn insert_list(object: &mut Map<String, Value>, key: &str, items: &[Vec<u8>]) {
    let (texts, base64s): (Vec<Value>, Vec<Value>) = items.iter().map(|b| split(b)).unzip();
    object.insert(key.into(), Value::Array(texts));
    object.insert(format!("{key}_base64"), Value::Array(base64s));
}

fn split(bytes: &[u8]) -> (Value, Value) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Value::String(text.into()), Value::Null),
        Err(_) => (Value::Null, Value::String(STANDARD.encode(bytes))),
    }
}

/// The bytes in the text report: quoted text, or `base64:…` (the form an answer flag takes back).
pub fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("base64:{}", STANDARD.encode(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_text_and_other_bytes_are_base64_beside_it() {
        let mut object = Map::new();
        insert(&mut object, "body", b"caf\xc3\xa9");
        insert(&mut object, "data", b"\x00\xff");
        insert_list(
            &mut object,
            "messages",
            &[b"ping".to_vec(), b"\xff".to_vec()],
        );
        assert_eq!(
            Value::Object(object),
            serde_json::json!({
                "body": "café", "body_base64": null,
                "data": null, "data_base64": "AP8=",
                "messages": ["ping", null], "messages_base64": [null, "/w=="],
            })
        );
        assert_eq!(text(b"a\"b"), "\"a\\\"b\"");
        assert_eq!(text(b"\x00\xff"), "base64:AP8=");
    }
}
