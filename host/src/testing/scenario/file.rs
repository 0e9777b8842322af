//! The scenario file's fields, named after the runner's flags (`headers` for `--header`, `callout_responses` for
//! `--callout-response`…) and holding the same values as text. Unknown fields are refused, so a misspelt
//! expectation cannot pass unnoticed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::spec::LogLevel;
use crate::testing::play::{self, CalloutAnswer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScenarioFile {
    /// Where in Envoy the module runs (`--kind`); only `http` is played so far.
    #[serde(default)]
    pub kind: play::Kind,
    /// `--config`: text, or `@FILE` relative to the scenario file.
    pub config: Option<String>,
    pub vm_config: Option<String>,
    pub root_id: Option<String>,
    pub vm_id: Option<String>,
    /// `--cluster`: the clusters Envoy knows; without the field every name is taken.
    pub clusters: Option<Vec<String>>,
    #[serde(default)]
    pub log_level: FileLogLevel,
    pub streams: Vec<StreamSpec>,
}

/// `--log-level`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum FileLogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    Critical,
}

impl FileLogLevel {
    pub fn level(self) -> LogLevel {
        match self {
            FileLogLevel::Trace => LogLevel::Trace,
            FileLogLevel::Debug => LogLevel::Debug,
            FileLogLevel::Info => LogLevel::Info,
            FileLogLevel::Warn => LogLevel::Warn,
            FileLogLevel::Error => LogLevel::Error,
            FileLogLevel::Critical => LogLevel::Critical,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamSpec {
    pub name: Option<String>,
    /// `--header`, `NAME: VALUE` each.
    #[serde(default)]
    pub headers: Vec<String>,
    /// `--body`: text or `@FILE`.
    pub body: Option<String>,
    /// `--body-chunk`, one `on_request_body` each.
    pub body_chunks: Option<Vec<String>>,
    /// `--trailer`.
    #[serde(default)]
    pub trailers: Vec<String>,
    /// `--response-header`.
    #[serde(default)]
    pub response_headers: Vec<String>,
    pub response_body: Option<String>,
    pub response_body_chunks: Option<Vec<String>>,
    #[serde(default)]
    pub response_trailers: Vec<String>,
    /// `--callout-response` (with `--callout-header`s), in dispatch order.
    #[serde(default)]
    pub callout_responses: Vec<CalloutSpec>,
    /// `--grpc-response`, in dispatch order (`0:json:{…}` for Envoy's services).
    #[serde(default)]
    pub grpc_responses: Vec<String>,
    /// `--before-request`: virtual time before this stream's request.
    pub before_request: Option<String>,
    /// `--advance-time`: virtual time after the request, before the upstream's response.
    pub advance_time: Option<String>,
    #[serde(default)]
    pub expect: ExpectSpec,
}

/// `"STATUS[:BODY]"`, or `{response: "STATUS[:BODY]", headers: ["NAME: VALUE", …]}` for an answer with headers.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum CalloutSpec {
    Flag(String),
    #[serde(rename_all = "snake_case")]
    WithHeaders {
        response: String,
        #[serde(default)]
        headers: Vec<String>,
    },
}

impl CalloutSpec {
    pub fn read(&self, base: &Path) -> Result<CalloutAnswer, String> {
        match self {
            CalloutSpec::Flag(answer) => play::values::callout_answer(answer, base),
            CalloutSpec::WithHeaders { response, headers } => {
                let mut answer = play::values::callout_answer(response, base)?;
                match &mut answer {
                    CalloutAnswer::Response { headers: given, .. } => {
                        for header in headers {
                            given.push(play::values::header(header)?);
                        }
                    }
                    _ if headers.is_empty() => {}
                    _ => {
                        return Err(format!(
                            "callout answer `{response}` has no headers: only a `STATUS[:BODY]` answer takes them"
                        ));
                    }
                }
                Ok(answer)
            }
        }
    }
}

/// What a stream should produce; each field given is checked, each left out is not.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpectSpec {
    /// The status the client got (the upstream's, or a local reply's).
    pub status: Option<u16>,
    /// The request the upstream got.
    pub upstream: Option<MessageSpec>,
    /// The response the client got.
    pub client: Option<MessageSpec>,
    /// Text each of which some line the plugin logged during the stream contains.
    #[serde(default)]
    pub logs: Vec<String>,
    /// Every callout and gRPC call the plugin dispatched during the stream, in dispatch order.
    pub calls: Option<Vec<CallSpec>>,
    /// Counter and gauge values after the stream, by metric name.
    #[serde(default)]
    pub metrics: BTreeMap<String, i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageSpec {
    /// `NAME: VALUE`: the message has this value among the header's values.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Header names the message does not have.
    #[serde(default)]
    pub absent: Vec<String>,
    /// The whole body: text or `@FILE`.
    pub body: Option<String>,
}

/// One call made: an HTTP callout (`path`, `method`) or a gRPC call (`grpc: service/Method`) to `cluster`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CallSpec {
    pub cluster: String,
    pub path: Option<String>,
    pub method: Option<String>,
    pub grpc: Option<String>,
}
