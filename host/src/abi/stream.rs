//! Stream control: `proxy_continue_stream`, `proxy_close_stream`, `proxy_send_local_response`, and ABI 0.1.0's
//! `proxy_continue_request`, `proxy_continue_response`, `proxy_clear_route_cache`. All effects are deferred until
//! the current VM call returns, as in Envoy.

use wasmtime::Caller;

use super::HostResult;
use super::imports::{Import, import};
use super::memory::read;
use crate::envoy::{Headers, HostState, LocalReply, MapKind, replace_all_empty_space};
use crate::spec::{Status, StreamType, pairs};

/// The host functions of this area.
pub(super) const IMPORTS: &[Import] = &[
    import!(hostcall proxy_continue_stream),
    import!(hostcall proxy_close_stream),
    import!(hostcall proxy_continue_request),
    import!(hostcall proxy_continue_response),
    import!(hostcall proxy_clear_route_cache),
    import!(hostcall proxy_send_local_response),
];

fn proxy_continue_stream(c: &mut Caller<'_, HostState>, ty: StreamType) -> HostResult {
    stream_action(c, ty, false)
}

fn proxy_close_stream(c: &mut Caller<'_, HostState>, ty: StreamType) -> HostResult {
    stream_action(c, ty, true)
}

fn proxy_continue_request(c: &mut Caller<'_, HostState>) -> HostResult {
    stream_action(c, StreamType::Request, false)
}

fn proxy_continue_response(c: &mut Caller<'_, HostState>) -> HostResult {
    stream_action(c, StreamType::Response, false)
}

fn proxy_clear_route_cache(_: &mut Caller<'_, HostState>) -> HostResult {
    Ok(())
}

#[allow(clippy::too_many_arguments)] // the ABI's signature
fn proxy_send_local_response(
    c: &mut Caller<'_, HostState>,
    status: u32,
    details_ptr: i32,
    details_len: i32,
    body_ptr: i32,
    body_len: i32,
    headers_ptr: i32,
    headers_len: i32,
    grpc_status: i32,
) -> HostResult {
    // Refused before the copies: the reply is held until the call returns.
    let lengths = [details_len, body_len, headers_len].map(|l| l as u32 as usize);
    c.data()
        .check_budget_entry("a local reply", lengths.iter().sum())?;
    let details = read(c, details_ptr, details_len)?;
    let body = read(c, body_ptr, body_len)?;
    let headers = Headers::from_pairs(
        MapKind::Plain,
        pairs::deserialize(&read(c, headers_ptr, headers_len)?),
    );
    let details = replace_all_empty_space(&details);
    let reply = LocalReply {
        status,
        details,
        body,
        headers,
        grpc_status: (0..=16)
            .contains(&grpc_status)
            .then_some(grpc_status as u32),
    };
    c.data_mut().send_local_response(reply)?;
    Ok(())
}

fn stream_action(c: &mut Caller<'_, HostState>, ty: StreamType, close: bool) -> HostResult {
    match c.data_mut().defer_stream_action(ty, close)? {
        Status::Ok => Ok(()),
        status => Err(status.into()),
    }
}
