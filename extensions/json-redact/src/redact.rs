//! The rewrite itself: a JSON document with the configured fields removed or masked. Pure, unit-tested natively.

use serde_json::Value;

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
    let Ok(mut document) = serde_json::from_slice::<Value>(body) else {
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
        fields => match serde_json::to_vec(&document) {
            Ok(body) => Rewrite::Redacted { body, fields },
            Err(_) => Rewrite::NotJson,
        },
    }
}

fn masked(redaction: &Redaction) -> Option<Value> {
    match redaction {
        Redaction::Remove => None,
        Redaction::Mask(mask) => Some(Value::String(mask.clone())),
    }
}

/// Every member named `key`, at any depth; how many.
fn by_key(value: &mut Value, key: &str, redaction: &Redaction) -> usize {
    match value {
        Value::Object(members) => {
            let mut count = 0;
            if members.contains_key(key) {
                count += 1;
                match masked(redaction) {
                    Some(mask) => {
                        members.insert(key.to_owned(), mask);
                    }
                    None => {
                        members.shift_remove(key);
                    }
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
            Value::Object(members) => match members.get_mut(token) {
                Some(next) => next,
                None => return false,
            },
            Value::Array(items) => match token.parse::<usize>().ok().and_then(|i| items.get_mut(i))
            {
                Some(next) => next,
                None => return false,
            },
            _ => return false,
        };
    }
    match here {
        Value::Object(members) if members.contains_key(last) => {
            match masked(redaction) {
                Some(mask) => {
                    members.insert(last.clone(), mask);
                }
                None => {
                    members.shift_remove(last);
                }
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
}
