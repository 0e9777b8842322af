//! A unary gRPC call on the wire: HTTP/2, `POST /<service>/<method>`, the message in gRPC's length-prefixed frame,
//! the status from `grpc-status` (trailers, or headers for a trailers-only response).

use bytes::{BufMut, Bytes, BytesMut};
use host::testing::{GrpcCall, GrpcResponse};
use http_body_util::{BodyExt, Limited};
use hyper::Request;

use crate::body::ChannelBody;
use crate::flags::Target;
use crate::proxy::Client;

/// gRPC's UNAVAILABLE: what Envoy's async client reports when the connection fails.
const UNAVAILABLE: u32 = 14;
/// gRPC's INTERNAL: a response that is not gRPC.
const INTERNAL: u32 = 13;
const MAX_MESSAGE: usize = 16 << 20;

pub async fn call(client: &Client, target: &Target, call: &GrpcCall) -> GrpcResponse {
    let message = call.messages.first().cloned().unwrap_or_default();
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.put_u8(0);
    framed.put_u32(message.len() as u32);
    framed.put_slice(&message);
    let authority = target.uri.authority().map_or("", |a| a.as_str());
    let mut request = Request::post(format!(
        "http://{authority}/{}/{}",
        call.service, call.method
    ))
    .version(hyper::Version::HTTP_2)
    .header("content-type", "application/grpc")
    .header("te", "trailers");
    for (name, value) in call.initial_metadata.pairs() {
        request = request.header(name, value);
    }
    let Ok(request) = request.body(ChannelBody::full(framed.freeze())) else {
        return GrpcResponse::error(INTERNAL, "the call's metadata cannot go on the wire");
    };
    let http2 = Target {
        uri: target.uri.clone(),
        http2: true,
    };
    let response = match client.send(&http2, request).await {
        Ok(response) => response,
        Err(e) => return GrpcResponse::error(UNAVAILABLE, &crate::proxy::error_chain(&e)),
    };
    let (parts, body) = response.into_parts();
    let collected = match Limited::new(body, MAX_MESSAGE).collect().await {
        Ok(collected) => collected,
        Err(e) => return GrpcResponse::error(UNAVAILABLE, &e.to_string()),
    };
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let status_of = |map: &hyper::HeaderMap| {
        map.get("grpc-status")
            .and_then(|v| v.to_str().ok()?.parse::<u32>().ok())
    };
    let Some(status) = status_of(&trailers).or_else(|| status_of(&parts.headers)) else {
        return GrpcResponse::error(
            INTERNAL,
            &format!("not a gRPC response (HTTP {})", parts.status),
        );
    };
    if status != 0 {
        let message = trailers
            .get("grpc-message")
            .or_else(|| parts.headers.get("grpc-message"))
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        return GrpcResponse::error(status, &message);
    }
    let body: Bytes = collected.to_bytes();
    // One length-prefixed message: a compressed-flag byte, a big-endian length, the bytes.
    let declared = body
        .get(1..5)
        .map(|len| u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize);
    match declared.and_then(|len| body.get(5..5 + len)) {
        Some(message) => GrpcResponse::ok(message),
        None => GrpcResponse::error(INTERNAL, "the response carries no whole message"),
    }
}
