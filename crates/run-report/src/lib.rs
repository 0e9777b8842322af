//! The JSON report `proxy-wasm-run --json` prints (the shape host/README.md shows), as types: the runner builds a
//! [`Report`] and serialises it, `cargo xtask check` deserialises the same type, so a field renamed on one side is a
//! compile error on the other instead of a `null` read at run time.
//!
//! Bytes the plugin sent or received appear twice, without loss: `<field>` holds them as text when they are UTF-8
//! (else null) and `<field>_base64` holds them in standard base64 when they are not (else null); [`ExactBytes`]
//! makes the pair. A gRPC message decoded as JSON is any JSON value: the report is generic over the type that holds
//! it (`serde_json::Value` for the runner, [`serde::de::IgnoredAny`] for a reader that does not look).

use serde::{Deserialize, Serialize};

/// What one run of `proxy-wasm-run` observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report<Json> {
    /// The module's path as given.
    pub module: String,
    /// Where in Envoy it ran: `http`, `tcp` or `service`.
    pub kind: String,
    /// The Envoy release the run behaved as (`1.24`…).
    pub envoy: String,
    /// The proxy-wasm ABI the module declares, if it loaded.
    pub abi_version: Option<String>,
    pub random: Random,
    pub started: bool,
    /// Why the plugin did not start; null when it did.
    pub start_error: Option<StartError>,
    /// Each thing that happened, in order; null when the plugin did not start.
    pub steps: Option<Vec<Step>>,
    /// An HTTP run: the request as the upstream saw it; a TCP run: the bytes the upstream received.
    pub upstream_request: Option<Side>,
    /// An HTTP run: the response as the client saw it; a TCP run: the bytes the client received.
    pub client_response: Option<Side>,
    /// A TCP run's connection.
    pub connection: Option<Connection>,
    /// A service run: the virtual time it ran for.
    pub ran_for_ms: Option<u64>,
    pub callouts: Option<Vec<Callout>>,
    pub grpc_calls: Option<Vec<GrpcCall<Json>>>,
    /// What each HTTP filter callback returned and what Envoy made of it.
    pub filter_callbacks: Option<Vec<FilterCallback>>,
    /// Dispatches Envoy refused (an undeclared cluster…).
    pub refused_calls: Option<Vec<RefusedCall>>,
    pub refused_calls_omitted: Option<usize>,
    /// What the canary VM dispatched while it checked the configuration (never answered).
    pub canary_callouts: Option<Vec<Callout>>,
    pub canary_grpc_calls: Option<Vec<GrpcCall<Json>>>,
    /// What the runner noticed that Envoy would do differently (a cluster it would refuse…).
    pub notes: Option<Vec<String>>,
    /// Values the plugin stored with `set_property`.
    pub filter_state: Option<Vec<StoredProperty>>,
    /// Objects the plugin stored with `set_envoy_filter_state`.
    pub envoy_filter_state: Option<Vec<EnvoyFilterState>>,
    /// The log lines shown: all, or the first and the last 5 000.
    pub logs: Vec<Log>,
    /// How many log lines are left out between the first and the last shown.
    pub logs_omitted: usize,
    pub metrics: Vec<Metric>,
    /// Why the VM failed while running (trap, deadline, memory limit).
    pub failure: Option<String>,
    /// The trap behind the start error or the failure, if the guest trapped.
    pub trap: Option<Trap>,
}

/// Where WASI `random_get` took its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Random {
    /// `seeded` (the same bytes every run) or `os` (Envoy's way).
    pub source: String,
    pub seed: Option<u64>,
}

/// Why the plugin did not start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartError {
    pub stage: Stage,
    pub message: String,
    /// The plugin's own reason (its last error log line), or the host's.
    pub reason: String,
}

/// The step of Envoy's start at which a plugin failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The plugin configuration itself (before any VM).
    Config,
    /// The module did not load (not wasm, a missing import, too large).
    Load,
    /// `_initialize`/`_start` or the ABI check.
    Initialize,
    /// `proxy_on_vm_start` refused or trapped.
    VmStart,
    /// `proxy_on_configure` refused or trapped.
    Configure,
}

impl Stage {
    /// The name the report gives it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Config => "config",
            Stage::Load => "load",
            Stage::Initialize => "initialize",
            Stage::VmStart => "vm_start",
            Stage::Configure => "configure",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes as text when they are UTF-8, else as base64, for a `<field>` / `<field>_base64` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactBytes {
    pub text: Option<String>,
    pub base64: Option<String>,
}

impl ExactBytes {
    /// `encode` turns bytes that are not UTF-8 into standard base64 (the runner's encoder; this crate has none).
    pub fn new(bytes: &[u8], encode: impl FnOnce(&[u8]) -> String) -> ExactBytes {
        match std::str::from_utf8(bytes) {
            Ok(text) => ExactBytes {
                text: Some(text.to_owned()),
                base64: None,
            },
            Err(_) => ExactBytes {
                text: None,
                base64: Some(encode(bytes)),
            },
        }
    }
}

/// One thing that happened during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Step {
    /// Something Envoy did (`request headers`, `connection closed by the client`…).
    Event { event: String },
    /// A filter callback: what it returned and what Envoy did with it.
    Callback {
        callback: String,
        /// `continue`, `pause`…
        action: String,
        returned: Option<i32>,
        envoy: Option<String>,
    },
    /// An HTTP callout's answer delivered.
    CalloutAnswered {
        callout_answered: u32,
        answer: CalloutAnswer,
    },
    /// A gRPC call's answer delivered.
    GrpcAnswered {
        grpc_call_answered: u32,
        answer: GrpcAnswer,
    },
    /// Virtual time advanced.
    TimeAdvanced { time_advanced_ms: u64 },
}

/// One side of the traffic: an HTTP message, or the bytes one end of a TCP connection received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Side {
    // First: its fields are a subset of a message's, so only an object with no others is read as one.
    Tcp(Received),
    Http(HttpMessage),
}

/// A request or response as one side saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpMessage {
    /// Only for a response with a `:status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub headers: Option<Vec<(String, String)>>,
    pub trailers: Option<Vec<(String, String)>>,
    pub end_of_stream: bool,
    /// The local reply the plugin (or Envoy) sent instead of the upstream's response.
    pub local_reply: Option<LocalReply>,
    /// Why the stream was reset, if it was.
    pub reset: Option<String>,
    pub body: Option<String>,
    pub body_base64: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalReply {
    pub status: u32,
    pub details: String,
    pub grpc_status: Option<u32>,
    pub body: Option<String>,
    pub body_base64: Option<String>,
}

/// What one end of a TCP connection received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Received {
    pub end_of_stream: bool,
    pub body: Option<String>,
    pub body_base64: Option<String>,
}

/// A TCP run's connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub upstream_cluster: Option<String>,
    /// `local` (Envoy closed it) or `remote` (the peer did); null while open.
    pub closed_by: Option<String>,
    pub close_reason: Option<String>,
}

/// An HTTP callout the plugin dispatched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callout {
    pub token: u32,
    pub context_id: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub trailers: Vec<(String, String)>,
    pub timeout_ms: Option<u64>,
    pub answer: Option<CalloutAnswer>,
    pub body: Option<String>,
    pub body_base64: Option<String>,
}

/// How an HTTP callout was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CalloutAnswer {
    Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: Option<String>,
        body_base64: Option<String>,
    },
    /// `"reset"` or `"timeout"`.
    Ended(Ending),
}

/// A call that ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ending {
    Reset,
    Timeout,
}

/// A gRPC call the plugin dispatched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrpcCall<Json> {
    pub token: u32,
    pub context_id: u32,
    /// A stream (`grpc_stream`) rather than a unary call.
    pub stream: bool,
    pub upstream: String,
    pub service: String,
    pub method: String,
    pub initial_metadata: Vec<(String, String)>,
    pub timeout_ms: Option<u64>,
    pub answer: Option<GrpcAnswer>,
    /// The messages and the answer as JSON, for a service the runner knows; null otherwise.
    pub decoded: Option<Decoded<Json>>,
    pub messages: Vec<Option<String>>,
    pub messages_base64: Vec<Option<String>>,
}

/// How a gRPC call was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GrpcAnswer {
    /// Code 0 with a message given as JSON (encoded once the method is known).
    Json { code: u32, json: String },
    /// A status code, with the response message (code 0) or the status message.
    Status {
        code: u32,
        data: Option<String>,
        data_base64: Option<String>,
    },
    /// `"timeout"`.
    Ended(Ending),
}

/// A known service's call decoded: its message types, each message and the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decoded<Json> {
    pub request_type: String,
    pub response_type: String,
    pub messages: Vec<DecodedMessage<Json>>,
    pub answer: Option<DecodedMessage<Json>>,
}

/// One message as JSON, or why its bytes are not that message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DecodedMessage<Json> {
    Json { json: Json },
    Error { error: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterCallback {
    pub callback: String,
    pub returned: Option<i32>,
    pub envoy: String,
}

/// A dispatch Envoy refused: what was asked, and the status the plugin got instead of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedCall {
    pub function: String,
    pub context_id: u32,
    pub upstream: String,
    pub service: String,
    pub method: String,
    pub status: String,
}

/// One `set_property` value: its path's segments and its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredProperty {
    pub path: Vec<String>,
    pub value: Option<String>,
    pub value_base64: Option<String>,
}

/// One `set_envoy_filter_state` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvoyFilterState {
    pub key: String,
    pub value: String,
    /// Envoy's `FilterState::LifeSpan`: `filter_chain`, `request`, `connection`.
    pub span: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    /// `trace` … `critical`.
    pub level: String,
    pub context_id: u32,
    /// `worker`, `canary`, `base` or `worker (reload N)`.
    pub vm: String,
    pub message: String,
    /// `guest`, or `host` for the host's own line.
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: String,
    pub value: i64,
    /// A histogram's recorded values.
    pub samples: Vec<u64>,
}

/// A trap: the callback, the host call it was answering, the panic and the backtrace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trap {
    pub callback: String,
    pub kind: String,
    pub cause: String,
    pub answering: Option<HostCall>,
    pub host_calls: Vec<HostCall>,
    pub panic: Option<String>,
    /// The first frame of the plugin's own code.
    pub function: Option<String>,
    pub backtrace: Vec<Frame>,
    /// Where the function names came from, or why there are none.
    pub names: String,
}

/// A host call the guest made and what the host answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCall {
    pub name: String,
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The function's index in the module (what Envoy prints).
    pub index: u32,
    pub function: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A value read as `T` and written again is the same JSON: no field is lost or renamed on the way.
    #[track_caller]
    fn round_trips<T: Serialize + for<'de> Deserialize<'de>>(value: Value) -> T {
        let typed: T = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), value);
        typed
    }

    #[test]
    fn a_tcp_side_and_an_http_side_are_told_apart_by_their_fields() {
        let tcp: Side =
            round_trips(json!({"end_of_stream": true, "body": "hi", "body_base64": null}));
        assert!(matches!(tcp, Side::Tcp(_)), "{tcp:?}");
        let http: Side = round_trips(json!({
            "status": 200, "headers": [[":status", "200"]], "trailers": null, "end_of_stream": true,
            "local_reply": null, "reset": null, "body": "", "body_base64": null,
        }));
        assert!(
            matches!(
                http,
                Side::Http(HttpMessage {
                    status: Some(200),
                    ..
                })
            ),
            "{http:?}"
        );
        // A request has no `:status`, and the report leaves `status` out rather than writing null.
        let request: Side = round_trips(json!({
            "headers": [], "trailers": null, "end_of_stream": false, "local_reply": null, "reset": null,
            "body": null, "body_base64": "AP8=",
        }));
        assert!(
            matches!(request, Side::Http(HttpMessage { status: None, .. })),
            "{request:?}"
        );
    }

    #[test]
    fn answers_are_an_object_or_the_word_for_how_the_call_ended() {
        let grpc: GrpcAnswer = round_trips(json!({"code": 0, "json": "{}"}));
        assert_eq!(
            grpc,
            GrpcAnswer::Json {
                code: 0,
                json: "{}".into()
            }
        );
        let grpc: GrpcAnswer =
            round_trips(json!({"code": 7, "data": "denied", "data_base64": null}));
        assert!(
            matches!(grpc, GrpcAnswer::Status { code: 7, .. }),
            "{grpc:?}"
        );
        let grpc: GrpcAnswer = round_trips(json!("timeout"));
        assert_eq!(grpc, GrpcAnswer::Ended(Ending::Timeout));
        let callout: CalloutAnswer = round_trips(json!("reset"));
        assert_eq!(callout, CalloutAnswer::Ended(Ending::Reset));
        let step: Step = round_trips(json!({"callout_answered": 3, "answer": "timeout"}));
        assert!(
            matches!(
                step,
                Step::CalloutAnswered {
                    callout_answered: 3,
                    ..
                }
            ),
            "{step:?}"
        );
    }

    #[test]
    fn a_decoded_message_is_any_json_or_why_it_is_not_that_message() {
        let json: DecodedMessage<Value> = round_trips(json!({"json": {"a": [1, 2]}}));
        assert_eq!(
            json,
            DecodedMessage::Json {
                json: json!({"a": [1, 2]})
            }
        );
        let error: DecodedMessage<Value> = round_trips(json!({"error": "truncated"}));
        assert_eq!(
            error,
            DecodedMessage::Error {
                error: "truncated".into()
            }
        );
    }

    #[test]
    fn the_stage_is_named_as_the_report_writes_it() {
        let stage: Stage = round_trips(json!("vm_start"));
        assert_eq!(stage, Stage::VmStart);
        assert_eq!(stage.to_string(), "vm_start");
        assert!(serde_json::from_value::<Stage>(json!("restart")).is_err());
    }

    #[test]
    fn bytes_are_text_or_base64_never_both() {
        let encode = |_: &[u8]| "AP8=".to_owned();
        assert_eq!(
            ExactBytes::new(b"caf\xc3\xa9", encode),
            ExactBytes {
                text: Some("café".into()),
                base64: None
            }
        );
        assert_eq!(
            ExactBytes::new(b"\x00\xff", encode),
            ExactBytes {
                text: None,
                base64: Some("AP8=".into())
            }
        );
    }
}
