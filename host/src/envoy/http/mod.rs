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

/// What the filter told Envoy after a callback: let the data through, or stop iteration (paused, buffering, or
/// stopped because a local reply or a failure ended the stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

/// Request (decoder) or response (encoder) side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Request,
    Response,
}
