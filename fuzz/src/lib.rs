//! One fuzz case — a plugin configuration and one HTTP stream — and how it is replayed through the host the way Envoy
//! would drive it. The generator (`proxy-wasm-fuzz`) and the regression test (`tests/findings.rs`) share this, so a
//! finding kept as a file replays exactly as it was found.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;

use host::testing::{GrpcResponse, HttpCallResponse, HttpStream, Level, Plugin, StartFailure};
use serde::{Deserialize, Serialize};

/// Bytes kept readable in a finding file: text when they are UTF-8, `hex:…` otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) if !text.starts_with("hex:") => serializer.serialize_str(text),
            _ => {
                let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
                serializer.serialize_str(&format!("hex:{hex}"))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let Some(hex) = text.strip_prefix("hex:") else {
            return Ok(Bytes(text.into_bytes()));
        };
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("x"), 16))
            .collect::<Result<_, _>>()
            .map(Bytes)
            .map_err(|_| serde::de::Error::custom(format!("not hex: {hex}")))
    }
}

/// One thing that happens to the stream, in the order Envoy lets it happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    RequestHeaders {
        headers: Vec<(String, Bytes)>,
        end: bool,
    },
    RequestBody {
        chunk: Bytes,
        end: bool,
    },
    RequestTrailers {
        trailers: Vec<(String, String)>,
    },
    ResponseHeaders {
        headers: Vec<(String, Bytes)>,
        end: bool,
    },
    ResponseBody {
        chunk: Bytes,
        end: bool,
    },
    ResponseTrailers {
        trailers: Vec<(String, String)>,
    },
    /// The oldest pending HTTP callout gets this answer (nothing happens when none is pending).
    AnswerHttp {
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
    },
    FailHttp,
    TimeOutHttp,
    /// The oldest pending gRPC call gets this status and message.
    AnswerGrpc {
        status: u32,
        message: Option<Bytes>,
    },
    /// The proxy's clock moves (timers and callout timeouts fire).
    AdvanceMs {
        ms: u64,
    },
    /// The client goes away: the stream ends where it is.
    Reset,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub config: Bytes,
    pub events: Vec<Event>,
}

/// What a case did to the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The configuration was taken and the stream ran without a trap.
    Ran,
    /// `on_configure` returned false and the plugin logged why (Envoy shows that line to the operator).
    RefusedWithReason,
    /// A finding: `on_configure` returned false without a line at warn or above saying why.
    RefusedSilently,
    /// A finding: the module trapped (a Rust panic, an out-of-bounds access...), here is the host's report.
    Trapped(String),
}

impl Outcome {
    pub fn is_finding(&self) -> bool {
        matches!(self, Outcome::RefusedSilently | Outcome::Trapped(_))
    }
}

/// Runs `case` against the module at `module`: every callout cluster exists, as a correct configuration would
/// have it, so the plugin's own code is what is exercised.
pub fn replay(module: &Path, case: &Case) -> Outcome {
    let started = Plugin::load(module)
        .config(&case.config.0)
        .any_cluster()
        .start();
    let plugin = match started {
        Ok(plugin) => plugin,
        Err(error) if error.message.ends_with("returned false") => {
            let explained = error.logs.iter().any(|log| {
                matches!(log.level, Level::Warn | Level::Error | Level::Critical)
                    && matches!(log.origin, host::testing::LogOrigin::Guest)
            });
            return if explained && matches!(error.failure, StartFailure::Configure) {
                Outcome::RefusedWithReason
            } else {
                Outcome::RefusedSilently
            };
        }
        Err(error) => return Outcome::Trapped(format!("{:?}: {}", error.failure, error.message)),
    };
    let mut stream = plugin.http_stream();
    // The test API refuses steps Envoy would never take (a response while the request is held...): those are the
    // generator's mistakes, not the module's, and end the stream early.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        for event in &case.events {
            if plugin.failure().is_some() || !apply(&plugin, &mut stream, event) {
                break;
            }
        }
        stream.finish();
    }));
    match plugin.failure() {
        Some(failure) => Outcome::Trapped(failure),
        None => Outcome::Ran,
    }
}

/// One event; false when the stream cannot go on (reset, or answered locally).
fn apply(plugin: &Plugin, stream: &mut HttpStream<'_>, event: &Event) -> bool {
    let pairs = |headers: &[(String, Bytes)]| -> Vec<(String, Vec<u8>)> {
        headers
            .iter()
            .map(|(n, v)| (n.clone(), v.0.clone()))
            .collect()
    };
    let upstream_can_answer = |stream: &HttpStream<'_>| {
        stream.request_held_by().is_none() && stream.local_reply().is_none()
    };
    match event {
        Event::RequestHeaders { headers, end } => {
            let owned = pairs(headers);
            let borrowed: Vec<(&str, &[u8])> = owned
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice()))
                .collect();
            stream.send_request_headers_bytes(&borrowed, *end);
        }
        Event::RequestBody { chunk, end } => {
            stream.send_request_body(&chunk.0, *end);
        }
        Event::RequestTrailers { trailers } => {
            let borrowed: Vec<(&str, &str)> = trailers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            stream.send_request_trailers(&borrowed);
        }
        Event::ResponseHeaders { headers, end } => {
            if !upstream_can_answer(stream) {
                return false;
            }
            let owned = pairs(headers);
            let borrowed: Vec<(&str, &[u8])> = owned
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice()))
                .collect();
            stream.send_response_headers_bytes(&borrowed, *end);
        }
        Event::ResponseBody { chunk, end } => {
            if !upstream_can_answer(stream) {
                return false;
            }
            stream.send_response_body(&chunk.0, *end);
        }
        Event::ResponseTrailers { trailers } => {
            if !upstream_can_answer(stream) {
                return false;
            }
            let borrowed: Vec<(&str, &str)> = trailers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            stream.send_response_trailers(&borrowed);
        }
        Event::AnswerHttp {
            status,
            headers,
            body,
        } => {
            if let Some(call) = plugin.http_calls().first() {
                let mut response = HttpCallResponse::new(*status).body(&body.0);
                for (name, value) in headers {
                    response = response.header(name, value);
                }
                plugin.answer_http_call(call.token, response);
            }
        }
        Event::FailHttp => {
            if let Some(call) = plugin.http_calls().first() {
                plugin.fail_http_call(call.token);
            }
        }
        Event::TimeOutHttp => {
            if let Some(call) = plugin.http_calls().first() {
                plugin.time_out_http_call(call.token);
            }
        }
        Event::AnswerGrpc { status, message } => {
            if let Some(call) = plugin.grpc_calls().first() {
                let response = match (status, message) {
                    (0, Some(message)) => GrpcResponse::ok(&message.0),
                    (code, _) => GrpcResponse::error(*code, "fuzzed"),
                };
                plugin.answer_grpc_call(call.token, response);
            }
        }
        Event::AdvanceMs { ms } => plugin.advance_time(Duration::from_millis(*ms)),
        Event::Reset => return false,
    }
    true
}
