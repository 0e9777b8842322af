//! What the plugin asks for: HTTP callouts and gRPC calls and streams, checked as Envoy checks them.

use std::time::Duration;

use super::{GrpcCall, HttpCall, REFUSED_KEPT, RefusedCall};
use crate::envoy::grpc_service::{self, GrpcTarget};
use crate::envoy::{
    BudgetExceeded, Clusters, Headers, HostState, QUOTED_GUEST_TEXT, Refusal, quote_guest,
};
use crate::spec::{LogLevel, Status};

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
        let refused = |state: &mut HostState, status: Status| {
            state.record_refusal("proxy_http_call", &cluster, "", "", status)
        };
        if timeout_ms < 0 {
            return Err(refused(self, Status::BadArgument)?);
        }
        if !self.knows_cluster(&cluster) {
            // `Context::httpCall`: `thread_local_cluster == nullptr` ⇒ BadArgument.
            self.refuse_unknown_cluster("proxy_http_call", &cluster, Status::BadArgument)?;
            return Err(refused(self, Status::BadArgument)?);
        }
        if [":path", ":method", ":authority"]
            .iter()
            .any(|h| !headers.contains(h))
        {
            return Err(refused(self, Status::BadArgument)?);
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
            dispatched: self.callouts.next_dispatch_index(),
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
        let call = self.callouts.grpc_mut(token).ok_or(Status::NotFound)?;
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
        let call = self.callouts.grpc_mut(token).ok_or(Status::NotFound)?;
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
        let refused = |state: &mut HostState, status: Status| {
            state.record_refusal(what, &call.upstream, &call.service, &call.method, status)
        };
        match grpc_service::target(upstream) {
            GrpcTarget::ClusterName(cluster) if !self.knows_cluster(&cluster) => {
                // Envoy answers ParseFailure here (kept, its comment says, for ABI 0.1 callers).
                self.refuse_unknown_cluster(what, &cluster, Status::ParseFailure)?;
                return Err(refused(self, Status::ParseFailure)?);
            }
            GrpcTarget::EnvoyGrpc(cluster) if !self.knows_cluster(&cluster) => {
                // The client is made without a cluster check; starting the call finds no cluster and fails it
                // inline (`AsyncStreamImpl::initialize`), so the call returns InternalFailure.
                self.refuse_unknown_cluster(what, &cluster, Status::InternalFailure)?;
                return Err(refused(self, Status::InternalFailure)?);
            }
            GrpcTarget::NoTarget => {
                self.host_log(
                    LogLevel::Warn,
                    format!(
                        "{what}: the upstream {} parses as a serialized GrpcService without envoy_grpc or \
                         google_grpc, so Envoy reads it as one (not as a cluster name) and cannot make a client \
                         for it: BadArgument. Use a longer cluster name, or serialize a GrpcService with \
                         envoy_grpc.cluster_name",
                        quote_guest(upstream)
                    ),
                )?;
                return Err(refused(self, Status::BadArgument)?);
            }
            _ => {}
        }
        call.context_id = self.context();
        call.deadline = call.timeout.map(|t| self.clock.now() + t);
        self.budget.charge("a gRPC call", call.held_bytes())?;
        Ok(self.callouts.add_grpc(call))
    }

    /// Keeps a refused dispatch for the test (the first [`REFUSED_KEPT`], charged to the byte budget) and returns
    /// the refusal the plugin gets.
    fn record_refusal(
        &mut self,
        function: &'static str,
        upstream: &str,
        service: &str,
        method: &str,
        status: Status,
    ) -> Result<Refusal, BudgetExceeded> {
        if self.callouts.refused.len() < REFUSED_KEPT {
            self.budget.charge(
                "a refused callout",
                upstream.len() + service.len() + method.len(),
            )?;
            let context_id = self.context();
            self.callouts.refused.push(RefusedCall {
                function,
                context_id,
                upstream: upstream.to_owned(),
                service: service.to_owned(),
                method: method.to_owned(),
                status,
            });
        } else {
            self.callouts.refused_omitted += 1;
        }
        Ok(Refusal::Status(status))
    }

    /// Dispatches Envoy refused (the first [`REFUSED_KEPT`]) and how many more there were.
    pub(crate) fn refused_calls(&self) -> (&[RefusedCall], usize) {
        (&self.callouts.refused, self.callouts.refused_omitted)
    }

    fn knows_cluster(&self, cluster: &str) -> bool {
        match &self.settings.clusters {
            Clusters::Any => true,
            Clusters::Only(known) => known.iter().any(|c| c == cluster),
        }
    }

    /// Envoy refuses silently (the status is all the plugin gets); the host says which cluster and how to
    /// declare it.
    fn refuse_unknown_cluster(
        &mut self,
        what: &str,
        cluster: &str,
        status: Status,
    ) -> Result<(), BudgetExceeded> {
        let shown = quote_guest(cluster.as_bytes());
        let flag = if cluster.len() <= QUOTED_GUEST_TEXT {
            format!("--cluster '{cluster}'")
        } else {
            "--cluster NAME".to_string()
        };
        let declared = match &self.settings.clusters {
            Clusters::Only(known) if !known.is_empty() => {
                format!("the clusters declared are {known:?}")
            }
            _ => "no cluster is declared".to_string(),
        };
        self.host_log(
            LogLevel::Warn,
            format!(
                "{what}: unknown cluster {shown} ({declared}); Envoy answers {status:?} for a cluster its \
                 configuration lacks. Declare it in the test with PluginBuilder::clusters(&[{shown}]), or \
                 run proxy-wasm-run with {flag}; in Istio, Envoy names clusters \
                 outbound|PORT||HOST"
            ),
        )
    }
}
