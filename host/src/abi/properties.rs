//! Properties: `proxy_get_property`, `proxy_set_property`.

use wasmtime::Caller;

use super::imports::{EVERY_ABI, Import};
use super::memory::{hostcall, read, return_bytes};
use crate::envoy::HostState;

/// The host functions of this area, each with the ABI versions cpp-host registers it for.
pub(super) const IMPORTS: &[Import] = &[
    Import::env("proxy_get_property", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            move |mut c: Caller<'_, HostState>,
                  path_ptr: i32,
                  path_len: i32,
                  ret_ptr: i32,
                  ret_len: i32| {
                hostcall(&mut c, import, |c| {
                    let path = read(c, path_ptr, path_len)?;
                    let value = c.data().property(&path)?;
                    return_bytes(c, &value, ret_ptr, ret_len)
                })
            },
        )
    }),
    Import::env("proxy_set_property", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            move |mut c: Caller<'_, HostState>,
                  path_ptr: i32,
                  path_len: i32,
                  value_ptr: i32,
                  value_len: i32| {
                hostcall(&mut c, import, |c| {
                    let path = read(c, path_ptr, path_len)?;
                    let value = read(c, value_ptr, value_len)?;
                    Ok(c.data_mut().set_property(&path, &value)?)
                })
            },
        )
    }),
];
