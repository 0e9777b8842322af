//! Properties: `proxy_get_property`, `proxy_set_property`.

use wasmtime::{Caller, Linker};

use super::memory::{hostcall, read, return_bytes};
use crate::envoy::HostState;

pub(super) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Caller<'_, HostState>, path_ptr: i32, path_len: i32, ret_ptr: i32, ret_len: i32| {
            hostcall(&mut c, "proxy_get_property", |c| {
                let path = read(c, path_ptr, path_len)?;
                let value = c.data().property(&path)?;
                return_bytes(c, &value, ret_ptr, ret_len)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: Caller<'_, HostState>,
         path_ptr: i32,
         path_len: i32,
         value_ptr: i32,
         value_len: i32| {
            hostcall(&mut c, "proxy_set_property", |c| {
                let path = read(c, path_ptr, path_len)?;
                let value = read(c, value_ptr, value_len)?;
                Ok(c.data_mut().set_property(&path, &value)?)
            })
        },
    )?;
    Ok(())
}
