//! The plugin configuration, parsed and checked once in `on_configure` so a bad one is refused with a
//! clear logged reason instead of failing requests. No SDK calls here: every rule is unit-tested
//! natively (`cargo test -p <this crate>`).
//!
//! To add a field: add it to `Config` (`#[serde(default = ...)]` makes it optional), check it in
//! `parse`, add a test below, then read it in lib.rs through `self.config`. serde derive keeps this
//! short; header-append shows a hand-written reader when module size matters.

use serde::Deserialize;

/// Envoy's default `per_connection_buffer_limit_bytes`: a buffered body beyond it gets Envoy's own 413
/// before this filter can answer, so a larger `max_bytes` needs that limit raised first.
pub const ENVOY_BUFFER_LIMIT: usize = 1 << 20;

/// `{"max_bytes": 1024, "json": true}`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Larger request bodies get 413.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Bodies that are not valid JSON get 400.
    #[serde(default)]
    pub json: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_bytes: default_max_bytes(),
            json: false,
        }
    }
}

const EXAMPLE: &str = r#"{"max_bytes": 1024, "json": true}"#;

impl Config {
    /// The configuration in `bytes`, or one line naming the field and the fix.
    pub fn parse(bytes: &[u8]) -> Result<Config, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(format!(
                "configuration is empty: set it to an object such as {EXAMPLE}"
            ));
        }
        let config: Config = serde_json::from_slice(bytes).map_err(|e| {
            format!("configuration is not valid: {e} (expected an object such as {EXAMPLE})")
        })?;
        if !(1..=ENVOY_BUFFER_LIMIT).contains(&config.max_bytes) {
            return Err(format!(
                "\"max_bytes\" {} must be between 1 and {ENVOY_BUFFER_LIMIT} (Envoy's default buffer \
                 limit; raise per_connection_buffer_limit_bytes on the listener before going higher)",
                config.max_bytes
            ));
        }
        Ok(config)
    }
}

fn default_max_bytes() -> usize {
    64 * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_defaults_fill_the_rest() {
        let config = Config::parse(include_bytes!("../example-config.json")).unwrap();
        assert_eq!(
            config,
            Config {
                max_bytes: 1024,
                json: true
            }
        );
        assert_eq!(Config::parse(b"{}").unwrap(), Config::default());
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "configuration is empty"),
            (br#"{"max_bytes": -1}"#, "invalid value: integer `-1`"),
            (br#"{"max_bytes": 0}"#, r#""max_bytes" 0 must be between 1 and 1048576"#),
            (
                br#"{"max_bytes": 2000000}"#,
                "raise per_connection_buffer_limit_bytes",
            ),
            (br#"{"jsn": true}"#, "unknown field `jsn`"),
            (br#"{"json": "yes"}"#, "invalid type: string \"yes\", expected a boolean"),
        ];
        for (bytes, expected) in cases {
            let error = Config::parse(bytes).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
