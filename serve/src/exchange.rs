//! One request through a worker's chain, as Envoy's filter manager runs it: request callbacks in chain order,
//! response callbacks in reverse, each filter getting what the one before it let through, a pause holding
//! everything behind it, and a local reply travelling back through the filters that saw the request.
//!
//! Each filter is the host's stream of that plugin; this module only moves what passed one filter into the next
//! and says what reached the upstream and the client.

use host::testing::{Headers, HttpStream, Passed};

use crate::worker::Chain;

/// Envoy's default `per_connection_buffer_limit_bytes`, which the host applies too.
const BUFFER_LIMIT: usize = 1 << 20;

/// New things for the next hop: what passed a filter since the last look.
#[derive(Debug, Default)]
pub struct Delivery {
    pub headers: Option<Headers>,
    pub body: Vec<u8>,
    pub trailers: Option<Headers>,
    /// Nothing follows on this side.
    pub end: bool,
}

impl Delivery {
    pub fn is_empty(&self) -> bool {
        self.headers.is_none() && self.body.is_empty() && self.trailers.is_none() && !self.end
    }
}

/// What one hop (a filter's input, the upstream, the client) already received.
#[derive(Debug, Default, Clone, Copy)]
struct Hop {
    headers: bool,
    trailers: bool,
    ended: bool,
}

impl Hop {
    /// What in `passed` this hop has not received yet.
    fn accept(&mut self, passed: Passed) -> Delivery {
        let mut delivery = Delivery {
            body: passed.body,
            ..Delivery::default()
        };
        if !self.headers && passed.headers.is_some() {
            self.headers = true;
            delivery.headers = passed.headers;
        }
        if !self.trailers && passed.trailers.is_some() {
            self.trailers = true;
            delivery.trailers = passed.trailers;
        }
        if passed.end_stream && !self.ended {
            self.ended = true;
            delivery.end = true;
        }
        delivery
    }
}

/// Which way a delivery travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    ToUpstream,
    ToClient,
}

/// One request's streams through the chain.
pub struct Exchange<'c> {
    streams: Vec<HttpStream<'c>>,
    /// What passed filter i towards the upstream (the last one's is what the upstream gets).
    request_out: Vec<Hop>,
    /// What passed filter i towards the client (the first one's is what the client gets).
    response_out: Vec<Hop>,
}

/// What the chain let through to either end after an event.
#[derive(Debug, Default)]
pub struct Outcome {
    pub to_upstream: Delivery,
    pub to_client: Delivery,
    /// A filter reset the stream (`proxy_close_stream`, a local reply after the response began, a failed VM).
    pub reset: Option<String>,
}

impl<'c> Exchange<'c> {
    pub fn new(chain: &'c Chain, peer: &str) -> Exchange<'c> {
        let streams: Vec<HttpStream<'c>> = chain
            .filters
            .iter()
            .map(|f| {
                let mut stream = f.plugin.http_stream();
                stream.set_source_address(peer);
                stream
            })
            .collect();
        let n = streams.len();
        Exchange {
            streams,
            request_out: vec![Hop::default(); n],
            response_out: vec![Hop::default(); n],
        }
    }

    /// The client sent something: it enters the first filter (or, with no filter, goes straight on).
    pub fn client_sent(&mut self, delivery: Delivery) -> Outcome {
        match self.streams.first_mut() {
            Some(first) => {
                deliver(first, Way::ToUpstream, delivery);
                self.pump()
            }
            None => Outcome {
                to_upstream: delivery,
                ..Outcome::default()
            },
        }
    }

    /// The upstream (or the router, for its own local replies) answered: it enters the last filter.
    pub fn upstream_sent(&mut self, delivery: Delivery) -> Outcome {
        match self.streams.last_mut() {
            Some(last) => {
                deliver(last, Way::ToClient, delivery);
                self.pump()
            }
            None => Outcome {
                to_client: delivery,
                ..Outcome::default()
            },
        }
    }

    /// Something outside the stream happened (a callout answer, a tick, a queue): a paused filter may have
    /// resumed, so move along whatever passed.
    pub fn pump(&mut self) -> Outcome {
        let mut outcome = Outcome::default();
        let n = self.streams.len();
        // A resume on the response side never feeds the request side, and the request side's only effect on the
        // response side (a local reply) shows up in the pass that follows it: one pass each way suffices.
        for i in 0..n {
            let passed = self.streams[i].take_toward_upstream();
            let delivery = self.request_out[i].accept(passed);
            if delivery.is_empty() {
                continue;
            }
            match self.streams.get_mut(i + 1) {
                Some(next) => deliver(next, Way::ToUpstream, delivery),
                None => outcome.to_upstream = delivery,
            }
        }
        for i in (0..n).rev() {
            let passed = self.streams[i].take_toward_client();
            let delivery = self.response_out[i].accept(passed);
            if delivery.is_empty() {
                continue;
            }
            match i.checked_sub(1) {
                Some(previous) => deliver(&mut self.streams[previous], Way::ToClient, delivery),
                None => outcome.to_client = delivery,
            }
        }
        outcome.reset = self.streams.iter().find_map(|s| s.reset());
        outcome
    }

    /// Whether the filters hold so much of the request body that Envoy would stop reading the client (its buffer
    /// limit, `per_connection_buffer_limit_bytes`, is the high watermark).
    pub fn request_backed_up(&self) -> bool {
        self.streams
            .iter()
            .map(HttpStream::held_toward_upstream)
            .sum::<usize>()
            >= BUFFER_LIMIT
    }

    /// The same for the response body and the upstream.
    pub fn response_backed_up(&self) -> bool {
        self.streams
            .iter()
            .map(HttpStream::held_toward_client)
            .sum::<usize>()
            >= BUFFER_LIMIT
    }

    /// The stream ends: every filter's access log (`on_log`), `on_done` and `on_delete`, in chain order, as Envoy's
    /// filter manager logs; then the host forgets the streams.
    pub fn finish(self) {
        for stream in self.streams {
            stream.finish_and_forget();
        }
    }
}

/// Hands a delivery to a filter: headers, then the body, then trailers; the end of the stream rides on the last.
fn deliver(stream: &mut HttpStream<'_>, way: Way, delivery: Delivery) {
    let Delivery {
        headers,
        body,
        trailers,
        end,
    } = delivery;
    let body_follows = !body.is_empty() || trailers.is_some();
    let mut end_delivered = false;
    if let Some(headers) = headers {
        let end_here = end && !body_follows;
        end_delivered = end_here;
        match way {
            Way::ToUpstream => stream.relay_request_headers(headers, end_here),
            Way::ToClient => stream.relay_response_headers(headers, end_here),
        };
    }
    if !body.is_empty() || (end && trailers.is_none() && !end_delivered) {
        let end_here = end && trailers.is_none();
        match way {
            Way::ToUpstream => stream.relay_request_body(&body, end_here),
            Way::ToClient => stream.relay_response_body(&body, end_here),
        };
    }
    if let Some(trailers) = trailers {
        match way {
            Way::ToUpstream => stream.relay_request_trailers(trailers),
            Way::ToClient => stream.relay_response_trailers(trailers),
        };
    }
}
