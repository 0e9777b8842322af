//! Plays one HTTP stream through a started plugin, Envoy's way: request headers and body, callout answers as they
//! are dispatched, virtual time if asked, the upstream's response if the request reached the upstream, then
//! log/done/delete.

use std::collections::VecDeque;
use std::time::Duration;

use host::testing::{
    Action, GrpcCall, GrpcResponse, HttpCall, HttpCallResponse, HttpStream, Message, Plugin,
};

use crate::cli::{Args, CalloutAnswer, GrpcAnswer};

/// What happened to the stream.
pub struct Run {
    /// Each callback Envoy called with what the filter returned, each callout answer and time step, in order.
    pub steps: Vec<Step>,
    pub upstream: Message,
    pub client: Message,
    /// Every HTTP callout the plugin dispatched, in order, with the answer it got (`None`: still pending).
    pub callouts: Vec<(HttpCall, Option<CalloutAnswer>)>,
    /// Every gRPC call and stream the plugin opened, in order, with the answer it got.
    pub grpc_calls: Vec<(GrpcCall, Option<GrpcAnswer>)>,
    /// Why parts of the stream did not happen (a held request, a local reply…).
    pub notes: Vec<String>,
}

pub enum Step {
    Callback { name: &'static str, action: Action },
    Answered { token: u32, answer: CalloutAnswer },
    GrpcAnswered { token: u32, answer: GrpcAnswer },
    Advanced { by: Duration },
}

pub fn run(plugin: &Plugin, args: &Args) -> Run {
    let mut player = Player {
        plugin,
        answers: args.callout_responses.iter().cloned().collect(),
        grpc_answers: args.grpc_responses.iter().cloned().collect(),
        steps: Vec::new(),
        callouts: Vec::new(),
        grpc_calls: Vec::new(),
        notes: Vec::new(),
    };
    let mut stream = plugin.http_stream();

    // The test API adds what is missing of its request defaults (`REQUEST_DEFAULTS`, `x-request-id`).
    let request: Vec<(&str, &str)> = args
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let trailers = pairs(&args.trailers);
    let action = stream.send_request_headers(&request, args.body.is_none() && trailers.is_empty());
    player.step("on_request_headers", action);
    if let Some(body) = &args.body {
        let action = stream.send_request_body(&body.0, trailers.is_empty());
        player.step("on_request_body", action);
    }
    if !trailers.is_empty() {
        let action = stream.send_request_trailers(&trailers);
        player.step("on_request_trailers", action);
    }
    if let Some(by) = args.advance_time {
        player.advance(by);
    }

    if let Some(why) = no_upstream_response(&stream) {
        player.notes.push(why);
    } else {
        let response = pairs(&args.response_headers);
        let trailers = pairs(&args.response_trailers);
        let action = stream.send_response_headers(
            &response,
            args.response_body.is_none() && trailers.is_empty(),
        );
        player.step("on_response_headers", action);
        if let Some(body) = &args.response_body {
            let action = stream.send_response_body(&body.0, trailers.is_empty());
            player.step("on_response_body", action);
        }
        if !trailers.is_empty() {
            let action = stream.send_response_trailers(&trailers);
            player.step("on_response_trailers", action);
        }
    }
    if player.callouts.iter().any(|(_, answer)| answer.is_none()) {
        player.notes.push(
            "a callout is still pending: answer it with --callout-response STATUS[:BODY] (or reset, timeout)".into(),
        );
    }
    if player.grpc_calls.iter().any(|(_, answer)| answer.is_none()) {
        player.notes.push(
            "a gRPC call is still pending: answer it with --grpc-response CODE[:DATA] (or timeout)"
                .into(),
        );
    }
    if args.clusters.is_empty() {
        player.note_any_cluster();
    }

    let run = Run {
        steps: player.steps,
        upstream: stream.upstream_request(),
        client: stream.client_response(),
        callouts: player.callouts,
        grpc_calls: player.grpc_calls,
        notes: player.notes,
    };
    stream.finish();
    run
}

struct Player<'p> {
    plugin: &'p Plugin,
    answers: VecDeque<CalloutAnswer>,
    grpc_answers: VecDeque<GrpcAnswer>,
    steps: Vec<Step>,
    callouts: Vec<(HttpCall, Option<CalloutAnswer>)>,
    grpc_calls: Vec<(GrpcCall, Option<GrpcAnswer>)>,
    notes: Vec<String>,
}

impl Player<'_> {
    /// Records a callback's result, then answers the callouts it dispatched (and any those answers dispatch).
    fn step(&mut self, name: &'static str, action: Action) {
        self.steps.push(Step::Callback { name, action });
        self.answer_callouts();
    }

    /// Answers pending callouts, oldest first, while answers are left.
    fn answer_callouts(&mut self) {
        while self.answer_http() || self.answer_grpc() {}
    }

    /// Answers the oldest pending HTTP callout if an answer is left; false if nothing was answered.
    fn answer_http(&mut self) -> bool {
        let pending = self.plugin.http_calls();
        for call in &pending {
            if !self.callouts.iter().any(|(c, _)| c.token == call.token) {
                self.callouts.push((call.clone(), None));
            }
        }
        let Some(call) = pending.first() else {
            return false;
        };
        let Some(answer) = self.answers.pop_front() else {
            return false;
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
        true
    }

    /// Answers the oldest pending gRPC call or stream if an answer is left; false if nothing was answered.
    fn answer_grpc(&mut self) -> bool {
        let pending = self.plugin.grpc_calls();
        for call in &pending {
            if !self.grpc_calls.iter().any(|(c, _)| c.token == call.token) {
                self.grpc_calls.push((call.clone(), None));
            }
        }
        let Some(call) = pending.first() else {
            return false;
        };
        let Some(answer) = self.grpc_answers.pop_front() else {
            return false;
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
        true
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
