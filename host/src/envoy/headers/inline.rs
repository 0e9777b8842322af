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
    /// The name Envoy files `name` under (lower-cased `name` in): in a request header map the legacy `host` is
    /// `:authority` (`Headers::get().HostLegacy`, added to `StaticLookupTable<RequestHeaderMap>`).
    pub(crate) fn canonical(self, name: &str) -> &str {
        if self == MapKind::RequestHeaders && name == "host" {
            ":authority"
        } else {
            name
        }
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
    pub(crate) fn is_inline(self, name: &str) -> bool {
        match self {
            MapKind::Plain => false,
            MapKind::RequestHeaders => request_only(name) || request_and_response(name),
            MapKind::ResponseHeaders => {
                response_only(name) || request_and_response(name) || response_and_trailers(name)
            }
            MapKind::ResponseTrailers => response_and_trailers(name),
        }
    }
}

/// `INLINE_REQ_STRING_HEADERS` and `INLINE_REQ_NUMERIC_HEADERS`.
fn request_only(name: &str) -> bool {
    matches!(
        name,
        "x-client-trace-id"
            | "x-envoy-downstream-service-cluster"
            | "x-envoy-downstream-service-node"
            | "x-envoy-external-address"
            | "x-envoy-force-trace"
            | "x-envoy-hedge-on-per-try-timeout"
            | "x-envoy-internal"
            | "x-envoy-ip-tags"
            | "x-envoy-retry-on"
            | "x-envoy-retry-grpc-on"
            | "x-envoy-retriable-status-codes"
            | "x-envoy-retriable-header-names"
            | "x-envoy-original-path"
            | "x-envoy-original-url"
            | "x-envoy-upstream-alt-stat-name"
            | "x-envoy-upstream-rq-timeout-alt-response"
            | "expect"
            | "x-forwarded-client-cert"
            | "x-forwarded-for"
            | "x-forwarded-host"
            | "x-forwarded-proto"
            | "grpc-timeout"
            | ":authority"
            | ":method"
            | ":path"
            | ":protocol"
            | ":scheme"
            | "te"
            | "user-agent"
            | "x-envoy-expected-rq-timeout-ms"
            | "x-envoy-max-retries"
            | "x-envoy-upstream-rq-timeout-ms"
            | "x-envoy-upstream-rq-per-try-timeout-ms"
            | "x-envoy-upstream-stream-duration-ms"
    )
}

/// `INLINE_REQ_RESP_STRING_HEADERS` and `INLINE_REQ_RESP_NUMERIC_HEADERS`.
fn request_and_response(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "content-type"
            | "x-envoy-decorator-operation"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-status"
            | "x-request-id"
            | "transfer-encoding"
            | "upgrade"
            | "via"
            | "content-length"
            | "x-envoy-attempt-count"
    )
}

/// `INLINE_RESP_STRING_HEADERS` and `INLINE_RESP_NUMERIC_HEADERS`.
fn response_only(name: &str) -> bool {
    matches!(
        name,
        "date"
            | "x-envoy-degraded"
            | "x-envoy-immediate-health-check-fail"
            | "x-envoy-ratelimited"
            | "x-envoy-upstream-canary"
            | "x-envoy-upstream-healthchecked-cluster"
            | "location"
            | "server"
            | "x-envoy-upstream-service-time"
            | ":status"
    )
}

/// `INLINE_RESP_STRING_HEADERS_TRAILERS` and `INLINE_RESP_NUMERIC_HEADERS_TRAILERS`.
fn response_and_trailers(name: &str) -> bool {
    matches!(name, "grpc-message" | "grpc-status")
}
