//! Properties: `proxy_get_property`, `proxy_set_property`.

use wasmtime::Caller;

use super::HostResult;
use super::imports::{Import, import};
use super::memory::{read, return_bytes};
use crate::envoy::HostState;

/// The host functions of this area.
pub(super) const IMPORTS: &[Import] = &[
    import!(hostcall proxy_get_property),
    import!(hostcall proxy_set_property),
];

fn proxy_get_property(
    c: &mut Caller<'_, HostState>,
    path_ptr: i32,
    path_len: i32,
    ret_ptr: i32,
    ret_len: i32,
) -> HostResult {
    let path = read(c, path_ptr, path_len)?;
    let value = c.data().property(&path)?;
    return_bytes(c, &value, ret_ptr, ret_len)
}

fn proxy_set_property(
    c: &mut Caller<'_, HostState>,
    path_ptr: i32,
    path_len: i32,
    value_ptr: i32,
    value_len: i32,
) -> HostResult {
    let path = read(c, path_ptr, path_len)?;
    let value = read(c, value_ptr, value_len)?;
    Ok(c.data_mut().set_property(&path, &value)?)
}
