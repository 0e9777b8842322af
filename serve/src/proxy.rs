//! The wire: connections served with hyper (HTTP/1.1 and cleartext HTTP/2 on one port), each request run through the
//! worker's chain as an [`Exchange`], and the upstream reached with hyper's pooled client.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use host::testing::Headers;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::{mpsc, oneshot};

use crate::access_log::AccessLog;
use crate::body::{self, ChannelBody, Item, Reset};
use crate::exchange::{Delivery, Exchange, Outcome};
use crate::flags::Target;
use crate::worker::{Worker, print_logs};
use crate::{callouts, codec};

/// Envoy's default route timeout: the upstream has this long to start its response.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(15);

/// hyper's client, for the upstream and the callout clusters: pooled connections, HTTP/1.1 or prior-knowledge
/// HTTP/2 as the target says.
pub struct Client {
    http1: hyper_util::client::legacy::Client<HttpConnector, ChannelBody>,
    http2: hyper_util::client::legacy::Client<HttpConnector, ChannelBody>,
}

impl Client {
    pub fn new() -> Client {
        // Envoy's upstream connections disable Nagle too; without it a request's head and body wait on each other.
        let connector = || {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            connector
        };
        let builder = || hyper_util::client::legacy::Client::builder(TokioExecutor::new());
        Client {
            http1: builder().build(connector()),
            http2: builder().http2_only(true).build(connector()),
        }
    }

    pub fn send(
        &self,
        target: &Target,
        request: Request<ChannelBody>,
    ) -> hyper_util::client::legacy::ResponseFuture {
        match target.http2 {
            true => self.http2.request(request),
            false => self.http1.request(request),
        }
    }
}

/// Runs connection futures (and HTTP/2 streams) on the worker's thread: the plugins they reach are the worker's.
#[derive(Clone, Copy)]
struct OnThisWorker;

impl<F: Future + 'static> hyper::rt::Executor<F> for OnThisWorker {
    fn execute(&self, future: F) {
        tokio::task::spawn_local(future);
    }
}

pub async fn serve_connection(worker: Rc<Worker>, socket: tokio::net::TcpStream, peer: SocketAddr) {
    let _ = socket.set_nodelay(true);
    let service = service_fn(move |request| {
        let worker = Rc::clone(&worker);
        async move {
            let (respond, response) = oneshot::channel();
            tokio::task::spawn_local(exchange(worker, request, peer, respond));
            response
                .await
                .unwrap_or_else(|_| Err(Reset("the stream ended before a response".into())))
        }
    });
    // A client that goes away mid-connection is not the proxy's error.
    let _ = auto::Builder::new(OnThisWorker)
        .serve_connection(TokioIo::new(socket), service)
        .await;
}

type Respond = oneshot::Sender<Result<Response<ChannelBody>, Reset>>;
type UpstreamResponse = Pin<Box<dyn Future<Output = Result<Response<Incoming>, Failure>>>>;

/// Why the upstream gave no response: what Envoy's router answers then.
enum Failure {
    Connect(String),
    Timeout,
    /// The headers that left the filters cannot go on the wire (a method or path a filter made invalid).
    Unsendable(String),
}

/// Counts a request (or a TCP connection) in flight for the worker's drain.
pub struct InFlight(Rc<Worker>);

impl InFlight {
    pub fn new(worker: &Rc<Worker>) -> InFlight {
        worker.in_flight.set(worker.in_flight.get() + 1);
        InFlight(Rc::clone(worker))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.set(self.0.in_flight.get() - 1);
    }
}

/// Both ends of one request as the exchange drives them.
struct Ends {
    respond: Option<Respond>,
    client: Option<mpsc::Sender<Item>>,
    client_done: bool,
    upstream_tx: Option<mpsc::Sender<Item>>,
    upstream_sent_at: Option<Instant>,
    upstream_response: Option<UpstreamResponse>,
    upstream_body: Option<Incoming>,
}

async fn exchange(
    worker: Rc<Worker>,
    request: Request<Incoming>,
    peer: SocketAddr,
    respond: Respond,
) {
    let _in_flight = InFlight::new(&worker);
    let chain = Rc::clone(&worker.chain.borrow());
    let (parts, mut client_body) = request.into_parts();
    let request_headers = codec::request_headers(&parts);
    let mut log = AccessLog::start(
        &request_headers,
        parts.version,
        SystemTime::now(),
        Instant::now(),
    );
    let mut ex = Exchange::new(&chain, &peer.to_string());
    let mut client_open = !hyper::body::Body::is_end_stream(&client_body);
    let mut ends = Ends {
        respond: Some(respond),
        client: None,
        client_done: false,
        upstream_tx: None,
        upstream_sent_at: None,
        upstream_response: None,
        upstream_body: None,
    };
    let mut outcome = ex.client_sent(Delivery {
        headers: Some(request_headers),
        end: !client_open,
        ..Delivery::default()
    });
    loop {
        if let Some(reason) = outcome.reset.take() {
            ends.reset(&reason, &mut log);
            break;
        }
        ends.send_upstream(outcome.to_upstream, &worker, &mut log)
            .await;
        ends.send_client(outcome.to_client, &mut log).await;
        if ends.client_done {
            break;
        }
        callouts::send_new(&worker, &chain);
        for filter in &chain.filters {
            print_logs(filter);
        }
        let event = tokio::select! {
            frame = client_body.frame(), if client_open && !ex.request_backed_up() => Event::Client(frame),
            response = next_response(&mut ends.upstream_response) => Event::UpstreamHead(response),
            frame = next_frame(&mut ends.upstream_body), if !ex.response_backed_up() => Event::UpstreamFrame(frame),
            _ = client_gone(&mut ends.respond, &ends.client) => Event::ClientGone,
            _ = worker.wake.notified() => Event::Wake,
        };
        // Envoy's dispatcher reads the clock as each event begins: timers due by now fire first.
        worker.catch_up();
        outcome = match event {
            Event::Client(frame) => {
                let delivery = match frame {
                    Some(Ok(frame)) => from_frame(frame, &mut log.bytes_received),
                    None => Delivery {
                        end: true,
                        ..Delivery::default()
                    },
                    Some(Err(e)) => {
                        client_open = false;
                        log.flag("DC");
                        outcome = reset(format!("downstream: {e}"));
                        continue;
                    }
                };
                client_open = !delivery.end;
                ex.client_sent(delivery)
            }
            Event::UpstreamHead(response) => {
                ends.upstream_response = None;
                let delivery = match response {
                    Ok(response) => ends.upstream_head(response),
                    Err(failure) => {
                        ends.upstream_tx = None;
                        router_reply(failure, &mut log)
                    }
                };
                ex.upstream_sent(delivery)
            }
            Event::UpstreamFrame(frame) => {
                let delivery = match frame {
                    Some(Ok(frame)) => from_frame(frame, &mut 0),
                    None => Delivery {
                        end: true,
                        ..Delivery::default()
                    },
                    Some(Err(e)) => {
                        ends.upstream_body = None;
                        log.flag("UR");
                        outcome = reset(format!("upstream: {e}"));
                        continue;
                    }
                };
                if delivery.end {
                    ends.upstream_body = None;
                }
                ex.upstream_sent(delivery)
            }
            Event::ClientGone => {
                log.flag("DC");
                reset("downstream disconnected".to_owned())
            }
            Event::Wake => ex.pump(),
        };
    }
    ex.finish();
    for filter in &chain.filters {
        print_logs(filter);
    }
    log.print(Instant::now());
}

/// What woke a request's task.
enum Event {
    /// A frame of the client's body, its end, or its failure.
    Client(Option<Result<Frame<Bytes>, hyper::Error>>),
    UpstreamHead(Result<Response<Incoming>, Failure>),
    UpstreamFrame(Option<Result<Frame<Bytes>, hyper::Error>>),
    ClientGone,
    /// Something outside the stream happened (a callout answer, a tick).
    Wake,
}

fn reset(reason: String) -> Outcome {
    Outcome {
        reset: Some(reason),
        ..Outcome::default()
    }
}

/// The client went away: it stopped waiting for the response, or for the rest of its body.
async fn client_gone(respond: &mut Option<Respond>, client: &Option<mpsc::Sender<Item>>) {
    match (respond, client) {
        (Some(respond), _) => respond.closed().await,
        (None, Some(client)) => client.closed().await,
        (None, None) => std::future::pending().await,
    }
}

async fn next_response(
    response: &mut Option<UpstreamResponse>,
) -> Result<Response<Incoming>, Failure> {
    match response {
        Some(response) => response.await,
        None => std::future::pending().await,
    }
}

async fn next_frame(body: &mut Option<Incoming>) -> Option<Result<Frame<Bytes>, hyper::Error>> {
    match body {
        Some(body) => body.frame().await,
        None => std::future::pending().await,
    }
}

/// A frame from a peer as a delivery into the chain.
fn from_frame(frame: Frame<Bytes>, counted: &mut u64) -> Delivery {
    match frame.into_data() {
        Ok(data) => {
            *counted += data.len() as u64;
            Delivery {
                body: data.to_vec(),
                ..Delivery::default()
            }
        }
        Err(frame) => match frame.into_trailers() {
            Ok(trailers) => Delivery {
                trailers: Some(codec::trailers(&trailers)),
                end: true,
                ..Delivery::default()
            },
            Err(_) => Delivery::default(),
        },
    }
}

/// What Envoy's router answers when the upstream gives no response; it travels back through every filter.
fn router_reply(failure: Failure, log: &mut AccessLog) -> Delivery {
    let (status, text) = match failure {
        Failure::Connect(reason) => {
            log.flag("UF");
            (
                503,
                format!(
                    "upstream connect error or disconnect/reset before headers. reset reason: connection failure, \
                     transport failure reason: {reason}"
                ),
            )
        }
        Failure::Timeout => {
            log.flag("UT");
            (504, "upstream request timeout".to_owned())
        }
        Failure::Unsendable(reason) => {
            eprintln!("serve: the request cannot go upstream: {reason}");
            (
                503,
                format!("the request the filters passed cannot be sent upstream: {reason}"),
            )
        }
    };
    let mut headers = Headers::new();
    headers.add(":status", status.to_string());
    headers.add("content-length", text.len().to_string());
    headers.add("content-type", "text/plain");
    Delivery {
        headers: Some(headers),
        body: text.into_bytes(),
        end: true,
        ..Delivery::default()
    }
}

impl Ends {
    /// The upstream's response head as the router hands it to the last filter.
    fn upstream_head(&mut self, response: Response<Incoming>) -> Delivery {
        let (parts, body) = response.into_parts();
        let end = hyper::body::Body::is_end_stream(&body);
        if !end {
            self.upstream_body = Some(body);
        }
        let mut headers = codec::response_headers(&parts);
        // The router records how long the upstream took; the filters see it.
        if let Some(sent) = self.upstream_sent_at {
            let millis = sent.elapsed().as_millis().to_string();
            headers.add("x-envoy-upstream-service-time", millis);
        }
        Delivery {
            headers: Some(headers),
            end,
            ..Delivery::default()
        }
    }

    /// What reached the end of the chain goes to the upstream: the request starts with its headers.
    async fn send_upstream(&mut self, delivery: Delivery, worker: &Worker, log: &mut AccessLog) {
        if let Some(headers) = delivery.headers {
            let (tx, body) = body::channel();
            match codec::upstream_request(&headers, &worker.plan.upstream, body) {
                Ok(request) => {
                    let sent = worker.client.send(&worker.plan.upstream, request);
                    // A task of its own: the request goes out (and its body is read from the channel) while this
                    // exchange waits to put more body in, not only when it next waits for the response.
                    let (answer, answered) = oneshot::channel();
                    tokio::task::spawn_local(async move {
                        let response = match tokio::time::timeout(ROUTE_TIMEOUT, sent).await {
                            Ok(Ok(response)) => Ok(response),
                            Ok(Err(e)) => Err(Failure::Connect(error_chain(&e))),
                            Err(_) => Err(Failure::Timeout),
                        };
                        let _ = answer.send(response);
                    });
                    self.upstream_response = Some(Box::pin(async move {
                        answered.await.unwrap_or_else(|_| {
                            Err(Failure::Connect("the upstream request was dropped".into()))
                        })
                    }));
                    self.upstream_tx = Some(tx);
                    self.upstream_sent_at = Some(Instant::now());
                    log.upstream = worker.plan.upstream.uri.authority().map(|a| a.to_string());
                }
                // Answered like any failure to reach the upstream, through the filters, instead of a client left
                // waiting.
                Err(e) => {
                    let failure = Failure::Unsendable(e.0);
                    self.upstream_response = Some(Box::pin(std::future::ready(Err(failure))));
                }
            }
        }
        let Some(tx) = &self.upstream_tx else { return };
        if !delivery.body.is_empty()
            && tx
                .send(Ok(Frame::data(delivery.body.into())))
                .await
                .is_err()
        {
            self.upstream_tx = None;
            return;
        }
        if let Some(trailers) = delivery.trailers
            && let Ok(fields) = codec::trailer_fields(&trailers)
        {
            let _ = tx.send(Ok(Frame::trailers(fields))).await;
        }
        if delivery.end {
            self.upstream_tx = None;
        }
    }

    /// What left the first filter goes to the client: the response starts with its headers.
    async fn send_client(&mut self, delivery: Delivery, log: &mut AccessLog) {
        if let Some(headers) = delivery.headers {
            log.status = headers.get(":status").map(str::to_owned);
            let (tx, body) = body::channel();
            let response = codec::client_response(&headers, body).map_err(|e| Reset(e.0));
            if let Some(respond) = self.respond.take() {
                let _ = respond.send(response);
            }
            self.client = Some(tx);
        }
        if let Some(tx) = &self.client {
            log.bytes_sent += delivery.body.len() as u64;
            if !delivery.body.is_empty()
                && tx
                    .send(Ok(Frame::data(delivery.body.into())))
                    .await
                    .is_err()
            {
                log.flag("DC");
                self.client = None;
                self.client_done = true;
                return;
            }
            if let Some(trailers) = delivery.trailers
                && let Ok(fields) = codec::trailer_fields(&trailers)
            {
                let _ = tx.send(Ok(Frame::trailers(fields))).await;
            }
        }
        if delivery.end && self.client.is_some() {
            self.client = None;
            self.client_done = true;
        }
    }

    /// A reset ends both sides: the client sees the stream reset (HTTP/1.1: the connection closes).
    fn reset(&mut self, reason: &str, log: &mut AccessLog) {
        // A reset the filters made themselves; a peer's reset was flagged where it was seen.
        log.flag_unless_flagged("LR");
        if let Some(respond) = self.respond.take() {
            let _ = respond.send(Err(Reset(reason.to_owned())));
        }
        if let Some(tx) = self.client.take() {
            let _ = tx.try_send(Err(Reset(reason.to_owned())));
        }
        self.upstream_tx = None;
        self.upstream_response = None;
        self.upstream_body = None;
        self.client_done = true;
    }
}

/// An error with its causes, as one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
