//! Stream control: `proxy_continue_stream`, `proxy_close_stream`, `proxy_send_local_response`, and ABI 0.1.0's
//! `proxy_continue_request`, `proxy_continue_response`, `proxy_clear_route_cache`. All effects are deferred until
//! the current VM call returns, as in Envoy.

use wasmtime::Caller;

use super::imports::{ABI_0_1_0, EVERY_ABI, Import, SINCE_ABI_0_2_0};
use super::memory::{hostcall, read};
use crate::envoy::{Headers, HostState, LocalReply, MapKind, replace_all_empty_space};
use crate::spec::{Status, StreamType, pairs};

/// The host functions of this area, each with the ABI versions cpp-host registers it for.
pub(super) const IMPORTS: &[Import] = &[
    Import::env(
        "proxy_continue_stream",
        SINCE_ABI_0_2_0,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, ty: i32| {
                    hostcall(&mut c, import, |c| stream_action(c, ty, false))
                },
            )
        },
    ),
    Import::env(
        "proxy_close_stream",
        SINCE_ABI_0_2_0,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, ty: i32| {
                    hostcall(&mut c, import, |c| stream_action(c, ty, true))
                },
            )
        },
    ),
    Import::env(
        "proxy_continue_request",
        ABI_0_1_0,
        |linker, module, import| {
            linker.func_wrap(module, import, move |mut c: Caller<'_, HostState>| {
                hostcall(&mut c, import, |c| stream_action(c, 0, false))
            })
        },
    ),
    Import::env(
        "proxy_continue_response",
        ABI_0_1_0,
        |linker, module, import| {
            linker.func_wrap(module, import, move |mut c: Caller<'_, HostState>| {
                hostcall(&mut c, import, |c| stream_action(c, 1, false))
            })
        },
    ),
    Import::env(
        "proxy_clear_route_cache",
        ABI_0_1_0,
        |linker, module, import| {
            linker.func_wrap(module, import, move |mut c: Caller<'_, HostState>| {
                hostcall(&mut c, import, |_| Ok(()))
            })
        },
    ),
    Import::env(
        "proxy_send_local_response",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>,
                      status: i32,
                      details_ptr: i32,
                      details_len: i32,
                      body_ptr: i32,
                      body_len: i32,
                      headers_ptr: i32,
                      headers_len: i32,
                      grpc_status: i32| {
                    hostcall(&mut c, import, |c| {
                        // Refused before the copies: the reply is held until the call returns.
                        let lengths =
                            [details_len, body_len, headers_len].map(|l| l as u32 as usize);
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
                            status: status as u32,
                            details,
                            body,
                            headers,
                            grpc_status: (0..=16)
                                .contains(&grpc_status)
                                .then_some(grpc_status as u32),
                        };
                        c.data_mut().send_local_response(reply)?;
                        Ok(())
                    })
                },
            )
        },
    ),
];

fn stream_action(c: &mut Caller<'_, HostState>, ty: i32, close: bool) -> super::HostResult {
    let ty = StreamType::from_raw(ty).ok_or(Status::BadArgument)?;
    match c.data_mut().defer_stream_action(ty, close)? {
        Status::Ok => Ok(()),
        status => Err(status.into()),
    }
}
