//! Stream control: `proxy_continue_stream`, `proxy_close_stream`, `proxy_send_local_response`, and ABI 0.1.0's
//! `proxy_continue_request`, `proxy_continue_response`, `proxy_clear_route_cache`. All effects are deferred until
//! the current VM call returns, as in Envoy.

use wasmtime::{Caller, Linker};

use super::memory::{hostcall, read};
use crate::envoy::{Deferred, Headers, HostState, LocalReply};
use crate::spec::{Status, StreamType, pairs};

pub(super) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_continue_stream",
        |mut c: Caller<'_, HostState>, ty: i32| {
            hostcall(&mut c, "proxy_continue_stream", |c| {
                stream_action(c, ty, false)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_close_stream",
        |mut c: Caller<'_, HostState>, ty: i32| {
            hostcall(&mut c, "proxy_close_stream", |c| stream_action(c, ty, true))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_continue_request",
        |mut c: Caller<'_, HostState>| {
            hostcall(&mut c, "proxy_continue_request", |c| {
                stream_action(c, 0, false)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_continue_response",
        |mut c: Caller<'_, HostState>| {
            hostcall(&mut c, "proxy_continue_response", |c| {
                stream_action(c, 1, false)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_clear_route_cache",
        |mut c: Caller<'_, HostState>| hostcall(&mut c, "proxy_clear_route_cache", |_| Ok(())),
    )?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: Caller<'_, HostState>,
         status: i32,
         details_ptr: i32,
         details_len: i32,
         body_ptr: i32,
         body_len: i32,
         headers_ptr: i32,
         headers_len: i32,
         grpc_status: i32| {
            hostcall(&mut c, "proxy_send_local_response", |c| {
                let details = read(c, details_ptr, details_len)?;
                let body = read(c, body_ptr, body_len)?;
                let headers =
                    Headers::from_pairs(pairs::deserialize(&read(c, headers_ptr, headers_len)?));
                let details: String = String::from_utf8_lossy(&details)
                    .chars()
                    .map(|ch| if ch.is_whitespace() { '_' } else { ch })
                    .collect();
                let reply = LocalReply {
                    status: status as u32,
                    details,
                    body,
                    headers,
                    grpc_status: (0..=16)
                        .contains(&grpc_status)
                        .then_some(grpc_status as u32),
                };
                let state = c.data_mut();
                // The callback that sends it returns "stop", whatever it returns.
                state.stop_next_iteration = true;
                // Without a stream (root context, no effective stream) Envoy has no decoder callbacks: no-op.
                if let Some(stream) = state.stream().map(|s| s.id) {
                    state
                        .deferred
                        .push_back(Deferred::LocalReply { stream, reply });
                }
                Ok(())
            })
        },
    )?;
    Ok(())
}

fn stream_action(c: &mut Caller<'_, HostState>, ty: i32, close: bool) -> super::HostResult {
    let ty = StreamType::from_raw(ty).ok_or(Status::BadArgument)?;
    match c.data_mut().defer_stream_action(ty, close) {
        Status::Ok => Ok(()),
        status => Err(status.into()),
    }
}
