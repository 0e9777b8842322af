//! The plugin configuration, parsed and checked once in `on_configure`: a bad one is refused with the field at
//! fault named, instead of failing requests.

use serde::Deserialize;

/// How a request's path picks its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Prefix(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The `route` label: letters, digits, `_` and `-` only, so it is one part of a metric name.
    pub name: String,
    pub matches: Match,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Tried in order; a request no route matches counts under `other`. Empty: the proxy's route name
    /// (`xds.route_name`) is the label.
    pub routes: Vec<Route>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    routes: Option<Vec<RawRoute>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: String,
    prefix: Option<String>,
    path: Option<String>,
}

const EXAMPLE: &str = r#"{"routes": [{"name": "orders", "prefix": "/orders"}]}"#;
/// Each route multiplies the metric series by methods × status classes; past this, Prometheus pays.
const MOST_ROUTES: usize = 100;
/// The label every request no route claims gets.
pub const OTHER: &str = "other";

impl Config {
    /// The configuration in `bytes`, or one line naming the field and the fix. Empty means every default.
    pub fn parse(bytes: &[u8]) -> Result<Config, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Config { routes: Vec::new() });
        }
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| {
            format!("configuration is not valid: {e} (expected an object such as {EXAMPLE})")
        })?;
        let raw_routes = raw.routes.unwrap_or_default();
        if raw_routes.len() > MOST_ROUTES {
            return Err(format!(
                r#""routes" has {} entries: give at most {MOST_ROUTES} (each adds a metric series per method and status class)"#,
                raw_routes.len()
            ));
        }
        let mut routes = Vec::new();
        for (i, route) in raw_routes.into_iter().enumerate() {
            if !is_label(&route.name) || route.name == OTHER {
                return Err(format!(
                    r#""routes[{i}].name" "{}" cannot be a label: use letters, digits, '_' and '-' (and not "{OTHER}", which counts the rest)"#,
                    route.name
                ));
            }
            let matches = match (route.prefix, route.path) {
                (Some(prefix), None) => Match::Prefix(path(i, "prefix", prefix)?),
                (None, Some(exact)) => Match::Exact(path(i, "path", exact)?),
                _ => {
                    return Err(format!(
                        r#""routes[{i}]" needs exactly one of "prefix" and "path""#
                    ));
                }
            };
            routes.push(Route {
                name: route.name,
                matches,
            });
        }
        Ok(Config { routes })
    }

    /// The route label of a request with `path` (its query ignored); `None` when no routes are configured.
    pub fn route_of(&self, path: &[u8]) -> Option<&str> {
        if self.routes.is_empty() {
            return None;
        }
        let path = path.split(|b| *b == b'?').next().unwrap_or_default();
        let found = self.routes.iter().find(|route| match &route.matches {
            Match::Prefix(prefix) => path.starts_with(prefix.as_bytes()),
            Match::Exact(exact) => path == exact.as_bytes(),
        });
        Some(found.map_or(OTHER, |route| route.name.as_str()))
    }
}

fn path(i: usize, field: &str, path: String) -> Result<String, String> {
    if path.starts_with('/') && !path.contains(['?', '#']) && !path.chars().any(char::is_control) {
        Ok(path)
    } else {
        Err(format!(
            r#""routes[{i}].{field}" "{path}" is not a path: start it with '/', without a query"#
        ))
    }
}

/// Whether `text` can be one dot-separated part of a metric name and a Prometheus label value as is.
pub fn is_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_routes_by_prefix_and_exact_path() {
        let config = Config::parse(include_bytes!("../example-config.json")).unwrap();
        assert_eq!(config.route_of(b"/orders/7?x=1"), Some("orders"));
        assert_eq!(config.route_of(b"/healthz"), Some("health"));
        assert_eq!(config.route_of(b"/healthz/deep"), Some(OTHER));
        assert_eq!(config.route_of(b"/"), Some(OTHER));
        assert_eq!(Config::parse(b"").unwrap().route_of(b"/"), None);
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"routes": [{"name": "a.b", "prefix": "/"}]}"#,
                r#""routes[0].name" "a.b" cannot be a label"#,
            ),
            (
                r#"{"routes": [{"name": "other", "prefix": "/"}]}"#,
                r#""routes[0].name" "other" cannot be a label"#,
            ),
            (
                r#"{"routes": [{"name": "a", "prefix": "/", "path": "/"}]}"#,
                r#""routes[0]" needs exactly one of "prefix" and "path""#,
            ),
            (
                r#"{"routes": [{"name": "a", "path": "x"}]}"#,
                r#""routes[0].path" "x" is not a path"#,
            ),
            (r#"{"route": []}"#, "unknown field `route`"),
            (r#"{"routes": {}}"#, "invalid type: map"),
        ];
        for (text, expected) in cases {
            let error = Config::parse(text.as_bytes()).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
