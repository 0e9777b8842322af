//! Conformance: `get_property` / `set_property` as Envoy resolves them — attribute roots, Wasm tokens and filter
//! state, segment-by-segment walks, typed values, what each phase can see — with the conformance guest (scenario
//! `properties`, which reads in the phases it names and logs `property <phase> <path> = <value>`; paths separate
//! segments with `/`).

use std::time::Duration;

use crate::support::*;
use host::testing::*;

/// What the guest read for `path` in `phase`: text, `0x…` hex for other bytes, `none` for NotFound, `status N`.
#[track_caller]
fn read(plugin: &Plugin, phase: &str, path: &str) -> String {
    let prefix = format!("property {phase} {path} = ");
    note(plugin, &prefix)[prefix.len()..].to_string()
}

fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("0x{digits}")
}

/// A request with a body and a response with a body, read in every stream phase.
fn whole_stream(plugin: &Plugin) {
    let mut stream = plugin.http_stream();
    stream.send_request_headers(
        &[
            (":path", "/items?id=1#top"),
            ("x-a", "1"),
            ("x-multi", "a"),
            ("x-multi", "b"),
        ],
        false,
    );
    stream.send_request_body("abc", true);
    stream.send_response_headers(&[(":status", "200"), ("x-r", "1")], false);
    stream.send_response_body("body", true);
    stream.finish();
    plugin.assert_not_failed();
}

const STREAM_PHASES: &str = "at=request-headers,request-body,response-headers,response-body,log";

// `RequestLookupValues` (expr/context.cc) reads `wrapper.headers_`, which `Context::findValue` (context.cc) points at
// `request_headers_`, else `access_log_request_headers_`; `decodeHeaders` nulls `request_headers_` once the headers
// continue. So header attributes vanish in body and response callbacks and come back in `on_log`.
#[test]
fn request_header_attributes_exist_while_envoy_holds_the_headers_and_again_in_on_log() {
    let plugin = start(&format!(
        "properties {STREAM_PHASES} request/path request/url_path request/query"
    ));
    whole_stream(&plugin);
    for phase in ["request-headers", "log"] {
        assert_eq!(read(&plugin, phase, "request/path"), "/items?id=1#top");
        assert_eq!(read(&plugin, phase, "request/url_path"), "/items");
        // `Query` stops at the fragment.
        assert_eq!(read(&plugin, phase, "request/query"), "id=1");
    }
    for phase in ["request-body", "response-headers", "response-body"] {
        for path in ["request/path", "request/url_path", "request/query"] {
            assert_eq!(read(&plugin, phase, path), "none", "{path} in {phase}");
        }
    }
}

// `HeadersWrapper` over a null map: no key is found and the map serializes as zero pairs (`serializeValue` kMap).
#[test]
fn the_request_headers_map_is_empty_once_the_headers_passed() {
    let plugin = start(&format!(
        "properties {STREAM_PHASES} request/headers/x-a request/headers"
    ));
    whole_stream(&plugin);
    assert_eq!(read(&plugin, "request-headers", "request/headers/x-a"), "1");
    assert_eq!(read(&plugin, "request-body", "request/headers/x-a"), "none");
    assert_eq!(
        read(&plugin, "request-body", "request/headers"),
        "0x00000000"
    );
    assert_eq!(read(&plugin, "log", "request/headers/x-a"), "1");
}

// `ResponseLookupValues` `Headers` reads `response_headers_`, else `access_log_response_headers_` (context.cc).
#[test]
fn response_header_attributes_exist_while_envoy_holds_the_response_headers_and_again_in_on_log() {
    let plugin = start(&format!("properties {STREAM_PHASES} response/headers/x-r"));
    whole_stream(&plugin);
    assert_eq!(
        read(&plugin, "request-headers", "response/headers/x-r"),
        "none"
    );
    assert_eq!(
        read(&plugin, "response-headers", "response/headers/x-r"),
        "1"
    );
    assert_eq!(
        read(&plugin, "response-body", "response/headers/x-r"),
        "none"
    );
    assert_eq!(read(&plugin, "log", "response/headers/x-r"), "1");
}

// `HeadersWrapper::operator[]` → `Http::HeaderUtility::getAllOfHeaderAsString`: every value, joined with ",".
#[test]
fn a_multi_valued_header_reads_as_its_values_joined_with_commas() {
    let plugin = start("properties request/headers/x-multi");
    whole_stream(&plugin);
    assert_eq!(
        read(&plugin, "request-headers", "request/headers/x-multi"),
        "a,b"
    );
}

// `ResponseLookupValues`: `Code` and `CodeDetails` come from the stream info, which has them only once a response
// (or a local reply) exists; then they stay, unlike the headers.
#[test]
fn response_code_and_details_exist_only_once_there_is_a_response() {
    let plugin = start(&format!(
        "properties {STREAM_PHASES} response/code response/code_details"
    ));
    whole_stream(&plugin);
    assert_eq!(read(&plugin, "request-headers", "response/code"), "none");
    assert_eq!(
        read(&plugin, "request-headers", "response/code_details"),
        "none"
    );
    assert_eq!(
        read(&plugin, "request-body", "response/code_details"),
        "none"
    );
    let code = hex(&200i64.to_le_bytes());
    for phase in ["response-headers", "response-body", "log"] {
        assert_eq!(read(&plugin, phase, "response/code"), code, "{phase}");
        assert_eq!(
            read(&plugin, phase, "response/code_details"),
            "via_upstream",
            "{phase}"
        );
    }
}

/// Envoy's connection manager adds `x-request-id` (`generate_request_id`, on by default) and `x-forwarded-proto`
/// before any filter runs (`ConnectionManagerUtility::mutateRequestHeaders`), so `request.id` resolves; a request
/// that brings its own id keeps it.
#[test]
fn request_id_resolves_from_the_x_request_id_envoys_connection_manager_adds() {
    let plugin = start("properties request/id request/headers/x-forwarded-proto");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    let id = stream
        .upstream_request()
        .header("x-request-id")
        .expect("Envoy adds x-request-id")
        .to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(read(&plugin, "request-headers", "request/id"), id);
    assert_eq!(
        read(
            &plugin,
            "request-headers",
            "request/headers/x-forwarded-proto"
        ),
        "http"
    );

    let plugin = start("properties request/id");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[("x-request-id", "given")], true);
    assert_eq!(read(&plugin, "request-headers", "request/id"), "given");
    stream
        .upstream_request()
        .assert_header_values("x-request-id", &["given"]);
}

/// `response.code` is the stream info's response code, which the router records when the upstream's headers
/// arrive: a `:status` the plugin writes in `on_response_headers` reaches the client but not `response.code`.
#[test]
fn response_code_is_the_code_the_router_recorded_not_a_status_the_plugin_wrote() {
    let plugin = start("properties at=response-headers,log response/code response:set,:status,201");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[(":status", "200")], true);
    stream.finish();
    stream.client_response().assert_status(201);
    let recorded = hex(&200i64.to_le_bytes());
    assert_eq!(read(&plugin, "response-headers", "response/code"), recorded);
    assert_eq!(read(&plugin, "log", "response/code"), recorded);
}

/// `Context::closeStream` sets the response code details to `wasm_close_stream` when nothing set them before
/// (`if (!responseCodeDetails().has_value())`): a close before any response says so in `on_log`, a close after
/// the upstream answered keeps `via_upstream`.
#[test]
fn close_stream_sets_the_details_wasm_close_stream_unless_details_were_set() {
    let plugin =
        start("close request-headers at=log read=response/code_details read=response/code");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.finish();
    assert_eq!(stream.reset().as_deref(), Some("wasm_close_stream"));
    assert_eq!(
        read(&plugin, "log", "response/code_details"),
        "wasm_close_stream"
    );
    assert_eq!(read(&plugin, "log", "response/code"), "none");

    let plugin = start("close response-headers at=log read=response/code_details");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[(":status", "200")], true);
    stream.finish();
    assert_eq!(
        read(&plugin, "log", "response/code_details"),
        "via_upstream"
    );
}

// `ResponseLookupValues` `GrpcStatus` → `Grpc::Common::getGrpcStatus(trailers, headers, info)`: without a
// `grpc-status`, the HTTP status mapped by `Grpc::Utility::httpToGrpcStatus` (403 → PermissionDenied, 7).
#[test]
fn grpc_status_falls_back_to_the_http_status_mapped() {
    let plugin = start("properties at=response-headers response/grpc_status");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[(":status", "403")], true);
    assert_eq!(
        read(&plugin, "response-headers", "response/grpc_status"),
        hex(&7i64.to_le_bytes())
    );
}

// `StreamActivation::FindValue` (evaluator.cc) answers only `xds` without stream info, and `Context::findValue`
// answers the plugin tokens; `connection_id` needs a connection (`getConnection`), filter state needs stream info.
#[test]
fn a_root_context_sees_only_xds_and_the_plugin_tokens() {
    let paths = "plugin_name xds/node/id request/path source/address connection/mtls connection_id metadata \
                 xds/cluster_name filter_state/wasm.k";
    let plugin = guest(&format!(
        "properties at=configure,tick,root-callout {paths}"
    ))
    .name("edge-auth")
    .property(&["xds", "node", "id"], "sidecar~10.0.0.1~app")
    .property(&["filter_state", "wasm.k"], "v")
    .clusters(&["auth"])
    .start()
    .unwrap();
    plugin.advance_time(Duration::from_millis(100));
    let call = plugin
        .http_calls()
        .pop()
        .expect("the root dispatched a callout");
    plugin.answer_http_call(call.token, HttpCallResponse::new(200));
    plugin.assert_not_failed();
    for phase in ["configure", "tick", "root-callout"] {
        assert_eq!(read(&plugin, phase, "plugin_name"), "edge-auth", "{phase}");
        assert_eq!(
            read(&plugin, phase, "xds/node/id"),
            "sidecar~10.0.0.1~app",
            "{phase}"
        );
        for path in [
            "request/path",
            "source/address",
            "connection/mtls",
            "connection_id",
            "metadata",
            "xds/cluster_name",
            "filter_state/wasm.k",
        ] {
            assert_eq!(read(&plugin, phase, path), "none", "{path} in {phase}");
        }
    }
}

// `Context::setProperty`: no stream info (`getRequestStreamInfo` is null in a root context) → NotFound.
#[test]
fn set_property_in_a_root_context_is_not_found() {
    let plugin = start("properties at=configure set=k k");
    assert_eq!(
        status(&plugin, "set_property configure k"),
        Status::NotFound as i32
    );
    assert_eq!(read(&plugin, "configure", "k"), "none");
}

// `Context::setProperty` needs `getRequestStreamInfo` (the decoder callbacks), which a stream keeps through `on_log`.
#[test]
fn set_property_in_on_log_is_ok() {
    let plugin = start("properties at=log set=k k");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[], true);
    stream.finish();
    assert_eq!(status(&plugin, "set_property log k"), Status::Ok as i32);
    assert_eq!(read(&plugin, "log", "k"), "stored");
}

// `Context::setProperty` stores filter state `wasm.` + the path exactly as passed (the SDK joins segments with NUL);
// `Context::getProperty` looks the first segment up as `wasm.<segment>`, so only a one-segment path reads back, and
// the `filter_state` attribute (`FilterStateWrapper`) sees it under its full key.
#[test]
fn set_property_stores_filter_state_under_wasm_dot_its_path() {
    let plugin = start("properties set=my_key my_key filter_state/wasm.my_key");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    assert_eq!(
        status(&plugin, "set_property request-headers my_key"),
        Status::Ok as i32
    );
    assert_eq!(read(&plugin, "request-headers", "my_key"), "stored");
    assert_eq!(
        read(&plugin, "request-headers", "filter_state/wasm.my_key"),
        "stored"
    );
    assert_eq!(
        stream.filter_state(&["my_key"]).as_deref(),
        Some(&b"stored"[..])
    );

    // Two segments: stored as `wasm.my\0key`, which no path can name.
    let plugin = start("properties set=my/key my/key");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    assert_eq!(
        status(&plugin, "set_property request-headers my/key"),
        Status::Ok as i32
    );
    assert_eq!(read(&plugin, "request-headers", "my/key"), "none");
    assert_eq!(
        stream.filter_state(&["my", "key"]).as_deref(),
        Some(&b"stored"[..])
    );
}

// context.cc `Context::setProperty` stores every value as filter state `wasm.<path>`; a test lists them all, and
// they outlive the stream's callbacks (Envoy's access log reads filter state after `on_log`).
#[test]
fn every_value_set_property_stored_is_listed_with_its_path_also_after_the_stream_ended() {
    let plugin = start("properties at=request-headers,log set=my/key my/key");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    assert_eq!(
        stream.filter_states(),
        [(
            vec!["my".to_string(), "key".to_string()],
            b"stored".to_vec()
        )]
    );
    stream.send_response_headers(&[], true);
    stream.finish();
    assert_eq!(
        stream.filter_states(),
        [(
            vec!["my".to_string(), "key".to_string()],
            b"stored".to_vec()
        )],
        "on_log stored it again, and it is still readable after on_delete"
    );
    assert_eq!(stream.envoy_filter_states(), []);
}

// `Context::findValue`: `node` is neither a CEL attribute (the activation has `xds`) nor a Wasm token, so it is
// filter state `wasm.node`, absent; the node is `xds.node` (`XDSLookupValues` `Node`).
#[test]
fn the_node_is_xds_node_and_node_alone_is_not_found() {
    let plugin = guest(
        "properties node/id xds/node/id xds/node/cluster xds/node/metadata/REGION xds/node/no_such",
    )
    .property(&["xds", "node", "id"], "sidecar")
    .node_metadata("REGION", "eu")
    .start()
    .unwrap();
    plugin.http_stream().send_request_headers(&[], true);
    assert_eq!(read(&plugin, "request-headers", "node/id"), "none");
    assert_eq!(read(&plugin, "request-headers", "xds/node/id"), "sidecar");
    // An unset string field of a message reads as proto3's default, not NotFound.
    assert_eq!(read(&plugin, "request-headers", "xds/node/cluster"), "");
    assert_eq!(
        read(&plugin, "request-headers", "xds/node/metadata/REGION"),
        "eu"
    );
    // `getProperty`: `FindFieldByName` fails → NotFound.
    assert_eq!(read(&plugin, "request-headers", "xds/node/no_such"), "none");
}

// `Context::getProperty` walks `metadata` (a `Metadata` message) → `filter_metadata` (a map field) → the filter's
// `Struct` → its key; a segment may hold dots. A `Struct` number is a double (`serializeValue` kDouble).
#[test]
fn filter_metadata_is_walked_segment_by_segment_and_its_numbers_are_doubles() {
    let plugin = guest(
        "properties metadata/filter_metadata/envoy.filters.http.lua/user \
         metadata/filter_metadata/envoy.filters.http.lua/tier metadata/filter_metadata/envoy.filters.http.lua/admin",
    )
    .filter_metadata("envoy.filters.http.lua", "user", "alice")
    .filter_metadata("envoy.filters.http.lua", "tier", 5)
    .filter_metadata("envoy.filters.http.lua", "admin", true)
    .start()
    .unwrap();
    plugin.http_stream().send_request_headers(&[], true);
    let at = |key: &str| {
        read(
            &plugin,
            "request-headers",
            &format!("metadata/filter_metadata/envoy.filters.http.lua/{key}"),
        )
    };
    assert_eq!(at("user"), "alice");
    assert_eq!(at("tier"), hex(&5f64.to_le_bytes()));
    assert_eq!(at("admin"), "0x01");
}

// `serializeValue` kMessage: a whole message is its protobuf encoding (`SerializeToString`).
#[test]
fn a_whole_node_reads_as_its_protobuf_encoding() {
    let plugin = guest("properties xds/node")
        .property(&["xds", "node", "id"], "n1")
        .start()
        .unwrap();
    plugin.http_stream().send_request_headers(&[], true);
    // Field 1 (id), length 2, "n1".
    assert_eq!(read(&plugin, "request-headers", "xds/node"), "0x0a026e31");
}

// `serializeValue` kMap calls `ListKeys()`, which the attribute wrappers (`BaseWrapper`) do not implement:
// SerializationFailure for a whole group; a path that does not exist is NotFound (`getProperty`).
#[test]
fn a_whole_attribute_group_cannot_be_serialized_and_a_missing_path_is_not_found() {
    let plugin = start(
        "properties request source xds request/no_such request/path/deeper xds/node/metadata/missing \
         metadata/filter_metadata/missing/key no/such/property",
    );
    plugin
        .http_stream()
        .send_request_headers(&[(":path", "/p")], true);
    for group in ["request", "source", "xds"] {
        assert_eq!(
            read(&plugin, "request-headers", group),
            "status 3",
            "{group}"
        );
    }
    for path in [
        "request/no_such",
        "request/path/deeper",
        "xds/node/metadata/missing",
        "metadata/filter_metadata/missing/key",
        "no/such/property",
    ] {
        assert_eq!(read(&plugin, "request-headers", path), "none", "{path}");
    }
    plugin.assert_not_failed();
}

// `serializeValue`: int64 and uint64 8 bytes little-endian, bool 1 byte, timestamps and durations int64 nanoseconds;
// `request.duration` exists once the request completed (`requestComplete`), i.e. in `on_log`.
#[test]
fn values_are_typed_as_envoy_types_them() {
    let plugin = start(
        "properties at=request-headers,log source/port connection/mtls connection_id connection/id request/time \
         request/duration request/protocol",
    );
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    plugin.advance_time(Duration::from_millis(250));
    stream.send_response_headers(&[], true);
    stream.finish();
    let phase = "request-headers";
    assert_eq!(
        read(&plugin, phase, "source/port"),
        hex(&34567i64.to_le_bytes())
    );
    assert_eq!(read(&plugin, phase, "connection/mtls"), "0x00");
    assert_eq!(
        read(&plugin, phase, "connection_id"),
        hex(&1u64.to_le_bytes())
    );
    assert_eq!(
        read(&plugin, phase, "connection/id"),
        hex(&1u64.to_le_bytes())
    );
    // The plugin's default start time, 2024-01-01T00:00:00Z, when this stream began.
    let nanos = Duration::from_secs(1_704_067_200).as_nanos() as i64;
    assert_eq!(
        read(&plugin, phase, "request/time"),
        hex(&nanos.to_le_bytes())
    );
    assert_eq!(read(&plugin, phase, "request/duration"), "none");
    assert_eq!(read(&plugin, phase, "request/protocol"), "HTTP/1.1");
    assert_eq!(
        read(&plugin, "log", "request/duration"),
        hex(&250_000_000i64.to_le_bytes())
    );
}

// Envoy's defaults for what the host cannot know, each overridable: `PeerWrapper` addresses, the plugin tokens.
#[test]
fn properties_have_envoy_like_defaults() {
    let plugin = start(
        "properties plugin_name plugin_root_id plugin_vm_id request/path request/url_path request/method \
         request/host source/address destination/port",
    );
    let mut stream = plugin.http_stream();
    stream.send_request_headers(
        &[
            (":method", "PUT"),
            (":path", "/items?id=1"),
            (":authority", "api.local"),
        ],
        true,
    );
    assert_eq!(
        notes(&plugin, "property "),
        [
            "property request-headers plugin_name = plugin",
            // An empty root id is an empty string, not NotFound (`findValue` PLUGIN_ROOT_ID).
            "property request-headers plugin_root_id = ",
            "property request-headers plugin_vm_id = ",
            "property request-headers request/path = /items?id=1",
            "property request-headers request/url_path = /items",
            "property request-headers request/method = PUT",
            "property request-headers request/host = api.local",
            "property request-headers source/address = 10.0.0.2:34567",
            // int64 little-endian, as Envoy serializes integers.
            "property request-headers destination/port = 0x901f000000000000",
        ]
    );
}

// `HttpStream::set_source_address`: one downstream connection's peer (Envoy's `source.address` and `source.port`
// come from the stream's connection, `Filters::Common::Expr::PeerWrapper`), the others keep the plugin's.
#[test]
fn a_streams_source_address_is_its_own() {
    let plugin = guest("properties source/address source/port")
        .source_address("192.168.1.9:1234")
        .start()
        .unwrap();
    let mut first = plugin.http_stream();
    first.set_source_address("10.1.2.3:4000");
    first.send_request_headers(&[], true);
    let mut second = plugin.http_stream();
    second.send_request_headers(&[], true);
    assert_eq!(
        notes(&plugin, "property "),
        [
            "property request-headers source/address = 10.1.2.3:4000",
            "property request-headers source/port = 0xa00f000000000000",
            "property request-headers source/address = 192.168.1.9:1234",
            "property request-headers source/port = 0xd204000000000000",
        ]
    );
}

#[test]
fn properties_can_be_set_for_the_plugin_and_for_one_stream_only() {
    let lua = "metadata/filter_metadata/envoy.filters.http.lua/user";
    let plugin = guest(&format!(
        "properties plugin_name source/address source/port {lua}"
    ))
    .name("my-plugin")
    .source_address("192.168.1.9:1234")
    .start()
    .unwrap();
    let mut first = plugin.http_stream();
    first.set_filter_metadata("envoy.filters.http.lua", "user", "alice");
    first.send_request_headers(&[], true);
    let mut second = plugin.http_stream();
    second.send_request_headers(&[], true);
    assert_eq!(
        notes(&plugin, "property "),
        [
            "property request-headers plugin_name = my-plugin",
            "property request-headers source/address = 192.168.1.9:1234",
            "property request-headers source/port = 0xd204000000000000",
            &format!("property request-headers {lua} = alice"),
            // The second stream: the plugin's values, not the first stream's.
            "property request-headers plugin_name = my-plugin",
            "property request-headers source/address = 192.168.1.9:1234",
            "property request-headers source/port = 0xd204000000000000",
            &format!("property request-headers {lua} = none"),
        ]
    );
}

// A stream context's callout answer runs with the stream's decoder callbacks (stream info present) while the request
// headers are still held: the request attributes are there.
#[test]
fn a_streams_callout_answer_sees_the_held_request() {
    let plugin = guest("properties at=callout-response request/path source/address")
        .clusters(&["auth"])
        .start()
        .unwrap();
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/held")], true);
    plugin.answer_http_call(stream.http_call().token, HttpCallResponse::new(200));
    plugin.assert_not_failed();
    assert_eq!(read(&plugin, "callout-response", "request/path"), "/held");
    assert_eq!(
        read(&plugin, "callout-response", "source/address"),
        "10.0.0.2:34567"
    );
}

// Test-API misuse: a value where Envoy has none, or of a type Envoy never returns there, is refused with the reason.
#[test]
fn properties_envoy_does_not_have_are_refused_with_the_reason() {
    let refused = |path: &[&str], value: PropertyValue| {
        Properties::new()
            .set(path, value)
            .map(|_| ())
            .expect_err("refused")
            .to_string()
    };
    let error = refused(&["node", "metadata", "REGION"], "eu".into());
    assert!(error.contains("`xds.node.*`, not `node.*`"), "{error}");
    let error = refused(&["xds", "node", "id"], 5.into());
    assert!(
        error.contains("`xds.node.id` is a string in Envoy, not int"),
        "{error}"
    );
    let error = refused(&["request", "path"], "/x".into());
    assert!(error.contains("send that header"), "{error}");
    let error = refused(
        &["xds", "node", "metadata", "k"],
        PropertyValue::Bytes(vec![1]),
    );
    assert!(error.contains("google.protobuf.Struct"), "{error}");
    let error = refused(&["xds", "node", "extensions"], "x".into());
    assert!(error.contains("not `extensions`"), "{error}");
    let error = refused(&[], "x".into());
    assert!(error.contains("empty property path"), "{error}");
    let error = Properties::new()
        .source_address("10.0.0.1")
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(error.contains("IP:PORT"), "{error}");
}

#[test]
fn the_builder_refuses_a_property_envoy_does_not_have_with_the_reason() {
    let Err(error) = guest("properties").try_property(&["node", "id"], "x") else {
        panic!("node.id is not an attribute Envoy has");
    };
    assert!(
        matches!(&error, BuilderError::Property { path, .. } if path == "node.id"),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with("property node.id: "),
        "{error}"
    );
}

/// Raw `proxy_get_property` calls with paths no SDK builds, each status logged as one digit (Info): an empty path,
/// a lone NUL, bytes that are not UTF-8 (first and second segment), a trailing NUL, a path out of bounds.
const RAW_PATHS: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "request\00\ff")
  (data (i32.const 120) "\00")
  (data (i32.const 130) "\ff\fe")
  (data (i32.const 140) "request\00path\00")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func $status (param $s i32)
    (i32.store8 (i32.const 8) (i32.add (i32.const 48) (local.get $s)))
    (drop (call $log (i32.const 2) (i32.const 8) (i32.const 1))))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $status (call $get (i32.const 100) (i32.const 0) (i32.const 200) (i32.const 204)))
    (call $status (call $get (i32.const 120) (i32.const 1) (i32.const 200) (i32.const 204)))
    (call $status (call $get (i32.const 130) (i32.const 2) (i32.const 200) (i32.const 204)))
    (call $status (call $get (i32.const 100) (i32.const 9) (i32.const 200) (i32.const 204)))
    (call $status (call $get (i32.const 140) (i32.const 13) (i32.const 200) (i32.const 204)))
    (call $status (call $get (i32.const 65530) (i32.const 100) (i32.const 200) (i32.const 204)))
    (i32.const 0))
)
"#;

// `Context::getProperty` on paths no SDK builds: no segment leaves CEL's null value, which `serializeValue` cannot
// write (SerializationFailure, 3); an empty first segment is filter state `wasm.` and bytes that are not UTF-8 name
// nothing (NotFound, 1); a trailing NUL ends the path (Ok); a path outside memory is InvalidMemoryAccess (6). The
// host carries on.
#[test]
fn raw_paths_no_sdk_builds_get_envoys_statuses_and_the_host_carries_on() {
    let plugin = Plugin::from_bytes(wat::parse_str(RAW_PATHS).expect("valid WAT"))
        .start()
        .expect("starts");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/p")], true);
    plugin.assert_not_failed();
    assert_eq!(plugin.logs_at(Level::Info), ["3", "1", "1", "1", "0", "6"]);
    stream.send_response_headers(&[], true);
    stream.client_response().assert_status(200);
}

/// `set_property` 10,000 times with 4 KiB values, under key `KEY_EXPR` (an i32 stored as the 4-byte key).
fn set_property_loop(key_expr: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  (import "env" "proxy_set_property" (func $set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 32768))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $i i32)
    (loop $again
      (i32.store (i32.const 16) {key_expr})
      (drop (call $set (i32.const 16) (i32.const 4) (i32.const 1024) (i32.const 4096)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 10000))))
    (i32.const 0))
)"#
    );
    wat::parse_str(&text).expect("valid WAT")
}

// The host keeps every stream's filter state for the test to read: a guest storing ever new keys is stopped by the
// plugin's byte budget (a failed VM, Envoy's 503), while overwriting one key holds its size once.
#[test]
fn filter_state_counts_against_the_host_byte_budget() {
    let plugin = Plugin::from_bytes(set_property_loop("(local.get $i)"))
        .host_memory_limit(1 << 20)
        .start()
        .expect("starts");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    let failure = plugin.failure().expect("the budget stopped the guest");
    assert!(failure.contains("filter state (set_property)"), "{failure}");
    stream.client_response().assert_status(503);

    let plugin = Plugin::from_bytes(set_property_loop("(i32.const 7)"))
        .host_memory_limit(1 << 20)
        .start()
        .expect("starts");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    plugin.assert_not_failed();
    assert_eq!(
        stream.filter_state(&["\u{7}\0\0\0"]).map(|v| v.len()),
        Some(4096)
    );
}
