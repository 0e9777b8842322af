//! Context plumbing: `proxy_set_effective_context`, `proxy_done`, `proxy_call_foreign_function`, and the two
//! Emscripten helpers cpp-host also registers.

use wasmtime::Caller;

use super::HostResult;
use super::imports::{Import, import};
use super::memory::{read, return_bytes};
use crate::envoy::{Builtin, HostState};
use crate::spec::Status;

/// The host functions of this area.
pub(super) const IMPORTS: &[Import] = &[
    import!(hostcall proxy_set_effective_context),
    import!(hostcall proxy_done),
    import!(hostcall proxy_call_foreign_function),
    import!(env pthread_equal),
    import!(env emscripten_notify_memory_growth),
];

fn proxy_set_effective_context(c: &mut Caller<'_, HostState>, id: u32) -> HostResult {
    Ok(c.data_mut().set_effective_context(id)?)
}

fn proxy_done(c: &mut Caller<'_, HostState>) -> HostResult {
    Ok(c.data_mut().done()?)
}

fn proxy_call_foreign_function(
    c: &mut Caller<'_, HostState>,
    name_ptr: i32,
    name_len: i32,
    args_ptr: i32,
    args_len: i32,
    ret_ptr: i32,
    ret_len: i32,
) -> HostResult {
    let name = read(c, name_ptr, name_len)?;
    let args = read(c, args_ptr, args_len)?;
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
}

fn pthread_equal(a: i32, b: i32) -> i32 {
    (a == b) as i32
}

fn emscripten_notify_memory_growth(_memory_index: i32) {}
