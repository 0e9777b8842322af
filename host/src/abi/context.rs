//! Context plumbing: `proxy_set_effective_context`, `proxy_done`, `proxy_call_foreign_function`, and the two
//! Emscripten helpers cpp-host also registers.

use wasmtime::Caller;

use super::imports::{EVERY_ABI, Import};
use super::memory::{hostcall, read, return_bytes};
use crate::envoy::{Builtin, HostState};
use crate::spec::Status;

/// The host functions of this area, each with the ABI versions cpp-host registers it for.
pub(super) const IMPORTS: &[Import] = &[
    Import::env(
        "proxy_set_effective_context",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, id: i32| {
                    hostcall(&mut c, import, |c| {
                        Ok(c.data_mut().set_effective_context(id as u32)?)
                    })
                },
            )
        },
    ),
    Import::env("proxy_done", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(module, import, move |mut c: Caller<'_, HostState>| {
            hostcall(&mut c, import, |c| Ok(c.data_mut().done()?))
        })
    }),
    Import::env(
        "proxy_call_foreign_function",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>,
                      name: i32,
                      name_len: i32,
                      args: i32,
                      args_len: i32,
                      ret_ptr: i32,
                      ret_len: i32| {
                    hostcall(&mut c, import, |c| {
                        let name = read(c, name, name_len)?;
                        let args = read(c, args, args_len)?;
                        // Envoy's own functions first: its registry holds them in every build.
                        if let Some(builtin) = Builtin::named(&name) {
                            let result = c.data_mut().call_builtin(builtin, &args)?;
                            return return_bytes(c, &result, ret_ptr, ret_len);
                        }
                        let name = String::from_utf8_lossy(&name).into_owned();
                        let function = c
                            .data_mut()
                            .foreign_function(&name)
                            .ok_or(Status::NotFound)?;
                        let result = function(&args)?;
                        return_bytes(c, &result, ret_ptr, ret_len)
                    })
                },
            )
        },
    ),
    Import::env("pthread_equal", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(module, import, |a: i32, b: i32| (a == b) as i32)
    }),
    Import::env(
        "emscripten_notify_memory_growth",
        EVERY_ABI,
        |linker, module, import| linker.func_wrap(module, import, |_: i32| {}),
    ),
];
