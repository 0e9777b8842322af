//! Envoy's own foreign functions (`source/extensions/common/wasm/foreign.cc`), present in every Envoy build and so
//! in every plugin here: zlib `compress` / `uncompress`, `set_envoy_filter_state`, `declare_property` and
//! `clear_route_cache`. The CEL functions (`expr_*`, only in builds with the CEL parser) and the crypto ones
//! (`sign`, `verify_signature`) are not modelled: a test that needs them registers a stand-in with
//! `PluginBuilder::foreign_function`.
//!
//! The argument messages are Envoy's protos (`source/extensions/common/wasm/ext/*.proto`), decoded with prost's
//! derive on hand-written structs: the same wire rules as C++ `ParseFromString` (malformed or truncated input and
//! invalid UTF-8 in a `string` field are errors; unknown fields are skipped; an unknown enum value reads as the
//! default, as `toFilterStateLifeSpan` maps it), without a build script or `protoc`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress};
use prost::Message;

use super::budget::entry_cost;
use super::{HostState, Refusal};
use crate::spec::Status;
use envoy_targets::Change;

/// `LifeSpan` of `declare_property.proto`: how long Envoy keeps a filter state object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum LifeSpan {
    /// Envoy's `FilterState::LifeSpan::FilterChain`: this request's filter chain (the default).
    FilterChain = 0,
    /// `LifeSpan::Request`: the downstream request, across internal redirects.
    DownstreamRequest = 1,
    /// `LifeSpan::Connection`: every request of the downstream connection.
    DownstreamConnection = 2,
}

/// `WasmType` of `declare_property.proto`: how Envoy reads a declared property's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum WasmType {
    Bytes = 0,
    String = 1,
    /// The schema holds a reflection flatbuffer.
    FlatBuffers = 2,
    /// The schema holds a type URL.
    Protobuf = 3,
}

/// `SetEnvoyFilterStateArguments` (`set_envoy_filter_state.proto`).
#[derive(Clone, PartialEq, Message)]
struct SetEnvoyFilterStateArguments {
    #[prost(string, tag = "1")]
    path: String,
    #[prost(string, tag = "2")]
    value: String,
    #[prost(enumeration = "LifeSpan", tag = "3")]
    span: i32,
}

/// `DeclarePropertyArguments` (`declare_property.proto`).
#[derive(Clone, PartialEq, Message)]
struct DeclarePropertyArguments {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(bool, tag = "2")]
    readonly: bool,
    #[prost(enumeration = "WasmType", tag = "3")]
    r#type: i32,
    #[prost(bytes = "vec", tag = "4")]
    schema: Vec<u8>,
    #[prost(enumeration = "LifeSpan", tag = "5")]
    span: i32,
}

/// An object `set_envoy_filter_state` stored in a stream's filter state: what the router, TCP proxy or a later
/// filter would read under its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterStateObject {
    /// The constructor input the plugin gave (the object's `serializeAsString` for the string-backed objects).
    pub value: String,
    pub span: LifeSpan,
}

/// A property the plugin declared with `declare_property` (Envoy's `CelStatePrototype`): it shapes every later
/// `set_property` of `wasm.<name>` on the streams of the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredProperty {
    /// A second `set_property` on the same stream is BadArgument (the SDK's `set_property` then panics).
    pub readonly: bool,
    pub kind: WasmType,
    pub schema: Vec<u8>,
    /// The life span of the filter state object `set_property` creates.
    pub span: LifeSpan,
}

/// What the built-in foreign functions keep, per context.
#[derive(Debug, Default)]
pub(crate) struct ForeignState {
    /// Stream id → key → object (`set_envoy_filter_state`).
    filter_state: HashMap<u32, BTreeMap<String, FilterStateObject>>,
    /// Context id → property name → declaration. Envoy keeps declarations on the context that declared them
    /// and `setProperty` consults only the root context's, so a stream's own declarations shape nothing.
    declared: HashMap<u32, BTreeMap<Vec<u8>, DeclaredProperty>>,
    /// Stream id → how many times the plugin called `clear_route_cache`.
    route_cache_clears: HashMap<u32, u32>,
}

/// The built-in functions, by the name the guest calls them with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    Compress,
    Uncompress,
    SetEnvoyFilterState,
    DeclareProperty,
    ClearRouteCache,
}

impl Builtin {
    pub(crate) const ALL: [(&'static str, Builtin); 5] = [
        ("compress", Builtin::Compress),
        ("uncompress", Builtin::Uncompress),
        ("set_envoy_filter_state", Builtin::SetEnvoyFilterState),
        ("declare_property", Builtin::DeclareProperty),
        ("clear_route_cache", Builtin::ClearRouteCache),
    ];

    pub(crate) fn named(name: &[u8]) -> Option<Builtin> {
        Builtin::ALL
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|(_, b)| *b)
    }
}

/// Filter state keys Envoy registers an object factory for (its "well known filter state objects"), with the
/// constructor input each accepts. Any other key is NotFound, as `FactoryRegistry::getFactory` finds nothing.
fn construct(key: &str, value: &str) -> Option<Result<(), ()>> {
    let accepted = match key {
        "envoy.string"
        | "envoy.network.upstream_server_name"
        | "envoy.network.application_protocols"
        | "envoy.network.upstream_subject_alt_names"
        | "envoy.tcp_proxy.cluster"
        | "envoy.udp_proxy.cluster" => true,
        "envoy.network.ip" => value.parse::<IpAddr>().is_ok(),
        "envoy.network.transport_socket.original_dst_address"
        | "envoy.filters.listener.original_dst.local_ip"
        | "envoy.filters.listener.original_dst.remote_ip" => value.parse::<SocketAddr>().is_ok(),
        _ => return None,
    };
    Some(if accepted { Ok(()) } else { Err(()) })
}

impl ForeignState {
    /// What the filter state objects and declared properties hold, as charged to the byte budget.
    pub(crate) fn held_bytes(&self) -> usize {
        let objects: usize = self
            .filter_state
            .values()
            .flatten()
            .map(|(key, object)| entry_cost(key.len() + object.value.len()))
            .sum();
        let declared: usize = self
            .declared
            .values()
            .flatten()
            .map(|(name, property)| entry_cost(name.len() + property.schema.len()))
            .sum();
        objects + declared
    }
}

impl HostState {
    /// Calls built-in `function` for the acting context, as foreign.cc does; `Ok` carries the result bytes
    /// (empty: none).
    pub(crate) fn call_builtin(
        &mut self,
        function: Builtin,
        args: &[u8],
    ) -> Result<Vec<u8>, Refusal> {
        match function {
            Builtin::Compress => Ok(compress(args)?),
            Builtin::Uncompress => Ok(uncompress(args, self.settings.memory_limit)?),
            Builtin::SetEnvoyFilterState => self.set_envoy_filter_state(args).map(|()| Vec::new()),
            Builtin::DeclareProperty => self.declare_property(args).map(|()| Vec::new()),
            Builtin::ClearRouteCache => {
                // Envoy's `clearRouteCache` acts on the decoder callbacks; a root context has none.
                if let Some(id) = self.foreign_function_stream() {
                    *self.foreign_state.route_cache_clears.entry(id).or_default() += 1;
                }
                Ok(Vec::new())
            }
        }
    }

    /// The stream `set_envoy_filter_state` and `clear_route_cache` act on: the effective context's
    /// (`contextOrEffectiveContext()`, Envoy 1.37+), before that the called context's (`current_context_`), so a
    /// callout callback of the root context that switched to a stream reached no stream.
    fn foreign_function_stream(&self) -> Option<u32> {
        let context = if self
            .settings
            .envoy
            .has(Change::ForeignFunctionsOnEffectiveContext)
        {
            self.context()
        } else {
            self.contexts.called()
        };
        self.streams.get(&context).map(|s| s.id)
    }

    /// `Context::setEnvoyFilterState`: the factory for the key (NotFound), the object from the value
    /// (BadArgument), then the stream's filter state (NotFound on a root context). The object is kept for the
    /// test to read, charged to the byte budget.
    fn set_envoy_filter_state(&mut self, args: &[u8]) -> Result<(), Refusal> {
        let args = SetEnvoyFilterStateArguments::decode(args).map_err(|_| Status::BadArgument)?;
        match construct(&args.path, &args.value) {
            None => return Err(Status::NotFound.into()),
            Some(Err(())) => return Err(Status::BadArgument.into()),
            Some(Ok(())) => {}
        }
        let id = self.foreign_function_stream().ok_or(Status::NotFound)?;
        let span = args.span();
        let objects = self.foreign_state.filter_state.entry(id).or_default();
        // Envoy's `FilterStateImpl::setData` refuses to move a key to another life span (an ENVOY_BUG that drops
        // the write); the guest is still told Ok.
        if objects.get(&args.path).is_some_and(|o| o.span != span) {
            return Ok(());
        }
        let replaced = objects
            .get(&args.path)
            .map(|o| args.path.len() + o.value.len());
        self.budget.replace_entry(
            "a filter state object (set_envoy_filter_state)",
            replaced,
            args.path.len() + args.value.len(),
        )?;
        let objects = self.foreign_state.filter_state.entry(id).or_default();
        objects.insert(
            args.path,
            FilterStateObject {
                value: args.value,
                span,
            },
        );
        Ok(())
    }

    /// `Context::declareProperty` on the current context (not the effective one, as foreign.cc reads
    /// `current_context_`): a name is declared once per context, again is BadArgument. The declaration is kept
    /// for the context's life, charged to the byte budget.
    fn declare_property(&mut self, args: &[u8]) -> Result<(), Refusal> {
        let args = DeclarePropertyArguments::decode(args).map_err(|_| Status::BadArgument)?;
        let declared = self
            .foreign_state
            .declared
            .entry(self.contexts.called())
            .or_default();
        let name = args.name.as_bytes().to_vec();
        if declared.contains_key(&name) {
            return Err(Status::BadArgument.into());
        }
        self.budget
            .charge_entry("a declared property", name.len() + args.schema.len())?;
        let declared = self
            .foreign_state
            .declared
            .entry(self.contexts.called())
            .or_default();
        declared.insert(
            name,
            DeclaredProperty {
                readonly: args.readonly,
                kind: args.r#type(),
                span: args.span(),
                schema: args.schema,
            },
        );
        Ok(())
    }

    /// The declaration `set_property(path)` follows: the root context's, as Envoy's `Context::setProperty`
    /// looks it up (`rootContext()->state_prototypes_`), by the whole path.
    pub(crate) fn declared_property(&self, path: &[u8]) -> Option<&DeclaredProperty> {
        self.foreign_state
            .declared
            .get(&self.contexts.root())?
            .get(path)
    }

    /// Whether `set_property(path)` may write on the acting stream given what is already there: a read-only
    /// declared property is written once (`CelState::setValue`), later writes are BadArgument.
    pub(crate) fn check_property_write(
        &self,
        path: &[u8],
        already_set: bool,
    ) -> Result<(), Status> {
        match self.declared_property(path) {
            Some(declared) if declared.readonly && already_set => Err(Status::BadArgument),
            _ => Ok(()),
        }
    }

    /// The object `set_envoy_filter_state` stored under `key` on stream `id`.
    pub(crate) fn envoy_filter_state(&self, id: u32, key: &str) -> Option<&FilterStateObject> {
        self.foreign_state.filter_state.get(&id)?.get(key)
    }

    /// Every object stream `id` stored with `set_envoy_filter_state`, by key.
    pub(crate) fn envoy_filter_states(&self, id: u32) -> Vec<(String, FilterStateObject)> {
        self.foreign_state
            .filter_state
            .get(&id)
            .map(|objects| {
                objects
                    .iter()
                    .map(|(k, o)| (k.clone(), o.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many times stream `id` called `clear_route_cache`.
    /// Drops what the built-in functions kept for stream `id`, once Envoy destroyed it.
    pub(crate) fn forget_foreign_state(&mut self, id: u32) {
        // Most plugins never call these functions: an empty map is not hashed into.
        let state = &mut self.foreign_state;
        if !state.filter_state.is_empty() {
            state.filter_state.remove(&id);
        }
        if !state.declared.is_empty() {
            state.declared.remove(&id);
        }
        if !state.route_cache_clears.is_empty() {
            state.route_cache_clears.remove(&id);
        }
    }

    pub(crate) fn route_cache_clears(&self, id: u32) -> u32 {
        self.foreign_state
            .route_cache_clears
            .get(&id)
            .copied()
            .unwrap_or(0)
    }
}

/// zlib's `compress()`: a zlib stream (RFC 1950) at the default level (6), the format and level Envoy returns.
/// The bytes are miniz_oxide's: the same as zlib's for short inputs, but beyond a few hundred bytes its matches
/// differ from those of the zlib-ng Envoy links, so a plugin must not compare compressed bytes (any zlib
/// `uncompress` reads both). It cannot fail; an I/O error here would be SerializationFailure, as there.
fn compress(data: &[u8]) -> Result<Vec<u8>, Status> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .map_err(|_| Status::SerializationFailure)
}

/// zlib's `uncompress()`: one complete zlib stream (bytes after its end are ignored, as there); corrupt or
/// truncated input is SerializationFailure. Envoy retries with a doubled buffer until the output fits, so any
/// size decompresses, up to what the guest's memory could take (`limit`): past it Envoy's allocation in the VM
/// fails, here the call is InvalidMemoryAccess, what a failed allocation gives every other host call.
fn uncompress(data: &[u8], limit: usize) -> Result<Vec<u8>, Status> {
    let mut inflate = Decompress::new(true);
    let mut out = Vec::with_capacity(data.len().saturating_mul(2).saturating_add(2).min(limit));
    loop {
        let (read, written) = (inflate.total_in(), inflate.total_out());
        let rest = &data[read as usize..];
        let status = inflate
            .decompress_vec(rest, &mut out, FlushDecompress::None)
            .map_err(|_| Status::SerializationFailure)?;
        if status == flate2::Status::StreamEnd {
            return Ok(out);
        }
        if out.len() == out.capacity() {
            if out.len() >= limit {
                return Err(Status::InvalidMemoryAccess);
            }
            out.reserve(out.len().max(64).min(limit - out.len()));
        } else if inflate.total_in() == read && inflate.total_out() == written {
            // All input consumed, room left, and no end of stream: zlib's Z_DATA_ERROR.
            return Err(Status::SerializationFailure);
        }
    }
}
