//! The plugin configuration, parsed and checked once in `on_configure` so a bad one is refused with a
//! clear logged reason instead of failing requests. No SDK calls here: every rule is unit-tested
//! natively (`cargo test -p <this crate>`).
//!
//! To add a field: add it to `Config` (`#[serde(default = ...)]` makes it optional), check it in
//! `parse`, add a test below, then read it in lib.rs through `self.config`. serde derive keeps this
//! short; header-append shows a hand-written reader when module size matters.

use serde::Deserialize;
use std::time::Duration;

/// `{"cluster": "outbound|80||auth.default.svc.cluster.local", "path": "/check", "timeout_ms": 500}`
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Envoy cluster of the service to ask (Istio: `outbound|PORT||HOST`).
    pub cluster: String,
    /// Path of the check request.
    #[serde(default = "default_path")]
    pub path: String,
    /// How long a request may wait for the answer; then it gets a 503.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

const EXAMPLE: &str = r#"{"cluster": "outbound|80||auth.default.svc.cluster.local"}"#;

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
        if config.cluster.trim().is_empty() {
            return Err(
                "\"cluster\" is empty: name the Envoy cluster of the service to ask".to_owned(),
            );
        }
        if !config.path.starts_with('/') || config.path.contains(['\r', '\n', '\0', ' ']) {
            return Err(format!(
                "\"path\" {:?} must start with / and hold no spaces or line breaks",
                config.path
            ));
        }
        if !(1..=60_000).contains(&config.timeout_ms) {
            return Err(format!(
                "\"timeout_ms\" {} must be between 1 and 60000",
                config.timeout_ms
            ));
        }
        Ok(config)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

fn default_path() -> String {
    "/check".to_owned()
}

fn default_timeout_ms() -> u64 {
    1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_defaults_fill_the_rest() {
        let config = Config::parse(include_bytes!("../example-config.json")).unwrap();
        assert_eq!(config.timeout(), Duration::from_millis(500));
        let config = Config::parse(br#"{"cluster": "auth"}"#).unwrap();
        assert_eq!((config.path.as_str(), config.timeout_ms), ("/check", 1000));
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "configuration is empty"),
            (br#"{"path": "/check"}"#, "missing field `cluster`"),
            (
                br#"{"cluster": "auth", "timeout": 5}"#,
                "unknown field `timeout`",
            ),
            (br#"{"cluster": " "}"#, r#""cluster" is empty"#),
            (
                br#"{"cluster": "auth", "path": "check"}"#,
                r#""path" "check" must start with /"#,
            ),
            (
                br#"{"cluster": "auth", "timeout_ms": 0}"#,
                r#""timeout_ms" 0 must be between"#,
            ),
        ];
        for (bytes, expected) in cases {
            let error = Config::parse(bytes).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
