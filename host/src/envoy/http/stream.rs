//! One HTTP stream context: its two sides, its life, and what ended it (a local reply, a reset).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use smallvec::SmallVec;

use super::side::{Forwarded, Iteration, Side};
use super::{Dir, LocalReply, Properties};

/// Where a stream context is in its life: Envoy creates it lazily and destroys it after the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamLife {
    /// No context yet: Envoy creates it when the request headers reach the filter (or at access-log time).
    Pending,
    Open,
    /// `on_log` runs: the maps read are Envoy's access-log copies.
    Logging,
    /// `on_done` and `on_delete` run.
    Ending,
    Deleted,
}

/// One HTTP stream context.
#[derive(Debug, Clone)]
pub(crate) struct HttpStream {
    pub(in crate::envoy) id: u32,
    pub(in crate::envoy) life: StreamLife,
    pub(in crate::envoy) request: Side,
    pub(in crate::envoy) response: Side,
    /// The local reply the client got, if any.
    pub(in crate::envoy) local_reply: Option<LocalReply>,
    /// Set when the stream was reset (`proxy_close_stream`, or a local reply after the response started).
    pub(in crate::envoy) reset: Option<String>,
    /// Envoy's `StreamInfo` response code (`response.code`): recorded by the router when the upstream's headers
    /// arrive, or by a local reply; a `:status` a filter writes afterwards does not change it.
    pub(in crate::envoy) response_code: Option<u32>,
    /// Envoy's `StreamInfo` response code details (`response.code_details`): `via_upstream`, a local reply's, or
    /// `wasm_close_stream` from `Context::closeStream` when nothing set them before.
    pub(in crate::envoy) code_details: Option<Cow<'static, str>>,
    /// Envoy's `failure_local_reply_sent_`: the 503 of a failed VM skips this filter's encoder callbacks.
    pub(in crate::envoy) failure_reply_sent: bool,
    /// The VM had already failed when the stream began: under FAIL_OPEN Envoy's filter factory left the plugin out
    /// of this stream's filter chain (`PluginConfig::createContext` returns no context).
    pub(in crate::envoy) began_after_failure: bool,
    /// A local reply took the place of the upstream response: a response from upstream is ignored.
    pub(in crate::envoy) upstream_response_cut: bool,
    /// `proxy_set_property` values, under Envoy's filter-state key `wasm.<path>`.
    pub(in crate::envoy) filter_state: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Attribute values the test set for this stream (the plugin's, with the stream's own on top); `None`: the
    /// plugin's apply.
    pub(in crate::envoy) properties: Option<Box<Properties>>,
    /// Virtual time when the request began (`request.time`).
    pub(in crate::envoy) started: Duration,
    /// A network filter's context: the downstream connection it sees (its HTTP sides stay empty). `None`: an HTTP
    /// stream.
    pub(in crate::envoy) network: Option<Box<crate::envoy::network::Connection>>,
    /// Each filter callback Envoy called, in order, with what the plugin returned and what Envoy did with it. A
    /// stream's first few (headers and body each way) are kept without an allocation of their own.
    pub(in crate::envoy) outcomes: SmallVec<[super::CallbackOutcome; 4]>,
    /// What the guest copied into the stream's maps and bodies, and the bodies Envoy buffers for it, charged to the
    /// byte budget until the stream is deleted.
    pub(in crate::envoy) held: usize,
}

impl HttpStream {
    /// Nothing more reaches the plugin on `dir`: the stream ended, the side was aborted, or a local reply took
    /// the upstream response's place.
    pub(super) fn closed_to(&self, dir: Dir) -> bool {
        self.is_finished()
            || self.side(dir).iteration == Iteration::Aborted
            || dir == Dir::Response && self.upstream_response_cut
    }

    pub(crate) fn new(id: u32) -> HttpStream {
        HttpStream {
            id,
            life: StreamLife::Pending,
            request: Side::new(),
            response: Side::new(),
            local_reply: None,
            reset: None,
            response_code: None,
            code_details: None,
            failure_reply_sent: false,
            began_after_failure: false,
            upstream_response_cut: false,
            filter_state: BTreeMap::new(),
            properties: None,
            started: Duration::ZERO,
            network: None,
            outcomes: SmallVec::new(),
            held: 0,
        }
    }

    pub(crate) fn side(&self, dir: Dir) -> &Side {
        match dir {
            Dir::Request => &self.request,
            Dir::Response => &self.response,
        }
    }

    pub(crate) fn side_mut(&mut self, dir: Dir) -> &mut Side {
        match dir {
            Dir::Request => &mut self.request,
            Dir::Response => &mut self.response,
        }
    }

    /// The callback that keeps the request headers from the router, if one does: until they pass, Envoy has no
    /// upstream request, so no upstream response can arrive (the stream waits for a resume or its timeout).
    pub(crate) fn request_held_by(&self) -> Option<&'static str> {
        let request = &self.request;
        if request.forwarded.headers.is_some() || self.reset.is_some() || self.is_finished() {
            return None;
        }
        match request.iteration {
            Iteration::Idle | Iteration::Done | Iteration::Aborted => None,
            Iteration::StoppedHeaders => Some("on_request_headers"),
            Iteration::Body { .. } if request.buffering.is_some() => Some("on_request_body"),
            Iteration::Body { .. } => Some("on_request_headers (StopIteration)"),
            Iteration::StoppedTrailers => Some("on_request_trailers"),
        }
    }

    /// What passed this filter on `dir`: towards the upstream for the request, the client for the response.
    pub(crate) fn forwarded(&self, dir: Dir) -> &Forwarded {
        &self.side(dir).forwarded
    }

    /// The local reply the client got, if any.
    pub(crate) fn local_reply(&self) -> Option<&LocalReply> {
        self.local_reply.as_ref()
    }

    /// Why the stream was reset, if it was.
    pub(crate) fn reset(&self) -> Option<&str> {
        self.reset.as_deref()
    }

    /// Every `proxy_set_property` value, by filter-state key, in key order.
    pub(crate) fn filter_states(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.filter_state
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// Each filter callback Envoy called on the stream, in order.
    pub(crate) fn outcomes(&self) -> &[super::CallbackOutcome] {
        &self.outcomes
    }

    /// A `proxy_set_property` value, by its filter-state key.
    pub(crate) fn filter_state(&self, key: &[u8]) -> Option<&[u8]> {
        self.filter_state.get(key).map(Vec::as_slice)
    }

    /// The stream ended (`on_log` and after): nothing more flows through the filter.
    pub(crate) fn is_finished(&self) -> bool {
        matches!(
            self.life,
            StreamLife::Logging | StreamLife::Ending | StreamLife::Deleted
        )
    }

    /// Whether `on_log` runs: the guest reads Envoy's access-log copies of the maps.
    pub(crate) fn in_log(&self) -> bool {
        self.life == StreamLife::Logging
    }

    /// A gRPC request, as `Grpc::Common::isGrpcRequestHeaders` decides: a `:path` and a content type that is
    /// exactly `application/grpc` or starts with `application/grpc+` (`hasGrpcContentType`; `application/grpc-web`
    /// is not gRPC). Local replies to it become trailers-only gRPC responses.
    pub(crate) fn is_grpc(&self) -> bool {
        let Some(headers) = self.request.headers.as_ref() else {
            return false;
        };
        let grpc = headers
            .get_bytes("content-type")
            .and_then(|ct| ct.strip_prefix(b"application/grpc"))
            .is_some_and(|rest| rest.is_empty() || rest[0] == b'+');
        grpc && headers.contains(":path")
    }
}
