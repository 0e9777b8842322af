//! HTTP and gRPC callouts: what `proxy_http_call`/`proxy_grpc_*` recorded, and delivering the answer the test
//! chooses to the root context (`proxy_on_http_call_response(root, token, …)`), like Envoy's async clients.

use std::time::Duration;

use super::grpc_service::{self, GrpcTarget};
use super::{ByteBudget, Headers, HostState, Refusal, Vm};
use crate::spec::{LogLevel, Status};

/// The cluster names Envoy's configuration has: `ClusterManager::getThreadLocalCluster` finds only those, and a
/// callout to any other name is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Clusters {
    /// `proxy-wasm-run` without `--cluster`: every name is taken (Envoy never does this; the runner says so).
    Any,
    Only(Vec<String>),
}

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
    /// A call's `timeout_milliseconds` (`None` for 0); streams have none (`proxy_grpc_stream` takes no timeout).
    pub timeout: Option<Duration>,
    pub stream: bool,
    /// The plugin called `proxy_grpc_close` on its stream.
    pub closed_by_plugin: bool,
    pub(crate) deadline: Option<Duration>,
}

/// The answer a test gives to a gRPC call or stream: initial metadata, at most one message, trailing metadata,
/// status. A unary call hears only the message (status 0) or the status (anything else), as Envoy's
/// `GrpcCallClientHandler` passes them on; the metadata reach streams only.
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

    /// What a call gets when its timeout expires: Envoy's router answers the timed-out gRPC request with a
    /// trailers-only reply, status 4 DeadlineExceeded and message "upstream request timeout" (Envoy before
    /// PR 44479, 2026-04, answered 14 Unavailable, and does with `grpc_timeout_returns_deadline_exceeded` off).
    pub fn deadline_exceeded() -> GrpcResponse {
        GrpcResponse::error(GRPC_DEADLINE_EXCEEDED, "upstream request timeout")
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

    /// The earliest pending callout deadline (HTTP calls and unary gRPC calls) and its token.
    pub(crate) fn next_deadline(&self) -> Option<(Duration, u32)> {
        let http = self.http.iter().map(|c| (c.deadline, c.token));
        let grpc = self.grpc.iter().map(|c| (c.deadline, c.token));
        http.chain(grpc)
            .filter_map(|(deadline, token)| Some((deadline?, token)))
            .min()
    }
}

/// cpp-host numbers HTTP calls 4, 8…, gRPC calls 5, 9…, gRPC streams 6, 10…: the kind is in the low two bits.
fn is_http_token(token: u32) -> bool {
    token.is_multiple_of(4)
}

impl HostState {
    /// `proxy_http_call` checks, in Envoy's order: negative timeout, unknown cluster, missing pseudo-headers.
    pub(crate) fn dispatch_http_call(
        &mut self,
        cluster: String,
        headers: Headers,
        body: Vec<u8>,
        trailers: Headers,
        timeout_ms: i32,
    ) -> Result<u32, Refusal> {
        if timeout_ms < 0 {
            return Err(Status::BadArgument.into());
        }
        if !self.knows_cluster(&cluster) {
            // `Context::httpCall`: `thread_local_cluster == nullptr` ⇒ BadArgument.
            self.refuse_unknown_cluster("proxy_http_call", &cluster, Status::BadArgument);
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
        let deadline = timeout.map(|t| self.clock.now() + t);
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

    /// `proxy_grpc_send`: a message on a gRPC stream the plugin opened (a unary call takes none: BadArgument).
    pub(crate) fn grpc_send(
        &mut self,
        token: u32,
        message: Vec<u8>,
        end_of_stream: bool,
    ) -> Result<(), Refusal> {
        let call = self
            .callouts
            .grpc
            .iter_mut()
            .find(|call| call.token == token)
            .ok_or(Status::NotFound)?;
        if !call.stream {
            return Err(Status::BadArgument.into());
        }
        self.budget.charge("a gRPC message", message.len())?;
        call.messages.push(message);
        call.closed_by_plugin |= end_of_stream;
        Ok(())
    }

    /// `proxy_grpc_cancel`: the call or stream is dropped; nothing more reaches the plugin for it.
    pub(crate) fn grpc_cancel(&mut self, token: u32) -> Result<(), Status> {
        self.callouts
            .remove_grpc(token, &mut self.budget)
            .map(drop)
            .ok_or(Status::NotFound)
    }

    /// `proxy_grpc_close`: a stream is half-closed by the plugin (the answer can still come); a unary call is
    /// dropped, as a cancel.
    pub(crate) fn grpc_close(&mut self, token: u32) -> Result<(), Status> {
        let call = self
            .callouts
            .grpc
            .iter_mut()
            .find(|call| call.token == token)
            .ok_or(Status::NotFound)?;
        if call.stream {
            call.closed_by_plugin = true;
        } else {
            self.callouts.remove_grpc(token, &mut self.budget);
        }
        Ok(())
    }

    /// `proxy_grpc_call` / `proxy_grpc_stream` (by `call.stream`), resolving `upstream` as Envoy's
    /// `Context::grpcCall`/`grpcStream` do (see `grpc_service`).
    pub(crate) fn dispatch_grpc(
        &mut self,
        upstream: &[u8],
        mut call: GrpcCall,
    ) -> Result<u32, Refusal> {
        let what = if call.stream {
            "proxy_grpc_stream"
        } else {
            "proxy_grpc_call"
        };
        match grpc_service::target(upstream) {
            GrpcTarget::ClusterName(cluster) if !self.knows_cluster(&cluster) => {
                // Envoy answers ParseFailure here (kept, its comment says, for ABI 0.1 callers).
                self.refuse_unknown_cluster(what, &cluster, Status::ParseFailure);
                return Err(Status::ParseFailure.into());
            }
            GrpcTarget::EnvoyGrpc(cluster) if !self.knows_cluster(&cluster) => {
                // The client is made without a cluster check; starting the call finds no cluster and fails it
                // inline (`AsyncStreamImpl::initialize`), so the call returns InternalFailure.
                self.refuse_unknown_cluster(what, &cluster, Status::InternalFailure);
                return Err(Status::InternalFailure.into());
            }
            GrpcTarget::NoTarget => {
                self.host_log(
                    LogLevel::Warn,
                    format!(
                        "{what}: the upstream {:?} parses as a serialized GrpcService without envoy_grpc or \
                         google_grpc, so Envoy reads it as one (not as a cluster name) and cannot make a client \
                         for it: BadArgument. Use a longer cluster name, or serialize a GrpcService with \
                         envoy_grpc.cluster_name",
                        String::from_utf8_lossy(upstream)
                    ),
                );
                return Err(Status::BadArgument.into());
            }
            _ => {}
        }
        call.context_id = self.context();
        call.deadline = call.timeout.map(|t| self.clock.now() + t);
        self.budget.charge("a gRPC call", call.held_bytes())?;
        Ok(self.callouts.add_grpc(call))
    }

    fn knows_cluster(&self, cluster: &str) -> bool {
        match &self.settings.clusters {
            Clusters::Any => true,
            Clusters::Only(known) => known.iter().any(|c| c == cluster),
        }
    }

    /// Envoy refuses silently (the status is all the plugin gets); the host says which cluster and how to
    /// declare it.
    fn refuse_unknown_cluster(&mut self, what: &str, cluster: &str, status: Status) {
        let declared = match &self.settings.clusters {
            Clusters::Only(known) if !known.is_empty() => {
                format!("the clusters declared are {known:?}")
            }
            _ => "no cluster is declared".to_string(),
        };
        self.host_log(
            LogLevel::Warn,
            format!(
                "{what}: unknown cluster {cluster:?} ({declared}); Envoy answers {status:?} for a cluster its \
                 configuration lacks. Declare it in the test with PluginBuilder::clusters(&[{cluster:?}]), or \
                 run proxy-wasm-run with --cluster '{cluster}'; in Istio, Envoy names clusters \
                 outbound|PORT||HOST"
            ),
        );
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
        self.call_root(
            |e| &e.on_http_call_response,
            |root| (root, token as i32, counts.0, counts.1, counts.2),
        );
        let state = self.state_mut();
        state.callouts.delivering = None;
        state.callouts.status.1.clear();
        self.settle();
        Ok(())
    }

    /// What Envoy does when a callout's timeout expires: the router answers an HTTP call with a 504 *response*,
    /// and a gRPC call with a trailers-only reply that closes it with DeadlineExceeded (see
    /// [`GrpcResponse::deadline_exceeded`]).
    pub(crate) fn time_out_callout(&mut self, token: u32) {
        if is_http_token(token) {
            let response = HttpCallResponse::new(504)
                .header("content-length", "24")
                .header("content-type", "text/plain")
                .body("upstream request timeout");
            let _ = self.answer_http_call(token, Some(response));
        } else {
            let _ = self.answer_grpc_call(token, GrpcResponse::deadline_exceeded());
        }
    }

    /// Delivers a gRPC answer. A unary call gets what Envoy's `GrpcCallClientHandler` passes on: `onSuccessRaw`
    /// (status 0 with a message) is `proxy_on_grpc_receive` only, `onFailure` is `proxy_on_grpc_close` only (status
    /// 0 without a message is Internal, as `AsyncRequestImpl::onRemoteClose` decides). A stream gets initial
    /// metadata, the message, trailing metadata, then the close.
    pub(crate) fn answer_grpc_call(
        &mut self,
        token: u32,
        response: GrpcResponse,
    ) -> Result<(), String> {
        let state = self.state_mut();
        let Some(index) = state.callouts.grpc.iter().position(|c| c.token == token) else {
            return Err(format!(
                "no pending gRPC call or stream with token {token}; pending: {:?}",
                state
                    .callouts
                    .grpc
                    .iter()
                    .map(|c| c.token)
                    .collect::<Vec<_>>()
            ));
        };
        let call = state.callouts.grpc.remove(index);
        state.budget.release(call.held_bytes());
        if call.stream {
            self.deliver_grpc_stream_answer(token, response);
        } else {
            match response.message {
                Some(message) if response.status == 0 => self.deliver_grpc_message(token, message),
                None if response.status == 0 => {
                    self.deliver_grpc_close(token, GRPC_INTERNAL, String::new())
                }
                _ => self.deliver_grpc_close(token, response.status, response.status_message),
            }
        }
        self.state_mut().callouts.delivering = None;
        self.settle();
        Ok(())
    }

    fn deliver_grpc_stream_answer(&mut self, token: u32, response: GrpcResponse) {
        let t = token as i32;
        if !response.initial_metadata.is_empty() {
            let n = response.initial_metadata.len() as i32;
            self.state_mut().callouts.delivering = Some(Delivery {
                grpc_initial_metadata: Some(response.initial_metadata),
                ..Default::default()
            });
            self.call_root(|e| &e.on_grpc_receive_initial_metadata, |root| (root, t, n));
        }
        if let Some(message) = response.message {
            self.deliver_grpc_message(token, message);
        }
        if !response.trailing_metadata.is_empty() {
            let n = response.trailing_metadata.len() as i32;
            self.state_mut().callouts.delivering = Some(Delivery {
                grpc_trailing_metadata: Some(response.trailing_metadata),
                ..Default::default()
            });
            self.call_root(
                |e| &e.on_grpc_receive_trailing_metadata,
                |root| (root, t, n),
            );
        }
        self.deliver_grpc_close(token, response.status, response.status_message);
    }

    fn deliver_grpc_message(&mut self, token: u32, message: Vec<u8>) {
        let n = message.len() as i32;
        self.state_mut().callouts.delivering = Some(Delivery {
            body: message,
            ..Default::default()
        });
        self.call_root(|e| &e.on_grpc_receive, |root| (root, token as i32, n));
    }

    fn deliver_grpc_close(&mut self, token: u32, status: u32, message: String) {
        let state = self.state_mut();
        state.callouts.delivering = Some(Delivery::default());
        state.callouts.status = (status, message.into_bytes());
        self.call_root(
            |e| &e.on_grpc_close,
            |root| (root, token as i32, status as i32),
        );
    }
}

/// gRPC status codes the host itself produces.
const GRPC_INTERNAL: u32 = 13;
const GRPC_DEADLINE_EXCEEDED: u32 = 4;
