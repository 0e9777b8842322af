//! HTTP and gRPC callouts: what `proxy_http_call`/`proxy_grpc_*` recorded, and delivering the answer the test
//! chooses to the root context (`proxy_on_http_call_response(root, token, …)`), like Envoy's async clients. The
//! plugin's requests (`dispatch`) and the answers delivered to it (`answers`) have their own modules.

mod answers;
mod dispatch;

use std::time::Duration;

use super::{ByteBudget, Headers, MapKind, Settings};
use crate::spec::Status;

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
    pub(in crate::envoy) deadline: Option<Duration>,
    /// Its place among every callout and gRPC call of the VM, by dispatch (see [`HttpCall::dispatch_index`]).
    pub(in crate::envoy) dispatched: u64,
}

/// A callout or gRPC call Envoy refused when the plugin dispatched it: the plugin got `status` and no token, and
/// nothing reached the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedCall {
    /// `proxy_http_call`, `proxy_grpc_call` or `proxy_grpc_stream`.
    pub function: &'static str,
    pub context_id: u32,
    /// The cluster (HTTP) or the `upstream` argument (gRPC), lossily.
    pub upstream: String,
    /// gRPC service and method (empty for HTTP).
    pub service: String,
    pub method: String,
    pub status: Status,
}

/// How many refused dispatches a VM keeps for the test to read; later ones are only counted (a plugin retrying a
/// refused call in a loop must not grow the host's memory).
pub(crate) const REFUSED_KEPT: usize = 64;

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
    pub(in crate::envoy) deadline: Option<Duration>,
    pub(in crate::envoy) dispatched: u64,
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
    /// How many callouts and gRPC calls the VM dispatched: HTTP and gRPC tokens count apart, so this orders
    /// the two kinds among each other.
    dispatched: u64,
    pub(in crate::envoy) http: Vec<HttpCall>,
    pub(in crate::envoy) grpc: Vec<GrpcCall>,
    /// Dispatches Envoy refused, the first [`REFUSED_KEPT`].
    pub(in crate::envoy) refused: Vec<RefusedCall>,
    /// Refused dispatches beyond those kept.
    pub(in crate::envoy) refused_omitted: usize,
    /// The response being delivered: what maps 4–7 and buffers 4–5 read meanwhile.
    pub(in crate::envoy) delivering: Option<Delivery>,
    /// `proxy_get_status`: code and message of the last failure/gRPC close (Envoy keeps the code afterwards).
    pub(in crate::envoy) status: (u32, Vec<u8>),
}

/// The test answered a callout the plugin has not dispatched, or one already answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotPending {
    what: &'static str,
    token: u32,
    pending: Vec<u32>,
}

/// A callout response while it is being delivered.
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    pub(in crate::envoy) headers: Option<Headers>,
    pub(in crate::envoy) trailers: Option<Headers>,
    pub(in crate::envoy) body: Vec<u8>,
    pub(in crate::envoy) grpc_initial_metadata: Option<Headers>,
    pub(in crate::envoy) grpc_trailing_metadata: Option<Headers>,
}

impl HttpCallResponse {
    /// A response with `:status`.
    pub fn new(status: u16) -> HttpCallResponse {
        let mut headers = Headers::of_kind(MapKind::ResponseHeaders);
        headers.add(":status", status.to_string());
        HttpCallResponse {
            headers,
            trailers: Headers::of_kind(MapKind::ResponseTrailers),
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

    /// What a call gets when its timeout expires and Envoy's runtime guard
    /// `grpc_timeout_returns_deadline_exceeded` is on (Envoy 1.38+, off by default): the router answers the
    /// timed-out gRPC request with a trailers-only reply, 4 DeadlineExceeded, "upstream request timeout".
    pub fn deadline_exceeded() -> GrpcResponse {
        GrpcResponse::error(GRPC_DEADLINE_EXCEEDED, "upstream request timeout")
    }

    /// What a call gets when its timeout expires: the router's 504 local reply, which `httpToGrpcStatus` makes
    /// 14 Unavailable; DeadlineExceeded only where the runtime guard exists and is on (envoyproxy/envoy#44479,
    /// `Filter::onUpstreamTimeoutAbort`).
    pub(crate) fn timed_out(settings: &Settings) -> GrpcResponse {
        if settings.grpc_timeout_returns_deadline_exceeded
            && settings
                .envoy
                .has(envoy_targets::Change::GrpcTimeoutDeadlineExceededGuard)
        {
            GrpcResponse::deadline_exceeded()
        } else {
            GrpcResponse::error(GRPC_UNAVAILABLE, "upstream request timeout")
        }
    }
}

impl HttpCall {
    /// Its place in the order the VM dispatched callouts and gRPC calls, both kinds counted together: answering
    /// pending calls by this index answers them in dispatch order.
    pub fn dispatch_index(&self) -> u64 {
        self.dispatched
    }

    /// What the host holds while the callout is pending, charged to the plugin's byte budget.
    pub(crate) fn held_bytes(&self) -> usize {
        self.cluster.len() + self.headers.byte_len() + self.body.len() + self.trailers.byte_len()
    }
}

impl GrpcCall {
    /// A unary call as the plugin asked for it; dispatching it numbers it and sets its context and deadline.
    pub(crate) fn new(
        upstream: String,
        service: String,
        method: String,
        initial_metadata: Headers,
    ) -> GrpcCall {
        GrpcCall {
            token: 0,
            context_id: 0,
            upstream,
            service,
            method,
            initial_metadata,
            messages: Vec::new(),
            timeout: None,
            stream: false,
            closed_by_plugin: false,
            deadline: None,
            dispatched: 0,
        }
    }

    /// Its place in the order the VM dispatched callouts and gRPC calls (see [`HttpCall::dispatch_index`]).
    pub fn dispatch_index(&self) -> u64 {
        self.dispatched
    }

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

    /// The next dispatch index, for a callout or call about to be recorded.
    pub(crate) fn next_dispatch_index(&mut self) -> u64 {
        self.dispatched += 1;
        self.dispatched
    }

    /// Records a gRPC call or stream under its next token (by `call.stream`) and returns the token.
    fn add_grpc(&mut self, mut call: GrpcCall) -> u32 {
        let (counter, kind) = match call.stream {
            true => (&mut self.next_grpc_stream, 2),
            false => (&mut self.next_grpc_call, 1),
        };
        *counter += 1;
        call.token = *counter * 4 + kind;
        call.dispatched = self.next_dispatch_index();
        let token = call.token;
        self.grpc.push(call);
        token
    }

    /// Forgets gRPC call or stream `token` (answered, cancelled or closed); `None` if there is none.
    /// The pending gRPC call or stream `token`.
    pub(crate) fn grpc_mut(&mut self, token: u32) -> Option<&mut GrpcCall> {
        self.grpc.iter_mut().find(|call| call.token == token)
    }

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

/// gRPC status codes the host itself produces.
const GRPC_INTERNAL: u32 = 13;
const GRPC_DEADLINE_EXCEEDED: u32 = 4;
const GRPC_UNAVAILABLE: u32 = 14;

impl std::fmt::Display for NotPending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no pending {} with token {}; pending: {:?}",
            self.what, self.token, self.pending
        )
    }
}
