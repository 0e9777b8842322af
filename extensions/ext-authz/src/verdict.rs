//! What the service decided, whichever protocol carried it, and what the request it concerns looked like.

/// A request header the service asked for on an allowed request (gRPC `HeaderValueOption`, or an HTTP answer's
/// header picked by `upstream_headers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderChange {
    pub name: String,
    pub value: Vec<u8>,
    pub how: Apply,
}

/// `HeaderValueOption.append_action`, as Envoy's ext_authz filter applies it to the upstream request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    /// APPEND_IF_EXISTS_OR_ADD (or the deprecated `append: true`): one more value.
    Append,
    /// ADD_IF_ABSENT.
    AddIfAbsent,
    /// OVERWRITE_IF_EXISTS_OR_ADD (or `append: false`): this value only.
    Overwrite,
    /// OVERWRITE_IF_EXISTS.
    OverwriteIfExists,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow {
        upstream: Vec<HeaderChange>,
        /// Request headers to remove before it goes upstream.
        remove: Vec<String>,
    },
    Deny {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// No decision: the call failed, timed out, or the answer made no sense. The failure policy decides.
    Failed(String),
}

/// The request being checked: its headers as the proxy holds them, and what the proxy knows about its connection.
#[derive(Debug, Default)]
pub struct Request {
    pub headers: Vec<(String, Vec<u8>)>,
    /// `source.address` and `destination.address`, `IP:PORT`.
    pub source: Option<Vec<u8>>,
    pub destination: Option<Vec<u8>>,
    /// `request.protocol`, e.g. `HTTP/1.1`.
    pub protocol: Option<Vec<u8>>,
    /// The proxy's clock when the request arrived, since the Unix epoch.
    pub time: std::time::Duration,
}

impl Request {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// `METHOD PATH` for a log line, bytes that are not printable escaped.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        for name in [":method", ":path"] {
            if !text.is_empty() {
                text.push(' ');
            }
            let value = self.header(name).unwrap_or(b"-");
            text.extend(value.escape_ascii().map(char::from));
        }
        text
    }
}

/// Header names an authorization answer may not set on the request: pseudo-headers and hop-by-hop framing.
pub fn is_settable(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && !matches!(
            name.to_ascii_lowercase().as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection" | "te" | "upgrade"
        )
}

/// Text as a protobuf string or a header value for the SDK must be: invalid UTF-8 replaced, as Envoy's
/// `MessageUtil::sanitizeUtf8String` does for a `CheckRequest`.
pub fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
