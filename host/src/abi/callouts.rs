//! Callouts: `proxy_http_call`, `proxy_grpc_call`, `proxy_grpc_stream`, `proxy_grpc_send`, `proxy_grpc_cancel`,
//! `proxy_grpc_close`, `proxy_get_status`.

use std::time::Duration;

use wasmtime::{Caller, Linker};

use super::memory::{hostcall, read, return_bytes, write_u32};
use crate::envoy::{GrpcCall, Headers, HostState};
use crate::spec::{Status, pairs};

pub(super) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut c: Caller<'_, HostState>,
         up: i32,
         up_len: i32,
         h: i32,
         h_len: i32,
         b: i32,
         b_len: i32,
         t: i32,
         t_len: i32,
         timeout_ms: i32,
         ret_token: i32| {
            hostcall(&mut c, "proxy_http_call", |c| {
                // Refused before the copies: each is as large as the guest says.
                let lengths = [up_len, h_len, b_len, t_len].map(|l| l as u32 as usize);
                c.data()
                    .budget
                    .check("an HTTP callout", lengths.iter().sum())?;
                let cluster = String::from_utf8_lossy(&read(c, up, up_len)?).into_owned();
                let headers = Headers::from_pairs(pairs::deserialize(&read(c, h, h_len)?));
                let body = read(c, b, b_len)?;
                let trailers = Headers::from_pairs(pairs::deserialize(&read(c, t, t_len)?));
                let token = c
                    .data_mut()
                    .dispatch_http_call(cluster, headers, body, trailers, timeout_ms)?;
                write_u32(c, ret_token, token)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_call",
        |mut c: Caller<'_, HostState>,
         up: i32,
         up_len: i32,
         svc: i32,
         svc_len: i32,
         m: i32,
         m_len: i32,
         md: i32,
         md_len: i32,
         msg: i32,
         msg_len: i32,
         timeout_ms: i32,
         ret_token: i32| {
            hostcall(&mut c, "proxy_grpc_call", |c| {
                c.data()
                    .budget
                    .check("a gRPC call", msg_len as u32 as usize)?;
                let (upstream, mut call) =
                    grpc_call(c, [up, up_len, svc, svc_len, m, m_len, md, md_len])?;
                call.messages.push(read(c, msg, msg_len)?);
                // Envoy's router takes a zero timeout as none.
                call.timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms as u64));
                let token = c.data_mut().dispatch_grpc(&upstream, call)?;
                write_u32(c, ret_token, token)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_stream",
        |mut c: Caller<'_, HostState>,
         up: i32,
         up_len: i32,
         svc: i32,
         svc_len: i32,
         m: i32,
         m_len: i32,
         md: i32,
         md_len: i32,
         ret_token: i32| {
            hostcall(&mut c, "proxy_grpc_stream", |c| {
                let (upstream, mut call) =
                    grpc_call(c, [up, up_len, svc, svc_len, m, m_len, md, md_len])?;
                call.stream = true;
                let token = c.data_mut().dispatch_grpc(&upstream, call)?;
                write_u32(c, ret_token, token)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_send",
        |mut c: Caller<'_, HostState>, token: i32, ptr: i32, len: i32, end_stream: i32| {
            hostcall(&mut c, "proxy_grpc_send", |c| {
                let len = len as u32 as usize;
                c.data().budget.check("a gRPC message", len)?;
                let message = read(c, ptr, len as i32)?;
                let state = c.data_mut();
                let call = state
                    .callouts
                    .grpc
                    .iter_mut()
                    .find(|call| call.token == token as u32)
                    .ok_or(Status::NotFound)?;
                if !call.stream {
                    return Err(Status::BadArgument.into());
                }
                state.budget.charge("a gRPC message", len)?;
                call.messages.push(message);
                call.closed_by_plugin |= end_stream != 0;
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_cancel",
        |mut c: Caller<'_, HostState>, token: i32| {
            hostcall(&mut c, "proxy_grpc_cancel", |c| {
                let state = c.data_mut();
                state
                    .callouts
                    .remove_grpc(token as u32, &mut state.budget)
                    .ok_or(Status::NotFound)?;
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_close",
        |mut c: Caller<'_, HostState>, token: i32| {
            hostcall(&mut c, "proxy_grpc_close", |c| {
                let state = c.data_mut();
                let call = state
                    .callouts
                    .grpc
                    .iter_mut()
                    .find(|call| call.token == token as u32)
                    .ok_or(Status::NotFound)?;
                if call.stream {
                    call.closed_by_plugin = true;
                } else {
                    state.callouts.remove_grpc(token as u32, &mut state.budget);
                }
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_status",
        |mut c: Caller<'_, HostState>, ret_code: i32, ret_ptr: i32, ret_len: i32| {
            hostcall(&mut c, "proxy_get_status", |c| {
                let (code, message) = c.data().callouts.status.clone();
                write_u32(c, ret_code, code)?;
                return_bytes(c, &message, ret_ptr, ret_len)
            })
        },
    )?;
    Ok(())
}

/// The raw `upstream` bytes (Envoy parses them; see `envoy::grpc_service`) and the call they ask for.
fn grpc_call(
    c: &mut Caller<'_, HostState>,
    args: [i32; 8],
) -> super::HostResult<(Vec<u8>, GrpcCall)> {
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let lengths = [args[1], args[3], args[5], args[7]].map(|l| l as u32 as usize);
    c.data().budget.check("a gRPC call", lengths.iter().sum())?;
    let upstream = read(c, args[0], args[1])?;
    let service = text(read(c, args[2], args[3])?);
    let method = text(read(c, args[4], args[5])?);
    let initial_metadata = Headers::from_pairs(pairs::deserialize(&read(c, args[6], args[7])?));
    let call = GrpcCall {
        token: 0,
        context_id: 0,
        upstream: String::from_utf8_lossy(&upstream).into_owned(),
        service,
        method,
        initial_metadata,
        messages: Vec::new(),
        timeout: None,
        stream: false,
        closed_by_plugin: false,
        deadline: None,
    };
    Ok((upstream, call))
}
