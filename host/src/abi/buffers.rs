//! Buffers: `proxy_get_buffer_bytes`, `proxy_set_buffer_bytes`, `proxy_get_buffer_status`, and ABI 0.1.0's
//! `proxy_get_configuration`.

use wasmtime::Caller;

use super::imports::{ABI_0_1_0, EVERY_ABI, Import};
use super::memory::{hostcall, read, return_bytes, write_u32};
use crate::envoy::HostState;
use crate::spec::{BufferType, Status};

/// The host functions of this area, each with the ABI versions cpp-host registers it for.
pub(super) const IMPORTS: &[Import] = &[
    Import::env(
        "proxy_get_buffer_bytes",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>,
                      ty: i32,
                      start: i32,
                      max: i32,
                      ret_ptr: i32,
                      ret_len: i32| {
                    hostcall(&mut c, import, |c| {
                        let ty = BufferType::from_raw(ty).ok_or(Status::BadArgument)?;
                        let bytes = c.data().buffer(ty).ok_or(Status::NotFound)?;
                        // Envoy checks the range on 64-bit words: (0, u32::MAX) is not an overflow.
                        let (start, max) = (start as u32 as u64, max as u32 as u64);
                        start.checked_add(max).ok_or(Status::BadArgument)?;
                        let from = (start as usize).min(bytes.len());
                        let to = (from as u64 + max).min(bytes.len() as u64) as usize;
                        return_bytes(c, &bytes[from..to], ret_ptr, ret_len)
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_set_buffer_bytes",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>,
                      ty: i32,
                      start: i32,
                      size: i32,
                      ptr: i32,
                      len: i32| {
                    hostcall(&mut c, import, |c| {
                        let ty = BufferType::from_raw(ty).ok_or(Status::BadArgument)?;
                        // cpp-host `exports::set_buffer_bytes`: no buffer from `getBuffer` is NotFound, before the
                        // guest's bytes are read.
                        if !c.data().has_buffer(ty) {
                            return Err(Status::NotFound.into());
                        }
                        c.data().check_budget_entry("a body", len as u32 as usize)?;
                        let data = read(c, ptr, len)?;
                        c.data_mut().charge_stream("a body", data.len())?;
                        let (start, size) = (start as u32 as usize, size as u32 as usize);
                        // A buffer Envoy holds as a string or const buffer, or a body it does not hold: cpp-host
                        // `BufferBase::copyFrom`, "Setting a string buffer not supported". The Rust SDK's
                        // `set_http_request_body` panics on it, in Envoy as here.
                        let buffer = c.data_mut().body_mut(ty).ok_or(Status::BadArgument)?;
                        // Envoy's `Buffer::copyFrom`: drain+prepend at 0, append at/after the end, nothing else.
                        if start == 0 {
                            buffer.drain(..size.min(buffer.len()));
                            buffer.splice(0..0, data);
                        } else if start >= buffer.len() {
                            buffer.extend_from_slice(&data);
                        } else {
                            return Err(Status::BadArgument.into());
                        }
                        Ok(())
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_get_buffer_status",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, ty: i32, ret_len: i32, ret_flags: i32| {
                    hostcall(&mut c, import, |c| {
                        let ty = BufferType::from_raw(ty).ok_or(Status::BadArgument)?;
                        let len = c.data().buffer(ty).ok_or(Status::NotFound)?.len() as u32;
                        write_u32(c, ret_len, len)?;
                        write_u32(c, ret_flags, 0)
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_get_configuration",
        ABI_0_1_0,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, ret_ptr: i32, ret_len: i32| {
                    hostcall(&mut c, import, |c| {
                        // ABI 0.1.0: the plugin configuration inside on_configure, the VM configuration elsewhere.
                        let bytes = c.data().configuration().to_vec();
                        return_bytes(c, &bytes, ret_ptr, ret_len)
                    })
                },
            )
        },
    ),
];
