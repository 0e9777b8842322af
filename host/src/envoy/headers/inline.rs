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

use super::{same_length_equal, short_word};

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
    #[cfg(test)]
    pub(crate) fn is_inline(self, name: &[u8]) -> bool {
        Inline::of(name).is_some_and(|inline| self.holds(inline))
    }

    /// Whether this map class holds the table name `inline` inline.
    pub(crate) fn holds(self, inline: Inline) -> bool {
        let class = match self {
            MapKind::Plain => return false,
            MapKind::RequestHeaders => REQUEST,
            MapKind::ResponseHeaders => RESPONSE,
            MapKind::ResponseTrailers => RESPONSE_TRAILERS,
        };
        INLINE[inline.0 as usize].1 & class != 0
    }
}

/// A name of the inline table (of any class): its place in [`INLINE`], below 64, so a map can keep which of them it
/// holds as the bits of a `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inline(u8);

impl Inline {
    /// The table name `name` (lower-case) is, if it is one: found by a perfect hash of the name, then compared once,
    /// since every name added to a request or response map is looked up.
    #[inline]
    pub(crate) fn of(name: &[u8]) -> Option<Inline> {
        let key = key(name);
        let slot = SLOTS[slot_of(key)];
        let (table_name, _) = *INLINE.get(slot as usize)?;
        let table_name = table_name.as_bytes();
        // A key is the whole of a name shorter than eight bytes; a longer one is compared.
        let same = table_name.len() == name.len()
            && if name.len() < 8 {
                KEYS[slot as usize] == key
            } else {
                same_length_equal(table_name, name)
            };
        same.then_some(Inline(slot))
    }

    /// This name's bit in a set of table names.
    pub(crate) fn bit(self) -> u64 {
        1 << self.0
    }
}

/// Which map classes hold a name inline.
type Classes = u8;
const REQUEST: Classes = 1;
const RESPONSE: Classes = 2;
const RESPONSE_TRAILERS: Classes = 4;

/// Every inline name, sorted, with the classes holding it: `INLINE_REQ_HEADERS` → request, `INLINE_RESP_HEADERS` →
/// response, `INLINE_REQ_RESP_HEADERS` → both, `INLINE_RESP_HEADERS_TRAILERS` → response headers and trailers.
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

/// Mixes a name's length with up to three 8-byte words of it (its start, middle and end, which tell apart the long
/// `x-envoy-` names that share two of them), or with its bytes when it is shorter.
const fn key(name: &[u8]) -> u64 {
    let len = name.len();
    let mixed = if len >= 8 {
        let start = u64::from_le_bytes(*name.first_chunk::<8>().unwrap());
        let end = u64::from_le_bytes(*name.last_chunk::<8>().unwrap());
        let middle = u64::from_le_bytes(*name.split_at(len / 2 - 4).1.first_chunk::<8>().unwrap());
        start ^ end.rotate_left(21) ^ middle.rotate_left(42)
    } else {
        short_word(name)
    };
    mixed ^ len as u64
}

/// A multiplier under which no two table names share a slot (found by trying random odd multipliers; [`SLOTS`] fails
/// to build if a change to the table breaks that: try again).
const MULTIPLIER: u64 = 0x2543_639f_5c9d_7dcf;

/// The slot in [`SLOTS`] of a name with key `key`: the top byte of the key times [`MULTIPLIER`].
const fn slot_of(key: u64) -> usize {
    (key.wrapping_mul(MULTIPLIER) >> 56) as usize
}

const EMPTY: u8 = u8::MAX;

/// For each slot, the table name hashed to it (its place in [`INLINE`]), or [`EMPTY`].
const SLOTS: [u8; 256] = {
    assert!(
        INLINE.len() <= 64,
        "a map keeps which inline names it holds in a u64"
    );
    let mut slots = [EMPTY; 256];
    let mut i = 0;
    while i < INLINE.len() {
        let s = slot_of(key(INLINE[i].0.as_bytes()));
        assert!(
            slots[s] == EMPTY,
            "two inline names share a slot: find another MULTIPLIER"
        );
        slots[s] = i as u8;
        i += 1;
    }
    slots
};

/// Each table name's key, in the order of [`INLINE`].
const KEYS: [u64; INLINE.len()] = {
    let mut keys = [0; INLINE.len()];
    let mut i = 0;
    while i < INLINE.len() {
        keys[i] = key(INLINE[i].0.as_bytes());
        i += 1;
    }
    keys
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_name_is_found_and_nothing_else() {
        for (i, (name, _)) in INLINE.iter().enumerate() {
            assert_eq!(Inline::of(name.as_bytes()), Some(Inline(i as u8)), "{name}");
            // A name one byte off, shorter or longer is not a table name.
            for at in 0..name.len() {
                let mut near = name.as_bytes().to_vec();
                near[at] ^= 1;
                assert_eq!(Inline::of(&near), None, "{near:?}");
            }
            assert_eq!(Inline::of(&name.as_bytes()[1..]), None, "{name}");
            assert_eq!(Inline::of(format!("{name}x").as_bytes()), None, "{name}");
        }
        for name in [
            "",
            "a",
            "host",
            "cookie",
            "x-envoy-",
            "X-Request-Id",
            "content-length ",
            "vi",
            "vib",
            ":pat",
        ] {
            assert_eq!(Inline::of(name.as_bytes()), None, "{name}");
        }
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
