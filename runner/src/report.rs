//! What the runner prints: readable text, or one JSON object (`--json`, shape in host/README.md).
//!
//! In the text, every field the guest chose (log lines, metric names, header names and values, reset reasons,
//! gRPC services and methods…) goes through `printable_line`: the whole text is escaped for the terminal when
//! printed, but newlines are kept there, and one inside a header value would print as a line of its own.

use std::fmt::Write;

use envoy_targets::Envoy;
use host::testing::{
    CallbackOutcome, ConnectionClosed, GrpcCall, Headers, HostCallAnswer, HttpCall, Level,
    LifeSpan, LogEntry, LogOrigin, Message, Metric, MetricKind, PeerType, Randomness, Received,
    RefusedCall, StartError, TrapReport, VmRole, printable_line,
};
use serde_json::Value;

use crate::exact_bytes;
use host::testing::play::{CalloutAnswer, GrpcAnswer, Run, Step, Stored, Traffic};

/// How many log lines a report shows at most: a plugin may log hundreds of thousands within its byte budget, and
/// the report (a JSON value built whole) would take many times their size.
const REPORTED_LOGS: usize = 10_000;

/// Everything one invocation observed.
pub struct Report<'a> {
    pub module: String,
    /// `--kind`: where in Envoy the module ran.
    pub kind: &'static str,
    /// The Envoy release the run behaved as.
    pub envoy: Envoy,
    /// Where `random_get` took its bytes.
    pub randomness: Randomness,
    /// How that Envoy closes a timed-out gRPC call ("14 Unavailable").
    pub grpc_timeout: String,
    pub abi: Option<String>,
    pub outcome: Outcome<'a>,
    pub logs: Vec<LogEntry>,
    pub metrics: Vec<Metric>,
    /// Why the VM failed while running the stream (trap, deadline, memory limit).
    pub failure: Option<String>,
    /// The trap behind the start error or the failure, if the guest trapped.
    pub trap: Option<TrapReport>,
}

pub enum Outcome<'a> {
    NotStarted(&'a StartError),
    Ran(Box<Run>),
}

impl Report<'_> {
    /// The `--json` report (`run_report::Report`, the type `cargo xtask check` reads).
    pub fn json(&self) -> run_report::Report<Value> {
        let (start_error, run) = match &self.outcome {
            Outcome::NotStarted(error) => (
                Some(run_report::StartError {
                    stage: stage(error),
                    message: error.message.clone(),
                    reason: error.reason().to_owned(),
                }),
                None,
            ),
            Outcome::Ran(run) => (None, Some(run)),
        };
        let (upstream, client, connection, ran_for) = match run.map(|r| &r.traffic) {
            None => (None, None, None, None),
            Some(Traffic::Http { upstream, client }) => (
                Some(run_report::Side::Http(message_json(upstream))),
                Some(run_report::Side::Http(message_json(client))),
                None,
                None,
            ),
            Some(Traffic::Tcp {
                upstream,
                client,
                cluster,
                closed,
            }) => (
                Some(run_report::Side::Tcp(received_json(upstream))),
                Some(run_report::Side::Tcp(received_json(client))),
                Some(run_report::Connection {
                    upstream_cluster: cluster.clone(),
                    closed_by: closed.as_ref().map(|c| peer_name(c.by).to_owned()),
                    close_reason: closed.as_ref().map(|c| c.reason.clone()),
                }),
                None,
            ),
            Some(Traffic::Service { ran_for }) => {
                (None, None, None, Some(ran_for.as_millis() as u64))
            }
        };
        run_report::Report {
            module: self.module.clone(),
            kind: self.kind.to_owned(),
            envoy: self.envoy.to_string(),
            abi_version: self.abi.clone(),
            random: match self.randomness {
                Randomness::Seeded(seed) => run_report::Random {
                    source: "seeded".into(),
                    seed: Some(seed),
                },
                Randomness::Os => run_report::Random {
                    source: "os".into(),
                    seed: None,
                },
            },
            started: run.is_some(),
            start_error,
            steps: run.map(|r| r.steps.iter().map(step_json).collect()),
            upstream_request: upstream,
            client_response: client,
            connection,
            ran_for_ms: ran_for,
            callouts: run.map(|r| {
                r.callouts
                    .iter()
                    .map(|(c, a)| callout_json(c, a.as_ref()))
                    .collect()
            }),
            grpc_calls: run.map(|r| {
                r.grpc_calls
                    .iter()
                    .map(|(c, a)| grpc_json(c, a.as_ref(), &r.grpc_services))
                    .collect()
            }),
            filter_callbacks: run.and_then(|r| r.callbacks.as_ref()).map(|c| {
                c.iter()
                    .map(|o| run_report::FilterCallback {
                        callback: o.callback.to_owned(),
                        returned: o.returned,
                        envoy: o.envoy.to_owned(),
                    })
                    .collect()
            }),
            refused_calls: run.map(|r| r.refused.0.iter().map(refused_json).collect()),
            refused_calls_omitted: run.map(|r| r.refused.1),
            canary_callouts: run.map(|r| {
                r.canary_callouts
                    .iter()
                    .map(|c| callout_json(c, None))
                    .collect()
            }),
            canary_grpc_calls: run.map(|r| {
                r.canary_grpc_calls
                    .iter()
                    .map(|c| grpc_json(c, None, &r.grpc_services))
                    .collect()
            }),
            notes: run.map(|r| r.notes.clone()),
            filter_state: run.and_then(|r| r.stored.as_ref()).map(|s| {
                s.properties
                    .iter()
                    .map(|(path, value)| stored_property_json(path, value))
                    .collect()
            }),
            envoy_filter_state: run.and_then(|r| r.stored.as_ref()).map(|s| {
                s.envoy
                    .iter()
                    .map(|(key, object)| run_report::EnvoyFilterState {
                        key: key.clone(),
                        value: object.value.clone(),
                        span: span_name(object.span).to_owned(),
                    })
                    .collect()
            }),
            logs: self
                .shown_logs()
                .map(|l| run_report::Log {
                    level: level_name(l.level).to_owned(),
                    context_id: l.context_id,
                    vm: vm_name(l.vm),
                    message: l.message.clone(),
                    origin: origin_name(l.origin).to_owned(),
                })
                .collect(),
            logs_omitted: self.omitted_logs(),
            metrics: self.metrics.iter().map(metric_json).collect(),
            failure: self.failure.clone(),
            trap: self.trap.as_ref().map(trap_json),
        }
    }

    /// The log lines the report shows: all of them, or the first and the last [`REPORTED_LOGS`] / 2.
    fn shown_logs(&self) -> impl Iterator<Item = &LogEntry> {
        let half = REPORTED_LOGS / 2;
        let head = self.logs.len().min(half);
        let tail_from = self.logs.len().saturating_sub(half).max(head);
        self.logs[..head].iter().chain(&self.logs[tail_from..])
    }

    /// How many log lines the report leaves out between the first and the last it shows.
    fn omitted_logs(&self) -> usize {
        self.logs.len().saturating_sub(REPORTED_LOGS)
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let abi = self
            .abi
            .as_deref()
            .map(|a| format!(" (proxy-wasm ABI {a})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "module: {}{abi}, run as --kind {} on {}",
            self.module, self.kind, self.envoy
        );
        let _ = match self.randomness {
            Randomness::Seeded(seed) => writeln!(
                out,
                "random_get: seeded with {seed}, the same bytes every run (Envoy's differ every run: --random os)"
            ),
            Randomness::Os => writeln!(out, "random_get: the operating system's bytes, as Envoy's"),
        };
        match &self.outcome {
            Outcome::NotStarted(error) => {
                let _ = writeln!(
                    out,
                    "the plugin did not start: {}",
                    printable_line(&headline(error))
                );
                let _ = writeln!(out, "reason: {}", printable_line(error.reason()));
            }
            Outcome::Ran(run) => run_text(&mut out, run, &self.grpc_timeout),
        }
        let _ = writeln!(out);
        if self.logs.is_empty() {
            let _ = writeln!(out, "logs: none");
        } else {
            let _ = writeln!(out, "logs:");
            for (i, l) in self.shown_logs().enumerate() {
                if i == REPORTED_LOGS / 2 && self.omitted_logs() > 0 {
                    let _ = writeln!(out, "  … {} lines omitted …", self.omitted_logs());
                }
                let vm = match l.vm {
                    VmRole::Worker(0) => String::new(),
                    other => format!("{} VM, ", vm_name(other)),
                };
                let origin = match l.origin {
                    LogOrigin::Guest => "",
                    LogOrigin::Host => "host: ",
                };
                let _ = writeln!(
                    out,
                    "  [{}] ({vm}context {}) {origin}{}",
                    level_name(l.level),
                    l.context_id,
                    printable_line(&l.message)
                );
            }
        }
        if self.metrics.is_empty() {
            let _ = writeln!(out, "metrics: none");
        } else {
            let _ = writeln!(out, "metrics:");
            for m in &self.metrics {
                let value = match m.kind {
                    MetricKind::Histogram => format!("samples {:?}", m.samples),
                    _ => m.value.to_string(),
                };
                let _ = writeln!(
                    out,
                    "  {} ({}): {value}",
                    printable_line(&m.name),
                    kind_name(m.kind)
                );
            }
        }
        if let Some(failure) = &self.failure {
            // A trap report has lines of its own (panic, backtrace); a guest's newline cannot start one.
            let lines: Vec<_> = failure.lines().map(printable_line).collect();
            let _ = writeln!(out, "\nthe plugin failed: {}", lines.join("\n"));
        }
        out
    }
}

/// A trap: the callback, the host call it was answering, the panic and the backtrace (shape in host/README.md).
fn trap_json(trap: &TrapReport) -> run_report::Trap {
    run_report::Trap {
        callback: trap.callback.clone(),
        kind: format!("{:?}", trap.kind),
        cause: trap.cause.clone(),
        answering: trap.answering().map(host_call_json),
        host_calls: trap.host_calls.iter().map(host_call_json).collect(),
        panic: trap.panic.clone(),
        function: trap.culprit().map(str::to_owned),
        backtrace: trap
            .frames
            .iter()
            .map(|f| run_report::Frame {
                index: f.index,
                function: f.function.clone(),
            })
            .collect(),
        names: trap.names.to_string(),
    }
}

fn host_call_json(call: &HostCallAnswer) -> run_report::HostCall {
    run_report::HostCall {
        name: call.name.to_owned(),
        status: call.status.map(|s| format!("{s:?}")),
    }
}

/// What the failure was, without the logs (they are printed separately).
pub fn headline(error: &StartError) -> String {
    let what = match stage(error) {
        run_report::Stage::Config => "Envoy rejected the plugin configuration",
        run_report::Stage::Load => "the module did not load",
        run_report::Stage::Initialize => "the module's start function failed",
        run_report::Stage::VmStart => "on_vm_start refused",
        run_report::Stage::Configure => "on_configure refused the configuration",
    };
    format!("{what}: {}", error.message)
}

fn run_text(out: &mut String, run: &Run, grpc_timeout: &str) {
    let _ = writeln!(out);
    for step in &run.steps {
        let _ = match step {
            Step::Callback {
                name,
                action,
                outcome,
            } => match outcome {
                Some(CallbackOutcome {
                    returned: Some(value),
                    envoy,
                    ..
                }) => writeln!(out, "{name} -> {action:?} (returned {value}: {envoy})"),
                Some(CallbackOutcome { envoy, .. }) => {
                    writeln!(out, "{name} -> {action:?} ({envoy})")
                }
                None => writeln!(out, "{name} -> {action:?}"),
            },
            Step::Answered { token, answer } => {
                writeln!(out, "callout {token} answered: {}", answer_text(answer))
            }
            Step::GrpcAnswered { token, answer } => {
                writeln!(
                    out,
                    "gRPC call {token} answered: {}",
                    grpc_answer_text(answer, grpc_timeout)
                )
            }
            Step::Advanced { by } => writeln!(out, "time advanced by {by:?}"),
            Step::Event(what) => writeln!(out, "{what}"),
        };
    }
    for note in &run.notes {
        let _ = writeln!(out, "note: {}", printable_line(note));
    }
    let _ = writeln!(out);
    match &run.traffic {
        Traffic::Http { upstream, client } => {
            message_text(out, "request the upstream would see", upstream);
            let _ = writeln!(out);
            message_text(out, "response the client would see", client);
        }
        Traffic::Tcp {
            upstream,
            client,
            cluster,
            closed,
        } => {
            received_text(out, "upstream", upstream);
            received_text(out, "client", client);
            let _ = match cluster {
                Some(cluster) => writeln!(
                    out,
                    "the TCP proxy connected to cluster {:?}",
                    printable_line(cluster)
                ),
                None => writeln!(out, "the TCP proxy never connected upstream"),
            };
            let _ = writeln!(out, "connection: {}", closed_text(closed.as_ref()));
        }
        Traffic::Service { ran_for } => {
            let _ = writeln!(out, "the service ran for {ran_for:?} of virtual time");
        }
    }
    if let Some(stored) = &run.stored {
        stored_text(out, stored);
    }
    let _ = writeln!(out);
    if run.callouts.is_empty() {
        let _ = writeln!(out, "callouts: none");
    } else {
        let _ = writeln!(out, "callouts:");
        for (call, answer) in &run.callouts {
            let timeout = call
                .timeout
                .map(|t| format!("{t:?}"))
                .unwrap_or_else(|| "none".into());
            let _ = writeln!(
                out,
                "  token {} from context {} to cluster {:?} (timeout {timeout})",
                call.token, call.context_id, call.cluster
            );
            let _ = write!(out, "  headers:\n{}", indent(&call.headers));
            if !call.body.is_empty() {
                let _ = writeln!(out, "  body: {}", exact_bytes::text(&call.body));
            }
            if !call.trailers.is_empty() {
                let _ = write!(out, "  trailers:\n{}", indent(&call.trailers));
            }
            let answer = answer
                .as_ref()
                .map_or("pending (not answered)".to_string(), answer_text);
            let _ = writeln!(out, "  answer: {answer}");
        }
    }
    if !run.refused.0.is_empty() {
        let _ = writeln!(
            out,
            "refused dispatches (the plugin got the status, no token):"
        );
        for call in &run.refused.0 {
            let what = if call.service.is_empty() {
                String::new()
            } else {
                format!(
                    " {}/{}",
                    printable_line(&call.service),
                    printable_line(&call.method)
                )
            };
            let _ = writeln!(
                out,
                "  {} from context {} to {:?}{what}: {:?}",
                call.function,
                call.context_id,
                printable_line(&call.upstream),
                call.status
            );
        }
        if run.refused.1 > 0 {
            let _ = writeln!(out, "  … and {} more", run.refused.1);
        }
    }
    if !run.canary_callouts.is_empty() || !run.canary_grpc_calls.is_empty() {
        let _ = writeln!(
            out,
            "the configuration canary dispatched (Envoy cancelled them with it; the worker's own are above):"
        );
        for call in &run.canary_callouts {
            let _ = writeln!(
                out,
                "  callout {} to cluster {:?}: {} {}",
                call.token,
                printable_line(&call.cluster),
                printable_line(call.headers.get(":method").unwrap_or_default()),
                printable_line(call.headers.get(":path").unwrap_or_default())
            );
        }
        for call in &run.canary_grpc_calls {
            let _ = writeln!(
                out,
                "  gRPC {} {} to {:?}: {}/{}",
                if call.stream { "stream" } else { "call" },
                call.token,
                printable_line(&call.upstream),
                printable_line(&call.service),
                printable_line(&call.method)
            );
        }
    }
    if !run.grpc_calls.is_empty() {
        let _ = writeln!(out, "gRPC calls:");
        for (call, given) in &run.grpc_calls {
            let kind = if call.stream { "stream" } else { "call" };
            let timeout = call
                .timeout
                .map(|t| format!("{t:?}"))
                .unwrap_or_else(|| "none".into());
            let _ = writeln!(
                out,
                "  {kind} {} from context {} to {:?}: {}/{} (timeout {timeout}), {} message(s) sent",
                call.token,
                call.context_id,
                call.upstream,
                printable_line(&call.service),
                printable_line(&call.method),
                call.messages.len()
            );
            let method = run.grpc_services.method(&call.service, &call.method);
            if let Some(method) = &method {
                messages_text(out, method, &call.messages);
            }
            let answer = given
                .as_ref()
                .map_or("pending (not answered)".to_string(), |a| {
                    grpc_answer_text(a, grpc_timeout)
                });
            let _ = writeln!(out, "  answer: {answer}");
            if let (Some(method), Some(GrpcAnswer::Status { code: 0, data })) = (&method, given) {
                let response = method.response();
                let _ = writeln!(out, "  answer message as {}:", response.name());
                json_text(out, response.to_json(data));
            }
        }
    }
}

/// A dispatch Envoy refused: what was asked, and the status the plugin got instead of a token.
fn refused_json(call: &RefusedCall) -> run_report::RefusedCall {
    run_report::RefusedCall {
        function: call.function.to_owned(),
        context_id: call.context_id,
        upstream: call.upstream.clone(),
        service: call.service.clone(),
        method: call.method.clone(),
        status: format!("{:?}", call.status),
    }
}

/// One `set_property` value: its path's segments and its bytes.
fn stored_property_json(path: &[String], value: &[u8]) -> run_report::StoredProperty {
    let value = exact_bytes::split(value);
    run_report::StoredProperty {
        path: path.to_vec(),
        value: value.text,
        value_base64: value.base64,
    }
}

/// Envoy's `FilterState::LifeSpan`, as the report names it.
fn span_name(span: LifeSpan) -> &'static str {
    match span {
        LifeSpan::FilterChain => "filter_chain",
        LifeSpan::DownstreamRequest => "request",
        LifeSpan::DownstreamConnection => "connection",
    }
}

/// What the plugin stored on the stream or connection, in the text report.
fn stored_text(out: &mut String, stored: &Stored) {
    if stored.properties.is_empty() && stored.envoy.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nstored by the plugin:");
    for (path, value) in &stored.properties {
        let _ = writeln!(
            out,
            "  set_property {}: {}",
            printable_line(&path.join(".")),
            exact_bytes::text(value)
        );
    }
    for (key, object) in &stored.envoy {
        let _ = writeln!(
            out,
            "  set_envoy_filter_state {}: {:?} ({})",
            printable_line(key),
            printable_line(&object.value),
            span_name(object.span)
        );
    }
}

/// The messages sent on a call to a known service, as indented JSON.
fn messages_text(out: &mut String, method: &grpc_json::Method, messages: &[Vec<u8>]) {
    let request = method.request();
    for (i, message) in messages.iter().enumerate() {
        let _ = writeln!(out, "  message {} as {}:", i + 1, request.name());
        json_text(out, request.to_json(message));
    }
}

/// Pretty JSON indented by four spaces, or why the bytes are not the message. serde_json escapes control
/// characters inside strings, so the only line breaks are its own.
fn json_text(out: &mut String, decoded: Result<Value, grpc_json::Error>) {
    let text = match decoded {
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_default(),
        Err(e) => printable_line(&e.to_string()).into_owned(),
    };
    for line in text.lines() {
        let _ = writeln!(out, "    {line}");
    }
}

/// A gRPC status as "14 Unavailable".
pub fn grpc_status_name(code: u32) -> String {
    let name = match code {
        0 => "OK",
        1 => "Cancelled",
        2 => "Unknown",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        6 => "AlreadyExists",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        10 => "Aborted",
        11 => "OutOfRange",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        15 => "DataLoss",
        16 => "Unauthenticated",
        _ => return code.to_string(),
    };
    format!("{code} {name}")
}

fn grpc_answer_text(answer: &GrpcAnswer, grpc_timeout: &str) -> String {
    match answer {
        GrpcAnswer::Status { code: 0, data } => {
            format!("0 (OK) with message {}", exact_bytes::text(data))
        }
        GrpcAnswer::Status { code, data } => {
            format!("status {code} {}", exact_bytes::text(data))
        }
        GrpcAnswer::Timeout => format!("timeout ({grpc_timeout}, Envoy's router)"),
        GrpcAnswer::Json { text } => format!("0 (OK) with message in JSON {text}"),
    }
}

fn grpc_answer_json(answer: &GrpcAnswer) -> run_report::GrpcAnswer {
    match answer {
        GrpcAnswer::Status { code, data } => {
            let data = exact_bytes::split(data);
            run_report::GrpcAnswer::Status {
                code: *code,
                data: data.text,
                data_base64: data.base64,
            }
        }
        GrpcAnswer::Timeout => run_report::GrpcAnswer::Ended(run_report::Ending::Timeout),
        GrpcAnswer::Json { text } => run_report::GrpcAnswer::Json {
            code: 0,
            json: text.clone(),
        },
    }
}

/// A call to a known service: its message types, and each message and the answer as `{"json": …}` or
/// `{"error": "why the bytes are not that message"}`; null for a service the runner does not know.
fn grpc_decoded_json(
    call: &GrpcCall,
    answer: Option<&GrpcAnswer>,
    services: &grpc_json::Services,
) -> Option<run_report::Decoded<Value>> {
    let method = services.method(&call.service, &call.method)?;
    let decoded = |result: Result<Value, grpc_json::Error>| match result {
        Ok(json) => run_report::DecodedMessage::Json { json },
        Err(e) => run_report::DecodedMessage::Error {
            error: e.to_string(),
        },
    };
    let (request, response) = (method.request(), method.response());
    Some(run_report::Decoded {
        request_type: request.name().to_owned(),
        response_type: response.name().to_owned(),
        messages: call
            .messages
            .iter()
            .map(|m| decoded(request.to_json(m)))
            .collect(),
        answer: match answer {
            Some(GrpcAnswer::Status { code: 0, data }) => Some(decoded(response.to_json(data))),
            _ => None,
        },
    })
}

fn grpc_json(
    call: &GrpcCall,
    answer: Option<&GrpcAnswer>,
    services: &grpc_json::Services,
) -> run_report::GrpcCall<Value> {
    let (messages, messages_base64) = call
        .messages
        .iter()
        .map(|m| exact_bytes::split(m))
        .map(|b| (b.text, b.base64))
        .unzip();
    run_report::GrpcCall {
        token: call.token,
        context_id: call.context_id,
        stream: call.stream,
        upstream: call.upstream.clone(),
        service: call.service.clone(),
        method: call.method.clone(),
        initial_metadata: headers_json(&call.initial_metadata),
        timeout_ms: call.timeout.map(|t| t.as_millis() as u64),
        answer: answer.map(grpc_answer_json),
        decoded: grpc_decoded_json(call, answer, services),
        messages,
        messages_base64,
    }
}

fn origin_name(origin: LogOrigin) -> &'static str {
    match origin {
        LogOrigin::Guest => "guest",
        LogOrigin::Host => "host",
    }
}

/// A header map, one `name: value` a line, indented by `indent` spaces plus two.
fn headers_text(headers: &Headers, indent: usize) -> String {
    if headers.is_empty() {
        return format!("{:indent$}  (none)\n", "");
    }
    headers
        .iter()
        .map(|(name, value)| {
            format!(
                "{:indent$}  {}: {}\n",
                "",
                printable_line(name),
                printable_line(&value)
            )
        })
        .collect()
}

fn indent(headers: &Headers) -> String {
    headers_text(headers, 2)
}

/// A request or response as one side sees it.
fn message_text(out: &mut String, what: &str, message: &Message) {
    let _ = writeln!(out, "the {what}:");
    let _ = match &message.headers {
        None => writeln!(
            out,
            "headers: not sent (held by the filter, or never received)"
        ),
        Some(headers) => write!(out, "headers:\n{}", headers_text(headers, 0)),
    };
    let _ = if message.body.is_empty() {
        writeln!(out, "body: empty")
    } else {
        writeln!(
            out,
            "body ({} bytes): {}",
            message.body.len(),
            exact_bytes::text(&message.body)
        )
    };
    if let Some(trailers) = &message.trailers {
        let _ = write!(out, "trailers:\n{}", headers_text(trailers, 0));
    }
    let _ = writeln!(
        out,
        "end of stream: {}",
        if message.end_of_stream { "yes" } else { "no" }
    );
    if let Some(reply) = &message.local_reply {
        let _ = writeln!(
            out,
            "local reply: {} (details {:?}, gRPC status {:?})",
            reply.status, reply.details, reply.grpc_status
        );
    }
    if let Some(reset) = &message.reset {
        let _ = writeln!(out, "stream reset: {}", printable_line(reset));
    }
}

fn answer_text(answer: &CalloutAnswer) -> String {
    match answer {
        CalloutAnswer::Response {
            status,
            headers,
            body,
        } => {
            let mut text = status.to_string();
            for (name, value) in headers {
                text.push_str(&format!(", {name}: {value}"));
            }
            if !body.is_empty() {
                text.push_str(&format!(" with body {}", exact_bytes::text(body)));
            }
            text
        }
        CalloutAnswer::Reset => "reset (the call failed)".into(),
        CalloutAnswer::Timeout => "timeout (Envoy's 504)".into(),
    }
}

/// Which VM logged a line: Envoy's start-up VMs run the plugin's start code before the worker's does.
fn vm_name(vm: VmRole) -> String {
    match vm {
        VmRole::Base => "base".into(),
        VmRole::Canary => "canary".into(),
        VmRole::Worker(0) => "worker".into(),
        VmRole::Worker(n) => format!("worker (reload {n})"),
    }
}

fn stage(error: &StartError) -> run_report::Stage {
    use host::testing::StartFailure;
    match error.failure {
        StartFailure::Config => run_report::Stage::Config,
        StartFailure::Load => run_report::Stage::Load,
        StartFailure::Initialize => run_report::Stage::Initialize,
        StartFailure::VmStart => run_report::Stage::VmStart,
        StartFailure::Configure => run_report::Stage::Configure,
    }
}

/// What one end of a TCP connection received.
fn received_text(out: &mut String, who: &str, received: &Received) {
    let _ = if received.bytes.is_empty() {
        writeln!(out, "the {who} would receive: nothing")
    } else {
        writeln!(
            out,
            "the {who} would receive ({} bytes): {}",
            received.bytes.len(),
            exact_bytes::text(&received.bytes)
        )
    };
    let _ = writeln!(
        out,
        "  end of stream: {}",
        if received.end_of_stream { "yes" } else { "no" }
    );
}

fn closed_text(closed: Option<&ConnectionClosed>) -> String {
    match closed {
        Some(closed) => format!(
            "closed by {} ({})",
            peer_name(closed.by),
            printable_line(&closed.reason)
        ),
        None => "open".into(),
    }
}

fn received_json(received: &Received) -> run_report::Received {
    let body = exact_bytes::split(&received.bytes);
    run_report::Received {
        end_of_stream: received.end_of_stream,
        body: body.text,
        body_base64: body.base64,
    }
}

/// Envoy's connection event: `local` (Envoy closed it) or `remote` (the peer did).
fn peer_name(peer: PeerType) -> &'static str {
    match peer {
        PeerType::Unknown => "unknown",
        PeerType::Local => "local",
        PeerType::Remote => "remote",
    }
}

fn step_json(step: &Step) -> run_report::Step {
    match step {
        Step::Event(what) => run_report::Step::Event {
            event: what.to_string(),
        },
        Step::Callback {
            name,
            action,
            outcome,
        } => run_report::Step::Callback {
            callback: name.to_string(),
            action: format!("{action:?}").to_ascii_lowercase(),
            returned: outcome.and_then(|o| o.returned),
            envoy: outcome.map(|o| o.envoy.to_owned()),
        },
        Step::Answered { token, answer } => run_report::Step::CalloutAnswered {
            callout_answered: *token,
            answer: answer_json(answer),
        },
        Step::GrpcAnswered { token, answer } => run_report::Step::GrpcAnswered {
            grpc_call_answered: *token,
            answer: grpc_answer_json(answer),
        },
        Step::Advanced { by } => run_report::Step::TimeAdvanced {
            time_advanced_ms: by.as_millis() as u64,
        },
    }
}

fn answer_json(answer: &CalloutAnswer) -> run_report::CalloutAnswer {
    match answer {
        CalloutAnswer::Response {
            status,
            headers,
            body,
        } => {
            let body = exact_bytes::split(body);
            run_report::CalloutAnswer::Response {
                status: *status,
                headers: headers.clone(),
                body: body.text,
                body_base64: body.base64,
            }
        }
        CalloutAnswer::Reset => run_report::CalloutAnswer::Ended(run_report::Ending::Reset),
        CalloutAnswer::Timeout => run_report::CalloutAnswer::Ended(run_report::Ending::Timeout),
    }
}

fn headers_json(headers: &Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| (name.to_owned(), value.into_owned()))
        .collect()
}

/// A request or response as one side sees it; `status` only when there is a `:status` (responses).
fn message_json(message: &Message) -> run_report::HttpMessage {
    let body = exact_bytes::split(&message.body);
    run_report::HttpMessage {
        status: message.status(),
        headers: message.headers.as_ref().map(headers_json),
        trailers: message.trailers.as_ref().map(headers_json),
        end_of_stream: message.end_of_stream,
        local_reply: message.local_reply.as_ref().map(|r| {
            let body = exact_bytes::split(&r.body);
            run_report::LocalReply {
                status: r.status,
                details: r.details.clone(),
                grpc_status: r.grpc_status,
                body: body.text,
                body_base64: body.base64,
            }
        }),
        reset: message.reset.clone(),
        body: body.text,
        body_base64: body.base64,
    }
}

fn callout_json(call: &HttpCall, answer: Option<&CalloutAnswer>) -> run_report::Callout {
    let body = exact_bytes::split(&call.body);
    run_report::Callout {
        token: call.token,
        context_id: call.context_id,
        cluster: call.cluster.clone(),
        headers: headers_json(&call.headers),
        trailers: headers_json(&call.trailers),
        timeout_ms: call.timeout.map(|t| t.as_millis() as u64),
        answer: answer.map(answer_json),
        body: body.text,
        body_base64: body.base64,
    }
}

fn metric_json(metric: &Metric) -> run_report::Metric {
    run_report::Metric {
        name: metric.name.clone(),
        kind: kind_name(metric.kind).to_owned(),
        value: metric.value,
        samples: metric.samples.clone(),
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
        Level::Critical => "critical",
    }
}

fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
        MetricKind::Histogram => "histogram",
    }
}
