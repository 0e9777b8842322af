//! Shared data and shared queues: `proxy_{get,set}_shared_data`, `proxy_{register,resolve}_shared_queue`,
//! `proxy_{enqueue,dequeue}_shared_queue`.

use wasmtime::Caller;

use super::imports::{EVERY_ABI, Import};
use super::memory::{hostcall, read, return_bytes, write_u32};
use crate::envoy::HostState;
use crate::spec::Status;

/// The host functions of this area, each with the ABI versions cpp-host registers it for.
pub(super) const IMPORTS: &[Import] = &[
    Import::env(
        "proxy_get_shared_data",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>,
                      k: i32,
                      kl: i32,
                      ret_ptr: i32,
                      ret_len: i32,
                      ret_cas: i32| {
                    hostcall(&mut c, import, |c| {
                        let key = read(c, k, kl)?;
                        let (value, cas) = c.data().shared_data(&key).ok_or(Status::NotFound)?;
                        return_bytes(c, &value, ret_ptr, ret_len)?;
                        write_u32(c, ret_cas, cas)
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_set_shared_data",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, k: i32, kl: i32, v: i32, vl: i32, cas: i32| {
                    hostcall(&mut c, import, |c| {
                        let bytes = (kl as u32 as usize).saturating_add(vl as u32 as usize);
                        c.data().check_shared_data_room(bytes)?;
                        let key = read(c, k, kl)?;
                        let value = read(c, v, vl)?;
                        Ok(c.data().set_shared_data(&key, value, cas as u32)?)
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_register_shared_queue",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, name: i32, name_len: i32, ret_token: i32| {
                    hostcall(&mut c, import, |c| {
                        c.data()
                            .check_queue_registration_room(name_len as u32 as usize)?;
                        let name = read(c, name, name_len)?;
                        let token = c.data().register_queue(&name);
                        write_u32(c, ret_token, token)
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_resolve_shared_queue",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>,
                      vm: i32,
                      vm_len: i32,
                      name: i32,
                      name_len: i32,
                      ret_token: i32| {
                    hostcall(&mut c, import, |c| {
                        let vm_id = read(c, vm, vm_len)?;
                        let name = read(c, name, name_len)?;
                        let token = c
                            .data()
                            .resolve_queue(&vm_id, &name)
                            .ok_or(Status::NotFound)?;
                        write_u32(c, ret_token, token)
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_enqueue_shared_queue",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, token: i32, ptr: i32, len: i32| {
                    hostcall(&mut c, import, |c| {
                        c.data()
                            .check_queue_room(token as u32, len as u32 as usize)?;
                        let item = read(c, ptr, len)?;
                        Ok(c.data_mut().enqueue(token as u32, item)?)
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_dequeue_shared_queue",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, token: i32, ret_ptr: i32, ret_len: i32| {
                    hostcall(&mut c, import, |c| {
                        let item = c.data().dequeue(token as u32)?;
                        return_bytes(c, &item, ret_ptr, ret_len)
                    })
                },
            )
        },
    ),
];
