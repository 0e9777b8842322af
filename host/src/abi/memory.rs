//! Guest linear memory: checked reads and writes, and the "return bytes" contract (allocate exactly `len` bytes with
//! the module's allocator, copy, write pointer and length; ptr 0 / len 0 for nothing, without calling the allocator).

use smallvec::SmallVec;
use wasmtime::{Caller, format_err};

use super::{Fail, HostResult};
use crate::envoy::HostState;
use crate::spec::Status;

/// Runs the body of host function `name`: refuses calls Envoy's V8 runtime refuses while the VM starts, and turns
/// the body's result into the `proxy_status_t` the guest receives (or a trap).
pub(crate) fn hostcall(
    caller: &mut Caller<'_, HostState>,
    name: &'static str,
    body: impl FnOnce(&mut Caller<'_, HostState>) -> HostResult,
) -> wasmtime::Result<i32> {
    if caller.data().is_starting() {
        return Err(format_err!(
            "restricted_callback: `{name}` called while the VM starts (_initialize/main); Envoy only allows logging \
             and WASI clock/random/environment there, so configure the SDK in `main!` and do the rest in on_vm_start \
             or on_configure"
        ));
    }
    let (answer, result) = match body(caller) {
        Ok(()) => (Some(Status::Ok), Ok(Status::Ok as i32)),
        Err(Fail::Status(status)) => (Some(status), Ok(status as i32)),
        Err(Fail::Trap(error)) => (None, Err(error)),
    };
    // A trap report says which answer the guest was acting on (the SDK panics on statuses it does not expect).
    caller.data_mut().record_host_call(name, answer);
    result
}

/// Copies `len` bytes at `ptr` out of guest memory; out of bounds is `InvalidMemoryAccess`, as in cpp-host.
pub(crate) fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> HostResult<Vec<u8>> {
    with_range(caller, ptr, len, <[u8]>::to_vec)
}

/// [`read`] of what is nearly always short (a header name), copied onto the stack when it fits: a host call the
/// guest makes for every header it reads need not allocate.
pub(crate) fn read_short(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> HostResult<SmallVec<[u8; 64]>> {
    with_range(caller, ptr, len, SmallVec::from_slice)
}

/// Checks that `len` bytes at `ptr` are in guest memory, without copying them: what a host call does before it
/// charges a copy to the byte budget.
pub(crate) fn check_range(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> HostResult {
    with_range(caller, ptr, len, |_| ())
}

/// What `f` makes of the `len` bytes at `ptr`, checked as [`range`] does; a zero length needs no memory at all.
fn with_range<T>(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
    f: impl FnOnce(&[u8]) -> T,
) -> HostResult<T> {
    if len == 0 {
        return Ok(f(&[]));
    }
    let memory = memory(caller)?;
    Ok(f(range(memory.data(&*caller), ptr, len)?))
}

/// Lends guest memory (writable) and the host state to `f` at once.
pub(crate) fn with_memory_mut<T>(
    caller: &mut Caller<'_, HostState>,
    f: impl FnOnce(&mut HostState, &mut [u8]) -> T,
) -> HostResult<T> {
    let memory = memory(caller)?;
    let (data, state) = memory.data_and_store_mut(&mut *caller);
    Ok(f(state, data))
}

/// Lends two guest memory ranges and the host state to `f` at once, so a host call that only stores what it reads
/// (adding a header) copies it once, into its destination.
pub(crate) fn with_two<T>(
    caller: &mut Caller<'_, HostState>,
    (ptr_a, len_a): (i32, i32),
    (ptr_b, len_b): (i32, i32),
    f: impl FnOnce(&mut HostState, &[u8], &[u8]) -> HostResult<T>,
) -> HostResult<T> {
    // As with `read`, empty ranges need no memory.
    if caller.data().memory().is_none() && len_a == 0 && len_b == 0 {
        return f(caller.data_mut(), &[], &[]);
    }
    let memory = memory(caller)?;
    let (data, state) = memory.data_and_store_mut(&mut *caller);
    let a = range(data, ptr_a, len_a)?;
    let b = range(data, ptr_b, len_b)?;
    f(state, a, b)
}

/// Writes raw bytes at `ptr`.
pub(crate) fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> HostResult {
    let memory = memory(caller)?;
    let ptr = ptr as u32 as usize;
    let end = ptr
        .checked_add(bytes.len())
        .ok_or(Status::InvalidMemoryAccess)?;
    memory
        .data_mut(&mut *caller)
        .get_mut(ptr..end)
        .ok_or(Status::InvalidMemoryAccess)?
        .copy_from_slice(bytes);
    Ok(())
}

pub(crate) fn write_u32(caller: &mut Caller<'_, HostState>, ptr: i32, value: u32) -> HostResult {
    write(caller, ptr, &value.to_le_bytes())
}

pub(crate) fn write_u64(caller: &mut Caller<'_, HostState>, ptr: i32, value: u64) -> HostResult {
    write(caller, ptr, &value.to_le_bytes())
}

/// Hands `bytes` to the guest: allocated with its `malloc`/`proxy_on_memory_allocate` (exactly `len` bytes,
/// which the SDK frees with `Vec::from_raw_parts(ptr, len, len)`), pointer and length written to the out-params.
pub(crate) fn return_bytes(
    caller: &mut Caller<'_, HostState>,
    bytes: &[u8],
    ret_ptr: i32,
    ret_len: i32,
) -> HostResult {
    return_written(caller, bytes.len(), ret_ptr, ret_len, |out| {
        out.copy_from_slice(bytes)
    })
}

/// Like [`return_bytes`] for `len` bytes that `write` puts straight into the memory the guest allocated for them.
pub(crate) fn return_written(
    caller: &mut Caller<'_, HostState>,
    len: usize,
    ret_ptr: i32,
    ret_len: i32,
    write: impl FnOnce(&mut [u8]),
) -> HostResult {
    if len == 0 {
        write_u32(caller, ret_ptr, 0)?;
        return write_u32(caller, ret_len, 0);
    }
    let len = i32::try_from(len).map_err(|_| Status::InvalidMemoryAccess)?;
    let malloc = caller.data().malloc().ok_or(Status::InvalidMemoryAccess)?;
    let ptr = malloc.call(&mut *caller, len).map_err(Fail::Trap)?;
    if ptr == 0 {
        return Err(Status::InvalidMemoryAccess.into());
    }
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(len as usize)
        .ok_or(Status::InvalidMemoryAccess)?;
    let memory = memory(caller)?;
    write(
        memory
            .data_mut(&mut *caller)
            .get_mut(start..end)
            .ok_or(Status::InvalidMemoryAccess)?,
    );
    write_u32(caller, ret_ptr, ptr as u32)?;
    write_u32(caller, ret_len, len as u32)
}

/// `len` bytes at `ptr`, as [`read`] checks them (a zero length is empty wherever it points).
fn range(data: &[u8], ptr: i32, len: i32) -> HostResult<&[u8]> {
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    if len == 0 {
        return Ok(&[]);
    }
    let end = ptr.checked_add(len).ok_or(Status::InvalidMemoryAccess)?;
    Ok(data.get(ptr..end).ok_or(Status::InvalidMemoryAccess)?)
}

fn memory(caller: &Caller<'_, HostState>) -> HostResult<wasmtime::Memory> {
    caller
        .data()
        .memory()
        .ok_or(Fail::Status(Status::InvalidMemoryAccess))
}
