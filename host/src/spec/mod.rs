//! The proxy-wasm ABI's vocabulary, shared by the ABI shims (`crate::abi`) and the Envoy layer (`crate::envoy`):
//! statuses, the enumerations host calls take, what filter callbacks return, ABI versions and the map wire format. It depends on nothing else in
//! the crate.

mod filter_status;
pub(crate) mod pairs;

pub(crate) use filter_status::{
    FilterDataStatus, FilterHeadersStatus, FilterStatus, FilterTrailersStatus,
};

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

/// Which proxy-wasm ABI a module speaks (one vocabulary with xtask's checks: `envoy_targets`).
pub use envoy_targets::AbiVersion;

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

/// `proxy_peer_type_t` (the SDK's `PeerType`, cpp-host's `CloseType`): which end closed a TCP connection, as the
/// connection close callbacks are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerType {
    /// Envoy cannot tell: what `on_upstream_connection_close` always hears, since Envoy signals the upstream's close
    /// from the end of its data (`Context::onWrite`), not from a connection event.
    Unknown = 0,
    /// Envoy closed the connection (a filter, the TCP proxy after its upstream went, a flushed half-close).
    Local = 1,
    /// The peer closed it.
    Remote = 2,
}

/// `proxy_stream_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamType {
    Request,
    Response,
    Downstream,
    Upstream,
}

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
