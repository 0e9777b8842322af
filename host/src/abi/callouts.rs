//! Callouts: `proxy_http_call`, `proxy_grpc_call`, `proxy_grpc_stream`, `proxy_grpc_send`, `proxy_grpc_cancel`,
//! `proxy_grpc_close`, `proxy_get_status`.

use std::time::Duration;

use wasmtime::Caller;

use super::HostResult;
use super::imports::{Import, import};
use super::memory::{read, return_bytes, write_u32};
use crate::envoy::{GrpcCall, Headers, HostState, MapKind};
use crate::spec::pairs;

/// The host functions of this area.
pub(super) const IMPORTS: &[Import] = &[
    import!(hostcall proxy_http_call),
    import!(hostcall proxy_grpc_call),
    import!(hostcall proxy_grpc_stream),
    import!(hostcall proxy_grpc_send),
    import!(hostcall proxy_grpc_cancel),
    import!(hostcall proxy_grpc_close),
    import!(hostcall proxy_get_status),
];

#[allow(clippy::too_many_arguments)] // the ABI's signature
fn proxy_http_call(
    c: &mut Caller<'_, HostState>,
    upstream_ptr: i32,
    upstream_len: i32,
    headers_ptr: i32,
    headers_len: i32,
    body_ptr: i32,
    body_len: i32,
    trailers_ptr: i32,
    trailers_len: i32,
    timeout_ms: i32,
    ret_token: i32,
) -> HostResult {
    // Refused before the copies: each is as large as the guest says.
    let lengths = [upstream_len, headers_len, body_len, trailers_len].map(|l| l as u32 as usize);
    c.data()
        .check_budget("an HTTP callout", lengths.iter().sum())?;
    let cluster = String::from_utf8_lossy(&read(c, upstream_ptr, upstream_len)?).into_owned();
    // `Context::httpCall` builds a request header map with `addCopy`: `host` becomes `:authority`.
    let headers = Headers::from_pairs(
        MapKind::RequestHeaders,
        pairs::deserialize(&read(c, headers_ptr, headers_len)?),
    );
    let body = read(c, body_ptr, body_len)?;
    let trailers = Headers::from_pairs(
        MapKind::Plain,
        pairs::deserialize(&read(c, trailers_ptr, trailers_len)?),
    );
    let token = c
        .data_mut()
        .dispatch_http_call(cluster, headers, body, trailers, timeout_ms)?;
    write_u32(c, ret_token, token)
}

#[allow(clippy::too_many_arguments)] // the ABI's signature
fn proxy_grpc_call(
    c: &mut Caller<'_, HostState>,
    upstream_ptr: i32,
    upstream_len: i32,
    service_ptr: i32,
    service_len: i32,
    method_ptr: i32,
    method_len: i32,
    metadata_ptr: i32,
    metadata_len: i32,
    message_ptr: i32,
    message_len: i32,
    timeout_ms: i32,
    ret_token: i32,
) -> HostResult {
    c.data()
        .check_budget("a gRPC call", message_len as u32 as usize)?;
    let (upstream, mut call) = grpc_call(
        c,
        GrpcTarget {
            upstream: (upstream_ptr, upstream_len),
            service: (service_ptr, service_len),
            method: (method_ptr, method_len),
            metadata: (metadata_ptr, metadata_len),
        },
    )?;
    call.messages.push(read(c, message_ptr, message_len)?);
    // Envoy's router takes a zero timeout as none.
    call.timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms as u64));
    let token = c.data_mut().dispatch_grpc(&upstream, call)?;
    write_u32(c, ret_token, token)
}

#[allow(clippy::too_many_arguments)] // the ABI's signature
fn proxy_grpc_stream(
    c: &mut Caller<'_, HostState>,
    upstream_ptr: i32,
    upstream_len: i32,
    service_ptr: i32,
    service_len: i32,
    method_ptr: i32,
    method_len: i32,
    metadata_ptr: i32,
    metadata_len: i32,
    ret_token: i32,
) -> HostResult {
    let (upstream, mut call) = grpc_call(
        c,
        GrpcTarget {
            upstream: (upstream_ptr, upstream_len),
            service: (service_ptr, service_len),
            method: (method_ptr, method_len),
            metadata: (metadata_ptr, metadata_len),
        },
    )?;
    call.stream = true;
    let token = c.data_mut().dispatch_grpc(&upstream, call)?;
    write_u32(c, ret_token, token)
}

fn proxy_grpc_send(
    c: &mut Caller<'_, HostState>,
    token: u32,
    ptr: i32,
    len: i32,
    end_stream: bool,
) -> HostResult {
    c.data()
        .check_budget("a gRPC message", len as u32 as usize)?;
    let message = read(c, ptr, len)?;
    Ok(c.data_mut().grpc_send(token, message, end_stream)?)
}

fn proxy_grpc_cancel(c: &mut Caller<'_, HostState>, token: u32) -> HostResult {
    Ok(c.data_mut().grpc_cancel(token)?)
}

fn proxy_grpc_close(c: &mut Caller<'_, HostState>, token: u32) -> HostResult {
    Ok(c.data_mut().grpc_close(token)?)
}

fn proxy_get_status(
    c: &mut Caller<'_, HostState>,
    ret_code: i32,
    ret_ptr: i32,
    ret_len: i32,
) -> HostResult {
    let (code, message) = c.data().callout_status();
    write_u32(c, ret_code, code)?;
    return_bytes(c, &message, ret_ptr, ret_len)
}

/// Where the guest put what names a gRPC call, as `proxy_grpc_call` and `proxy_grpc_stream` both pass it: a pointer
/// and a length each.
struct GrpcTarget {
    upstream: (i32, i32),
    service: (i32, i32),
    method: (i32, i32),
    metadata: (i32, i32),
}

/// The raw `upstream` bytes (Envoy parses them; see `envoy::grpc_service`) and the call they ask for.
fn grpc_call(c: &mut Caller<'_, HostState>, target: GrpcTarget) -> HostResult<(Vec<u8>, GrpcCall)> {
    let GrpcTarget {
        upstream,
        service,
        method,
        metadata,
    } = target;
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let lengths = [upstream.1, service.1, method.1, metadata.1].map(|l| l as u32 as usize);
    c.data().check_budget("a gRPC call", lengths.iter().sum())?;
    let upstream = read(c, upstream.0, upstream.1)?;
    let service = text(read(c, service.0, service.1)?);
    let method = text(read(c, method.0, method.1)?);
    let initial_metadata = Headers::from_pairs(
        MapKind::RequestHeaders,
        pairs::deserialize(&read(c, metadata.0, metadata.1)?),
    );
    let call = GrpcCall::new(
        String::from_utf8_lossy(&upstream).into_owned(),
        service,
        method,
        initial_metadata,
    );
    Ok((upstream, call))
}
