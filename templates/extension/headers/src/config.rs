//! The plugin configuration, parsed and checked once in `on_configure` so a bad one is refused with a
//! clear logged reason instead of failing requests. No SDK calls here: every rule is unit-tested
//! natively (`cargo test -p <this crate>`).
//!
//! To add a field: add it to `Config` (`#[serde(default)]` makes it optional), check it in `parse`,
//! add a test below, then read it in lib.rs through `self.config`. serde derive keeps this short;
//! header-append shows a hand-written reader when module size matters.

use serde::Deserialize;

/// `{"name": "x-greeting", "value": "hello"}`: the header set on every response.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Lowercase: Envoy lowercases header names, and HTTP/2 requires it.
    pub name: String,
    pub value: String,
}

const EXAMPLE: &str = r#"{"name": "x-greeting", "value": "hello"}"#;

impl Config {
    /// The configuration in `bytes`, or one line naming the field and the fix.
    pub fn parse(bytes: &[u8]) -> Result<Config, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(format!(
                "configuration is empty: set it to an object such as {EXAMPLE}"
            ));
        }
        let mut config: Config = serde_json::from_slice(bytes).map_err(|e| {
            format!("configuration is not valid: {e} (expected an object such as {EXAMPLE})")
        })?;
        config.name = config.name.to_ascii_lowercase();
        if config.name.is_empty() || !config.name.chars().all(is_token_char) {
            return Err(format!(
                "\"name\" {:?} is not an HTTP header name: use letters, digits and !#$%&'*+-.^_`|~",
                config.name
            ));
        }
        if config.value.contains(['\r', '\n', '\0']) {
            return Err("\"value\" contains CR, LF or NUL, which a header value cannot".to_owned());
        }
        Ok(config)
    }
}

/// RFC 9110 token characters; `:` is not one, so pseudo-headers are refused too.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_names_are_lowercased() {
        let config = Config::parse(include_bytes!("../example-config.json")).unwrap();
        assert_eq!(config.name, "x-greeting");
        assert_eq!(
            Config::parse(br#"{"name": "X-A", "value": "b"}"#)
                .unwrap()
                .name,
            "x-a"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&[u8], &str)] = &[
            (b" ", "configuration is empty"),
            (br#"{"name": "x-a"}"#, "missing field `value`"),
            (
                br#"{"name": "x-a", "value": "b", "vaule": 1}"#,
                "unknown field `vaule`",
            ),
            (
                br#"{"name": "x a", "value": "b"}"#,
                r#""name" "x a" is not an HTTP header name"#,
            ),
            (
                br#"{"name": ":path", "value": "b"}"#,
                "is not an HTTP header name",
            ),
            (
                br#"{"name": "x-a", "value": "b\r\nx-b: c"}"#,
                r#""value" contains CR, LF or NUL"#,
            ),
        ];
        for (bytes, expected) in cases {
            let error = Config::parse(bytes).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
