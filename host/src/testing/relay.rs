//! Driving a stream with live traffic (the dev proxy) rather than a test: whole header maps as the previous filter
//! or the codec passed them (no defaults added), the bytes that passed since the last look, the plugin's log lines
//! as they come, and a stream forgotten once it ended.

use super::{HttpStream, Plugin};
use crate::envoy::{Action, Dir, Headers, LogEntry};

/// What passed a filter towards the next hop since the driver last looked.
#[derive(Debug, Clone, Default)]
pub struct Passed {
    /// The headers, once they passed (the same map on every later look: send them once).
    pub headers: Option<Headers>,
    /// The body bytes that passed since the last look.
    pub body: Vec<u8>,
    /// The trailers, once they passed.
    pub trailers: Option<Headers>,
    /// Nothing more follows on this side.
    pub end_stream: bool,
}

impl HttpStream<'_> {
    /// Request headers exactly as given: the codec or the filter before this one already made them what Envoy's
    /// filters see, so no default is added.
    pub fn relay_request_headers(&mut self, headers: Headers, end_of_stream: bool) -> Action {
        self.vm()
            .headers(self.id(), Dir::Request, headers, end_of_stream)
    }

    /// Response headers exactly as given (from the upstream, or from the filter after this one).
    pub fn relay_response_headers(&mut self, headers: Headers, end_of_stream: bool) -> Action {
        self.vm()
            .headers(self.id(), Dir::Response, headers, end_of_stream)
    }

    /// A request body chunk from the client or the filter before this one.
    pub fn relay_request_body(&mut self, body: &[u8], end_of_stream: bool) -> Action {
        self.vm().body(self.id(), Dir::Request, body, end_of_stream)
    }

    /// A response body chunk from the upstream or the filter after this one.
    pub fn relay_response_body(&mut self, body: &[u8], end_of_stream: bool) -> Action {
        self.vm()
            .body(self.id(), Dir::Response, body, end_of_stream)
    }

    /// Request trailers as a map; they end the request.
    pub fn relay_request_trailers(&mut self, trailers: Headers) -> Action {
        self.vm().trailers(self.id(), Dir::Request, trailers)
    }

    /// Response trailers as a map; they end the response.
    pub fn relay_response_trailers(&mut self, trailers: Headers) -> Action {
        self.vm().trailers(self.id(), Dir::Response, trailers)
    }

    /// What passed towards the upstream since the last call; the body bytes are moved out (so
    /// [`upstream_request`](Self::upstream_request) no longer shows them).
    pub fn take_toward_upstream(&mut self) -> Passed {
        self.take_passed(Dir::Request)
    }

    /// What passed towards the client (a local reply included) since the last call; the body bytes are moved out.
    pub fn take_toward_client(&mut self) -> Passed {
        self.take_passed(Dir::Response)
    }

    /// Request body bytes the filter holds under Envoy's watermarks: over the buffer limit, Envoy stops reading
    /// the client until the filter lets data through. (A body buffered with StopIterationAndBuffer is not counted:
    /// over the limit it gets Envoy's 413.)
    pub fn held_toward_upstream(&self) -> usize {
        self.observed()
            .watermarked_body_bytes(self.id(), Dir::Request)
    }

    /// Response body bytes the filter holds under Envoy's watermarks (the upstream's side of the same back-pressure).
    pub fn held_toward_client(&self) -> usize {
        self.observed()
            .watermarked_body_bytes(self.id(), Dir::Response)
    }

    fn take_passed(&mut self, dir: Dir) -> Passed {
        let f = self.observed().take_passed(self.id(), dir);
        Passed {
            headers: f.headers,
            body: f.body,
            trailers: f.trailers,
            end_stream: f.end_stream,
        }
    }

    /// Ends the stream like [`finish`](Self::finish); dropping the handle then drops what the host kept of it.
    pub fn finish_and_forget(mut self) {
        self.finish();
    }
}

impl Plugin {
    /// The worker VMs' log lines since the last call, moved out (their bytes leave the plugin's budget): a driver
    /// prints them as they come instead of keeping every line.
    pub fn take_logs(&self) -> Vec<LogEntry> {
        self.vms.borrow_mut().take_worker_logs()
    }
}
