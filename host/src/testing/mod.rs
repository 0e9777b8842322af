//! The test API: load a compiled filter, drive requests through it the way Envoy does, and assert what the
//! upstream, the client, the logs and the callouts saw.
//!
//! ```no_run
//! use host::testing::*;
//!
//! # fn main() -> anyhow::Result<()> {
//! let plugin = Plugin::extension("header-append").config(r#"{"x-a": "b"}"#).start()?;
//! let mut stream = plugin.http_stream();
//! stream.send_request_headers(&[(":method", "GET"), (":path", "/")], true);
//! stream.upstream_request().assert_header(":path", "/");
//! stream.send_response_headers(&[(":status", "200")], true);
//! stream.client_response().assert_status(200).assert_header("x-a", "b");
//! stream.finish();
//! # Ok(())
//! # }
//! ```

mod builder;
mod connection;
mod envoy;
mod message;
mod modules;
#[cfg(feature = "scenario")]
pub mod play;
mod plugin;
mod printable;
mod relay;
#[cfg(feature = "scenario")]
mod scenario;
mod service;
mod stream;
mod wiring;

pub use builder::{BuilderError, PluginBuilder, StartError};
pub use connection::{ConnectionRefused, Received, TCP_PROXY_CLUSTER, TcpConnection};
pub use envoy::Envoy;
pub use message::Message;
pub use modules::{extension_module, guest_module, target_dir};
pub use plugin::Plugin;
pub use printable::{printable, printable_line};
pub use relay::Passed;
#[cfg(feature = "scenario")]
pub use scenario::{Mismatch, RunError, Scenario, ScenarioOutcome, StreamOutcome};
pub use service::Service;
pub use stream::{HttpStream, REQUEST_DEFAULTS, REQUEST_ID};

pub use crate::envoy::{
    Action, CallbackOutcome, ConnectionClosed, DeclaredProperty, FailurePolicy, FilterStateObject,
    GrpcCall, GrpcResponse, Headers, HostCallAnswer, HttpCall, HttpCallResponse, LifeSpan,
    LocalReply, LogEntry, LogOrigin, Metric, MetricKind, NamesSource, Properties, PropertyError,
    PropertyValue, Randomness, RefusedCall, StartFailure, TrapFrame, TrapKind, TrapReport, Value,
    VmRole, WasmType,
};
pub use crate::spec::{AbiVersion, LogLevel as Level, PeerType, Status};
