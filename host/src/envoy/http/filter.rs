//! The stream's events reaching the filter (`decodeHeaders`, `decodeData`, `decodeTrailers`, their encoder
//! twins, the access log and destruction) and what each callback's return value does to iteration and buffering.

use std::borrow::Cow;
use std::sync::Arc;

use super::maps::{headers_kind, trailers_kind};
use super::side::{Buffering, Iteration, Side};
use super::stream::StreamLife;
use super::{
    Action, CallbackOutcome, Dir, Headers, HttpStream, LocalReply, Part, Vm, callback_name,
};

/// A callback that sent a local reply: Envoy stops iteration whatever it returned (`Context::sendLocalResponse`
/// makes the filter's return StopIteration).
const AFTER_LOCAL_REPLY: &str = "StopIteration after a local reply";
use crate::envoy::vm::{Callback, Exports, HeadersFn};
use crate::spec::{FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus};

impl Vm {
    /// A new stream context id (from the counter root contexts share); the guest hears of it with the headers.
    pub(crate) fn new_stream(&mut self) -> u32 {
        let state = self.state_mut();
        let id = state.contexts.create();
        let mut stream = HttpStream::new(id);
        stream.began_after_failure = state.failed.is_some();
        stream.started = state.clock.now();
        let boxed = match state.spare_stream.take() {
            Some(mut spare) => {
                let bodies = [&mut spare.request, &mut spare.response].map(Side::spare_body);
                *spare = stream;
                [spare.request.body, spare.response.body] = bodies;
                spare
            }
            None => Box::new(stream),
        };
        state.streams.insert(id, boxed);
        id
    }

    pub(crate) fn stream(&self, id: u32) -> &HttpStream {
        &self.state().streams[&id]
    }

    pub(in crate::envoy) fn stream_mut(&mut self, id: u32) -> &mut HttpStream {
        let state = self.state_mut();
        if state.touched_streams.last() != Some(&id) {
            state.touched_streams.push(id);
        }
        state.streams.get_mut(&id).expect("stream exists")
    }

    /// Stream `id` to change without marking it touched, for a change that sends no headers on (its creation, its
    /// end, the required-header check itself), so the required-header check does not look at it again.
    pub(in crate::envoy) fn stream_mut_untouched(&mut self, id: u32) -> &mut HttpStream {
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
        let headers = headers.into_kind(headers_kind(dir));
        if dir == Dir::Response && stream.local_reply.is_none() {
            // The router records the upstream's response in the stream info before any encoder filter runs.
            stream.response_code = headers
                .value_of(":status")
                .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok());
            stream.code_details = Some(Cow::Borrowed("via_upstream"));
        }
        let count = headers.len() as i32;
        let side = stream.side_mut(dir);
        side.headers = Some(headers);
        side.reach.headers = true;
        side.end_stream = end_stream;
        side.iteration = Iteration::StoppedHeaders;
        if let Some(action) = self.bypass(id, dir) {
            return action;
        }
        let result = self.call_headers(id, dir, count, end_stream);
        if let Some(action) = self.bypass(id, dir) {
            self.record_outcome(id, dir, Part::Headers, result, "failed");
            return action;
        }
        let forced = std::mem::take(&mut self.state_mut().stop_next_iteration);
        let returned = result.map(FilterHeadersStatus::from_raw);
        // Envoy's `convertFilterHeadersStatus` has no case for ContinueAndEndStream: plain Continue.
        let continues = matches!(
            returned,
            Some(FilterHeadersStatus::Continue | FilterHeadersStatus::ContinueAndEndStream)
        );
        let stop = forced || (result.is_some() && !continues);
        // cpp-host turns Pause (StopIteration) into StopAllIterationAndWatermark unless Envoy allows a plain
        // StopIteration.
        let single = !forced
            && returned == Some(FilterHeadersStatus::StopIteration)
            && self.state().settings.allow_on_headers_stop_iteration;
        let buffer = !forced && returned == Some(FilterHeadersStatus::StopAllIterationAndBuffer);
        let envoy = match returned {
            _ if forced => AFTER_LOCAL_REPLY,
            _ if continues => "Continue",
            _ if single => "StopIteration",
            _ if buffer => "StopAllIterationAndBuffer",
            _ => "StopAllIterationAndWatermark",
        };
        let side = self
            .record_outcome(id, dir, Part::Headers, result, envoy)
            .side_mut(dir);
        let action = if stop {
            if single {
                side.iteration = Iteration::Body { headers_held: true };
            }
            if buffer {
                // StopAllIterationAndBuffer: what arrives meanwhile is buffered under the buffer limit.
                side.buffering = Some(Buffering::Buffer);
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
        let held = !matches!(stream.side(dir).iteration, Iteration::Body { .. });
        // What Envoy buffers for a plugin that holds the stream is kept by the host until the stream ends: charged
        // before it is copied. Envoy stops reading the peer over its buffer limit instead (watermarks), which a
        // driver of live traffic does too; a body pushed past the byte budget anyway is refused as an overflow.
        if held && let Err(over) = self.state_mut().charge_held_body(id, chunk.len()) {
            // Envoy drops what it buffered for a stream it answers locally: the held bytes leave the budget, which
            // leaves room to say why.
            let side = self.stream_mut(id).side_mut(dir);
            side.body = Vec::new();
            side.watermarked = Vec::new();
            self.state_mut().release_stream(id);
            let _ = self.state_mut().host_log(
                crate::spec::LogLevel::Warn,
                format!("{over}: answered as Envoy answers a buffer overflow"),
            );
            self.data_too_large(id, dir);
            return Action::Pause;
        }
        let side = self.stream_mut(id).side_mut(dir);
        side.body.extend_from_slice(chunk);
        side.end_stream = end_stream;
        // Held (headers stopped, trailers stopped) or not expected (no headers yet, done): only kept, unless headers
        // stopped with StopAllIterationAndBuffer and the buffer overflows.
        if held {
            if self.over_buffer_limit(id, dir) {
                self.data_too_large(id, dir);
            }
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

    pub(super) fn over_buffer_limit(&self, id: u32, dir: Dir) -> bool {
        let side = self.stream(id).side(dir);
        side.buffering == Some(Buffering::Buffer)
            && side.body.len() > self.state().settings.buffer_limit
    }

    /// Envoy's watermark buffer overflowed while filters were not streaming (`requestDataTooLarge` /
    /// `responseDataTooLarge`): 413 for a request; for a response a 500, or a reset once the client has headers.
    pub(super) fn data_too_large(&mut self, id: u32, dir: Dir) {
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
        side.trailers = Some(trailers.into_kind(trailers_kind(dir)));
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
        // What left a finished stream is not checked again.
        self.stream_mut_untouched(id).life = StreamLife::Deleted;
        self.state_mut().release_stream(id);
        self.settle();
    }

    /// Delivers the held body to the guest and applies its answer.
    pub(super) fn deliver_body(&mut self, id: u32, dir: Dir) -> Action {
        let side = self.stream_mut(id).side_mut(dir);
        let end_stream = side.end_stream && side.trailers.is_none();
        side.reach.body = true;
        side.last_body_callback = end_stream;
        let size = side.body.len() as i32;
        let result = self.call_body(id, dir, size, end_stream);
        self.stream_mut(id).side_mut(dir).last_body_callback = false;
        if let Some(action) = self.bypass(id, dir) {
            self.record_outcome(id, dir, Part::Body, result, "failed");
            return action;
        }
        let forced_stop = std::mem::take(&mut self.state_mut().stop_next_iteration);
        let returned = result.map(FilterDataStatus::from_raw);
        let envoy = match returned {
            _ if forced_stop => AFTER_LOCAL_REPLY,
            Some(FilterDataStatus::StopIterationAndBuffer) => "StopIterationAndBuffer",
            Some(FilterDataStatus::StopIterationAndWatermark) => "StopIterationAndWatermark",
            Some(FilterDataStatus::StopIterationNoBuffer) => "StopIterationNoBuffer",
            Some(FilterDataStatus::Continue) | None => "Continue",
        };
        let side = self
            .record_outcome(id, dir, Part::Body, result, envoy)
            .side_mut(dir);
        match returned {
            _ if forced_stop => {
                side.reach.body = false;
                Action::Pause
            }
            Some(FilterDataStatus::StopIterationAndBuffer) => {
                side.buffering = Some(Buffering::Buffer);
                // The chunk just seen moves into Envoy's buffer now, which may overflow it.
                if self.over_buffer_limit(id, dir) {
                    self.data_too_large(id, dir);
                }
                Action::Pause
            }
            Some(FilterDataStatus::StopIterationAndWatermark) => {
                // Envoy keeps the chunk, but the filter's body pointer is the drained chunk: not shown again.
                side.buffering = Some(Buffering::Watermark);
                let chunk = std::mem::take(&mut side.body);
                side.watermarked.extend_from_slice(&chunk);
                side.reach.body = false;
                Action::Pause
            }
            Some(FilterDataStatus::StopIterationNoBuffer) => {
                // The filter dropped the data.
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

    pub(super) fn deliver_trailers(&mut self, id: u32, dir: Dir) -> Action {
        let side = self.stream_mut(id).side_mut(dir);
        side.reach.trailers = true;
        let count = side.trailers.as_ref().map_or(0, Headers::len) as i32;
        let result = self.call_trailers(id, dir, count);
        if let Some(action) = self.bypass(id, dir) {
            self.record_outcome(id, dir, Part::Trailers, result, "failed");
            return action;
        }
        let forced = std::mem::take(&mut self.state_mut().stop_next_iteration);
        let returned = result.map(FilterTrailersStatus::from_raw);
        let stop = forced || matches!(returned, Some(FilterTrailersStatus::StopIteration));
        let envoy = match returned {
            _ if forced => AFTER_LOCAL_REPLY,
            Some(FilterTrailersStatus::Continue) => "Continue",
            _ => "StopIteration",
        };
        let side = self
            .record_outcome(id, dir, Part::Trailers, result, envoy)
            .side_mut(dir);
        if stop {
            side.iteration = Iteration::StoppedTrailers;
            Action::Pause
        } else {
            side.forward_trailers();
            Action::Continue
        }
    }

    /// Keeps what callback `part` of `dir` returned and what Envoy did with it, for the test to read; returns the
    /// stream, for what the callback's answer does next.
    fn record_outcome(
        &mut self,
        id: u32,
        dir: Dir,
        part: Part,
        returned: Option<i32>,
        envoy: &'static str,
    ) -> &mut HttpStream {
        let outcome = CallbackOutcome {
            callback: callback_name(dir, part),
            returned,
            envoy,
        };
        let stream = self.stream_mut(id);
        stream.outcomes.push(outcome);
        stream
    }

    /// Envoy creates the stream context when the request headers reach the filter (or at access-log time).
    pub(crate) fn ensure_created(&mut self, id: u32) {
        if self.state().failed.is_some() {
            return;
        }
        let stream = self.stream_mut_untouched(id);
        if stream.life != StreamLife::Pending {
            return;
        }
        stream.life = StreamLife::Open;
        let root = self.state().contexts.root() as i32;
        self.call(id, |e| &e.on_context_create, (id as i32, root));
    }

    pub(super) fn call_headers(
        &mut self,
        id: u32,
        dir: Dir,
        count: i32,
        end_stream: bool,
    ) -> Option<i32> {
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
            Some(HeadersFn::V1(f)) => {
                let f = f.in_vm(&self.instance, &mut self.store)?;
                self.call_func(id, name, f, (id as i32, count))
            }
            Some(HeadersFn::V2(f)) => {
                let f = f.in_vm(&self.instance, &mut self.store)?;
                self.call_func(id, name, f, (id as i32, count, end_stream as i32))
            }
            None => Some(0),
        }
    }

    pub(super) fn call_body(
        &mut self,
        id: u32,
        dir: Dir,
        size: i32,
        end_stream: bool,
    ) -> Option<i32> {
        let callback: fn(&Exports) -> &Callback<_, _> = match dir {
            Dir::Request => |e: &Exports| &e.on_request_body,
            Dir::Response => |e: &Exports| &e.on_response_body,
        };
        if !callback(&self.exports).is_exported() {
            return Some(0);
        }
        self.call(id, callback, (id as i32, size, end_stream as i32))
    }

    pub(super) fn call_trailers(&mut self, id: u32, dir: Dir, count: i32) -> Option<i32> {
        let callback: fn(&Exports) -> &Callback<_, _> = match dir {
            Dir::Request => |e: &Exports| &e.on_request_trailers,
            Dir::Response => |e: &Exports| &e.on_response_trailers,
        };
        if !callback(&self.exports).is_exported() {
            return Some(0);
        }
        self.call(id, callback, (id as i32, count))
    }
}
