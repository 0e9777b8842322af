//! Plays one HTTP stream through a started plugin, Envoy's way: request headers and body, callout answers as they
//! are dispatched, virtual time if asked, the upstream's response if the request reached the upstream, then
//! log/done/delete. With [`Kind::Tcp`], one TCP connection instead (connect, the client's bytes, the upstream's,
//! the close); with [`Kind::Service`], virtual time only. The dry run (`proxy-wasm-run`) plays what its flags say,
//! and a [`Scenario`](super::Scenario) plays each of its streams, with the same player.

pub mod values;

use std::collections::VecDeque;
use std::time::Duration;

use super::{
    Action, CallbackOutcome, ConnectionClosed, FilterStateObject, GrpcCall, GrpcResponse, HttpCall,
    HttpCallResponse, HttpStream, Message, Plugin, Received, RefusedCall, TCP_PROXY_CLUSTER,
    TcpConnection, printable_line,
};

/// Where in Envoy the module runs (the runner's `--kind`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An HTTP filter (`envoy.filters.http.wasm`).
    #[default]
    Http,
    /// A network filter in front of a TCP proxy (`envoy.filters.network.wasm`).
    Tcp,
    /// A Wasm service with no traffic (`envoy.bootstrap.wasm`).
    Service,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Tcp => "tcp",
            Kind::Service => "service",
        }
    }
}

/// How a TCP connection ends after its data (the runner's `--close`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CloseOrder {
    /// The client half-closes, then the upstream.
    #[default]
    ClientFirst,
    UpstreamFirst,
    ClientReset,
    UpstreamReset,
}

/// How the next HTTP callout is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalloutAnswer {
    Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// The call fails (`on_http_call_response` with no headers).
    Reset,
    /// Envoy's 504 once the call's timeout passes.
    Timeout,
}

/// How the next gRPC call is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcAnswer {
    /// Code 0 with `data` as the response message, or another code with `data` as the status message.
    Status {
        code: u32,
        data: Vec<u8>,
    },
    Timeout,
    /// Code 0 with the response message written in JSON (`0:json:{…}`), encoded with the called method's response
    /// type when the call is answered.
    Json {
        text: String,
    },
}

/// What to play through a started plugin: the traffic of one stream (or connection, or a service's time) and the
/// answers to what the plugin dispatches, taken in dispatch order.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub kind: Kind,
    /// Request headers; [`HttpStream`] adds what is missing of its request defaults.
    pub request_headers: Vec<(String, String)>,
    /// The request body as the codec delivers it, one `on_request_body` a chunk (none: the request ends with its
    /// headers or trailers).
    pub request_body: Vec<Vec<u8>>,
    pub request_trailers: Vec<(String, String)>,
    /// The upstream's response headers (`:status: 200` unless given).
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<Vec<u8>>,
    pub response_trailers: Vec<(String, String)>,
    pub callout_answers: Vec<CalloutAnswer>,
    pub grpc_answers: Vec<GrpcAnswer>,
    /// The services whose gRPC answers may be given in JSON and whose messages the report decodes.
    pub grpc_services: grpc_json::Services,
    /// Virtual time before the request (after what start-up dispatched is answered).
    pub before_request: Option<Duration>,
    /// Virtual time after the request, before the upstream's response (TCP: after the data).
    pub advance_time: Option<Duration>,
    /// A service's virtual run time.
    pub run_for: Option<Duration>,
    pub downstream_data: Vec<Vec<u8>>,
    pub upstream_data: Vec<Vec<u8>>,
    pub source_address: Option<String>,
    pub close: CloseOrder,
    pub tcp_proxy_cluster: Option<String>,
    /// The plugin was built with `any_cluster()`: the run notes the names Envoy would have refused.
    pub any_cluster: bool,
}

/// What happened in the run.
pub struct Run {
    /// Each callback Envoy called with what the filter returned, each callout answer and time step, in order.
    pub steps: Vec<Step>,
    /// What the two ends saw.
    pub traffic: Traffic,
    /// Every HTTP callout the plugin dispatched, in order, with the answer it got (`None`: still pending).
    pub callouts: Vec<(HttpCall, Option<CalloutAnswer>)>,
    /// Every gRPC call and stream the plugin opened, in order, with the answer it got.
    pub grpc_calls: Vec<(GrpcCall, Option<GrpcAnswer>)>,
    /// Why parts of the stream did not happen (a held request, a local reply…).
    pub notes: Vec<String>,
    /// What the plugin stored on the stream or connection (`None` for a service, which has neither).
    pub stored: Option<Stored>,
    /// HTTP: every filter callback Envoy called on the stream, in order (those a callout answer resumed included).
    pub callbacks: Option<Vec<CallbackOutcome>>,
    /// Callouts and gRPC calls Envoy refused when the worker dispatched them, and how many more than those kept.
    pub refused: (Vec<RefusedCall>, usize),
    /// What the configuration canary dispatched while it ran `on_vm_start`/`on_configure`: Envoy sent them and
    /// cancelled them when it dropped the canary.
    pub canary_callouts: Vec<HttpCall>,
    pub canary_grpc_calls: Vec<GrpcCall>,
    /// The gRPC services whose messages the report shows as JSON.
    pub grpc_services: grpc_json::Services,
}

/// What the plugin stored on its stream or connection, read after it ended (so `on_log`'s writes are there).
pub struct Stored {
    /// `set_property` values: the path's segments and the bytes (Envoy's filter state `wasm.<path>`).
    pub properties: Vec<(Vec<String>, Vec<u8>)>,
    /// Objects stored with Envoy's `set_envoy_filter_state`, by key.
    pub envoy: Vec<(String, FilterStateObject)>,
}

/// What the run's kind played through the plugin, and what each end received.
pub enum Traffic {
    Http {
        upstream: Box<Message>,
        client: Box<Message>,
    },
    Tcp {
        upstream: Received,
        client: Received,
        /// The cluster the TCP proxy connected to, if it did.
        cluster: Option<String>,
        closed: Option<ConnectionClosed>,
    },
    Service {
        ran_for: Duration,
    },
}

pub enum Step {
    Callback {
        name: &'static str,
        action: Action,
        /// HTTP: what the plugin returned and what Envoy did with it; `None` when Envoy did not call the plugin
        /// (it held the data for it, or the stream had ended), and for TCP callbacks.
        outcome: Option<CallbackOutcome>,
    },
    /// Something that reached the plugin without an answer of its (a reset).
    Event(&'static str),
    Answered {
        token: u32,
        answer: CalloutAnswer,
    },
    GrpcAnswered {
        token: u32,
        answer: GrpcAnswer,
    },
    Advanced {
        by: Duration,
    },
}

/// Plays `args` through `plugin`. Fails only when a gRPC answer in JSON does not fit the method it answers (or the
/// method is unknown): the error (`0:json:… cannot answer gRPC call …`) names the call and the fix.
pub fn play(plugin: &Plugin, args: &Inputs) -> Result<Run, String> {
    let mut player = Player {
        plugin,
        answers: args.callout_answers.iter().cloned().collect(),
        grpc_answers: args.grpc_answers.iter().cloned().collect(),
        grpc_services: &args.grpc_services,
        steps: Vec::new(),
        callouts: Vec::new(),
        grpc_calls: Vec::new(),
        notes: Vec::new(),
        stored: None,
        callbacks: None,
        error: None,
    };
    // What the plugin dispatched while it started (on_vm_start, on_configure) is answered before the first
    // request, then the virtual time `--before-request` asks passes (ticks, and what they dispatch).
    player.answer_callouts();
    if let Some(by) = args.before_request {
        player.advance(by);
    }
    let traffic = match args.kind {
        Kind::Http => run_http(&mut player, args),
        Kind::Tcp => run_tcp(&mut player, args),
        Kind::Service => {
            let ran_for = args.run_for.unwrap_or_default();
            player.advance(ran_for);
            Traffic::Service { ran_for }
        }
    };
    if let Some(error) = player.error {
        return Err(error);
    }
    player.note_pending();
    if args.any_cluster {
        player.note_any_cluster();
    }
    if let Some(failure) = plugin.failure() {
        player.note_wrong_kind(args.kind, &failure);
    }
    Ok(Run {
        steps: player.steps,
        traffic,
        callouts: player.callouts,
        grpc_calls: player.grpc_calls,
        notes: player.notes,
        stored: player.stored,
        callbacks: player.callbacks,
        refused: (plugin.refused_calls(), plugin.refused_calls_omitted()),
        canary_callouts: plugin.canary_http_calls(),
        canary_grpc_calls: plugin.canary_grpc_calls(),
        grpc_services: args.grpc_services.clone(),
    })
}

/// One TCP connection: connect, the client's bytes, the upstream's (once the TCP proxy connected), time, then the
/// close in the order asked; a connection still open after that is reset by the client, so that it ends.
fn run_tcp(player: &mut Player<'_>, args: &Inputs) -> Traffic {
    let plugin = player.plugin;
    let mut conn = plugin.tcp_connection_to(
        args.tcp_proxy_cluster
            .as_deref()
            .unwrap_or(TCP_PROXY_CLUSTER),
    );
    if let Some(address) = &args.source_address {
        conn.set_source_address(address);
    }
    let action = conn.connect();
    player.step("on_new_connection", action);
    for data in &args.downstream_data {
        if conn.closed().is_some() {
            break;
        }
        let action = conn.send_downstream(data);
        player.step("on_downstream_data", action);
    }
    for data in &args.upstream_data {
        if !can_hear_upstream(&conn, player) {
            break;
        }
        let action = conn.send_upstream(data);
        player.step("on_upstream_data", action);
    }
    if let Some(by) = args.advance_time {
        player.advance(by);
    }
    match args.close {
        CloseOrder::ClientFirst => {
            close_client(&mut conn, player);
            close_upstream(&mut conn, player);
        }
        CloseOrder::UpstreamFirst => {
            close_upstream(&mut conn, player);
            close_client(&mut conn, player);
        }
        CloseOrder::ClientReset => {
            if conn.closed().is_none() {
                conn.reset_downstream();
                player
                    .steps
                    .push(Step::Event("the client reset the connection"));
            }
        }
        CloseOrder::UpstreamReset => {
            if can_hear_upstream(&conn, player) {
                conn.reset_upstream();
                player
                    .steps
                    .push(Step::Event("the upstream reset its connection"));
            }
        }
    }
    if conn.closed().is_none() {
        player.notes.push(
            "the connection was still open after the close asked for (the filter holds a half-close, or no upstream \
             connected): the runner reset it from the client so that it ends; in Envoy it waits for a timeout"
                .into(),
        );
        conn.reset_downstream();
        player
            .steps
            .push(Step::Event("the client reset the connection"));
    }
    player.stored = Some(Stored {
        properties: conn.filter_states(),
        envoy: conn.envoy_filter_states(),
    });
    Traffic::Tcp {
        upstream: conn.upstream_received(),
        client: conn.client_received(),
        cluster: conn.upstream_cluster(),
        closed: conn.closed(),
    }
}

/// The client half-closes, unless the connection already ended or the client did.
fn close_client(conn: &mut TcpConnection<'_>, player: &mut Player<'_>) {
    if conn.closed().is_none() && !conn.upstream_received().end_of_stream {
        let action = conn.close_downstream();
        player.step("on_downstream_data (end of stream)", action);
    }
}

/// The upstream half-closes, if there is one and the connection is open.
fn close_upstream(conn: &mut TcpConnection<'_>, player: &mut Player<'_>) {
    if can_hear_upstream(conn, player) && !conn.client_received().end_of_stream {
        let action = conn.close_upstream();
        player.step("on_upstream_data (end of stream)", action);
    }
}

/// Whether the upstream can send: the connection is open and the TCP proxy connected (else a note says why not,
/// once).
fn can_hear_upstream(conn: &TcpConnection<'_>, player: &mut Player<'_>) -> bool {
    if conn.closed().is_some() {
        return false;
    }
    if conn.upstream_cluster().is_none() {
        let why = "the filter holds the connection (on_new_connection or on_downstream_data stopped iteration and \
                   nothing resumed it): the TCP proxy never connected upstream, so no upstream data was played";
        if !player.notes.iter().any(|n| n == why) {
            player.notes.push(why.into());
        }
        return false;
    }
    true
}

fn run_http(player: &mut Player<'_>, args: &Inputs) -> Traffic {
    let plugin = player.plugin;
    let mut stream = plugin.http_stream();

    // The test API adds what is missing of its request defaults (`REQUEST_DEFAULTS`, `x-request-id`).
    let request = pairs(&args.request_headers);
    let trailers = pairs(&args.request_trailers);
    let chunks = &args.request_body;
    let seen = stream.callback_outcomes().len();
    let action = stream.send_request_headers(&request, chunks.is_empty() && trailers.is_empty());
    player.http_step("on_request_headers", action, &stream, seen);
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let seen = stream.callback_outcomes().len();
        let action = stream.send_request_body(chunk, last && trailers.is_empty());
        player.http_step("on_request_body", action, &stream, seen);
    }
    if !trailers.is_empty() {
        let seen = stream.callback_outcomes().len();
        let action = stream.send_request_trailers(&trailers);
        player.http_step("on_request_trailers", action, &stream, seen);
    }
    if let Some(by) = args.advance_time {
        player.advance(by);
    }

    if let Some(why) = no_upstream_response(&stream) {
        player.notes.push(why);
    } else {
        let response = pairs(&args.response_headers);
        let trailers = pairs(&args.response_trailers);
        let chunks = &args.response_body;
        let seen = stream.callback_outcomes().len();
        let action =
            stream.send_response_headers(&response, chunks.is_empty() && trailers.is_empty());
        player.http_step("on_response_headers", action, &stream, seen);
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let seen = stream.callback_outcomes().len();
            let action = stream.send_response_body(chunk, last && trailers.is_empty());
            player.http_step("on_response_body", action, &stream, seen);
        }
        if !trailers.is_empty() {
            let seen = stream.callback_outcomes().len();
            let action = stream.send_response_trailers(&trailers);
            player.http_step("on_response_trailers", action, &stream, seen);
        }
    }
    let traffic = Traffic::Http {
        upstream: Box::new(stream.upstream_request()),
        client: Box::new(stream.client_response()),
    };
    stream.finish();
    player.callbacks = Some(stream.callback_outcomes());
    player.stored = Some(Stored {
        properties: stream.filter_states(),
        envoy: stream.envoy_filter_states(),
    });
    traffic
}

struct Player<'p> {
    plugin: &'p Plugin,
    answers: VecDeque<CalloutAnswer>,
    grpc_answers: VecDeque<GrpcAnswer>,
    grpc_services: &'p grpc_json::Services,
    steps: Vec<Step>,
    callouts: Vec<(HttpCall, Option<CalloutAnswer>)>,
    grpc_calls: Vec<(GrpcCall, Option<GrpcAnswer>)>,
    notes: Vec<String>,
    stored: Option<Stored>,
    callbacks: Option<Vec<CallbackOutcome>>,
    /// A JSON answer that could not be encoded: the run stops answering and fails with it.
    error: Option<String>,
}

impl Player<'_> {
    /// Records a callback's result, then answers the callouts it dispatched (and any those answers dispatch).
    fn step(&mut self, name: &'static str, action: Action) {
        self.steps.push(Step::Callback {
            name,
            action,
            outcome: None,
        });
        self.answer_callouts();
    }

    /// [`Player::step`] for an HTTP event: with what the plugin's callback `name` returned and what Envoy did, read
    /// from the stream's callbacks since the `seen` first (none if Envoy held the data instead of calling it).
    fn http_step(
        &mut self,
        name: &'static str,
        action: Action,
        stream: &HttpStream<'_>,
        seen: usize,
    ) {
        let outcomes = stream.callback_outcomes();
        let outcome = outcomes
            .get(seen..)
            .unwrap_or_default()
            .iter()
            .find(|o| o.callback == name)
            .copied();
        self.steps.push(Step::Callback {
            name,
            action,
            outcome,
        });
        self.answer_callouts();
    }

    /// Answers pending callouts and gRPC calls in the order the plugin dispatched them, while answers of their kind
    /// are left (an answer may dispatch more: those are answered too, after the older ones).
    fn answer_callouts(&mut self) {
        loop {
            self.record_pending();
            let http = self
                .plugin
                .http_calls()
                .into_iter()
                .next()
                .filter(|_| !self.answers.is_empty());
            let grpc = self
                .plugin
                .grpc_calls()
                .into_iter()
                .next()
                .filter(|_| !self.grpc_answers.is_empty());
            match (http, grpc) {
                (Some(h), Some(g)) if g.dispatch_index() < h.dispatch_index() => {
                    self.answer_grpc(&g)
                }
                (Some(h), _) => self.answer_http(&h),
                (None, Some(g)) => self.answer_grpc(&g),
                (None, None) => return,
            }
        }
    }

    /// Adds the callouts and gRPC calls dispatched since the last look to the run's lists, in dispatch order.
    fn record_pending(&mut self) {
        for call in self.plugin.http_calls() {
            if !self.callouts.iter().any(|(c, _)| c.token == call.token) {
                self.callouts.push((call, None));
            }
        }
        for call in self.plugin.grpc_calls() {
            if !self.grpc_calls.iter().any(|(c, _)| c.token == call.token) {
                self.grpc_calls.push((call, None));
            }
        }
    }

    /// Answers HTTP callout `call` with the next `--callout-response`.
    fn answer_http(&mut self, call: &HttpCall) {
        let Some(answer) = self.answers.pop_front() else {
            return;
        };
        match &answer {
            CalloutAnswer::Response {
                status,
                headers,
                body,
            } => {
                let mut response = HttpCallResponse::new(*status).body(body);
                for (name, value) in headers {
                    response = response.header(name, value);
                }
                self.plugin.answer_http_call(call.token, response)
            }
            CalloutAnswer::Reset => self.plugin.fail_http_call(call.token),
            CalloutAnswer::Timeout => self.plugin.time_out_http_call(call.token),
        }
        if let Some(entry) = self
            .callouts
            .iter_mut()
            .find(|(c, _)| c.token == call.token)
        {
            entry.1 = Some(answer.clone());
        }
        self.steps.push(Step::Answered {
            token: call.token,
            answer,
        });
    }

    /// Answers gRPC call or stream `call` with the next `--grpc-response`.
    fn answer_grpc(&mut self, call: &GrpcCall) {
        let Some(answer) = self.grpc_answers.pop_front() else {
            return;
        };
        let answer = match answer {
            GrpcAnswer::Json { text } => {
                match encode_json_answer(self.grpc_services, call, &text) {
                    Ok(data) => GrpcAnswer::Status { code: 0, data },
                    Err(error) => {
                        self.error = Some(error);
                        self.grpc_answers.clear();
                        return;
                    }
                }
            }
            other => other,
        };
        match &answer {
            GrpcAnswer::Status { code: 0, data } => self
                .plugin
                .answer_grpc_call(call.token, GrpcResponse::ok(data)),
            GrpcAnswer::Status { code, data } => self.plugin.answer_grpc_call(
                call.token,
                GrpcResponse::error(*code, &String::from_utf8_lossy(data)),
            ),
            GrpcAnswer::Timeout => self.plugin.time_out_grpc_call(call.token),
            GrpcAnswer::Json { .. } => unreachable!("encoded above"),
        }
        if let Some(entry) = self
            .grpc_calls
            .iter_mut()
            .find(|(c, _)| c.token == call.token)
        {
            entry.1 = Some(answer.clone());
        }
        self.steps.push(Step::GrpcAnswered {
            token: call.token,
            answer,
        });
    }

    /// Advances virtual time: ticks fire, and callouts whose timeout passes time out (recorded as such).
    fn advance(&mut self, by: Duration) {
        self.answer_callouts();
        self.plugin.advance_time(by);
        self.steps.push(Step::Advanced { by });
        let http = self.plugin.http_calls();
        for (call, answer) in &mut self.callouts {
            if answer.is_none() && !http.iter().any(|c| c.token == call.token) {
                *answer = Some(CalloutAnswer::Timeout);
            }
        }
        let grpc = self.plugin.grpc_calls();
        for (call, answer) in &mut self.grpc_calls {
            if answer.is_none() && !grpc.iter().any(|c| c.token == call.token) {
                *answer = Some(GrpcAnswer::Timeout);
            }
        }
        self.answer_callouts();
    }

    /// Callouts the run left without an answer.
    fn note_pending(&mut self) {
        if self.callouts.iter().any(|(_, answer)| answer.is_none()) {
            self.notes.push(
                "a callout is still pending: answer it with --callout-response STATUS[:BODY] (or reset, timeout)"
                    .into(),
            );
        }
        if self.grpc_calls.iter().any(|(_, answer)| answer.is_none()) {
            self.notes.push(
                "a gRPC call is still pending: answer it with --grpc-response CODE[:DATA] (or timeout)"
                    .into(),
            );
        }
    }

    /// A module does not say which kind it is; the SDKs trap on a context of another kind than their root makes
    /// (Rust: "missing ContextType on root_context" for a service given a stream, "invalid context_id" for a
    /// callback of the other filter kind), as they would in the wrong place of Envoy.
    fn note_wrong_kind(&mut self, kind: Kind, failure: &str) {
        let wrong = ["missing ContextType", "invalid context_id"];
        if !wrong.iter().any(|w| failure.contains(w)) {
            return;
        }
        let others = match kind {
            Kind::Http => "--kind tcp (a network filter) or --kind service",
            Kind::Tcp => "--kind http (an HTTP filter) or --kind service",
            Kind::Service => "--kind http or --kind tcp",
        };
        self.notes.push(format!(
            "the plugin failed as --kind {}: its SDK found no context of that kind to run (\"{}\"), which is how a \
             module of another kind fails in this place of Envoy. A module does not say which kind it is: if it \
             was written as another kind, run it with {others}",
            kind.name(),
            wrong.iter().find(|w| failure.contains(*w)).expect("matched above"),
        ));
    }

    /// Without `--cluster` every name was taken; Envoy takes only the clusters its configuration has.
    fn note_any_cluster(&mut self) {
        let mut named: Vec<&str> = self
            .callouts
            .iter()
            .map(|(c, _)| c.cluster.as_str())
            .chain(self.grpc_calls.iter().map(|(c, _)| c.upstream.as_str()))
            .collect();
        named.sort_unstable();
        named.dedup();
        if named.is_empty() {
            return;
        }
        self.notes.push(format!(
            "no --cluster given, so every cluster name was accepted ({}); Envoy refuses a name its configuration \
             lacks (HTTP: BadArgument, gRPC: ParseFailure): give each cluster Envoy has with --cluster NAME",
            named
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// Why the upstream would never answer: the request did not reach it, or the stream already ended.
fn no_upstream_response(stream: &HttpStream<'_>) -> Option<String> {
    if let Some(reply) = stream.local_reply() {
        let details = if reply.details.is_empty() {
            String::new()
        } else {
            format!(", {}", reply.details)
        };
        return Some(format!(
            "the stream ended with a local reply ({}{details}): the request never reached the upstream, so no \
             upstream response was played",
            reply.status
        ));
    }
    if let Some(reset) = stream.reset() {
        return Some(format!(
            "the stream was reset ({reset}): no upstream response was played"
        ));
    }
    if let Some(callback) = stream.request_held_by() {
        return Some(format!(
            "the filter holds the request ({callback} stopped iteration and the plugin did not resume it): the \
             upstream never saw it, so no upstream response was played; in Envoy the stream waits until its \
             timeout"
        ));
    }
    if !stream.upstream_request().headers_sent() {
        return Some(
            "the request never reached the upstream, so no upstream response was played".into(),
        );
    }
    None
}

fn pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// A `0:json:…` answer as the response message of the method `call` called; a service the runner does not know, or
/// JSON that is not its response, is an error naming the call.
fn encode_json_answer(
    services: &grpc_json::Services,
    call: &GrpcCall,
    text: &str,
) -> Result<Vec<u8>, String> {
    let path = format!(
        "{}/{}",
        printable_line(&call.service),
        printable_line(&call.method)
    );
    let encoded = match services.method(&call.service, &call.method) {
        Some(method) => method.response().from_json(text).map_err(|e| e.to_string()),
        None => Err(format!(
            "the runner does not know {path}: give its descriptor set with --descriptor-set FILE.pb \
             (`protoc --include_imports -o FILE.pb …`), or answer with bytes (`0:@reply.bin`)"
        )),
    };
    encoded.map_err(|e| {
        format!(
            "0:json:… cannot answer gRPC call {} to {path}: {e}",
            call.token
        )
    })
}
