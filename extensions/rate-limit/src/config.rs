//! The plugin configuration, parsed and checked once in `on_configure`: a bad one is refused with the field at
//! fault named, instead of failing requests.

use serde::Deserialize;

/// What a request's key is made of, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    /// A request header's value (empty when absent: every such request shares one bucket).
    Header(String),
    /// The client's address, without its port (`source.address`).
    Source,
    /// `:path` without its query.
    Path,
    Method,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub key: Vec<KeyPart>,
    /// Requests per period, as a steady rate.
    pub limit: u64,
    pub period_seconds: u64,
    /// How many requests may come at once after a quiet time (the bucket's size).
    pub burst: u64,
    /// Buckets kept in shared data; keys share one when there are more (see README).
    pub max_keys: u32,
    /// Prefix of the shared-data keys: two plugins with different limits need different domains.
    pub domain: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    key: Vec<String>,
    limit: u64,
    period_seconds: u64,
    burst: Option<u64>,
    max_keys: Option<u32>,
    domain: Option<String>,
}

const EXAMPLE: &str = r#"{"key": ["header:x-user"], "limit": 100, "period_seconds": 60}"#;
/// Past this, one plugin's buckets would hold megabytes of shared data in every Envoy.
const MOST_KEYS: u32 = 1_000_000;

impl Config {
    /// The configuration in `bytes`, or one line naming the field and the fix.
    pub fn parse(bytes: &[u8]) -> Result<Config, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(format!(
                "configuration is empty: set it to an object such as {EXAMPLE}"
            ));
        }
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| {
            format!("configuration is not valid: {e} (expected an object such as {EXAMPLE})")
        })?;
        if raw.key.is_empty() {
            return Err(
                r#""key" is empty: give at least one of "header:NAME", "source", "path", "method""#
                    .into(),
            );
        }
        let key = raw
            .key
            .iter()
            .map(|part| key_part(part))
            .collect::<Result<_, _>>()?;
        if raw.limit == 0 {
            return Err(
                r#""limit" is 0: give the requests allowed per period (at least 1)"#.into(),
            );
        }
        if raw.period_seconds == 0 || raw.period_seconds > 86_400 {
            return Err(format!(
                r#""period_seconds" {} is out of range: give 1 to 86400"#,
                raw.period_seconds
            ));
        }
        let burst = raw.burst.unwrap_or(raw.limit);
        if burst == 0 {
            return Err(
                r#""burst" is 0: give at least 1, or leave it out (it defaults to "limit")"#.into(),
            );
        }
        if raw.limit > u64::from(u32::MAX) || burst > u64::from(u32::MAX) {
            return Err(r#""limit" and "burst" are at most 4294967295"#.into());
        }
        let max_keys = raw.max_keys.unwrap_or(10_000);
        if max_keys == 0 || max_keys > MOST_KEYS {
            return Err(format!(
                r#""max_keys" {max_keys} is out of range: give 1 to {MOST_KEYS}"#
            ));
        }
        let domain = raw.domain.unwrap_or_else(|| "rate-limit".to_owned());
        if domain.is_empty() || domain.contains('/') {
            return Err(format!(
                r#""domain" {domain:?} must be non-empty and without '/'"#
            ));
        }
        Ok(Config {
            key,
            limit: raw.limit,
            period_seconds: raw.period_seconds,
            burst,
            max_keys,
            domain,
        })
    }

    /// One line for the log: what is limited, how.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .key
            .iter()
            .map(|p| match p {
                KeyPart::Header(name) => format!("header:{name}"),
                KeyPart::Source => "source".into(),
                KeyPart::Path => "path".into(),
                KeyPart::Method => "method".into(),
            })
            .collect();
        format!(
            "{} requests per {} s (burst {}) per {}, up to {} keys in domain {}",
            self.limit,
            self.period_seconds,
            self.burst,
            parts.join("+"),
            self.max_keys,
            self.domain
        )
    }
}

fn key_part(part: &str) -> Result<KeyPart, String> {
    match part {
        "source" => Ok(KeyPart::Source),
        "path" => Ok(KeyPart::Path),
        "method" => Ok(KeyPart::Method),
        _ => match part.strip_prefix("header:") {
            Some(name) if !name.is_empty() && name.chars().all(is_token_char) => {
                Ok(KeyPart::Header(name.to_ascii_lowercase()))
            }
            Some(name) => Err(format!(
                r#""key" part "header:{name}" names no HTTP header: use letters, digits and !#$%&'*+-.^_`|~"#
            )),
            None => Err(format!(
                r#""key" part {part:?} is unknown: give "header:NAME", "source", "path" or "method""#
            )),
        },
    }
}

/// RFC 9110 token characters; `:` is not one, so pseudo-headers are refused (use "path" and "method").
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_with_its_defaults() {
        let config = Config::parse(include_bytes!("../example-config.json")).unwrap();
        assert_eq!(config.key, [KeyPart::Header("x-user".into())]);
        assert_eq!(
            (config.limit, config.period_seconds, config.burst),
            (100, 60, 100)
        );
        assert_eq!(
            (config.max_keys, config.domain.as_str()),
            (10_000, "rate-limit")
        );
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&str, &str)] = &[
            (" ", "configuration is empty"),
            (
                r#"{"key": ["path"], "limit": 1}"#,
                "missing field `period_seconds`",
            ),
            (
                r#"{"key": [], "limit": 1, "period_seconds": 1}"#,
                r#""key" is empty"#,
            ),
            (
                r#"{"key": ["cookie"], "limit": 1, "period_seconds": 1}"#,
                r#""key" part "cookie" is unknown"#,
            ),
            (
                r#"{"key": ["header:x y"], "limit": 1, "period_seconds": 1}"#,
                "names no HTTP header",
            ),
            (
                r#"{"key": ["header::path"], "limit": 1, "period_seconds": 1}"#,
                "names no HTTP header",
            ),
            (
                r#"{"key": ["path"], "limit": 0, "period_seconds": 1}"#,
                r#""limit" is 0"#,
            ),
            (
                r#"{"key": ["path"], "limit": 1, "period_seconds": 0}"#,
                r#""period_seconds" 0 is out of range"#,
            ),
            (
                r#"{"key": ["path"], "limit": 1, "period_seconds": 1, "burst": 0}"#,
                r#""burst" is 0"#,
            ),
            (
                r#"{"key": ["path"], "limit": 1, "period_seconds": 1, "max_keys": 0}"#,
                r#""max_keys" 0"#,
            ),
            (
                r#"{"key": ["path"], "limit": 1, "period_seconds": 1, "domain": "a/b"}"#,
                r#""domain" "a/b""#,
            ),
            (
                r#"{"key": ["path"], "limit": "1", "period_seconds": 1}"#,
                "invalid type: string",
            ),
            (
                r#"{"key": ["path"], "limit": 1, "period_seconds": 1, "limt": 2}"#,
                "unknown field `limt`",
            ),
        ];
        for (text, expected) in cases {
            let error = Config::parse(text.as_bytes()).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
