//! One HTTP stream through the plugin, the way Envoy's filter manager and Wasm `Context` drive it: a side's state
//! (`side`), the stream context (`stream`), the maps and buffers the guest can reach when (`maps`), the events
//! reaching the filter and what a callback's return value does (`filter`), and continues, resets, local replies
//! and the failure policy (`replies`).

mod filter;
mod maps;
mod relay;
mod replies;
mod required;
mod side;
mod stream;

use super::{
    FailurePolicy, Headers, HostState, LocalReply, MapKind, Properties, Vm, local_reply,
    replace_all_empty_space,
};

pub(crate) use maps::headers_kind;

pub(crate) use stream::{HttpStream, StreamLife};

/// Which of a side's callbacks ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Headers,
    Body,
    Trailers,
}

/// The callback's name, for a [`CallbackOutcome`].
fn callback_name(dir: Dir, part: Part) -> &'static str {
    match (dir, part) {
        (Dir::Request, Part::Headers) => "on_request_headers",
        (Dir::Request, Part::Body) => "on_request_body",
        (Dir::Request, Part::Trailers) => "on_request_trailers",
        (Dir::Response, Part::Headers) => "on_response_headers",
        (Dir::Response, Part::Body) => "on_response_body",
        (Dir::Response, Part::Trailers) => "on_response_trailers",
    }
}

/// What the filter told Envoy after a callback: let the data through, or stop iteration (paused, buffering, or
/// stopped because a local reply or a failure ended the stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

/// One filter callback Envoy called on a stream: the value the plugin returned and what Envoy made of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackOutcome {
    /// `on_request_headers`, `on_request_body`, `on_request_trailers`, or their `on_response_*` twins.
    pub callback: &'static str,
    /// What the callback returned (0 for a callback the module does not export); `None` if the VM failed in it.
    pub returned: Option<i32>,
    /// What Envoy did, as the filter status cpp-host and Envoy turned the value into: `Continue`, `StopIteration`,
    /// `StopAllIterationAndBuffer`, `StopAllIterationAndWatermark` (headers; what Pause becomes without
    /// `allow_on_headers_stop_iteration`), `StopIterationAndBuffer`, `StopIterationAndWatermark`,
    /// `StopIterationNoBuffer` (body), `StopIteration after a local reply` (the plugin answered locally in the
    /// callback, whatever it returned), or `failed` (the VM failed: the failure policy answered).
    pub envoy: &'static str,
}

/// Request (decoder) or response (encoder) side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Request,
    Response,
}
