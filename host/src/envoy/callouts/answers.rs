//! Answers the test chooses, delivered to the root context as Envoy's async clients deliver them, and what
//! Envoy does when a callout times out.

use super::{Delivery, GRPC_INTERNAL, GrpcResponse, HttpCallResponse, NotPending, is_http_token};
use crate::envoy::{MapKind, Vm};
use crate::spec::Status;

impl Vm {
    /// Delivers the answer to HTTP callout `token`; `None` is a failure (reset): `(token, 0, 0, 0)` and
    /// `proxy_get_status` = (11, "reset").
    pub(crate) fn answer_http_call(
        &mut self,
        token: u32,
        response: Option<HttpCallResponse>,
    ) -> Result<(), NotPending> {
        let state = self.state_mut();
        let Some(index) = state.callouts.http.iter().position(|c| c.token == token) else {
            return Err(NotPending {
                what: "HTTP callout",
                token,
                pending: state.callouts.http.iter().map(|c| c.token).collect(),
            });
        };
        let call = state.callouts.http.remove(index);
        state.budget.release(call.held_bytes());
        let (counts, delivery) = match response {
            Some(r) => {
                // Envoy holds the answer in a `ResponseMessage`: response header and trailer maps.
                let r = HttpCallResponse {
                    headers: r.headers.into_kind(MapKind::ResponseHeaders),
                    trailers: r.trailers.into_kind(MapKind::ResponseTrailers),
                    body: r.body,
                };
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
    /// and a gRPC call with a trailers-only reply that closes it with Unavailable (see
    /// [`GrpcResponse::timed_out`]).
    pub(crate) fn time_out_callout(&mut self, token: u32) {
        if is_http_token(token) {
            let response = HttpCallResponse::new(504)
                .header("content-length", "24")
                .header("content-type", "text/plain")
                .body("upstream request timeout");
            let _ = self.answer_http_call(token, Some(response));
        } else {
            let _ = self.answer_grpc_call(token, GrpcResponse::timed_out(self.state().settings()));
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
    ) -> Result<(), NotPending> {
        let state = self.state_mut();
        let Some(call) = state.callouts.remove_grpc(token, &mut state.budget) else {
            return Err(NotPending {
                what: "gRPC call or stream",
                token,
                pending: state.callouts.grpc.iter().map(|c| c.token).collect(),
            });
        };
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
                grpc_initial_metadata: Some(
                    response
                        .initial_metadata
                        .into_kind(MapKind::ResponseHeaders),
                ),
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
                grpc_trailing_metadata: Some(
                    response
                        .trailing_metadata
                        .into_kind(MapKind::ResponseTrailers),
                ),
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
