//! Shared data and shared queues: `proxy_{get,set}_shared_data`, `proxy_{register,resolve}_shared_queue`,
//! `proxy_{enqueue,dequeue}_shared_queue`.

use wasmtime::Caller;

use super::HostResult;
use super::imports::{Import, import};
use super::memory::{read, return_bytes, write_u32};
use crate::envoy::HostState;
use crate::spec::Status;

/// The host functions of this area.
pub(super) const IMPORTS: &[Import] = &[
    import!(hostcall proxy_get_shared_data),
    import!(hostcall proxy_set_shared_data),
    import!(hostcall proxy_register_shared_queue),
    import!(hostcall proxy_resolve_shared_queue),
    import!(hostcall proxy_enqueue_shared_queue),
    import!(hostcall proxy_dequeue_shared_queue),
];

fn proxy_get_shared_data(
    c: &mut Caller<'_, HostState>,
    key_ptr: i32,
    key_len: i32,
    ret_ptr: i32,
    ret_len: i32,
    ret_cas: i32,
) -> HostResult {
    let key = read(c, key_ptr, key_len)?;
    let (value, cas) = c.data().shared_data(&key).ok_or(Status::NotFound)?;
    return_bytes(c, &value, ret_ptr, ret_len)?;
    write_u32(c, ret_cas, cas)
}

fn proxy_set_shared_data(
    c: &mut Caller<'_, HostState>,
    key_ptr: i32,
    key_len: i32,
    value_ptr: i32,
    value_len: i32,
    cas: u32,
) -> HostResult {
    let bytes = (key_len as u32 as usize).saturating_add(value_len as u32 as usize);
    c.data().check_shared_data_room(bytes)?;
    let key = read(c, key_ptr, key_len)?;
    let value = read(c, value_ptr, value_len)?;
    Ok(c.data().set_shared_data(&key, value, cas)?)
}

fn proxy_register_shared_queue(
    c: &mut Caller<'_, HostState>,
    name_ptr: i32,
    name_len: i32,
    ret_token: i32,
) -> HostResult {
    c.data()
        .check_queue_registration_room(name_len as u32 as usize)?;
    let name = read(c, name_ptr, name_len)?;
    let token = c.data().register_queue(&name);
    write_u32(c, ret_token, token)
}

fn proxy_resolve_shared_queue(
    c: &mut Caller<'_, HostState>,
    vm_id_ptr: i32,
    vm_id_len: i32,
    name_ptr: i32,
    name_len: i32,
    ret_token: i32,
) -> HostResult {
    let vm_id = read(c, vm_id_ptr, vm_id_len)?;
    let name = read(c, name_ptr, name_len)?;
    let token = c
        .data()
        .resolve_queue(&vm_id, &name)
        .ok_or(Status::NotFound)?;
    write_u32(c, ret_token, token)
}

fn proxy_enqueue_shared_queue(
    c: &mut Caller<'_, HostState>,
    token: u32,
    ptr: i32,
    len: i32,
) -> HostResult {
    c.data().check_queue_room(token, len as u32 as usize)?;
    let item = read(c, ptr, len)?;
    Ok(c.data_mut().enqueue(token, item)?)
}

fn proxy_dequeue_shared_queue(
    c: &mut Caller<'_, HostState>,
    token: u32,
    ret_ptr: i32,
    ret_len: i32,
) -> HostResult {
    let item = c.data().dequeue(token)?;
    return_bytes(c, &item, ret_ptr, ret_len)
}
