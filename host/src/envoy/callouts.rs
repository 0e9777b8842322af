//! HTTP and gRPC callouts: what `proxy_http_call`/`proxy_grpc_*` recorded, and delivering the answer the test
//! chooses to the root context (`proxy_on_http_call_response(root, token, …)`), like Envoy's async client.

use std::sync::Arc;
use std::time::Duration;

use super::{BudgetExceeded, ByteBudget, Headers, HostState, Vm};
use crate::abi::{HostResult, Status};

/// An HTTP callout the plugin dispatched and nobody answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub token: u32,
    /// The context that dispatched it (the SDK routes the answer there).
    pub context_id: u32,
    /// The `upstream` argument: an Envoy cluster name.
    pub cluster: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
    /// `None` when the plugin passed 0 (no timeout).
    pub timeout: Option<Duration>,
    pub(crate) deadline: Option<Duration>,
}

/// The answer a test gives to an HTTP callout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpCallResponse {
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
}

/// A gRPC call the plugin dispatched (`proxy_grpc_call`) or a stream it opened (`proxy_grpc_stream`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCall {
    pub token: u32,
    pub context_id: u32,
    /// The `upstream` argument (a cluster name, or a serialized `GrpcService`), shown lossily.
    pub upstream: String,
    pub service: String,
    pub method: String,
    pub initial_metadata: Headers,
    /// The request message (calls), or every message sent so far (streams).
    pub messages: Vec<Vec<u8>>,
    pub timeout: Option<Duration>,
    pub stream: bool,
    /// The plugin called `proxy_grpc_close` on its stream.
    pub closed_by_plugin: bool,
}

/// The answer a test gives to a gRPC call: initial metadata, at most one message, trailing metadata, status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrpcResponse {
    pub initial_metadata: Headers,
    pub message: Option<Vec<u8>>,
    pub trailing_metadata: Headers,
    pub status: u32,
    pub status_message: String,
}

/// Callout bookkeeping of one VM.
#[derive(Debug, Default)]
pub(crate) struct Callouts {
    next_http: u32,
    next_grpc_call: u32,
    next_grpc_stream: u32,
    pub(crate) http: Vec<HttpCall>,
    pub(crate) grpc: Vec<GrpcCall>,
    /// The response being delivered: what maps 4–7 and buffers 4–5 read meanwhile.
    pub(crate) delivering: Option<Delivery>,
    /// `proxy_get_status`: code and message of the last failure/gRPC close (Envoy keeps the code afterwards).
    pub(crate) status: (u32, Vec<u8>),
}

/// A callout response while it is being delivered.
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    pub(crate) headers: Option<Headers>,
    pub(crate) trailers: Option<Headers>,
    pub(crate) body: Vec<u8>,
    pub(crate) grpc_initial_metadata: Option<Headers>,
    pub(crate) grpc_trailing_metadata: Option<Headers>,
}

impl HttpCallResponse {
    /// A response with `:status`.
    pub fn new(status: u16) -> HttpCallResponse {
        let mut headers = Headers::new();
        headers.add(":status", status.to_string());
        HttpCallResponse {
            headers,
            ..Default::default()
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> HttpCallResponse {
        self.headers.add(name, value);
        self
    }

    pub fn body(mut self, body: impl AsRef<[u8]>) -> HttpCallResponse {
        self.body = body.as_ref().to_vec();
        self
    }

    pub fn trailer(mut self, name: &str, value: &str) -> HttpCallResponse {
        self.trailers.add(name, value);
        self
    }
}

impl GrpcResponse {
    /// Status OK with one response message.
    pub fn ok(message: impl AsRef<[u8]>) -> GrpcResponse {
        GrpcResponse {
            message: Some(message.as_ref().to_vec()),
            ..Default::default()
        }
    }

    /// A failed call: gRPC status `code` and its message, no response message.
    pub fn error(code: u32, message: &str) -> GrpcResponse {
        GrpcResponse {
            status: code,
            status_message: message.to_string(),
            ..Default::default()
        }
    }
}

impl HttpCall {
    /// What the host holds while the callout is pending, charged to the plugin's byte budget.
    pub(crate) fn held_bytes(&self) -> usize {
        self.cluster.len() + self.headers.byte_len() + self.body.len() + self.trailers.byte_len()
    }
}

impl GrpcCall {
    /// What the host holds while the call or stream is pending, charged to the plugin's byte budget.
    pub(crate) fn held_bytes(&self) -> usize {
        self.upstream.len()
            + self.service.len()
            + self.method.len()
            + self.initial_metadata.byte_len()
            + self.messages.iter().map(Vec::len).sum::<usize>()
    }
}

impl Callouts {
    // cpp-host's ids (`WasmBase::next*Id`): one counter per kind, stepping by 4 from the kind in the low two bits
    // (0 HTTP, 1 gRPC call, 2 gRPC stream), so the first of each is 4, 5 and 6.
    pub(crate) fn next_http_token(&mut self) -> u32 {
        self.next_http += 1;
        self.next_http * 4
    }

    /// Records a gRPC call or stream under its next token (by `call.stream`) and returns the token.
    fn add_grpc(&mut self, mut call: GrpcCall) -> u32 {
        let (counter, kind) = match call.stream {
            true => (&mut self.next_grpc_stream, 2),
            false => (&mut self.next_grpc_call, 1),
        };
        *counter += 1;
        call.token = *counter * 4 + kind;
        let token = call.token;
        self.grpc.push(call);
        token
    }

    /// Forgets gRPC call or stream `token` (answered, cancelled or closed); `None` if there is none.
    pub(crate) fn remove_grpc(&mut self, token: u32, budget: &mut ByteBudget) -> Option<GrpcCall> {
        let index = self.grpc.iter().position(|call| call.token == token)?;
        let call = self.grpc.remove(index);
        budget.release(call.held_bytes());
        Some(call)
    }

    /// The earliest pending HTTP callout deadline.
    pub(crate) fn next_deadline(&self) -> Option<(Duration, u32)> {
        self.http
            .iter()
            .filter_map(|c| Some((c.deadline?, c.token)))
            .min()
    }
}

impl HostState {
    /// Records a gRPC call or stream, charged to the byte budget, and returns its token.
    pub(crate) fn add_grpc_call(&mut self, call: GrpcCall) -> Result<u32, BudgetExceeded> {
        self.budget.charge("a gRPC call", call.held_bytes())?;
        Ok(self.callouts.add_grpc(call))
    }

    /// `proxy_http_call` checks, in Envoy's order: negative timeout, unknown cluster, missing pseudo-headers.
    pub(crate) fn dispatch_http_call(
        &mut self,
        cluster: String,
        headers: Headers,
        body: Vec<u8>,
        trailers: Headers,
        timeout_ms: i32,
    ) -> HostResult<u32> {
        if timeout_ms < 0 {
            return Err(Status::BadArgument.into());
        }
        if let Some(clusters) = &self.settings.clusters
            && !clusters.contains(&cluster)
        {
            return Err(Status::BadArgument.into());
        }
        if [":path", ":method", ":authority"]
            .iter()
            .any(|h| !headers.contains(h))
        {
            return Err(Status::BadArgument.into());
        }
        let mut headers = headers;
        if !body.is_empty() {
            headers.set("content-length", body.len().to_string());
        }
        let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms as u64));
        let token = self.callouts.next_http_token();
        let context_id = self.context();
        let deadline = timeout.map(|t| self.now + t);
        let call = HttpCall {
            token,
            context_id,
            cluster,
            headers,
            body,
            trailers,
            timeout,
            deadline,
        };
        self.budget.charge("an HTTP callout", call.held_bytes())?;
        self.callouts.http.push(call);
        Ok(token)
    }
}

impl Vm {
    /// Delivers the answer to HTTP callout `token`; `None` is a failure (reset): `(token, 0, 0, 0)` and
    /// `proxy_get_status` = (11, "reset").
    pub(crate) fn answer_http_call(
        &mut self,
        token: u32,
        response: Option<HttpCallResponse>,
    ) -> Result<(), String> {
        let state = self.state_mut();
        let Some(index) = state.callouts.http.iter().position(|c| c.token == token) else {
            return Err(format!(
                "no pending HTTP callout with token {token}; pending: {:?}",
                state
                    .callouts
                    .http
                    .iter()
                    .map(|c| c.token)
                    .collect::<Vec<_>>()
            ));
        };
        let call = state.callouts.http.remove(index);
        state.budget.release(call.held_bytes());
        let (counts, delivery) = match response {
            Some(r) => {
                let counts = (
                    r.headers.len() as i32,
                    r.body.len() as i32,
                    r.trailers.len() as i32,
                );
                let trailers = (!r.trailers.is_empty()).then_some(r.trailers);
                (
                    counts,
                    Delivery {
                        headers: Some(r.headers),
                        trailers,
                        body: r.body,
                        ..Default::default()
                    },
                )
            }
            None => {
                state.callouts.status = (Status::BrokenConnection as u32, b"reset".to_vec());
                ((0, 0, 0), Delivery::default())
            }
        };
        state.callouts.delivering = Some(delivery);
        let root = state.root_id;
        let exports = Arc::clone(&self.exports);
        let f = exports.on_http_call_response.as_ref();
        self.call(
            root,
            "proxy_on_http_call_response",
            f,
            (root as i32, token as i32, counts.0, counts.1, counts.2),
        );
        let state = self.state_mut();
        state.callouts.delivering = None;
        state.callouts.status.1.clear();
        self.settle();
        Ok(())
    }

    /// What Envoy's async client does when the callout timeout expires: a 504 *response*.
    pub(crate) fn time_out_callout(&mut self, token: u32) {
        let response = HttpCallResponse::new(504)
            .header("content-length", "24")
            .header("content-type", "text/plain")
            .body("upstream request timeout");
        let _ = self.answer_http_call(token, Some(response));
    }

    /// Delivers a gRPC call's answer: initial metadata, message, trailing metadata, close.
    pub(crate) fn answer_grpc_call(
        &mut self,
        token: u32,
        response: GrpcResponse,
    ) -> Result<(), String> {
        let state = self.state_mut();
        if state
            .callouts
            .remove_grpc(token, &mut state.budget)
            .is_none()
        {
            return Err(format!(
                "no pending gRPC call or stream with token {token}; pending: {:?}",
                state
                    .callouts
                    .grpc
                    .iter()
                    .map(|c| c.token)
                    .collect::<Vec<_>>()
            ));
        }
        let root = state.root_id as i32;
        let t = token as i32;
        if !response.initial_metadata.is_empty() {
            let n = response.initial_metadata.len() as i32;
            self.state_mut().callouts.delivering = Some(Delivery {
                grpc_initial_metadata: Some(response.initial_metadata),
                ..Default::default()
            });
            let exports = Arc::clone(&self.exports);
            let f = exports.on_grpc_receive_initial_metadata.as_ref();
            self.call(
                root as u32,
                "proxy_on_grpc_receive_initial_metadata",
                f,
                (root, t, n),
            );
        }
        if let Some(message) = response.message {
            let n = message.len() as i32;
            self.state_mut().callouts.delivering = Some(Delivery {
                body: message,
                ..Default::default()
            });
            let exports = Arc::clone(&self.exports);
            let f = exports.on_grpc_receive.as_ref();
            self.call(root as u32, "proxy_on_grpc_receive", f, (root, t, n));
        }
        if !response.trailing_metadata.is_empty() {
            let n = response.trailing_metadata.len() as i32;
            self.state_mut().callouts.delivering = Some(Delivery {
                grpc_trailing_metadata: Some(response.trailing_metadata),
                ..Default::default()
            });
            let exports = Arc::clone(&self.exports);
            let f = exports.on_grpc_receive_trailing_metadata.as_ref();
            self.call(
                root as u32,
                "proxy_on_grpc_receive_trailing_metadata",
                f,
                (root, t, n),
            );
        }
        let state = self.state_mut();
        state.callouts.delivering = Some(Delivery::default());
        state.callouts.status = (response.status, response.status_message.into_bytes());
        let exports = Arc::clone(&self.exports);
        let f = exports.on_grpc_close.as_ref();
        self.call(
            root as u32,
            "proxy_on_grpc_close",
            f,
            (root, t, response.status as i32),
        );
        self.state_mut().callouts.delivering = None;
        self.settle();
        Ok(())
    }
}
