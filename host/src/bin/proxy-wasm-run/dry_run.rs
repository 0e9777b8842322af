//! Plays one HTTP stream through a started plugin, Envoy's way: request headers and body, callout answers as they
//! are dispatched, the upstream's response if the request reached the upstream, then log/done/delete.

use std::collections::VecDeque;

use host::testing::{Action, HttpCall, HttpCallResponse, HttpStream, Message, Plugin};

use crate::cli::{Args, CalloutAnswer};

/// What happened to the stream.
pub struct Run {
    /// Each callback Envoy called with what the filter returned, and each callout answer, in order.
    pub steps: Vec<Step>,
    pub upstream: Message,
    pub client: Message,
    /// Every HTTP callout the plugin dispatched, in order, with the answer it got (`None`: still pending).
    pub callouts: Vec<(HttpCall, Option<CalloutAnswer>)>,
    /// Why parts of the stream did not happen (a held request, a local reply…).
    pub notes: Vec<String>,
}

pub enum Step {
    Callback { name: &'static str, action: Action },
    Answered { token: u32, answer: CalloutAnswer },
}

/// Request pseudo-headers the runner sends unless the user gives them.
const REQUEST_DEFAULTS: [(&str, &str); 4] = [
    (":method", "GET"),
    (":path", "/"),
    (":authority", "example.com"),
    (":scheme", "http"),
];

pub fn run(plugin: &Plugin, args: &Args) -> Run {
    let mut player = Player {
        plugin,
        answers: args.callout_responses.iter().cloned().collect(),
        steps: Vec::new(),
        callouts: Vec::new(),
        notes: Vec::new(),
    };
    let mut stream = plugin.http_stream();

    let mut request: Vec<(&str, &str)> = REQUEST_DEFAULTS
        .into_iter()
        .filter(|(name, _)| !args.headers.iter().any(|(n, _)| n == name))
        .collect();
    request.extend(args.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
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

    let run = Run {
        steps: player.steps,
        upstream: stream.upstream_request(),
        client: stream.client_response(),
        callouts: player.callouts,
        notes: player.notes,
    };
    stream.finish();
    run
}

struct Player<'p> {
    plugin: &'p Plugin,
    answers: VecDeque<CalloutAnswer>,
    steps: Vec<Step>,
    callouts: Vec<(HttpCall, Option<CalloutAnswer>)>,
    notes: Vec<String>,
}

impl Player<'_> {
    /// Records a callback's result, then answers the callouts it dispatched (and any those answers dispatch).
    fn step(&mut self, name: &'static str, action: Action) {
        self.steps.push(Step::Callback { name, action });
        loop {
            let pending = self.plugin.http_calls();
            for call in &pending {
                if !self.callouts.iter().any(|(c, _)| c.token == call.token) {
                    self.callouts.push((call.clone(), None));
                }
            }
            let Some(call) = pending.first() else { break };
            let Some(answer) = self.answers.pop_front() else {
                break;
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
    if !stream.upstream_request().headers_sent() {
        return Some(
            "the filter holds the request (it paused and did not resume): the upstream never saw it, so no \
             upstream response was played"
                .into(),
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
