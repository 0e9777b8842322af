//! Envoy's own foreign functions (`source/extensions/common/wasm/foreign.cc`), there in every plugin without a
//! test registering them: zlib `compress` / `uncompress`, `set_envoy_filter_state`, `declare_property` and
//! `clear_route_cache`. The conformance guest's `envoy-foreign` scenario calls them with the bytes given in hex
//! (`root:NAME:HEX` in on_configure, `stream:NAME:HEX` in on_request_headers) and logs what it got back.

use crate::support::*;
use host::testing::*;
use prost::Message;

/// `SetEnvoyFilterStateArguments` (set_envoy_filter_state.proto), as a guest SDK would encode it.
#[derive(Clone, PartialEq, Message)]
struct SetEnvoyFilterState {
    #[prost(string, tag = "1")]
    path: String,
    #[prost(string, tag = "2")]
    value: String,
    #[prost(int32, tag = "3")]
    span: i32,
}

/// `DeclarePropertyArguments` (declare_property.proto).
#[derive(Clone, PartialEq, Message)]
struct DeclareProperty {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(bool, tag = "2")]
    readonly: bool,
    #[prost(int32, tag = "3")]
    kind: i32,
    #[prost(bytes = "vec", tag = "4")]
    schema: Vec<u8>,
    #[prost(int32, tag = "5")]
    span: i32,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn filter_state(path: &str, value: &str, span: LifeSpan) -> String {
    hex(&SetEnvoyFilterState {
        path: path.into(),
        value: value.into(),
        span: span as i32,
    }
    .encode_to_vec())
}

fn declare(name: &str, readonly: bool, span: LifeSpan) -> String {
    hex(&DeclareProperty {
        name: name.into(),
        readonly,
        kind: WasmType::String as i32,
        schema: Vec::new(),
        span: span as i32,
    }
    .encode_to_vec())
}

/// The guest with `steps`, started.
fn run(steps: &[String]) -> Plugin {
    start(&format!("envoy-foreign {}", steps.join(" ")))
}

/// One request through `plugin` (its `stream:` steps run in on_request_headers).
fn request(plugin: &Plugin) -> HttpStream<'_> {
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream
}

// foreign.cc `registerCompressForeignFunction`: zlib `compress()`, a zlib stream at the default level.
// foreign.cc `registerUncompressForeignFunction`: zlib `uncompress()`, SerializationFailure for anything but a
// whole zlib stream.
#[test]
fn compress_and_uncompress_are_zlib_as_envoy_calls_it() {
    let abc_zlib = "789c4b4c4a0600024d0127";
    let plugin = run(&[
        format!("root:compress:{}", hex(b"abc")),
        format!("stream:uncompress:{abc_zlib}"),
        // Bytes after the end of the stream are ignored, as zlib's uncompress ignores them.
        format!("stream:uncompress:{abc_zlib}ffff"),
        // Cut short: Z_DATA_ERROR.
        "stream:uncompress:789c4b4c4a06".into(),
        "stream:uncompress:00ff00ff".into(),
    ]);
    request(&plugin);
    assert_eq!(
        note(&plugin, "compress@root"),
        format!("compress@root: ok {abc_zlib}")
    );
    assert_eq!(
        notes(&plugin, "uncompress@stream"),
        [
            "uncompress@stream: ok 616263",
            "uncompress@stream: ok 616263",
            "uncompress@stream: err SerializationFailure",
            "uncompress@stream: err SerializationFailure",
        ]
    );
}

// Envoy retries `uncompress()` with a doubled buffer until the output fits: a highly compressible megabyte
// comes back whole.
#[test]
fn uncompress_returns_output_many_times_larger_than_its_input() {
    use std::io::Write;
    let original = vec![b'x'; 1 << 20];
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&original).unwrap();
    let compressed = encoder.finish().unwrap();
    assert!(compressed.len() < 2000, "{} bytes", compressed.len());
    let plugin = run(&[format!("stream:uncompress:{}", hex(&compressed))]);
    request(&plugin);
    let got = note(&plugin, "uncompress@stream");
    // Compared without printing two megabytes on a failure.
    assert!(
        got == format!("uncompress@stream: ok {}", hex(&original)),
        "expected 1 MiB of `x`, got {} characters: {}…",
        got.len(),
        &got[..got.len().min(80)]
    );
}

// context.cc `Context::setEnvoyFilterState`: the object factory registered for the key builds the object from
// the value and the stream's filter state keeps it, with the life span asked for.
#[test]
fn set_envoy_filter_state_stores_an_object_the_router_would_read() {
    let plugin = run(&[format!(
        "stream:set_envoy_filter_state:{}",
        filter_state(
            "envoy.network.upstream_server_name",
            "backend.internal",
            LifeSpan::DownstreamRequest
        )
    )]);
    let stream = request(&plugin);
    assert_eq!(
        note(&plugin, "set_envoy_filter_state@stream"),
        "set_envoy_filter_state@stream: ok none"
    );
    assert_eq!(
        stream.envoy_filter_state("envoy.network.upstream_server_name"),
        Some(FilterStateObject {
            value: "backend.internal".into(),
            span: LifeSpan::DownstreamRequest,
        })
    );
    assert_eq!(stream.envoy_filter_state("envoy.tcp_proxy.cluster"), None);
}

// context.cc `Context::setEnvoyFilterState`: no factory for the key is NotFound, a value the factory refuses
// is BadArgument, a root context (no stream info) is NotFound; foreign.cc: arguments that do not parse as
// `SetEnvoyFilterStateArguments` are BadArgument.
#[test]
fn set_envoy_filter_state_refuses_what_envoy_refuses() {
    let plugin = run(&[
        format!(
            "stream:set_envoy_filter_state:{}",
            filter_state("my.own.key", "v", LifeSpan::FilterChain)
        ),
        format!(
            "stream:set_envoy_filter_state:{}",
            filter_state(
                "envoy.network.transport_socket.original_dst_address",
                "not-an-address",
                LifeSpan::FilterChain
            )
        ),
        // Field 1, length 5, only 2 bytes follow.
        "stream:set_envoy_filter_state:0a056162".into(),
        format!(
            "root:set_envoy_filter_state:{}",
            filter_state("envoy.tcp_proxy.cluster", "c", LifeSpan::FilterChain)
        ),
    ]);
    let stream = request(&plugin);
    assert_eq!(
        notes(&plugin, "set_envoy_filter_state@"),
        [
            "set_envoy_filter_state@root: err NotFound",
            "set_envoy_filter_state@stream: err NotFound",
            "set_envoy_filter_state@stream: err BadArgument",
            "set_envoy_filter_state@stream: err BadArgument",
        ]
    );
    plugin.assert_not_failed();
    assert_eq!(stream.envoy_filter_state("my.own.key"), None);
    assert_eq!(
        stream.envoy_filter_state("envoy.network.transport_socket.original_dst_address"),
        None
    );
}

// context.cc `Context::declareProperty` and `Context::setProperty`: a property the root context declared read-only
// is written once per stream (`CelState::setValue`); the second `set_property` is BadArgument, which the Rust
// SDK's `set_property` turns into a panic (a failed VM in Envoy). An undeclared property takes any number of
// writes.
#[test]
fn a_read_only_declared_property_is_written_once_per_stream() {
    let plugin = run(&[
        format!(
            "root:declare_property:{}",
            declare("locked", true, LifeSpan::DownstreamRequest)
        ),
        "set:locked:first".into(),
        "set:locked:second".into(),
        "get:locked".into(),
        "set:free:first".into(),
        "set:free:second".into(),
        "get:free".into(),
    ]);
    request(&plugin);
    assert_eq!(
        note(&plugin, "declare_property@root"),
        "declare_property@root: ok none"
    );
    assert_eq!(
        notes(&plugin, "status set "),
        [
            "status set locked = 0",
            "status set locked = 2",
            "status set free = 0",
            "status set free = 0",
        ]
    );
    assert_eq!(
        note(&plugin, "property locked"),
        "property locked = first (0)"
    );
    assert_eq!(note(&plugin, "property free"), "property free = second (0)");
    assert_eq!(
        plugin.declared_property("locked"),
        Some(DeclaredProperty {
            readonly: true,
            kind: WasmType::String,
            schema: Vec::new(),
            span: LifeSpan::DownstreamRequest,
        })
    );
    // A second stream gets its own filter state: its first write succeeds.
    let mut again = plugin.http_stream();
    again.send_request_headers(&[], true);
    assert_eq!(
        notes(&plugin, "status set locked"),
        [
            "status set locked = 0",
            "status set locked = 2",
            "status set locked = 0",
            "status set locked = 2",
        ]
    );
}

// context.cc `Context::declareProperty`: a name is declared once per context (BadArgument again); the
// declaration is kept on the declaring context and `setProperty` reads the root's (`rootContext()->
// state_prototypes_`), so a stream's own declaration does not make the property read-only.
#[test]
fn declarations_are_once_per_context_and_only_the_root_ones_shape_set_property() {
    let plugin = run(&[
        format!(
            "root:declare_property:{}",
            declare("twice", false, LifeSpan::FilterChain)
        ),
        format!(
            "root:declare_property:{}",
            declare("twice", true, LifeSpan::FilterChain)
        ),
        format!(
            "stream:declare_property:{}",
            declare("streamed", true, LifeSpan::FilterChain)
        ),
        "stream:declare_property:ff".into(),
        "set:streamed:first".into(),
        "set:streamed:second".into(),
    ]);
    request(&plugin);
    assert_eq!(
        notes(&plugin, "declare_property@"),
        [
            "declare_property@root: ok none",
            "declare_property@root: err BadArgument",
            "declare_property@stream: ok none",
            "declare_property@stream: err BadArgument",
        ]
    );
    assert_eq!(
        notes(&plugin, "status set streamed"),
        ["status set streamed = 0", "status set streamed = 0"]
    );
    assert!(!plugin.declared_property("twice").unwrap().readonly);
    assert_eq!(plugin.declared_property("streamed"), None);
}

// foreign.cc `registerClearRouteCacheForeignFunction`: Ok, and the stream's route is picked again.
#[test]
fn clear_route_cache_is_there_and_counted_per_stream() {
    let plugin = run(&["stream:clear_route_cache:".into()]);
    let stream = request(&plugin);
    assert_eq!(
        note(&plugin, "clear_route_cache@stream"),
        "clear_route_cache@stream: ok none"
    );
    assert_eq!(stream.route_cache_clears(), 1);
}

#[test]
fn a_test_cannot_replace_one_of_envoys_own_functions() {
    let Err(error) = guest("envoy-foreign").try_foreign_function("compress", |_| Ok(Vec::new()))
    else {
        panic!("compress is Envoy's own");
    };
    assert_eq!(
        error,
        BuilderError::EnvoysOwnForeignFunction("compress".to_string())
    );
    assert!(
        error
            .to_string()
            .contains("`compress` is one of Envoy's own foreign functions"),
        "{error}"
    );
}

// foreign.cc (envoyproxy/envoy#42227, Envoy 1.37): `set_envoy_filter_state` and `clear_route_cache` act on
// `contextOrEffectiveContext()`. Envoy calls a callout's answer on the root context; the SDK switches to the stream
// that dispatched it with `proxy_set_effective_context`, so from 1.37 the stream gets the object. Before, they read
// `current_context_`, the root, which has no stream: NotFound, and no route cache is cleared.
#[test]
fn foreign_functions_act_on_the_effective_context_from_envoy_1_37() {
    let steps = format!(
        "envoy-foreign callout:set_envoy_filter_state:{} callout:clear_route_cache:",
        filter_state(
            "envoy.network.upstream_server_name",
            "backend.internal",
            LifeSpan::DownstreamRequest
        )
    );
    for (target, effective) in [("envoy-1.37", true), ("envoy", true), ("istio-1.28", false)] {
        let plugin = guest(&steps)
            .target(target)
            .any_cluster()
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        let mut stream = plugin.http_stream();
        stream.send_request_headers(&[], true);
        let token = plugin.http_calls()[0].token;
        plugin.answer_http_call(token, HttpCallResponse::new(200));
        stream.upstream_request().assert_complete();
        let (set, state, clears) = if effective {
            ("ok none", Some("backend.internal".to_string()), 1)
        } else {
            ("err NotFound", None, 0)
        };
        assert_eq!(
            note(&plugin, "set_envoy_filter_state@callout"),
            format!("set_envoy_filter_state@callout: {set}"),
            "{target}"
        );
        assert_eq!(
            stream
                .envoy_filter_state("envoy.network.upstream_server_name")
                .map(|o| o.value),
            state,
            "{target}"
        );
        assert_eq!(stream.route_cache_clears(), clears, "{target}");
    }
}
