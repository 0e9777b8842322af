//! The plugin configuration, parsed and checked once in `on_configure`: a bad one is refused with the field at
//! fault named.

use wasm_json::{self as json, Object};

/// Which fields go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A key, wherever it appears (in any object, at any depth).
    Key(String),
    /// One place, as an RFC 6901 JSON pointer (`/user/ssn`, `/items/0/token`).
    Pointer(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redaction {
    Remove,
    Mask(String),
}

/// Which bodies are rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sides {
    pub request: bool,
    pub response: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub fields: Vec<Field>,
    pub redaction: Redaction,
    pub sides: Sides,
    /// Bodies longer than this pass unchanged.
    pub max_body_bytes: usize,
}

const EXAMPLE: &str = r#"{"fields": ["password", "/user/ssn"], "action": "mask"}"#;
/// Envoy's default per-connection buffer limit: a body the filter holds past it is a 413 (request) or a 500
/// (response), so the filter gives up well before.
pub const ENVOY_BUFFER_LIMIT: usize = 1 << 20;

impl Config {
    pub fn parse(bytes: &[u8]) -> Result<Config, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(format!(
                "configuration is empty: set it to an object such as {EXAMPLE}"
            ));
        }
        let value = json::parse(bytes)
            .map_err(|e| format!("configuration is {e} (expected an object such as {EXAMPLE})"))?;
        let mut raw = Object::new(value, "", "the configuration")?;
        let Some(fields) = raw.strings("fields")? else {
            return Err(format!(
                r#""fields" is missing: name the keys or JSON pointers to redact, as in {EXAMPLE}"#
            ));
        };
        let action = raw.string("action")?;
        let mask = raw.string("mask")?;
        let on = raw.string("on")?;
        let max_body_bytes = raw.integer("max_body_bytes", u64::MAX)?;
        raw.finish(&["fields", "action", "mask", "on", "max_body_bytes"])?;
        if fields.is_empty() {
            return Err(r#""fields" is empty: name at least one key or JSON pointer"#.into());
        }
        let fields = fields.into_iter().map(field).collect::<Result<_, _>>()?;
        let redaction = match action.as_deref().unwrap_or("mask") {
            "mask" => Redaction::Mask(mask.unwrap_or_else(|| "***".into())),
            "remove" if mask.is_some() => {
                return Err(r#""mask" is given but "action" is "remove": drop one of them"#.into());
            }
            "remove" => Redaction::Remove,
            other => {
                return Err(format!(
                    r#""action" "{other}" is unknown: give "mask" or "remove""#
                ));
            }
        };
        let sides = match on.as_deref().unwrap_or("response") {
            "response" => Sides {
                request: false,
                response: true,
            },
            "request" => Sides {
                request: true,
                response: false,
            },
            "both" => Sides {
                request: true,
                response: true,
            },
            other => {
                return Err(format!(
                    r#""on" "{other}" is unknown: give "response", "request" or "both""#
                ));
            }
        };
        let max_body_bytes =
            usize::try_from(max_body_bytes.unwrap_or(256 << 10)).unwrap_or(usize::MAX);
        if max_body_bytes == 0 || max_body_bytes >= ENVOY_BUFFER_LIMIT {
            return Err(format!(
                r#""max_body_bytes" {max_body_bytes} is out of range: give 1 to {} (under Envoy's buffer limit)"#,
                ENVOY_BUFFER_LIMIT - 1
            ));
        }
        Ok(Config {
            fields,
            redaction,
            sides,
            max_body_bytes,
        })
    }

    pub fn summary(&self) -> String {
        let fields: Vec<&str> = self
            .fields
            .iter()
            .map(|f| match f {
                Field::Key(k) | Field::Pointer(k) => k.as_str(),
            })
            .collect();
        let action = match &self.redaction {
            Redaction::Remove => "removes".to_owned(),
            Redaction::Mask(mask) => format!("masks with \"{mask}\""),
        };
        let on = match (self.sides.request, self.sides.response) {
            (true, true) => "requests and responses",
            (true, false) => "requests",
            _ => "responses",
        };
        format!(
            "{action} {} in JSON {on} up to {} bytes",
            fields.join(", "),
            self.max_body_bytes
        )
    }
}

fn field(text: String) -> Result<Field, String> {
    if text.is_empty() {
        return Err(r#""fields" has an empty entry: give a key such as "password" or a pointer such as "/user/ssn""#.into());
    }
    if text.starts_with('/') {
        // RFC 6901: `~` only as `~0` or `~1`.
        let bad_escape = text
            .split('~')
            .skip(1)
            .any(|rest| !rest.starts_with(['0', '1']));
        if bad_escape {
            return Err(format!(
                r#""fields" entry "{text}" is not a JSON pointer: write `~` as ~0 and `/` in a key as ~1"#
            ));
        }
        return Ok(Field::Pointer(text));
    }
    Ok(Field::Key(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_with_its_defaults() {
        let config = Config::parse(include_bytes!("../example-config.json")).unwrap();
        assert_eq!(
            config.fields,
            [
                Field::Key("password".into()),
                Field::Pointer("/user/ssn".into())
            ]
        );
        assert_eq!(config.redaction, Redaction::Mask("***".into()));
        assert_eq!(
            config.sides,
            Sides {
                request: false,
                response: true
            }
        );
        assert_eq!(config.max_body_bytes, 256 << 10);
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&str, &str)] = &[
            ("", "configuration is empty"),
            (r#"{"fields": []}"#, r#""fields" is empty"#),
            (r#"{"fields": [""]}"#, "has an empty entry"),
            (r#"{"fields": ["/a~2b"]}"#, "is not a JSON pointer"),
            (
                r#"{"fields": ["a"], "action": "hide"}"#,
                r#""action" "hide" is unknown"#,
            ),
            (
                r#"{"fields": ["a"], "action": "remove", "mask": "x"}"#,
                r#""mask" is given but"#,
            ),
            (
                r#"{"fields": ["a"], "on": "both-ways"}"#,
                r#""on" "both-ways" is unknown"#,
            ),
            (
                r#"{"fields": ["a"], "max_body_bytes": 2000000}"#,
                r#""max_body_bytes" 2000000 is out of range"#,
            ),
            (
                r#"{"fields": "a"}"#,
                r#""fields" must be a list of strings, not a string"#,
            ),
            (
                r#"{"fields": ["a"], "feilds": ["b"]}"#,
                r#""feilds" is not a field here: the fields are fields, action"#,
            ),
            ("{}", r#""fields" is missing"#),
            ("{", "not valid JSON at byte 1"),
        ];
        for (text, expected) in cases {
            let error = Config::parse(text.as_bytes()).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
