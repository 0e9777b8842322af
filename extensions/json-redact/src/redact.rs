//! The rewrite itself: a JSON document with the configured fields removed or masked. Pure, unit-tested natively.

use wasm_json::Json as Value;

use crate::config::{Field, Redaction};

/// What became of a body.
#[derive(Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// Some fields matched: the document, re-serialized (compact, keys in their order).
    Redacted { body: Vec<u8>, fields: usize },
    /// Nothing matched: the body passes byte for byte.
    Untouched,
    /// Not a JSON document: it passes byte for byte.
    NotJson,
}

pub fn rewrite(body: &[u8], fields: &[Field], redaction: &Redaction) -> Rewrite {
    let Ok(mut document) = wasm_json::parse(body) else {
        return Rewrite::NotJson;
    };
    let mut count = 0;
    for field in fields {
        count += match field {
            Field::Key(key) => by_key(&mut document, key, redaction),
            Field::Pointer(pointer) => usize::from(by_pointer(&mut document, pointer, redaction)),
        };
    }
    match count {
        0 => Rewrite::Untouched,
        fields => Rewrite::Redacted {
            body: document.to_vec(),
            fields,
        },
    }
}

fn masked(redaction: &Redaction) -> Option<Value> {
    match redaction {
        Redaction::Remove => None,
        Redaction::Mask(mask) => Some(Value::String(mask.clone())),
    }
}

/// Every member named `key`, at any depth (each of them when a key is repeated); how many.
fn by_key(value: &mut Value, key: &str, redaction: &Redaction) -> usize {
    match value {
        Value::Object(members) => {
            let before = members.len();
            let mut count = 0;
            match masked(redaction) {
                Some(mask) => {
                    for (_, member) in members.iter_mut().filter(|(name, _)| name == key) {
                        *member = mask.clone();
                        count += 1;
                    }
                }
                None => {
                    members.retain(|(name, _)| name != key);
                    count = before - members.len();
                }
            }
            for (name, member) in members.iter_mut() {
                if name != key {
                    count += by_key(member, key, redaction);
                }
            }
            count
        }
        Value::Array(items) => items
            .iter_mut()
            .map(|item| by_key(item, key, redaction))
            .sum(),
        _ => 0,
    }
}

/// The one place `pointer` names (RFC 6901), if it exists.
fn by_pointer(document: &mut Value, pointer: &str, redaction: &Redaction) -> bool {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = tokens.split_last() else {
        return false;
    };
    let mut here = document;
    for token in parents {
        here = match here {
            // A repeated key: the last one, as a parser that keeps one value per key would keep.
            Value::Object(members) => {
                match members.iter_mut().rev().find(|(name, _)| name == token) {
                    Some((_, next)) => next,
                    None => return false,
                }
            }
            Value::Array(items) => match token.parse::<usize>().ok().and_then(|i| items.get_mut(i))
            {
                Some(next) => next,
                None => return false,
            },
            _ => return false,
        };
    }
    match here {
        Value::Object(members) if members.iter().any(|(name, _)| name == last) => {
            match masked(redaction) {
                Some(mask) => {
                    for (_, member) in members.iter_mut().filter(|(name, _)| name == last) {
                        *member = mask.clone();
                    }
                }
                None => members.retain(|(name, _)| name != last),
            }
            true
        }
        Value::Array(items) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => {
                match masked(redaction) {
                    Some(mask) => items[i] = mask,
                    None => {
                        items.remove(i);
                    }
                }
                true
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(body: &str, fields: &[Field], redaction: Redaction) -> String {
        match rewrite(body.as_bytes(), fields, &redaction) {
            Rewrite::Redacted { body, .. } => String::from_utf8(body).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_key_is_masked_at_every_depth_and_order_is_kept() {
        let fields = [Field::Key("password".into())];
        let body = r#"{"z": 1, "password": "s3", "users": [{"name": "a", "password": "x"}], "a": {"password": 2}}"#;
        assert_eq!(
            run(body, &fields, Redaction::Mask("***".into())),
            r#"{"z":1,"password":"***","users":[{"name":"a","password":"***"}],"a":{"password":"***"}}"#
        );
        assert_eq!(
            run(body, &fields, Redaction::Remove),
            r#"{"z":1,"users":[{"name":"a"}],"a":{}}"#
        );
    }

    #[test]
    fn a_pointer_names_one_place_with_escapes_and_indexes() {
        let body =
            r#"{"user": {"ssn": "1", "a/b": 2}, "items": [{"t": 1}, {"t": 2}], "ssn": "keep"}"#;
        let fields = [
            Field::Pointer("/user/ssn".into()),
            Field::Pointer("/user/a~1b".into()),
            Field::Pointer("/items/1".into()),
        ];
        assert_eq!(
            run(body, &fields, Redaction::Remove),
            r#"{"user":{},"items":[{"t":1}],"ssn":"keep"}"#
        );
    }

    #[test]
    fn nothing_matching_or_not_json_passes_byte_for_byte() {
        let fields = [
            Field::Key("password".into()),
            Field::Pointer("/nope/deeper".into()),
        ];
        assert_eq!(
            rewrite(br#"{ "a" : 1 }"#, &fields, &Redaction::Remove),
            Rewrite::Untouched
        );
        assert_eq!(
            rewrite(b"{\"a\": ", &fields, &Redaction::Remove),
            Rewrite::NotJson
        );
        assert_eq!(
            rewrite(b"plain text", &fields, &Redaction::Remove),
            Rewrite::NotJson
        );
    }

    #[test]
    fn numbers_keep_their_spelling_and_a_repeated_key_is_redacted_everywhere() {
        let fields = [Field::Key("token".into())];
        assert_eq!(
            run(
                r#"{"price": 1.50, "big": 12345678901234567890, "token": "a", "token": "b"}"#,
                &fields,
                Redaction::Mask("***".into())
            ),
            r#"{"price":1.50,"big":12345678901234567890,"token":"***","token":"***"}"#
        );
        assert_eq!(
            run(
                r#"{"token": "a", "x": 1, "token": "b"}"#,
                &fields,
                Redaction::Remove
            ),
            r#"{"x":1}"#
        );
    }
}
