//! Envoy's inline ("O(1)") headers: the names each header map class registers in its static lookup table, which
//! `HeaderMapImpl::insertByKey` keeps as one entry, appending a repeated value with `appendToHeader`.
//!
//! The lists are Envoy's `INLINE_REQ_STRING_HEADERS`, `INLINE_REQ_NUMERIC_HEADERS`,
//! `INLINE_REQ_RESP_STRING_HEADERS`, `INLINE_REQ_RESP_NUMERIC_HEADERS`, `INLINE_RESP_STRING_HEADERS`,
//! `INLINE_RESP_NUMERIC_HEADERS` and `INLINE_RESP_*_HEADERS_TRAILERS` (`envoy/http/header_map.h`), with the names
//! of `source/common/http/headers.h` (`HeaderValues`, default `x-envoy` prefix); the tables are built in
//! `source/common/http/header_map_impl.cc` (`StaticLookupTable<RequestHeaderMap>` and its three twins).
//!
//! Not here: the custom inline headers an Envoy build registers from its extensions
//! (`RegisterCustomInlineHeader`, e.g. the cache filter's `authorization`) or from bootstrap `inline_headers`
//! (`cookie` would then be joined with `"; "`): which ones exist depends on the build and its configuration.

/// Which of Envoy's header map classes a map is: it decides which names are inline and whether `host` names
/// `:authority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum MapKind {
    /// No inline names: Envoy's request trailer map, and a map a test builds before it enters Envoy.
    #[default]
    Plain,
    /// `RequestHeaderMapImpl`: request headers, an HTTP callout's request, gRPC initial metadata sent.
    RequestHeaders,
    /// `ResponseHeaderMapImpl`: response headers, a local reply's, a callout answer's, gRPC initial metadata
    /// received.
    ResponseHeaders,
    /// `ResponseTrailerMapImpl`: response trailers, a callout answer's, gRPC trailing metadata.
    ResponseTrailers,
}

/// The delimiter `appendToHeader` joins a repeated inline header with (`delimiterByHeader`: `"; "` only for a
/// `cookie` registered inline, which the default tables do not do).
pub(crate) const INLINE_DELIMITER: &[u8] = b",";

impl MapKind {
    /// The other name Envoy files `name` (lower-case) under, if it does: in a request header map the legacy `host`
    /// is `:authority` (`Headers::get().HostLegacy`, added to `StaticLookupTable<RequestHeaderMap>`).
    pub(crate) fn renamed(self, name: &[u8]) -> Option<&'static [u8]> {
        (self == MapKind::RequestHeaders && name == b"host").then_some(b":authority")
    }

    /// The name a lookup of `name` (any case) compares with, case-insensitively: `host` is `:authority` in a
    /// request header map.
    pub(crate) fn lookup_name(self, name: &str) -> &str {
        if self == MapKind::RequestHeaders && name.eq_ignore_ascii_case("host") {
            ":authority"
        } else {
            name
        }
    }

    /// Whether `name` (lower-cased, canonical) is inline in this map class: one entry, repeated values appended.
    pub(crate) fn is_inline(self, name: &[u8]) -> bool {
        let class = match self {
            MapKind::Plain => return false,
            MapKind::RequestHeaders => REQUEST,
            MapKind::ResponseHeaders => RESPONSE,
            MapKind::ResponseTrailers => RESPONSE_TRAILERS,
        };
        classes(name) & class != 0
    }
}

/// Which map classes hold a name inline.
type Classes = u8;
const REQUEST: Classes = 1;
const RESPONSE: Classes = 2;
const RESPONSE_TRAILERS: Classes = 4;

/// Every inline name, sorted (looked up by binary search: header names are added on every request), with the
/// classes holding it: `INLINE_REQ_HEADERS` → request, `INLINE_RESP_HEADERS` → response,
/// `INLINE_REQ_RESP_HEADERS` → both, `INLINE_RESP_HEADERS_TRAILERS` → response headers and trailers.
const INLINE: &[(&str, Classes)] = &[
    (":authority", REQUEST),
    (":method", REQUEST),
    (":path", REQUEST),
    (":protocol", REQUEST),
    (":scheme", REQUEST),
    (":status", RESPONSE),
    ("connection", REQUEST | RESPONSE),
    ("content-length", REQUEST | RESPONSE),
    ("content-type", REQUEST | RESPONSE),
    ("date", RESPONSE),
    ("expect", REQUEST),
    ("grpc-message", RESPONSE | RESPONSE_TRAILERS),
    ("grpc-status", RESPONSE | RESPONSE_TRAILERS),
    ("grpc-timeout", REQUEST),
    ("keep-alive", REQUEST | RESPONSE),
    ("location", RESPONSE),
    ("proxy-connection", REQUEST | RESPONSE),
    ("proxy-status", REQUEST | RESPONSE),
    ("server", RESPONSE),
    ("te", REQUEST),
    ("transfer-encoding", REQUEST | RESPONSE),
    ("upgrade", REQUEST | RESPONSE),
    ("user-agent", REQUEST),
    ("via", REQUEST | RESPONSE),
    ("x-client-trace-id", REQUEST),
    ("x-envoy-attempt-count", REQUEST | RESPONSE),
    ("x-envoy-decorator-operation", REQUEST | RESPONSE),
    ("x-envoy-degraded", RESPONSE),
    ("x-envoy-downstream-service-cluster", REQUEST),
    ("x-envoy-downstream-service-node", REQUEST),
    ("x-envoy-expected-rq-timeout-ms", REQUEST),
    ("x-envoy-external-address", REQUEST),
    ("x-envoy-force-trace", REQUEST),
    ("x-envoy-hedge-on-per-try-timeout", REQUEST),
    ("x-envoy-immediate-health-check-fail", RESPONSE),
    ("x-envoy-internal", REQUEST),
    ("x-envoy-ip-tags", REQUEST),
    ("x-envoy-max-retries", REQUEST),
    ("x-envoy-original-path", REQUEST),
    ("x-envoy-original-url", REQUEST),
    ("x-envoy-ratelimited", RESPONSE),
    ("x-envoy-retriable-header-names", REQUEST),
    ("x-envoy-retriable-status-codes", REQUEST),
    ("x-envoy-retry-grpc-on", REQUEST),
    ("x-envoy-retry-on", REQUEST),
    ("x-envoy-upstream-alt-stat-name", REQUEST),
    ("x-envoy-upstream-canary", RESPONSE),
    ("x-envoy-upstream-healthchecked-cluster", RESPONSE),
    ("x-envoy-upstream-rq-per-try-timeout-ms", REQUEST),
    ("x-envoy-upstream-rq-timeout-alt-response", REQUEST),
    ("x-envoy-upstream-rq-timeout-ms", REQUEST),
    ("x-envoy-upstream-service-time", RESPONSE),
    ("x-envoy-upstream-stream-duration-ms", REQUEST),
    ("x-forwarded-client-cert", REQUEST),
    ("x-forwarded-for", REQUEST),
    ("x-forwarded-host", REQUEST),
    ("x-forwarded-proto", REQUEST),
    ("x-request-id", REQUEST | RESPONSE),
];

fn classes(name: &[u8]) -> Classes {
    INLINE
        .binary_search_by(|(n, _)| n.as_bytes().cmp(name))
        .map_or(0, |i| INLINE[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_for_its_binary_search() {
        assert!(INLINE.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn each_class_has_its_own_names() {
        assert!(MapKind::RequestHeaders.is_inline(b":path"));
        assert!(!MapKind::ResponseHeaders.is_inline(b":path"));
        assert!(MapKind::ResponseHeaders.is_inline(b":status"));
        assert!(MapKind::ResponseHeaders.is_inline(b"via"));
        assert!(MapKind::RequestHeaders.is_inline(b"via"));
        assert!(MapKind::ResponseTrailers.is_inline(b"grpc-status"));
        assert!(!MapKind::ResponseTrailers.is_inline(b"via"));
        assert!(!MapKind::Plain.is_inline(b"via"));
        assert!(!MapKind::RequestHeaders.is_inline(b"cookie"));
    }
}
