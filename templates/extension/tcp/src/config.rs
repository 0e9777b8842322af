//! The plugin configuration, parsed and checked once in `on_configure` so a bad one is refused with a
//! clear logged reason instead of failing connections. No SDK calls here: every rule is unit-tested
//! natively (`cargo test -p <this crate>`).

use std::net::Ipv4Addr;

use serde::Deserialize;

/// `{"routes": [{"source": "10.0.0.0/8", "cluster": "internal"}], "deny": ["192.0.2.0/24"]}`: clients from a
/// `deny` range are disconnected; the first route whose range holds the client picks the TCP proxy's cluster;
/// other clients go to the TCP proxy's own cluster.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub deny: Vec<Range>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub source: Range,
    pub cluster: String,
}

/// An IPv4 range in CIDR notation (`10.0.0.0/8`); a bare address is a /32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Range {
    network: u32,
    mask: u32,
}

const EXAMPLE: &str =
    r#"{"routes": [{"source": "10.0.0.0/8", "cluster": "internal"}], "deny": ["192.0.2.0/24"]}"#;

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
        if let Some(route) = config.routes.iter().find(|r| r.cluster.trim().is_empty()) {
            return Err(format!(
                "a route for {} has an empty \"cluster\": name the cluster of Envoy's configuration",
                route.source
            ));
        }
        Ok(config)
    }

    /// Whether a client at `address` (Envoy's `source.address`, `IP:PORT`) is refused.
    pub fn denies(&self, address: &str) -> bool {
        ip(address).is_some_and(|ip| self.deny.iter().any(|r| r.contains(ip)))
    }

    /// The cluster the first matching route names for a client at `address`.
    pub fn cluster_for(&self, address: &str) -> Option<&str> {
        let ip = ip(address)?;
        let route = self.routes.iter().find(|r| r.source.contains(ip))?;
        Some(&route.cluster)
    }
}

impl Range {
    fn contains(self, ip: u32) -> bool {
        ip & self.mask == self.network
    }
}

impl TryFrom<String> for Range {
    type Error = String;

    fn try_from(text: String) -> Result<Range, String> {
        let (address, bits) = text.split_once('/').unwrap_or((&text, "32"));
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IPv4 range: write it as 10.0.0.0/8"))?;
        let bits: u32 = bits
            .parse()
            .ok()
            .filter(|b| *b <= 32)
            .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to 32"))?;
        let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
        Ok(Range {
            network: u32::from(address) & mask,
            mask,
        })
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.mask.count_ones())
    }
}

/// The IPv4 address of `IP:PORT` as a number; `None` for IPv6 or anything else.
fn ip(address: &str) -> Option<u32> {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.parse::<Ipv4Addr>().ok().map(u32::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_routes_and_denies_by_source_range() {
        let config = Config::parse(include_bytes!("../example-config.json")).unwrap();
        assert_eq!(config.cluster_for("10.1.2.3:5000"), Some("internal"));
        assert_eq!(config.cluster_for("172.16.0.1:5000"), None);
        assert!(config.denies("192.0.2.77:80"));
        assert!(!config.denies("10.1.2.3:5000"));
        assert!(!config.denies("[::1]:80"), "IPv6 clients match no range");
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&[u8], &str)] = &[
            (b" ", "configuration is empty"),
            (br#"{"deny": ["10.0.0.0/33"]}"#, "the prefix length must be 0 to 32"),
            (br#"{"deny": ["ten"]}"#, r#""ten" is not an IPv4 range"#),
            (
                br#"{"routes": [{"source": "10.0.0.0/8", "cluster": " "}]}"#,
                "a route for 10.0.0.0/8 has an empty \"cluster\"",
            ),
            (br#"{"rootes": []}"#, "unknown field `rootes`"),
        ];
        for (bytes, expected) in cases {
            let error = Config::parse(bytes).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
