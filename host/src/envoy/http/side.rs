//! One direction of a stream as this filter sees it: where iteration stands, what the guest can reach, what is held
//! and what passed on.

use super::Headers;

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
    pub(in crate::envoy) headers: bool,
    pub(in crate::envoy) body: bool,
    pub(in crate::envoy) trailers: bool,
}

/// A body callback's way of stopping with the data held (or a headers callback's StopAllIterationAndBuffer, 3).
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
    pub(in crate::envoy) headers: Option<Headers>,
    /// What of this side the guest can reach now.
    pub(in crate::envoy) reach: Reach,
    /// Data held by this filter: the current chunk, or everything buffered.
    pub(in crate::envoy) body: Vec<u8>,
    /// Earlier chunks Envoy keeps for this filter after StopIterationAndWatermark: they go on first when it
    /// continues, but the filter does not see them again.
    pub(in crate::envoy) watermarked: Vec<u8>,
    pub(in crate::envoy) trailers: Option<Headers>,
    /// The peer ended this side (headers or body with end_of_stream, or trailers).
    pub(in crate::envoy) end_stream: bool,
    pub(in crate::envoy) iteration: Iteration,
    /// How the last body callback asked Envoy to hold the body (`None`: it did not); the next callback then sees
    /// the cumulative body.
    pub(in crate::envoy) buffering: Option<Buffering>,
    /// Inside a body callback with end_of_stream: the guest may add trailers.
    pub(in crate::envoy) last_body_callback: bool,
    pub(in crate::envoy) forwarded: Forwarded,
    /// What left the filter was checked for the headers HTTP requires (once: it does not change afterwards).
    pub(in crate::envoy) required_checked: bool,
}

impl Side {
    pub(super) fn new() -> Side {
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
            required_checked: false,
        }
    }

    /// A body buffer of this side, emptied, for the same side of the next stream (none when it grew large, so one
    /// large body is not held for good): most requests' bodies then need no allocation.
    pub(in crate::envoy) fn spare_body(&mut self) -> Vec<u8> {
        const LARGEST: usize = 16 * 1024;
        let mut body = std::mem::take(if self.forwarded.body.capacity() > self.body.capacity() {
            &mut self.forwarded.body
        } else {
            &mut self.body
        });
        if body.capacity() > LARGEST {
            return Vec::new();
        }
        body.clear();
        body
    }

    /// Envoy nulls its map/buffer pointers (after Continue, or on `proxy_continue_stream`).
    pub(crate) fn hide(&mut self) {
        self.reach = Reach::default();
    }

    /// No more callbacks on this side, and nothing of it within the guest's reach.
    pub(super) fn abort(&mut self) {
        self.iteration = Iteration::Aborted;
        self.hide();
    }

    pub(super) fn forward_headers(&mut self) {
        // What was buffered behind stopped headers reaches the filter again as one body, not as a buffer.
        self.buffering = None;
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

    pub(super) fn forward_body(&mut self) {
        if let Iteration::Body { headers_held } = &mut self.iteration
            && std::mem::take(headers_held)
        {
            // Envoy's `commonContinue`: the held headers go on first, then the data.
            self.forwarded.headers = self.headers.clone();
            self.reach.headers = false;
        }
        if self.forwarded.body.is_empty() && self.watermarked.is_empty() {
            // All that passes is the held body: handed over whole rather than copied.
            std::mem::swap(&mut self.forwarded.body, &mut self.body);
        } else {
            self.forwarded.body.append(&mut self.watermarked);
            self.forwarded.body.append(&mut self.body);
        }
        self.reach.body = false;
        self.buffering = None;
    }

    pub(super) fn forward_trailers(&mut self) {
        self.forward_body();
        self.forwarded.trailers = self.trailers.clone();
        self.reach.trailers = false;
        self.forwarded.end_stream = true;
        self.iteration = Iteration::Done;
    }

    /// Everything held passes unchanged (fail-open bypass).
    pub(super) fn forward_all(&mut self) {
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
