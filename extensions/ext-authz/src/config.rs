//! The plugin configuration, parsed and checked once in `on_configure`: a bad one is refused with the field at
//! fault named, instead of failing requests.

use std::time::Duration;
use wasm_json::{self as json, Object};

/// How the authorization service is asked (Envoy's `grpc_service` or `http_service`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `envoy.service.auth.v3.Authorization/Check`, a `CheckRequest` in and a `CheckResponse` out.
    Grpc,
    /// The request's method, path (behind `path_prefix`) and chosen headers; 200 allows, other answers deny.
    Http,
}

/// Which headers a list names: every one, or those (lowercase) names only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Headers {
    All,
    Only(Vec<String>),
}

/// A path (without its query) that is let through unchecked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipPath {
    Exact(String),
    Prefix(String),
}

/// What a request gets when the service cannot answer (failed, timed out, 5xx, unreachable cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Fail open: the request goes upstream unchecked.
    Allow,
    /// Fail closed with this status.
    Deny(u16),
}

/// The answer a denied request gets instead of the service's status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub protocol: Protocol,
    /// The Envoy cluster of the service, exactly as the proxy names it (Istio: `outbound|PORT||HOST`).
    pub cluster: String,
    pub timeout: Duration,
    /// HTTP only: put before the request's path.
    pub path_prefix: String,
    /// Request headers sent to the service (HTTP: besides `:method`, `:path`, `:authority`, `authorization`).
    pub request_headers: Headers,
    /// Headers of an allowing answer added to the upstream request.
    pub upstream_headers: Headers,
    /// `None`: a denied request gets the service's status and body.
    pub denied_response: Option<Denial>,
    pub on_failure: OnFailure,
    pub skip_paths: Vec<SkipPath>,
}

const EXAMPLE: &str =
    r#"{"protocol": "grpc", "cluster": "outbound|9000||authz.default.svc.cluster.local"}"#;
/// Envoy's own default for `grpc_service.timeout` and `http_service.server_uri.timeout`.
const DEFAULT_TIMEOUT_MS: u64 = 200;
const LONGEST_TIMEOUT_MS: u64 = 60_000;
const FIELDS: [&str; 10] = [
    "protocol",
    "cluster",
    "timeout_ms",
    "path_prefix",
    "request_headers",
    "upstream_headers",
    "denied_response",
    "failure_mode_allow",
    "status_on_error",
    "skip_paths",
];

impl Config {
    /// The configuration in `bytes`, or one line naming the field and the fix.
    pub fn parse(bytes: &[u8]) -> Result<Config, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(format!(
                "configuration is empty: set it to an object such as {EXAMPLE}"
            ));
        }
        let value = json::parse(bytes)
            .map_err(|e| format!("configuration is {e} (expected an object such as {EXAMPLE})"))?;
        let mut raw = Object::new(value, "", "the configuration")?;
        let protocol_name = raw.string("protocol")?;
        let Some(cluster) = raw.string("cluster")? else {
            return Err(format!(
                r#""cluster" is missing: name the service's cluster, as in {EXAMPLE}"#
            ));
        };
        let timeout_ms = raw.integer("timeout_ms", u64::MAX)?;
        let path_prefix = raw.string("path_prefix")?;
        let request_headers = raw.strings("request_headers")?;
        let upstream_headers = raw.strings("upstream_headers")?;
        let denied = match raw.object("denied_response")? {
            None => None,
            Some(mut denial) => {
                let status = denial.integer("status", u64::from(u16::MAX))?;
                let body = denial.string("body")?;
                denial.finish(&["status", "body"])?;
                let Some(status) = status else {
                    return Err(r#""denied_response.status" is missing: give the status a denied request gets"#.into());
                };
                Some((status as u16, body))
            }
        };
        let failure_mode_allow = raw.bool("failure_mode_allow")?;
        let status_on_error = raw
            .integer("status_on_error", u64::from(u16::MAX))?
            .map(|s| s as u16);
        let skip_paths = raw.strings("skip_paths")?;
        raw.finish(&FIELDS)?;
        let protocol = match protocol_name.as_deref().unwrap_or("grpc") {
            "grpc" => Protocol::Grpc,
            "http" => Protocol::Http,
            other => {
                return Err(format!(
                    r#""protocol" "{other}" is unknown: give "grpc" or "http""#
                ));
            }
        };
        if cluster.is_empty() {
            return Err(r#""cluster" is empty: give the service's cluster as the proxy names it (Istio: "outbound|PORT||HOST")"#.into());
        }
        let timeout_ms = timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if timeout_ms == 0 || timeout_ms > LONGEST_TIMEOUT_MS {
            return Err(format!(
                r#""timeout_ms" {timeout_ms} is out of range: give 1 to {LONGEST_TIMEOUT_MS}"#
            ));
        }
        let path_prefix = path_prefix.unwrap_or_default();
        if !path_prefix.is_empty() {
            if protocol == Protocol::Grpc {
                return Err(r#""path_prefix" is for "protocol": "http" only (a gRPC check always calls /envoy.service.auth.v3.Authorization/Check)"#.into());
            }
            if !path_prefix.starts_with('/')
                || path_prefix.contains(['?', '#'])
                || has_control(&path_prefix)
            {
                return Err(format!(
                    r#""path_prefix" "{path_prefix}" is not a path: start it with '/', without '?' or '#'"#
                ));
            }
        }
        let request_headers = match request_headers {
            None if protocol == Protocol::Grpc => Headers::All,
            None => Headers::Only(Vec::new()),
            Some(names) => Headers::Only(header_names("request_headers", names)?),
        };
        let upstream_headers = match upstream_headers {
            None if protocol == Protocol::Grpc => Headers::All,
            None => Headers::Only(Vec::new()),
            Some(names) => Headers::Only(header_names("upstream_headers", names)?),
        };
        let denied_response = match denied {
            None => None,
            Some((status, body)) => Some(Denial {
                status: error_status("denied_response.status", status)?,
                body: body.unwrap_or_default(),
            }),
        };
        let on_failure = match (failure_mode_allow.unwrap_or(false), status_on_error) {
            (true, Some(_)) => {
                return Err(r#""status_on_error" has no use with "failure_mode_allow": true (failed checks let the request through): remove one"#.into());
            }
            (true, None) => OnFailure::Allow,
            (false, status) => {
                OnFailure::Deny(error_status("status_on_error", status.unwrap_or(403))?)
            }
        };
        let skip_paths = skip_paths
            .unwrap_or_default()
            .into_iter()
            .map(skip_path)
            .collect::<Result<_, _>>()?;
        Ok(Config {
            protocol,
            cluster,
            timeout: Duration::from_millis(timeout_ms),
            path_prefix,
            request_headers,
            upstream_headers,
            denied_response,
            on_failure,
            skip_paths,
        })
    }

    /// One line for the log: whom it asks, how, and what happens when that fails.
    pub fn summary(&self) -> String {
        let protocol = match self.protocol {
            Protocol::Grpc => "gRPC Authorization/Check",
            Protocol::Http => "HTTP",
        };
        let failure = match self.on_failure {
            OnFailure::Allow => "allows (fail open)".to_string(),
            OnFailure::Deny(status) => format!("denies with {status}"),
        };
        format!(
            "asks {} over {protocol}{} within {} ms; a failed check {failure}; {} paths skip the check",
            self.cluster,
            if self.path_prefix.is_empty() {
                String::new()
            } else {
                format!(" under {}", self.path_prefix)
            },
            self.timeout.as_millis() as u64,
            self.skip_paths.len()
        )
    }

    /// Whether `path` (with or without its query) is let through unchecked.
    pub fn skips(&self, path: &[u8]) -> bool {
        let path = path.split(|b| *b == b'?').next().unwrap_or_default();
        self.skip_paths.iter().any(|skip| match skip {
            SkipPath::Exact(exact) => path == exact.as_bytes(),
            SkipPath::Prefix(prefix) => path.starts_with(prefix.as_bytes()),
        })
    }
}

impl Headers {
    pub fn includes(&self, name: &str) -> bool {
        match self {
            Headers::All => true,
            Headers::Only(names) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }
}

fn header_names(field: &str, names: Vec<String>) -> Result<Vec<String>, String> {
    names
        .into_iter()
        .map(|name| {
            let token = name.strip_prefix(':').unwrap_or(&name);
            if token.is_empty() || !token.chars().all(is_token_char) {
                Err(format!(
                    r#""{field}" entry "{name}" names no HTTP header: use letters, digits and !#$%&'*+-.^_`|~"#
                ))
            } else {
                Ok(name.to_ascii_lowercase())
            }
        })
        .collect()
}

fn error_status(field: &str, status: u16) -> Result<u16, String> {
    if (400..=599).contains(&status) {
        Ok(status)
    } else {
        Err(format!(
            r#""{field}" {status} is not an error status: give 400 to 599 (403 or 503 are usual)"#
        ))
    }
}

fn skip_path(path: String) -> Result<SkipPath, String> {
    if !path.starts_with('/') || path.contains(['?', '#']) || has_control(&path) {
        return Err(format!(
            r#""skip_paths" entry "{path}" is not a path: start it with '/', without a query; end it with '*' for a prefix"#
        ));
    }
    Ok(match path.strip_suffix('*') {
        Some(prefix) => SkipPath::Prefix(prefix.to_owned()),
        None => SkipPath::Exact(path),
    })
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// RFC 9110 token characters.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_with_its_defaults() {
        let config = Config::parse(include_bytes!("../example-config.json")).unwrap();
        assert_eq!(config.protocol, Protocol::Grpc);
        assert_eq!(
            config.cluster,
            "outbound|9000||authz.default.svc.cluster.local"
        );
        assert_eq!(config.timeout, Duration::from_millis(200));
        assert_eq!(config.request_headers, Headers::All);
        assert_eq!(config.upstream_headers, Headers::All);
        assert_eq!(config.on_failure, OnFailure::Deny(403));
        assert_eq!(config.denied_response, None);
        assert!(config.skips(b"/healthz?full=1"));
        assert!(config.skips(b"/public/logo.png"));
        assert!(!config.skips(b"/healthz/x"));
        assert!(!config.skips(b"/api"));
    }

    #[test]
    fn http_sends_and_takes_only_what_it_is_told() {
        let config = Config::parse(
            br#"{"protocol": "http", "cluster": "authz", "path_prefix": "/check",
                 "request_headers": ["X-User"], "upstream_headers": ["x-user-id"],
                 "status_on_error": 503, "denied_response": {"status": 401}}"#,
        )
        .unwrap();
        assert_eq!(config.request_headers, Headers::Only(vec!["x-user".into()]));
        assert!(config.upstream_headers.includes("X-User-Id"));
        assert!(!config.upstream_headers.includes("x-other"));
        assert_eq!(config.on_failure, OnFailure::Deny(503));
        assert_eq!(
            config.denied_response,
            Some(Denial {
                status: 401,
                body: String::new()
            })
        );
        let defaults = Config::parse(br#"{"protocol": "http", "cluster": "authz"}"#).unwrap();
        assert_eq!(defaults.upstream_headers, Headers::Only(vec![]));
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&str, &str)] = &[
            (" ", "configuration is empty"),
            ("{}", r#""cluster" is missing"#),
            ("[1]", "must be a JSON object, not a list"),
            ("{", "not valid JSON at byte 1"),
            (r#"{"cluster": ""}"#, r#""cluster" is empty"#),
            (
                r#"{"cluster": "a", "protocol": "grcp"}"#,
                r#""protocol" "grcp" is unknown"#,
            ),
            (
                r#"{"cluster": "a", "timeout_ms": 0}"#,
                r#""timeout_ms" 0 is out of range"#,
            ),
            (
                r#"{"cluster": "a", "path_prefix": "/x"}"#,
                r#""path_prefix" is for "protocol": "http" only"#,
            ),
            (
                r#"{"cluster": "a", "protocol": "http", "path_prefix": "x"}"#,
                r#""path_prefix" "x" is not a path"#,
            ),
            (
                r#"{"cluster": "a", "request_headers": ["x y"]}"#,
                r#""request_headers" entry "x y" names no HTTP header"#,
            ),
            (
                r#"{"cluster": "a", "upstream_headers": [""]}"#,
                r#""upstream_headers" entry "" names no HTTP header"#,
            ),
            (
                r#"{"cluster": "a", "denied_response": {"status": 200}}"#,
                r#""denied_response.status" 200 is not an error status"#,
            ),
            (
                r#"{"cluster": "a", "status_on_error": 302}"#,
                r#""status_on_error" 302 is not an error status"#,
            ),
            (
                r#"{"cluster": "a", "failure_mode_allow": true, "status_on_error": 503}"#,
                r#""status_on_error" has no use"#,
            ),
            (
                r#"{"cluster": "a", "skip_paths": ["healthz"]}"#,
                r#""skip_paths" entry "healthz" is not a path"#,
            ),
            (
                r#"{"cluster": 1}"#,
                r#""cluster" must be a string, not a number"#,
            ),
            (
                r#"{"cluster": "a", "timeout_ms": "5"}"#,
                r#""timeout_ms" must be a number, not a string"#,
            ),
            (
                r#"{"cluster": "a", "timeout": 5}"#,
                r#""timeout" is not a field here: the fields are protocol, cluster"#,
            ),
            (
                r#"{"cluster": "a", "denied_response": {"status": 401, "boddy": ""}}"#,
                r#""denied_response.boddy" is not a field here"#,
            ),
        ];
        for (text, expected) in cases {
            let error = Config::parse(text.as_bytes()).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }
}
