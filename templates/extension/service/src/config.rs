//! The plugin configuration, parsed and checked once in `on_configure` so a bad one is refused with a
//! clear logged reason. No SDK calls here: every rule is unit-tested natively (`cargo test -p <this crate>`).

use serde::Deserialize;

/// `{"queue": "events", "report_every_ms": 1000}`: the shared queue the service consumes, and how often it
/// publishes what it counted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub queue: String,
    pub report_every_ms: u64,
}

const EXAMPLE: &str = r#"{"queue": "events", "report_every_ms": 1000}"#;

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
        if config.queue.trim().is_empty() {
            return Err("\"queue\" is empty: name the shared queue the filters enqueue to".to_owned());
        }
        // Envoy's timer counts milliseconds, and a period of 0 turns it off.
        if config.report_every_ms == 0 {
            return Err("\"report_every_ms\" is 0, which stops the timer: give at least 1".to_owned());
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses() {
        let config = Config::parse(include_bytes!("../example-config.json")).unwrap();
        assert_eq!(config.queue, "events");
        assert_eq!(config.report_every_ms, 1000);
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&[u8], &str)] = &[
            (b" ", "configuration is empty"),
            (br#"{"queue": "events"}"#, "missing field `report_every_ms`"),
            (br#"{"queue": "", "report_every_ms": 5}"#, "\"queue\" is empty"),
            (br#"{"queue": "q", "report_every_ms": 0}"#, "stops the timer"),
        ];
        for (bytes, expected) in cases {
            let error = Config::parse(bytes).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
