//! What ends or resumes a stream from outside its callbacks: a continue, a reset, a local reply (through the
//! encoder filters or direct), and the failure policy's bypass or 503.

use std::borrow::Cow;

use super::side::{Forwarded, Iteration, Side};
use super::stream::StreamLife;
use super::{Action, Dir, FailurePolicy, Headers, LocalReply, Vm, local_reply};

impl Vm {
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
                // `commonContinue`: trailers that arrived before the resume follow the data (`doTrailers`),
                // whatever the body callback answered; only a reply or reset that ended the side stops them.
                let side = self.stream(id).side(dir);
                if matches!(side.iteration, Iteration::Body { .. }) && side.trailers.is_some() {
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
        // `Context::closeStream` sets its details only if nothing set any before.
        stream
            .code_details
            .get_or_insert_with(|| Cow::Owned(details.to_string()));
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
        stream.code_details = Some(Cow::Owned(reply.details.clone()));
        let response = stream.response.clone();
        if response.forwarded.headers.is_some() {
            // The client already has response headers: Envoy can only reset.
            self.reset_stream(id, &reply.details);
            return;
        }
        self.stream_mut(id).response_code = Some(reply.status);
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

    pub(super) fn direct_reply(&mut self, id: u32, composed: local_reply::Composed) {
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

    /// Envoy's `CHECK_FAIL` plus `failure_local_reply_sent_`: decides whether the VM is skipped for this callback.
    pub(super) fn bypass(&mut self, id: u32, dir: Dir) -> Option<Action> {
        if dir == Dir::Response {
            let stream = self.stream(id);
            if stream.failure_reply_sent
                || stream.local_reply.is_some() && stream.life == StreamLife::Pending
            {
                self.stream_mut(id).response.forward_all();
                return Some(Action::Continue);
            }
        }
        self.state().failed.as_ref()?;
        let stream = self.stream(id);
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
    pub(super) fn fail_stream(&mut self, id: u32) {
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
        stream.code_details = Some(Cow::Owned(reply.details.clone()));
        if stream.response.forwarded.headers.is_some() {
            self.reset_stream(id, "wasm_fail_stream");
            return;
        }
        stream.response_code = Some(reply.status);
        let composed = local_reply::compose(&reply, self.stream(id));
        self.direct_reply(id, composed);
    }
}
