//! One HTTP stream through the plugin, the way Envoy's filter manager and Wasm `Context` drive it: which maps and
//! buffers the guest can reach when, what a callback's return value does to iteration, buffering on `Pause`,
//! deferred continue/close/local reply, the fail-open/closed policy and the `on_log → on_done → on_delete` end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::vm::{Callback, Exports};
use super::{Deferred, FailurePolicy, Headers, HostState, LocalReply, Properties, Vm, local_reply};
use crate::spec::{BufferType, MapType};

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

/// Where iteration stands on one side of the stream, from this filter's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Iteration {
    /// No headers yet.
    Idle,
    /// The headers callback stopped iteration (StopAllIteration): headers, body and trailers are held.
    StoppedHeaders,
    /// Headers passed, or wait after a single StopIteration (`headers_held`, with
    /// `allow_on_headers_stop_iteration`) while body and trailers still reach the plugin; body chunks are delivered
    /// (and held while `buffering`). Whatever lets data through releases held headers first.
    Body { headers_held: bool },
    /// The trailers callback stopped iteration.
    StoppedTrailers,
    /// Everything passed.
    Done,
    /// No more callbacks on this side: a local reply, a reset or a failure ended it.
    Aborted,
}

/// Which of a side's maps and its buffer Envoy still points at, and so the guest can reach: Envoy nulls each
/// pointer on its own schedule (a map once it passed, all of them on `proxy_continue_stream`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reach {
    pub(crate) headers: bool,
    pub(crate) body: bool,
    pub(crate) trailers: bool,
}

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

/// A body callback's way of stopping with the data held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Buffering {
    /// StopIterationAndBuffer (1, the SDK's `Pause`): Envoy's filters stop streaming, so a body over the buffer
    /// limit gets a local reply.
    Buffer,
    /// StopIterationAndWatermark (2): over the limit, Envoy applies back-pressure instead. Envoy keeps the data
    /// but `Context::decodeData` sets `buffering_request_body_` only for 1: the next callback sees only its chunk.
    Watermark,
}

/// What passed this filter towards the next hop (the upstream for requests, the client for responses).
#[derive(Debug, Clone, Default)]
pub(crate) struct Forwarded {
    pub(crate) headers: Option<Headers>,
    pub(crate) body: Vec<u8>,
    pub(crate) trailers: Option<Headers>,
    pub(crate) end_stream: bool,
}

/// One direction of an HTTP stream.
#[derive(Debug, Clone)]
pub(crate) struct Side {
    /// Envoy's header map (kept after it passed, as the access-log copy).
    pub(crate) headers: Option<Headers>,
    /// What of this side the guest can reach now.
    pub(crate) reach: Reach,
    /// Data held by this filter: the current chunk, or everything buffered.
    pub(crate) body: Vec<u8>,
    /// Earlier chunks Envoy keeps for this filter after StopIterationAndWatermark: they go on first when it
    /// continues, but the filter does not see them again.
    pub(crate) watermarked: Vec<u8>,
    pub(crate) trailers: Option<Headers>,
    /// The peer ended this side (headers or body with end_of_stream, or trailers).
    pub(crate) end_stream: bool,
    pub(crate) iteration: Iteration,
    /// How the last body callback asked Envoy to hold the body (`None`: it did not); the next callback then sees
    /// the cumulative body.
    pub(crate) buffering: Option<Buffering>,
    /// Inside a body callback with end_of_stream: the guest may add trailers.
    pub(crate) last_body_callback: bool,
    pub(crate) forwarded: Forwarded,
}

/// One HTTP stream context.
#[derive(Debug, Clone)]
pub(crate) struct HttpStream {
    pub(crate) id: u32,
    pub(crate) life: StreamLife,
    pub(crate) request: Side,
    pub(crate) response: Side,
    /// The local reply the client got, if any.
    pub(crate) local_reply: Option<LocalReply>,
    /// Set when the stream was reset (`proxy_close_stream`, or a local reply after the response started).
    pub(crate) reset: Option<String>,
    /// Envoy's `failure_local_reply_sent_`: the 503 of a failed VM skips this filter's encoder callbacks.
    pub(crate) failure_reply_sent: bool,
    /// The VM had already failed when the stream began: under FAIL_OPEN Envoy's filter factory left the plugin out
    /// of this stream's filter chain (`PluginConfig::createContext` returns no context).
    pub(crate) began_after_failure: bool,
    /// A local reply took the place of the upstream response: a response from upstream is ignored.
    pub(crate) upstream_response_cut: bool,
    /// `proxy_set_property` values, under Envoy's filter-state key `wasm.<path>`.
    pub(crate) filter_state: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Attribute values the test set for this stream (the plugin's, with the stream's own on top); `None`: the
    /// plugin's apply.
    pub(crate) properties: Option<Box<Properties>>,
    /// Virtual time when the request began (`request.time`).
    pub(crate) started: Duration,
}

impl Side {
    fn new() -> Side {
        Side {
            headers: None,
            reach: Reach::default(),
            body: Vec::new(),
            watermarked: Vec::new(),
            trailers: None,
            end_stream: false,
            iteration: Iteration::Idle,
            buffering: None,
            last_body_callback: false,
            forwarded: Forwarded::default(),
        }
    }

    /// Envoy nulls its map/buffer pointers (after Continue, or on `proxy_continue_stream`).
    pub(crate) fn hide(&mut self) {
        self.reach = Reach::default();
    }

    /// No more callbacks on this side, and nothing of it within the guest's reach.
    fn abort(&mut self) {
        self.iteration = Iteration::Aborted;
        self.hide();
    }

    fn forward_headers(&mut self) {
        self.forwarded.headers = self.headers.clone();
        self.reach.headers = false;
        if self.end_stream && self.body.is_empty() && self.trailers.is_none() {
            self.forwarded.end_stream = true;
            self.iteration = Iteration::Done;
        } else {
            self.iteration = Iteration::Body {
                headers_held: false,
            };
        }
    }

    fn forward_body(&mut self) {
        if let Iteration::Body { headers_held } = &mut self.iteration
            && std::mem::take(headers_held)
        {
            // Envoy's `commonContinue`: the held headers go on first, then the data.
            self.forwarded.headers = self.headers.clone();
            self.reach.headers = false;
        }
        self.forwarded.body.append(&mut self.watermarked);
        self.forwarded.body.append(&mut self.body);
        self.reach.body = false;
        self.buffering = None;
    }

    fn forward_trailers(&mut self) {
        self.forward_body();
        self.forwarded.trailers = self.trailers.clone();
        self.reach.trailers = false;
        self.forwarded.end_stream = true;
        self.iteration = Iteration::Done;
    }

    /// Everything held passes unchanged (fail-open bypass).
    fn forward_all(&mut self) {
        if self.forwarded.headers.is_none() && self.headers.is_some() {
            self.forwarded.headers = self.headers.clone();
        }
        self.forward_body();
        if self.trailers.is_some() {
            self.forwarded.trailers = self.trailers.clone();
        }
        if self.end_stream {
            self.forwarded.end_stream = true;
            self.iteration = Iteration::Done;
        } else if self.iteration != Iteration::Idle {
            self.iteration = Iteration::Body {
                headers_held: false,
            };
        }
        self.hide();
    }
}

impl HttpStream {
    /// Nothing more reaches the plugin on `dir`: the stream ended, the side was aborted, or a local reply took
    /// the upstream response's place.
    fn closed_to(&self, dir: Dir) -> bool {
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
            failure_reply_sent: false,
            began_after_failure: false,
            upstream_response_cut: false,
            filter_state: BTreeMap::new(),
            properties: None,
            started: Duration::ZERO,
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

    /// A gRPC request (`content-type: application/grpc…`): local replies become trailers-only gRPC responses.
    pub(crate) fn is_grpc(&self) -> bool {
        self.request
            .headers
            .as_ref()
            .and_then(|h| h.get("content-type"))
            .is_some_and(|ct| ct.starts_with("application/grpc"))
    }
}

impl HostState {
    /// The map a host call addresses, as Envoy's `getConstMap` resolves it; `None` is Envoy's null pointer.
    pub(crate) fn map(&self, map: MapType) -> Option<&Headers> {
        match map {
            MapType::HttpCallResponseHeaders => self.callouts.delivering.as_ref()?.headers.as_ref(),
            MapType::HttpCallResponseTrailers => {
                self.callouts.delivering.as_ref()?.trailers.as_ref()
            }
            MapType::GrpcInitialMetadata => self
                .callouts
                .delivering
                .as_ref()?
                .grpc_initial_metadata
                .as_ref(),
            MapType::GrpcTrailingMetadata => self
                .callouts
                .delivering
                .as_ref()?
                .grpc_trailing_metadata
                .as_ref(),
            _ => {
                let stream = self.stream()?;
                let (side_dir, trailers) = stream_map(map);
                let side = stream.side(side_dir);
                // The access-log phase reads Envoy's access-log copies; it has none of the request trailers.
                if stream.in_log() && trailers && side_dir == Dir::Request {
                    return None;
                }
                let (headers, visible) = if trailers {
                    (
                        side.trailers.as_ref(),
                        side.reach.trailers || stream.in_log(),
                    )
                } else {
                    (side.headers.as_ref(), side.reach.headers || stream.in_log())
                };
                headers.filter(|_| visible)
            }
        }
    }

    /// The map a mutating host call addresses (Envoy `getMap`: no access-log copies). Trailers can be added from
    /// the last body callback.
    pub(crate) fn map_mut(&mut self, map: MapType) -> Option<&mut Headers> {
        match map {
            MapType::HttpCallResponseHeaders => self.callouts.delivering.as_mut()?.headers.as_mut(),
            MapType::HttpCallResponseTrailers => {
                self.callouts.delivering.as_mut()?.trailers.as_mut()
            }
            MapType::GrpcInitialMetadata => self
                .callouts
                .delivering
                .as_mut()?
                .grpc_initial_metadata
                .as_mut(),
            MapType::GrpcTrailingMetadata => self
                .callouts
                .delivering
                .as_mut()?
                .grpc_trailing_metadata
                .as_mut(),
            _ => {
                let (dir, trailers) = stream_map(map);
                let side = self.stream_mut()?.side_mut(dir);
                if trailers {
                    if side.trailers.is_none() && side.last_body_callback {
                        side.trailers = Some(Headers::new());
                        side.reach.trailers = true;
                    }
                    side.trailers.as_mut().filter(|_| side.reach.trailers)
                } else {
                    side.headers.as_mut().filter(|_| side.reach.headers)
                }
            }
        }
    }

    /// Whether the acting stream is in its access-log phase (Envoy answers missing maps with NotFound there).
    pub(crate) fn in_access_log(&self) -> bool {
        self.stream().is_some_and(HttpStream::in_log)
    }

    /// The bytes behind a buffer type, as Envoy's `getBuffer` serves them; `None` is a null buffer (NotFound).
    pub(crate) fn buffer(&self, buffer: BufferType) -> Option<Vec<u8>> {
        match buffer {
            BufferType::RequestBody | BufferType::ResponseBody => {
                let dir = if buffer == BufferType::RequestBody {
                    Dir::Request
                } else {
                    Dir::Response
                };
                let side = self.stream().map(|s| s.side(dir));
                Some(
                    side.filter(|s| s.reach.body)
                        .map(|s| s.body.clone())
                        .unwrap_or_default(),
                )
            }
            BufferType::DownstreamData | BufferType::UpstreamData => Some(Vec::new()),
            BufferType::HttpCallResponseBody => {
                let delivery = self.callouts.delivering.as_ref()?;
                delivery.headers.as_ref()?;
                Some(delivery.body.clone())
            }
            BufferType::GrpcReceiveBuffer => Some(
                self.callouts
                    .delivering
                    .as_ref()
                    .map(|d| d.body.clone())
                    .unwrap_or_default(),
            ),
            BufferType::VmConfiguration => Some(self.settings.vm_config.clone()),
            BufferType::PluginConfiguration => {
                self.configuring.then(|| self.settings.config.clone())
            }
            BufferType::CallData => Some(self.call_data.clone()),
        }
    }

    /// The body buffer a `proxy_set_buffer_bytes` writes to, if Envoy holds one. Every other buffer is a string
    /// buffer or a const one (configurations, call data, callout answers), and so is a body Envoy does not hold
    /// (outside its callback, after it passed): cpp-host's `BufferBase::copyFrom` answers those BadArgument.
    pub(crate) fn body_mut(&mut self, buffer: BufferType) -> Option<&mut Vec<u8>> {
        let dir = match buffer {
            BufferType::RequestBody => Dir::Request,
            BufferType::ResponseBody => Dir::Response,
            _ => return None,
        };
        let side = self.stream_mut()?.side_mut(dir);
        side.reach.body.then_some(&mut side.body)
    }
}

impl Vm {
    /// A new stream context id (from the counter root contexts share); the guest hears of it with the headers.
    pub(crate) fn new_stream(&mut self) -> u32 {
        let state = self.state_mut();
        let id = state.contexts.create();
        let mut stream = HttpStream::new(id);
        stream.began_after_failure = state.failed.is_some();
        stream.started = state.clock.now();
        state.streams.insert(id, Box::new(stream));
        id
    }

    pub(crate) fn stream(&self, id: u32) -> &HttpStream {
        &self.state().streams[&id]
    }

    fn stream_mut(&mut self, id: u32) -> &mut HttpStream {
        self.state_mut()
            .streams
            .get_mut(&id)
            .expect("stream exists")
    }

    /// Headers arrive at this filter (`decodeHeaders` / `encodeHeaders`).
    pub(crate) fn headers(
        &mut self,
        id: u32,
        dir: Dir,
        headers: Headers,
        end_stream: bool,
    ) -> Action {
        let stream = self.stream_mut(id);
        if stream.closed_to(dir) {
            return Action::Pause;
        }
        let side = stream.side_mut(dir);
        side.headers = Some(headers);
        side.reach.headers = true;
        side.end_stream = end_stream;
        side.iteration = Iteration::StoppedHeaders;
        if let Some(action) = self.bypass(id, dir) {
            return action;
        }
        let count = self
            .stream(id)
            .side(dir)
            .headers
            .as_ref()
            .map_or(0, Headers::len) as i32;
        let result = self.call_headers(id, dir, count, end_stream);
        if let Some(action) = self.bypass(id, dir) {
            return action;
        }
        let forced = std::mem::take(&mut self.state_mut().stop_next_iteration);
        let stop = forced || matches!(result, Some(v) if v != 0 && v != 2);
        // cpp-host turns Pause (1) into StopAllIterationAndWatermark unless Envoy allows a plain StopIteration.
        let single =
            !forced && result == Some(1) && self.state().settings.allow_on_headers_stop_iteration;
        let side = self.stream_mut(id).side_mut(dir);
        let action = if stop {
            if single {
                side.iteration = Iteration::Body { headers_held: true };
            }
            Action::Pause
        } else {
            side.forward_headers();
            Action::Continue
        };
        self.settle();
        action
    }

    /// A body chunk arrives (`decodeData` / `encodeData`).
    pub(crate) fn body(&mut self, id: u32, dir: Dir, chunk: &[u8], end_stream: bool) -> Action {
        let stream = self.stream_mut(id);
        if stream.closed_to(dir) {
            return Action::Pause;
        }
        let side = stream.side_mut(dir);
        side.body.extend_from_slice(chunk);
        side.end_stream = end_stream;
        // Held (headers stopped, trailers stopped) or not expected (no headers yet, done): only kept.
        if !matches!(side.iteration, Iteration::Body { .. }) {
            return Action::Pause;
        }
        if let Some(action) = self.bypass(id, dir) {
            return action;
        }
        // Envoy adds the chunk to the buffer before the plugin sees it; over the limit, the VM is not called.
        if self.over_buffer_limit(id, dir) {
            self.data_too_large(id, dir);
            return Action::Pause;
        }
        let action = self.deliver_body(id, dir);
        self.settle();
        action
    }

    fn over_buffer_limit(&self, id: u32, dir: Dir) -> bool {
        let side = self.stream(id).side(dir);
        side.buffering == Some(Buffering::Buffer)
            && side.body.len() > self.state().settings.buffer_limit
    }

    /// Envoy's watermark buffer overflowed while filters were not streaming (`requestDataTooLarge` /
    /// `responseDataTooLarge`): 413 for a request; for a response a 500, or a reset once the client has headers.
    fn data_too_large(&mut self, id: u32, dir: Dir) {
        let (status, text, details) = match dir {
            Dir::Request => (413, "Payload Too Large", "request_payload_too_large"),
            Dir::Response => (500, "Internal Server Error", "response_payload_too_large"),
        };
        let reply = LocalReply {
            status,
            details: details.to_string(),
            body: text.as_bytes().to_vec(),
            headers: Headers::new(),
            grpc_status: None,
        };
        self.send_local_reply(id, reply);
        self.settle();
    }

    /// Trailers arrive (`decodeTrailers` / `encodeTrailers`).
    pub(crate) fn trailers(&mut self, id: u32, dir: Dir, trailers: Headers) -> Action {
        let stream = self.stream_mut(id);
        if stream.closed_to(dir) {
            return Action::Pause;
        }
        let side = stream.side_mut(dir);
        side.trailers = Some(trailers);
        side.end_stream = true;
        // Held (headers stopped, trailers stopped) or not expected (no headers yet, done): only kept.
        if !matches!(side.iteration, Iteration::Body { .. }) {
            return Action::Pause;
        }
        if let Some(action) = self.bypass(id, dir) {
            return action;
        }
        let action = self.deliver_trailers(id, dir);
        self.settle();
        action
    }

    /// The stream ends: access log, then filter destruction (`on_log → on_done → on_delete`).
    pub(crate) fn finish(&mut self, id: u32) {
        if self.stream(id).is_finished() {
            return;
        }
        self.settle();
        self.ensure_created(id);
        if self.stream(id).life == StreamLife::Open && self.state().failed.is_none() {
            self.stream_mut(id).life = StreamLife::Logging;
            self.call(id, |e| &e.on_log, id as i32);
            self.stream_mut(id).life = StreamLife::Ending;
            self.call(id, |e| &e.on_done, id as i32);
            self.call(id, |e| &e.on_delete, id as i32);
        }
        self.stream_mut(id).life = StreamLife::Deleted;
        self.settle();
    }

    /// Runs a continue queued by `proxy_continue_stream` (Envoy `continueDecoding/continueEncoding`).
    pub(crate) fn continue_side(&mut self, id: u32, dir: Dir) {
        let stream = self.stream_mut(id);
        if stream.is_finished() {
            return;
        }
        let side = stream.side_mut(dir);
        match side.iteration {
            Iteration::StoppedHeaders => {
                side.forward_headers();
                // Data that arrived during the pause reaches this filter again, in one callback.
                let pending_body =
                    !side.body.is_empty() || (side.end_stream && side.trailers.is_none());
                if matches!(side.iteration, Iteration::Body { .. }) && pending_body {
                    self.deliver_body(id, dir);
                }
                let side = self.stream(id).side(dir);
                if matches!(side.iteration, Iteration::Body { .. })
                    && side.trailers.is_some()
                    && side.buffering.is_none()
                {
                    self.deliver_trailers(id, dir);
                }
            }
            Iteration::Body { .. } => {
                side.forward_body();
                if side.end_stream && side.trailers.is_none() {
                    side.forwarded.end_stream = true;
                    side.iteration = Iteration::Done;
                } else if side.trailers.is_some() {
                    side.forward_trailers();
                }
            }
            Iteration::StoppedTrailers => side.forward_trailers(),
            Iteration::Idle | Iteration::Done | Iteration::Aborted => {}
        }
    }

    /// Resets the stream (`proxy_close_stream`): nothing more flows either way.
    pub(crate) fn reset_stream(&mut self, id: u32, details: &str) {
        let stream = self.stream_mut(id);
        if stream.reset.is_none() {
            stream.reset = Some(details.to_string());
        }
        stream.request.abort();
        stream.response.abort();
    }

    /// Sends a local reply queued by `proxy_send_local_response`, the way Envoy's filter manager does.
    pub(crate) fn send_local_reply(&mut self, id: u32, reply: LocalReply) {
        let stream = self.stream_mut(id);
        if stream.is_finished() || stream.reset.is_some() {
            return;
        }
        stream.request.abort();
        stream.local_reply = Some(reply.clone());
        let response = stream.response.clone();
        if response.forwarded.headers.is_some() {
            // The client already has response headers: Envoy can only reset.
            self.reset_stream(id, &reply.details);
            return;
        }
        let composed = local_reply::compose(&reply, self.stream(id));
        if response.iteration != Iteration::Idle {
            // Response headers are in the filter chain: `sendDirectLocalReply`, bypassing the filters.
            self.direct_reply(id, composed);
            return;
        }
        // Through the encoder filters, this plugin's response callbacks included.
        let end_stream = composed.body.is_empty();
        self.stream_mut(id).response = Side::new();
        self.headers(id, Dir::Response, composed.headers, end_stream);
        if !end_stream {
            self.body(id, Dir::Response, &composed.body, true);
        }
        self.stream_mut(id).upstream_response_cut = true;
    }

    fn direct_reply(&mut self, id: u32, composed: local_reply::Composed) {
        self.stream_mut(id).upstream_response_cut = true;
        let response = &mut self.stream_mut(id).response;
        *response = Side::new();
        response.forwarded = Forwarded {
            headers: Some(composed.headers.clone()),
            body: composed.body.clone(),
            trailers: None,
            end_stream: true,
        };
        response.headers = Some(composed.headers);
        response.body = Vec::new();
        response.iteration = Iteration::Aborted;
    }

    /// Delivers the held body to the guest and applies its answer.
    fn deliver_body(&mut self, id: u32, dir: Dir) -> Action {
        let side = self.stream_mut(id).side_mut(dir);
        let end_stream = side.end_stream && side.trailers.is_none();
        side.reach.body = true;
        side.last_body_callback = end_stream;
        let size = side.body.len() as i32;
        let result = self.call_body(id, dir, size, end_stream);
        self.stream_mut(id).side_mut(dir).last_body_callback = false;
        if let Some(action) = self.bypass(id, dir) {
            return action;
        }
        let forced_stop = std::mem::take(&mut self.state_mut().stop_next_iteration);
        let side = self.stream_mut(id).side_mut(dir);
        match result.map(|v| v as u32) {
            _ if forced_stop => {
                side.reach.body = false;
                Action::Pause
            }
            Some(1) => {
                side.buffering = Some(Buffering::Buffer);
                // The chunk just seen moves into Envoy's buffer now, which may overflow it.
                if self.over_buffer_limit(id, dir) {
                    self.data_too_large(id, dir);
                }
                Action::Pause
            }
            Some(2) => {
                // Envoy keeps the chunk, but the filter's body pointer is the drained chunk: not shown again.
                side.buffering = Some(Buffering::Watermark);
                let chunk = std::mem::take(&mut side.body);
                side.watermarked.extend_from_slice(&chunk);
                side.reach.body = false;
                Action::Pause
            }
            Some(3..) => {
                // StopIterationNoBuffer: the filter dropped the data.
                side.body.clear();
                side.reach.body = false;
                Action::Pause
            }
            _ => {
                side.forward_body();
                if end_stream {
                    if side.trailers.is_some() {
                        side.forward_trailers();
                    } else {
                        side.forwarded.end_stream = true;
                        side.iteration = Iteration::Done;
                    }
                }
                Action::Continue
            }
        }
    }

    fn deliver_trailers(&mut self, id: u32, dir: Dir) -> Action {
        let side = self.stream_mut(id).side_mut(dir);
        side.reach.trailers = true;
        let count = side.trailers.as_ref().map_or(0, Headers::len) as i32;
        let result = self.call_trailers(id, dir, count);
        if let Some(action) = self.bypass(id, dir) {
            return action;
        }
        let stop = std::mem::take(&mut self.state_mut().stop_next_iteration)
            || matches!(result, Some(v) if v != 0);
        let side = self.stream_mut(id).side_mut(dir);
        if stop {
            side.iteration = Iteration::StoppedTrailers;
            Action::Pause
        } else {
            side.forward_trailers();
            Action::Continue
        }
    }

    /// Envoy's `CHECK_FAIL` plus `failure_local_reply_sent_`: decides whether the VM is skipped for this callback.
    fn bypass(&mut self, id: u32, dir: Dir) -> Option<Action> {
        let stream = self.stream(id);
        if dir == Dir::Response
            && (stream.failure_reply_sent
                || stream.local_reply.is_some() && stream.life == StreamLife::Pending)
        {
            self.stream_mut(id).response.forward_all();
            return Some(Action::Continue);
        }
        self.state().failed.as_ref()?;
        let settings = &self.state().settings;
        let left_out = settings.failure_policy == FailurePolicy::Open && stream.began_after_failure;
        if settings.legacy_fail_open || left_out {
            self.stream_mut(id).side_mut(dir).forward_all();
            return Some(Action::Continue);
        }
        self.fail_stream(id);
        Some(Action::Pause)
    }

    /// Envoy `failStream`: one synchronous 503 per stream, skipping this filter's encoder callbacks.
    fn fail_stream(&mut self, id: u32) {
        let stream = self.stream_mut(id);
        if stream.failure_reply_sent {
            return;
        }
        stream.failure_reply_sent = true;
        stream.request.abort();
        let reply = LocalReply {
            status: 503,
            details: "wasm_fail_stream".to_string(),
            body: Vec::new(),
            headers: Headers::new(),
            grpc_status: Some(14),
        };
        stream.local_reply = Some(reply.clone());
        if stream.response.forwarded.headers.is_some() {
            self.reset_stream(id, "wasm_fail_stream");
            return;
        }
        let composed = local_reply::compose(&reply, self.stream(id));
        self.direct_reply(id, composed);
    }

    /// Envoy creates the stream context when the request headers reach the filter (or at access-log time).
    pub(crate) fn ensure_created(&mut self, id: u32) {
        if self.stream(id).life != StreamLife::Pending || self.state().failed.is_some() {
            return;
        }
        self.stream_mut(id).life = StreamLife::Open;
        let root = self.state().contexts.root() as i32;
        self.call(id, |e| &e.on_context_create, (id as i32, root));
    }

    fn call_headers(&mut self, id: u32, dir: Dir, count: i32, end_stream: bool) -> Option<i32> {
        self.ensure_created(id);
        let exports = Arc::clone(&self.exports);
        let f = match dir {
            Dir::Request => exports.on_request_headers.as_ref(),
            Dir::Response => exports.on_response_headers.as_ref(),
        };
        let name = match dir {
            Dir::Request => "proxy_on_request_headers",
            Dir::Response => "proxy_on_response_headers",
        };
        match f {
            Some(super::vm::HeadersFn::V1(f)) => self.call_func(id, name, f, (id as i32, count)),
            Some(super::vm::HeadersFn::V2(f)) => {
                self.call_func(id, name, f, (id as i32, count, end_stream as i32))
            }
            None => Some(0),
        }
    }

    fn call_body(&mut self, id: u32, dir: Dir, size: i32, end_stream: bool) -> Option<i32> {
        let callback: fn(&Exports) -> &Callback<_, _> = match dir {
            Dir::Request => |e: &Exports| &e.on_request_body,
            Dir::Response => |e: &Exports| &e.on_response_body,
        };
        if !callback(&self.exports).is_exported() {
            return Some(0);
        }
        self.call(id, callback, (id as i32, size, end_stream as i32))
    }

    fn call_trailers(&mut self, id: u32, dir: Dir, count: i32) -> Option<i32> {
        let callback: fn(&Exports) -> &Callback<_, _> = match dir {
            Dir::Request => |e: &Exports| &e.on_request_trailers,
            Dir::Response => |e: &Exports| &e.on_response_trailers,
        };
        if !callback(&self.exports).is_exported() {
            return Some(0);
        }
        self.call(id, callback, (id as i32, count))
    }

    /// Runs everything Envoy would run once the current VM call returned (deferred actions), then what its
    /// dispatcher would post next (queue notifications), until nothing is left.
    ///
    /// Envoy's event loop keeps turning: a plugin whose `on_queue_ready` enqueues to its own queue is notified
    /// forever, one post at a time, and burns its worker. The host models each test step as running the dispatcher
    /// until it is idle, which such a plugin never lets happen, so one step delivers at most
    /// [`MAX_QUEUE_DELIVERIES`] notifications and then fails the VM, naming the queue, instead of hanging.
    pub(crate) fn settle(&mut self) {
        let mut deliveries = 0usize;
        loop {
            if let Some(action) = self.state_mut().deferred.pop_front() {
                match action {
                    Deferred::Continue { stream, dir } => self.continue_side(stream, dir),
                    Deferred::Close { stream } => self.reset_stream(stream, "wasm_close_stream"),
                    Deferred::LocalReply { stream, reply } => self.send_local_reply(stream, reply),
                }
                continue;
            }
            if self.state_mut().contexts.take_root_delete_request() {
                self.delete_root();
                continue;
            }
            if let Some(queue) = self.state_mut().queue_ready.pop_front() {
                if deliveries == MAX_QUEUE_DELIVERIES {
                    self.fail_queue_loop(queue);
                    continue;
                }
                deliveries += 1;
                self.queue_ready(queue);
                continue;
            }
            break;
        }
    }

    /// Fails the VM whose queue notifications never run out within one drive (see [`Vm::settle`]).
    fn fail_queue_loop(&mut self, queue: u32) {
        let state = self.state_mut();
        state.queue_ready.clear();
        if state.failed.is_some() {
            return;
        }
        let name = state.process.borrow().queue_name(queue);
        state.failed = Some(format!(
            "proxy_on_queue_ready was delivered {MAX_QUEUE_DELIVERIES} times in one step and shared queue {name} \
             (token {queue}) still has notifications pending: the plugin keeps enqueuing to the queue it is \
             notified about (a queue that feeds itself); Envoy would spin its worker on it forever, so the host \
             stopped the plugin"
        ));
    }
}

/// How many `on_queue_ready` notifications one test step delivers before it calls the plugin's queue a loop: far
/// more than a plugin that drains what it was sent needs, few enough to stop a self-feeding queue in well under a
/// second.
pub(crate) const MAX_QUEUE_DELIVERIES: usize = 100_000;

/// Which side and which map (headers or trailers) a stream map type names.
fn stream_map(map: MapType) -> (Dir, bool) {
    match map {
        MapType::RequestHeaders => (Dir::Request, false),
        MapType::RequestTrailers => (Dir::Request, true),
        MapType::ResponseHeaders => (Dir::Response, false),
        _ => (Dir::Response, true),
    }
}
