//! The proxy-wasm ABI as Envoy (proxy-wasm-cpp-host) exposes it: the enumerations, the wire formats, the guest
//! memory contract and every import a module may link against. Each import is a thin shim: it reads and checks
//! guest memory, hands the request to the Envoy layer (`crate::envoy`) and returns the status Envoy would.

mod buffers;
mod callouts;
mod context;
mod headers;
mod logging;
pub(crate) mod memory;
mod metrics;
pub(crate) mod pairs;
mod properties;
mod shared;
mod stream;
mod wasi;

use wasmtime::Linker;

use crate::envoy::HostState;

/// `proxy_status_t`: what every host function returns (the values cpp-host returns; the Rust SDK panics on the
/// ones it does not expect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
    BadArgument = 2,
    SerializationFailure = 3,
    ParseFailure = 4,
    InvalidMemoryAccess = 6,
    Empty = 7,
    CasMismatch = 8,
    InternalFailure = 10,
    BrokenConnection = 11,
    Unimplemented = 12,
}

/// `proxy_log_level_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

/// Which proxy-wasm ABI a module speaks, detected like cpp-host does: by its marker export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbiVersion {
    V0_1_0,
    V0_2_0,
    V0_2_1,
}

/// `proxy_map_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapType {
    RequestHeaders,
    RequestTrailers,
    ResponseHeaders,
    ResponseTrailers,
    GrpcInitialMetadata,
    GrpcTrailingMetadata,
    HttpCallResponseHeaders,
    HttpCallResponseTrailers,
}

/// `proxy_buffer_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BufferType {
    RequestBody,
    ResponseBody,
    DownstreamData,
    UpstreamData,
    HttpCallResponseBody,
    GrpcReceiveBuffer,
    VmConfiguration,
    PluginConfiguration,
    CallData,
}

/// `proxy_stream_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamType {
    Request,
    Response,
    Downstream,
    Upstream,
}

/// What a host function body can end with: a status for the guest, or a trap that stops the guest.
pub(crate) enum Fail {
    Status(Status),
    Trap(wasmtime::Error),
}

/// Result of a host function body; `Ok` becomes `Status::Ok`.
pub(crate) type HostResult<T = ()> = Result<T, Fail>;

impl LogLevel {
    pub(crate) fn from_raw(raw: i32) -> Option<LogLevel> {
        Some(match raw {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }
}

impl AbiVersion {
    /// The marker exports, in the order cpp-host accepts them.
    pub(crate) const MARKERS: [(&'static str, AbiVersion); 3] = [
        ("proxy_abi_version_0_1_0", AbiVersion::V0_1_0),
        ("proxy_abi_version_0_2_0", AbiVersion::V0_2_0),
        ("proxy_abi_version_0_2_1", AbiVersion::V0_2_1),
    ];
}

impl std::fmt::Display for AbiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AbiVersion::V0_1_0 => "0.1.0",
            AbiVersion::V0_2_0 => "0.2.0",
            AbiVersion::V0_2_1 => "0.2.1",
        })
    }
}

impl MapType {
    pub(crate) fn from_raw(raw: i32) -> Option<MapType> {
        Some(match raw {
            0 => MapType::RequestHeaders,
            1 => MapType::RequestTrailers,
            2 => MapType::ResponseHeaders,
            3 => MapType::ResponseTrailers,
            4 => MapType::GrpcInitialMetadata,
            5 => MapType::GrpcTrailingMetadata,
            6 => MapType::HttpCallResponseHeaders,
            7 => MapType::HttpCallResponseTrailers,
            _ => return None,
        })
    }
}

impl BufferType {
    pub(crate) fn from_raw(raw: i32) -> Option<BufferType> {
        Some(match raw {
            0 => BufferType::RequestBody,
            1 => BufferType::ResponseBody,
            2 => BufferType::DownstreamData,
            3 => BufferType::UpstreamData,
            4 => BufferType::HttpCallResponseBody,
            5 => BufferType::GrpcReceiveBuffer,
            6 => BufferType::VmConfiguration,
            7 => BufferType::PluginConfiguration,
            8 => BufferType::CallData,
            _ => return None,
        })
    }
}

impl StreamType {
    pub(crate) fn from_raw(raw: i32) -> Option<StreamType> {
        Some(match raw {
            0 => StreamType::Request,
            1 => StreamType::Response,
            2 => StreamType::Downstream,
            3 => StreamType::Upstream,
            _ => return None,
        })
    }
}

impl From<Status> for Fail {
    fn from(status: Status) -> Fail {
        Fail::Status(status)
    }
}

/// Going over the byte budget stops the guest (fails the VM), whatever the host call would have returned.
impl From<crate::envoy::BudgetExceeded> for Fail {
    fn from(exceeded: crate::envoy::BudgetExceeded) -> Fail {
        Fail::Trap(wasmtime::Error::new(exceeded))
    }
}

/// Host functions every ABI version gets, in module `env` (cpp-host `FOR_ALL_HOST_FUNCTIONS`).
const COMMON_IMPORTS: &[&str] = &[
    "proxy_log",
    "proxy_get_current_time_nanoseconds",
    "proxy_set_tick_period_milliseconds",
    "proxy_get_buffer_bytes",
    "proxy_set_buffer_bytes",
    "proxy_get_buffer_status",
    "proxy_get_header_map_pairs",
    "proxy_set_header_map_pairs",
    "proxy_get_header_map_value",
    "proxy_add_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_remove_header_map_value",
    "proxy_get_header_map_size",
    "proxy_send_local_response",
    "proxy_http_call",
    "proxy_grpc_call",
    "proxy_grpc_stream",
    "proxy_grpc_send",
    "proxy_grpc_cancel",
    "proxy_grpc_close",
    "proxy_get_status",
    "proxy_get_property",
    "proxy_set_property",
    "proxy_get_shared_data",
    "proxy_set_shared_data",
    "proxy_register_shared_queue",
    "proxy_resolve_shared_queue",
    "proxy_enqueue_shared_queue",
    "proxy_dequeue_shared_queue",
    "proxy_define_metric",
    "proxy_increment_metric",
    "proxy_record_metric",
    "proxy_get_metric",
    "proxy_set_effective_context",
    "proxy_done",
    "proxy_call_foreign_function",
    "pthread_equal",
    "emscripten_notify_memory_growth",
];

/// Registered only for ABI 0.1.0 modules (cpp-host `registerCallbacks`).
const V0_1_0_IMPORTS: &[&str] = &[
    "proxy_get_configuration",
    "proxy_continue_request",
    "proxy_continue_response",
    "proxy_clear_route_cache",
];

/// The WASI preview1 functions the host provides, under both `wasi_snapshot_preview1` and `wasi_unstable`.
pub(crate) const WASI_MODULES: [&str; 2] = ["wasi_snapshot_preview1", "wasi_unstable"];

/// Whether a module speaking `abi` may import `module.name`: the same set cpp-host registers for that version.
pub(crate) fn provides(abi: AbiVersion, module: &str, name: &str) -> bool {
    match module {
        "env" => {
            COMMON_IMPORTS.contains(&name)
                || match abi {
                    AbiVersion::V0_1_0 => V0_1_0_IMPORTS.contains(&name),
                    AbiVersion::V0_2_0 => {
                        matches!(name, "proxy_continue_stream" | "proxy_close_stream")
                    }
                    AbiVersion::V0_2_1 => matches!(
                        name,
                        "proxy_continue_stream" | "proxy_close_stream" | "proxy_get_log_level"
                    ),
                }
        }
        m if WASI_MODULES.contains(&m) => wasi::FUNCTIONS.contains(&name),
        _ => false,
    }
}

/// A linker with every host function of every ABI version; `provides` decides what a given module may use.
pub(crate) fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    logging::add(&mut linker)?;
    buffers::add(&mut linker)?;
    headers::add(&mut linker)?;
    stream::add(&mut linker)?;
    callouts::add(&mut linker)?;
    properties::add(&mut linker)?;
    metrics::add(&mut linker)?;
    context::add(&mut linker)?;
    shared::add(&mut linker)?;
    for module in WASI_MODULES {
        wasi::add(&mut linker, module)?;
    }
    Ok(linker)
}
