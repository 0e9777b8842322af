//! HTTP callouts on the wire: each one a plugin dispatches goes to the URL its cluster maps to, and the answer (or
//! the failure) comes back to the plugin on this worker, as Envoy's async client answers on the dispatching worker.
//! Timeouts are the host's: the plugin's clock answers 504 when the callout's timeout passes, as Envoy's router
//! does, and a late answer from the wire is dropped.

use std::collections::HashSet;
use std::rc::Rc;

use host::testing::{GrpcCall, GrpcResponse, HttpCall, HttpCallResponse};
use http_body_util::{BodyExt, Limited};

use crate::body::ChannelBody;
use crate::flags::Cluster;
use crate::script::Answer;
use crate::worker::{Chain, Worker, print_logs};
use crate::{codec, grpc, proxy};

/// The most of a callout's response body kept; a bigger one fails the callout, as a reset.
const MAX_RESPONSE_BODY: usize = 16 << 20;

/// Sends every callout of the chain's plugins that is not on the wire yet: HTTP calls and unary gRPC calls.
pub fn send_new(worker: &Rc<Worker>, chain: &Rc<Chain>) {
    for (index, filter) in chain.filters.iter().enumerate() {
        let (calls, grpc_calls) = unsent(
            &mut filter.sent.borrow_mut(),
            filter.plugin.http_calls(),
            filter.plugin.grpc_calls(),
        );
        for call in calls {
            tokio::task::spawn_local(send(Rc::clone(worker), Rc::clone(chain), index, call));
        }
        for call in grpc_calls {
            tokio::task::spawn_local(send_grpc(Rc::clone(worker), Rc::clone(chain), index, call));
        }
    }
}

/// Of a plugin's pending calls, the HTTP callouts and unary gRPC calls not on the wire yet; `sent` holds the tokens
/// already sent, and forgets those no longer pending (answered, timed out).
pub fn unsent(
    sent: &mut HashSet<u32>,
    calls: Vec<HttpCall>,
    grpc_calls: Vec<GrpcCall>,
) -> (Vec<HttpCall>, Vec<GrpcCall>) {
    sent.retain(|token| {
        calls.iter().any(|c| c.token == *token) || grpc_calls.iter().any(|c| c.token == *token)
    });
    let calls = calls.into_iter().filter(|c| sent.insert(c.token)).collect();
    let grpc_calls = grpc_calls
        .into_iter()
        .filter(|c| !c.stream && sent.insert(c.token))
        .collect();
    (calls, grpc_calls)
}

/// A unary gRPC call over HTTP/2 to its cluster; the answer reaches the plugin as Envoy's async gRPC client
/// delivers it (a message, or a status).
async fn send_grpc(worker: Rc<Worker>, chain: Rc<Chain>, index: usize, call: GrpcCall) {
    let answer = grpc_answer(&worker.client, worker.cluster(&call.upstream), &call).await;
    let filter = &chain.filters[index];
    if filter
        .plugin
        .grpc_calls()
        .iter()
        .any(|c| c.token == call.token)
    {
        filter.plugin.answer_grpc_call(call.token, answer);
    }
    answered(&worker, &chain, filter);
}

/// What `cluster` answers a unary gRPC call.
pub async fn grpc_answer(
    client: &proxy::Client,
    cluster: Option<&Cluster>,
    call: &GrpcCall,
) -> GrpcResponse {
    match cluster {
        Some(Cluster::Wire(target)) => grpc::call(client, target, call).await,
        Some(Cluster::Script(_)) => {
            GrpcResponse::error(12, "scripted clusters answer HTTP callouts only")
        }
        Some(Cluster::Tcp(_)) => GrpcResponse::error(
            14,
            &format!(
                "cluster {} is a tcp:// cluster, for the TCP proxy only",
                call.upstream
            ),
        ),
        None => GrpcResponse::error(14, &format!("no --cluster {}", call.upstream)),
    }
}

/// After an answer reached a plugin: its logs come out, the callouts its callback made go out, and the streams it
/// may have resumed look again.
fn answered(worker: &Rc<Worker>, chain: &Rc<Chain>, filter: &crate::worker::Filter) {
    print_logs(filter);
    send_new(worker, chain);
    worker.wake.notify_waiters();
}

async fn send(worker: Rc<Worker>, chain: Rc<Chain>, index: usize, call: HttpCall) {
    // The host refuses a callout to a cluster the flags do not declare; this is one it accepted.
    let Some(answer) = http_answer(&worker.client, worker.cluster(&call.cluster), &call).await
    else {
        return;
    };
    let filter = &chain.filters[index];
    let pending = filter
        .plugin
        .http_calls()
        .iter()
        .any(|c| c.token == call.token);
    if pending {
        match answer {
            Ok(response) => filter.plugin.answer_http_call(call.token, response),
            Err(reason) => {
                eprintln!(
                    "serve: callout {} of plugin {} to cluster {} failed: {reason}",
                    call.token, filter.name, call.cluster
                );
                filter.plugin.fail_http_call(call.token);
            }
        }
    }
    answered(&worker, &chain, filter);
}

/// What `cluster` answers an HTTP callout: the response or why it failed; `None` when it never answers (a
/// script's timeout: the plugin's clock times the callout out, or without a timeout it waits, as in Envoy).
pub async fn http_answer(
    client: &proxy::Client,
    cluster: Option<&Cluster>,
    call: &HttpCall,
) -> Option<Result<HttpCallResponse, String>> {
    Some(match cluster {
        Some(Cluster::Wire(target)) => exchange(client, target, call).await,
        Some(Cluster::Script(script)) => match script.next() {
            Answer::Respond { response, delay } => {
                tokio::time::sleep(delay).await;
                Ok(response)
            }
            Answer::Reset { delay } => {
                tokio::time::sleep(delay).await;
                Err("the script answers with a reset".to_owned())
            }
            Answer::Timeout => return None,
        },
        Some(Cluster::Tcp(_)) => Err(format!(
            "cluster {} is a tcp:// cluster, for the TCP proxy only; give it as http://HOST:PORT for callouts",
            call.cluster
        )),
        None => Err(format!("no --cluster {}", call.cluster)),
    })
}

async fn exchange(
    client: &proxy::Client,
    target: &crate::flags::Target,
    call: &HttpCall,
) -> Result<HttpCallResponse, String> {
    let trailers = (!call.trailers.is_empty())
        .then(|| codec::trailer_fields(&call.trailers))
        .transpose()
        .map_err(|e| e.0)?;
    let body = ChannelBody::complete(call.body.clone(), trailers);
    let request = codec::upstream_request(&call.headers, target, body).map_err(|e| e.0)?;
    let response = client
        .send(target, request)
        .await
        .map_err(|e| crate::proxy::error_chain(&e))?;
    let (parts, body) = response.into_parts();
    let collected = Limited::new(body, MAX_RESPONSE_BODY)
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let trailers = collected
        .trailers()
        .map(codec::trailers)
        .unwrap_or_default();
    Ok(HttpCallResponse {
        headers: codec::response_headers(&parts),
        body: collected.to_bytes().to_vec(),
        trailers,
    })
}
