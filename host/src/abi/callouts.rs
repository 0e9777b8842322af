//! Callouts: `proxy_http_call`, `proxy_grpc_call`, `proxy_grpc_stream`, `proxy_grpc_send`, `proxy_grpc_cancel`,
//! `proxy_grpc_close`, `proxy_get_status`.

use std::time::Duration;

use wasmtime::Caller;

use super::imports::{EVERY_ABI, Import};
use super::memory::{hostcall, read, return_bytes, write_u32};
use crate::envoy::{GrpcCall, Headers, HostState, MapKind};
use crate::spec::pairs;

/// The host functions of this area, each with the ABI versions cpp-host registers it for.
pub(super) const IMPORTS: &[Import] = &[
    Import::env("proxy_http_call", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            move |mut c: Caller<'_, HostState>,
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
                hostcall(&mut c, import, |c| {
                    // Refused before the copies: each is as large as the guest says.
                    let lengths = [up_len, h_len, b_len, t_len].map(|l| l as u32 as usize);
                    c.data()
                        .check_budget("an HTTP callout", lengths.iter().sum())?;
                    let cluster = String::from_utf8_lossy(&read(c, up, up_len)?).into_owned();
                    // `Context::httpCall` builds a request header map with `addCopy`: `host` becomes `:authority`.
                    let headers = Headers::from_pairs(
                        MapKind::RequestHeaders,
                        pairs::deserialize(&read(c, h, h_len)?),
                    );
                    let body = read(c, b, b_len)?;
                    let trailers = Headers::from_pairs(
                        MapKind::Plain,
                        pairs::deserialize(&read(c, t, t_len)?),
                    );
                    let token = c
                        .data_mut()
                        .dispatch_http_call(cluster, headers, body, trailers, timeout_ms)?;
                    write_u32(c, ret_token, token)
                })
            },
        )
    }),
    Import::env("proxy_grpc_call", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            move |mut c: Caller<'_, HostState>,
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
                hostcall(&mut c, import, |c| {
                    c.data()
                        .check_budget("a gRPC call", msg_len as u32 as usize)?;
                    let (upstream, mut call) =
                        grpc_call(c, [up, up_len, svc, svc_len, m, m_len, md, md_len])?;
                    call.messages.push(read(c, msg, msg_len)?);
                    // Envoy's router takes a zero timeout as none.
                    call.timeout =
                        (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms as u64));
                    let token = c.data_mut().dispatch_grpc(&upstream, call)?;
                    write_u32(c, ret_token, token)
                })
            },
        )
    }),
    Import::env("proxy_grpc_stream", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            move |mut c: Caller<'_, HostState>,
                  up: i32,
                  up_len: i32,
                  svc: i32,
                  svc_len: i32,
                  m: i32,
                  m_len: i32,
                  md: i32,
                  md_len: i32,
                  ret_token: i32| {
                hostcall(&mut c, import, |c| {
                    let (upstream, mut call) =
                        grpc_call(c, [up, up_len, svc, svc_len, m, m_len, md, md_len])?;
                    call.stream = true;
                    let token = c.data_mut().dispatch_grpc(&upstream, call)?;
                    write_u32(c, ret_token, token)
                })
            },
        )
    }),
    Import::env("proxy_grpc_send", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            move |mut c: Caller<'_, HostState>, token: i32, ptr: i32, len: i32, end_stream: i32| {
                hostcall(&mut c, import, |c| {
                    let len = len as u32 as usize;
                    c.data().check_budget("a gRPC message", len)?;
                    let message = read(c, ptr, len as i32)?;
                    Ok(c.data_mut()
                        .grpc_send(token as u32, message, end_stream != 0)?)
                })
            },
        )
    }),
    Import::env("proxy_grpc_cancel", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            move |mut c: Caller<'_, HostState>, token: i32| {
                hostcall(&mut c, import, |c| {
                    Ok(c.data_mut().grpc_cancel(token as u32)?)
                })
            },
        )
    }),
    Import::env("proxy_grpc_close", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            move |mut c: Caller<'_, HostState>, token: i32| {
                hostcall(&mut c, import, |c| {
                    Ok(c.data_mut().grpc_close(token as u32)?)
                })
            },
        )
    }),
    Import::env("proxy_get_status", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            move |mut c: Caller<'_, HostState>, ret_code: i32, ret_ptr: i32, ret_len: i32| {
                hostcall(&mut c, import, |c| {
                    let (code, message) = c.data().callout_status();
                    write_u32(c, ret_code, code)?;
                    return_bytes(c, &message, ret_ptr, ret_len)
                })
            },
        )
    }),
];

/// The raw `upstream` bytes (Envoy parses them; see `envoy::grpc_service`) and the call they ask for.
fn grpc_call(
    c: &mut Caller<'_, HostState>,
    args: [i32; 8],
) -> super::HostResult<(Vec<u8>, GrpcCall)> {
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let lengths = [args[1], args[3], args[5], args[7]].map(|l| l as u32 as usize);
    c.data().check_budget("a gRPC call", lengths.iter().sum())?;
    let upstream = read(c, args[0], args[1])?;
    let service = text(read(c, args[2], args[3])?);
    let method = text(read(c, args[4], args[5])?);
    let initial_metadata = Headers::from_pairs(
        MapKind::RequestHeaders,
        pairs::deserialize(&read(c, args[6], args[7])?),
    );
    let call = GrpcCall::new(
        String::from_utf8_lossy(&upstream).into_owned(),
        service,
        method,
        initial_metadata,
    );
    Ok((upstream, call))
}
