//! Buffers: `proxy_get_buffer_bytes`, `proxy_set_buffer_bytes`, `proxy_get_buffer_status`, and ABI 0.1.0's
//! `proxy_get_configuration`.

use wasmtime::Caller;

use super::HostResult;
use super::imports::{Import, import};
use super::memory::{return_bytes, with_two, write_u32};
use crate::envoy::HostState;
use crate::spec::{BufferType, Status};

/// The host functions of this area.
pub(super) const IMPORTS: &[Import] = &[
    import!(hostcall proxy_get_buffer_bytes),
    import!(hostcall proxy_set_buffer_bytes),
    import!(hostcall proxy_get_buffer_status),
    import!(hostcall proxy_get_configuration),
];

fn proxy_get_buffer_bytes(
    c: &mut Caller<'_, HostState>,
    ty: BufferType,
    start: u32,
    max: u32,
    ret_ptr: i32,
    ret_len: i32,
) -> HostResult {
    let bytes = c.data().buffer(ty).ok_or(Status::NotFound)?;
    // Envoy checks the range on 64-bit words: (0, u32::MAX) is not an overflow.
    let (start, max) = (u64::from(start), u64::from(max));
    start.checked_add(max).ok_or(Status::BadArgument)?;
    let from = (start as usize).min(bytes.len());
    let to = (from as u64 + max).min(bytes.len() as u64) as usize;
    // Copied before the guest's allocator runs, which could change the buffer.
    let bytes = bytes[from..to].to_vec();
    return_bytes(c, &bytes, ret_ptr, ret_len)
}

fn proxy_set_buffer_bytes(
    c: &mut Caller<'_, HostState>,
    ty: BufferType,
    start: u32,
    size: u32,
    ptr: i32,
    len: i32,
) -> HostResult {
    // cpp-host `exports::set_buffer_bytes`: no buffer from `getBuffer` is NotFound, before the guest's bytes are
    // read.
    if !c.data().has_buffer(ty) {
        return Err(Status::NotFound.into());
    }
    c.data().check_budget_entry("a body", len as u32 as usize)?;
    // Copied straight from guest memory into the body.
    with_two(c, (ptr, len), (0, 0), |state, data, _| {
        state.charge_stream("a body", data.len())?;
        let (start, size) = (start as usize, size as usize);
        // A buffer Envoy holds as a string or const buffer, or a body it does not hold: cpp-host
        // `BufferBase::copyFrom`, "Setting a string buffer not supported". The Rust SDK's `set_http_request_body`
        // panics on it, in Envoy as here.
        let buffer = state.body_mut(ty).ok_or(Status::BadArgument)?;
        // Envoy's `Buffer::copyFrom`: drain+prepend at 0, append at/after the end, nothing else.
        if start == 0 && size >= buffer.len() {
            buffer.clear();
            buffer.extend_from_slice(data);
        } else if start == 0 {
            buffer.splice(..size, data.iter().copied());
        } else if start >= buffer.len() {
            buffer.extend_from_slice(data);
        } else {
            return Err(Status::BadArgument.into());
        }
        Ok(())
    })
}

fn proxy_get_buffer_status(
    c: &mut Caller<'_, HostState>,
    ty: BufferType,
    ret_len: i32,
    ret_flags: i32,
) -> HostResult {
    let len = c.data().buffer(ty).ok_or(Status::NotFound)?.len() as u32;
    write_u32(c, ret_len, len)?;
    write_u32(c, ret_flags, 0)
}

/// ABI 0.1.0: the plugin configuration inside on_configure, the VM configuration elsewhere.
fn proxy_get_configuration(
    c: &mut Caller<'_, HostState>,
    ret_ptr: i32,
    ret_len: i32,
) -> HostResult {
    let bytes = c.data().configuration().to_vec();
    return_bytes(c, &bytes, ret_ptr, ret_len)
}
