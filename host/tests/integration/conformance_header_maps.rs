//! Conformance: header maps as Envoy's `HeaderMapImpl` keeps them — `host` filed as `:authority` in request
//! headers, inline headers joined into one entry, a replaced header moving to the end of its block, the size
//! `byteSize()` reports — with the conformance guest's `edit` scenario (`host/guests/conformance/src/edits.rs`).

use crate::support::*;
use host::testing::*;

/// The names of a message's headers, in order.
fn names(message: &Message) -> Vec<String> {
    message
        .headers
        .as_ref()
        .expect("headers were sent")
        .iter()
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Envoy `StaticLookupTable<RequestHeaderMap>` files `HostLegacy` (`host`) under `:authority`: a guest's get,
/// replace and remove of `host` act on `:authority`.
#[test]
fn host_is_authority_in_request_headers_static_lookup_table_host_legacy() {
    let plugin = start("edit request:get,host request:set,host,b.example request:get,:authority");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":authority", "a.example")], true);
    assert_eq!(note(&plugin, "get host"), "get host = a.example");
    assert_eq!(
        note(&plugin, "get :authority"),
        "get :authority = b.example"
    );
    let upstream = stream.upstream_request();
    upstream.assert_header_values(":authority", &["b.example"]);
    assert!(
        !names(&upstream).contains(&"host".to_string()),
        "{upstream}"
    );

    let plugin = start("edit request:remove,host");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":authority", "a.example")], true);
    stream.upstream_request().assert_no_header(":authority");
}

/// A client's `host` header (HTTP/1.1) is the request's `:authority` (`StaticLookupTable<RequestHeaderMap>`): the
/// guest reads one `:authority`, and the test API adds no default beside it.
#[test]
fn a_host_header_from_the_client_is_the_authority_static_lookup_table_host_legacy() {
    let plugin = start("record");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[("host", "c.example"), ("x-a", "1")], true);
    let seen = note(&plugin, "request headers: ");
    assert!(seen.contains(":authority: c.example"), "{seen}");
    assert!(
        !seen.contains("host:") && !seen.contains("localhost"),
        "{seen}"
    );
    stream
        .upstream_request()
        .assert_header_values(":authority", &["c.example"]);
}

/// Only the request header map has the `host` alias (`StaticLookupTable<ResponseHeaderMap>` has none): in a
/// response `host` is a header of its own.
#[test]
fn host_is_an_ordinary_header_in_response_headers() {
    let plugin = start("edit response:add,host,h response:get,:authority");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[(":status", "200")], true);
    assert_eq!(note(&plugin, "get :authority"), "get :authority: status 1");
    stream
        .client_response()
        .assert_header_values("host", &["h"]);
}

/// `Context::httpCall` builds the callout's request map with `addCopy` and then checks `Host()`: a callout whose
/// headers say `host` instead of `:authority` is accepted and goes out with `:authority`.
#[test]
fn a_callout_naming_host_instead_of_authority_is_accepted_context_http_call() {
    let plugin = start("callout request host-header");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    let call = stream.http_call();
    assert_eq!(
        note(&plugin, "dispatched "),
        format!("dispatched {}", call.token)
    );
    assert_eq!(call.headers.get_all(":authority"), ["auth.local"]);
    assert!(
        !call.headers.iter().any(|(name, _)| name == "host"),
        "{:?}",
        call.headers
    );
}

/// `request.headers.host` resolves through the request header map's lookup (`getAllOfHeaderAsString` →
/// `HeaderMapImpl::get`), so it reads `:authority`.
#[test]
fn the_request_headers_host_attribute_reads_the_authority_header_map_impl_get() {
    let plugin = start("properties request/headers/host request/host");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":authority", "a.example")], true);
    assert_eq!(
        note(&plugin, "property request-headers request/headers/host = "),
        "property request-headers request/headers/host = a.example"
    );
}

/// `HeaderMapImpl::insertByKey` → `appendToHeader`: a repeated inline request header (`INLINE_REQ_HEADERS`,
/// `INLINE_REQ_RESP_HEADERS`) is one entry with its values joined by `,`, whether the client sent it or the
/// filter added it; an empty value adds nothing. Other names keep one entry per value.
#[test]
fn repeated_inline_request_headers_are_one_entry_joined_with_commas_insert_by_key() {
    let plugin = start(
        "edit request:add,via,p1 request:add,via,p2 request:add,x-forwarded-for,3.3.3.3 \
         request:add,user-agent, request:add,x-custom,c",
    );
    let mut stream = plugin.http_stream();
    stream.send_request_headers(
        &[
            ("x-forwarded-for", "1.1.1.1"),
            ("user-agent", "curl"),
            ("x-custom", "a"),
            ("X-Forwarded-For", "2.2.2.2"),
            ("x-custom", "b"),
        ],
        true,
    );
    let seen = note(&plugin, "request headers: ");
    assert!(
        seen.contains("x-forwarded-for: 1.1.1.1,2.2.2.2")
            && seen.contains("x-custom: a | x-custom: b"),
        "{seen}"
    );
    stream
        .upstream_request()
        .assert_header_values("x-forwarded-for", &["1.1.1.1,2.2.2.2,3.3.3.3"])
        .assert_header_values("via", &["p1,p2"])
        .assert_header_values("user-agent", &["curl"])
        .assert_header_values("x-custom", &["a", "b", "c"]);
}

/// The response header map's inline names (`INLINE_RESP_HEADERS`, `INLINE_REQ_RESP_HEADERS`,
/// `INLINE_RESP_HEADERS_TRAILERS`) are joined the same way (`insertByKey`); `set-cookie` is not inline and keeps
/// one entry per cookie.
#[test]
fn repeated_inline_response_headers_are_one_entry_and_set_cookie_stays_apart_insert_by_key() {
    let plugin = start("edit response:add,server,s2 response:add,set-cookie,c=3");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(
        &[
            (":status", "200"),
            ("server", "s1"),
            ("set-cookie", "a=1"),
            ("grpc-status", "0"),
            ("set-cookie", "b=2"),
            ("grpc-status", "2"),
        ],
        true,
    );
    stream
        .client_response()
        .assert_header_values("server", &["s1,s2"])
        .assert_header_values("grpc-status", &["0,2"])
        .assert_header_values("set-cookie", &["a=1", "b=2", "c=3"]);
}

/// `cookie` is joined with `"; "` only when Envoy's bootstrap registers it as an inline header
/// (`delimiterByHeader`); Envoy's default tables do not, so each cookie header stays an entry of its own.
#[test]
fn cookie_is_not_inline_in_envoys_default_tables_header_map_impl() {
    let plugin = start("record");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[("cookie", "a=1"), ("cookie", "b=2")], true);
    stream
        .upstream_request()
        .assert_header_values("cookie", &["a=1", "b=2"]);
}

/// `HeaderMapImpl::setCopy` is `remove` then `addCopy`, inline headers included: a replaced header moves to the
/// end; a pseudo-header goes to the end of the pseudo-header block (`HeaderList::insert`).
#[test]
fn a_replaced_header_moves_to_the_end_of_its_block_set_copy_and_header_list_insert() {
    let plugin = start("edit request:set,x-a,3 request:set,user-agent,v request:set,:path,/new");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(
        &[
            (":method", "GET"),
            (":path", "/"),
            (":authority", "a.example"),
            (":scheme", "http"),
            ("x-a", "1"),
            ("user-agent", "u"),
            ("x-b", "2"),
        ],
        true,
    );
    let upstream = stream.upstream_request();
    assert_eq!(
        names(&upstream),
        [
            ":method",
            ":authority",
            ":scheme",
            ":path",
            "x-b",
            "x-forwarded-proto",
            "x-request-id",
            "x-a",
            "user-agent"
        ]
    );
    upstream
        .assert_header(":path", "/new")
        .assert_header("x-a", "3")
        .assert_header("user-agent", "v");
}

/// `Context::getHeaderMapSize` answers `byteSize()` (names plus values) of the map `getMap` returns, and
/// BadArgument once Envoy no longer holds it (the request headers in a response callback).
#[test]
fn header_map_size_is_byte_size_and_bad_argument_for_a_map_envoy_does_not_hold() {
    let plugin = start("edit request:size,request response:size,response response:size,request");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[("x-a", "12345")], true);
    stream.send_response_headers(&[(":status", "200"), ("server", "s")], true);
    let byte_size = |message: Message| -> usize {
        message
            .headers
            .unwrap()
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum()
    };
    let request = byte_size(stream.upstream_request());
    let response = byte_size(stream.client_response());
    assert_eq!(
        notes(&plugin, "size "),
        [
            format!("size request = {request}, status 0"),
            format!("size response = {response}, status 0"),
            "size request = 0, status 2".to_string(),
        ]
    );
}

/// A property the guest read in `on_log` (`read=PATH` words), as the guest logged it.
fn read_in_log(plugin: &Plugin, path: &str) -> String {
    let prefix = format!("property log {path} = ");
    note(plugin, &prefix)[prefix.len()..].to_string()
}

/// An int64 attribute as the guest logs it (little-endian bytes in hex).
fn int(value: i64) -> String {
    let digits: String = value
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("0x{digits}")
}

/// `UpstreamCodecFilter::decodeHeaders`: the upstream codec refuses request headers a filter left without
/// `:method` (`checkRequiredRequestHeaders`), and the router answers 503 with details
/// `filter_removed_required_request_headers{…}` through this filter's response callbacks; the upstream gets
/// nothing.
#[test]
fn a_request_leaving_the_filters_without_method_gets_the_upstream_codecs_503() {
    let plugin =
        start("edit request:remove,:method at=log read=response/code read=response/code_details");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.finish();
    stream.upstream_request().assert_not_sent();
    stream
        .client_response()
        .assert_status(503)
        .assert_body("missing required header: :method");
    let details = "filter_removed_required_request_headers{missing_required_header:_:method}";
    assert_eq!(read_in_log(&plugin, "response/code"), int(503));
    assert_eq!(read_in_log(&plugin, "response/code_details"), details);
    assert!(
        callbacks(&plugin, stream.id()).contains(&"on_response_headers 3 false".to_string()),
        "the 503 runs through the plugin's response callbacks: {:?}",
        callbacks(&plugin, stream.id())
    );
}

/// `FilterManager::encodeHeaders` checks the response headers after the encoder filters
/// (`checkRequiredResponseHeaders`): a plugin that removed `:status` makes it a 502 with details
/// `filter_removed_required_response_headers{…}`, sent directly (the filters already ran).
#[test]
fn a_response_leaving_the_filters_without_status_becomes_envoys_502() {
    let plugin =
        start("edit response:remove,:status at=log read=response/code read=response/code_details");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[(":status", "200"), ("x-a", "1")], true);
    stream.finish();
    stream
        .client_response()
        .assert_status(502)
        .assert_no_header("x-a")
        .assert_body("missing required header: :status");
    let details = "filter_removed_required_response_headers{missing_required_header:_:status}";
    assert_eq!(read_in_log(&plugin, "response/code"), int(502));
    assert_eq!(read_in_log(&plugin, "response/code_details"), details);
}

/// Sends a local reply 403 from `on_request_headers` whose extra headers are the pairs blob `x-a: 1`, `LEN` bytes of
/// it: 18 is the exact serialization, 19 adds a trailing NUL.
const LOCAL_REPLY_WITH_PAIRS: &str = r#"
(module
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "\01\00\00\00\03\00\00\00\01\00\00\00x-a\001\00\00")
  (func (export "malloc") (param i32) (result i32) (i32.const 4096))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $reply (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
      (i32.const 64) (i32.const LEN) (i32.const -1)))
    (i32.const 0))
)
"#;

/// cpp-host `PairsUtil::toPairs` ends with `if (pos != end) return {};`: a serialized map with bytes after its
/// last pair is an empty map, so the local reply goes out without the plugin's headers.
#[test]
fn a_serialized_map_with_trailing_bytes_is_an_empty_map_pairs_util_to_pairs() {
    let reply_with = |len: usize| {
        let wat = LOCAL_REPLY_WITH_PAIRS.replace("LEN", &len.to_string());
        let plugin = Plugin::from_bytes(wat::parse_str(&wat).expect("valid WAT"))
            .start()
            .unwrap();
        let mut stream = plugin.http_stream();
        stream.send_request_headers(&[], true);
        stream.client_response()
    };
    reply_with(18).assert_status(403).assert_header("x-a", "1");
    reply_with(19).assert_status(403).assert_no_header("x-a");
}

/// cpp-host's `getHeaderMapPairs` takes views of the map's entries (Envoy `getHeaderMapPairs`), then calls the
/// guest's allocator (`exports::getPairs` → `allocMemory`) and writes those entries: a header the allocator adds
/// meanwhile is in the map, not in the answer. The host hands the map out without copying it first, so this pins
/// that it still answers with the map as it was when asked.
#[test]
fn get_header_map_pairs_answers_the_map_as_it_was_before_the_guests_allocator_ran() {
    let bytes = wat::parse_str(
        r#"(module
  (import "env" "proxy_get_header_map_pairs" (func $pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $meddle (mut i32) (i32.const 0))
  (data (i32.const 16) "x-late")
  (data (i32.const 24) "1")
  (data (i32.const 32) "x-count")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (if (global.get $meddle)
      (then (drop (call $add (i32.const 0) (i32.const 16) (i32.const 6) (i32.const 24) (i32.const 1)))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (global.set $meddle (i32.const 1))
    (drop (call $pairs (i32.const 0) (i32.const 256) (i32.const 260)))
    (global.set $meddle (i32.const 0))
    ;; The answer's pair count (its first word) as one decimal digit, sent back as `x-count`.
    (i32.store8 (i32.const 48) (i32.add (i32.const 48) (i32.load (i32.load (i32.const 256)))))
    (drop (call $add (i32.const 0) (i32.const 32) (i32.const 7) (i32.const 48) (i32.const 1)))
    (i32.const 0)))"#,
    )
    .unwrap();
    let plugin = Plugin::from_bytes(bytes).start().unwrap();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    plugin.assert_not_failed();
    let upstream = stream.upstream_request();
    upstream.assert_header("x-late", "1");
    let sent = REQUEST_DEFAULTS.len() + 1; // and x-request-id
    upstream.assert_header("x-count", &sent.to_string());
}

/// `HeaderList::insert` keeps pseudo-headers before every other entry, whatever the entry before is: a pseudo-header
/// added after an entry with an empty name (a guest's `proxy_add_header_map_value` with an empty key) goes before it.
#[test]
fn a_pseudo_header_goes_before_an_entry_with_an_empty_name_header_list_insert() {
    let mut headers = Headers::new();
    headers.add("", "empty");
    headers.add(":path", "/");
    let names: Vec<&str> = headers.iter().map(|(name, _)| name).collect();
    assert_eq!(names, [":path", ""]);
}
