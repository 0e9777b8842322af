//! Shared data and shared queues: `proxy_{get,set}_shared_data`, `proxy_{register,resolve}_shared_queue`,
//! `proxy_{enqueue,dequeue}_shared_queue`.

use wasmtime::Caller;

use super::imports::{EVERY_ABI, Import};
use super::memory::{hostcall, read, return_bytes, write_u32};
use crate::envoy::{BudgetExceeded, HostState};
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
                        let state = c.data();
                        let (value, cas) = state
                            .process
                            .borrow()
                            .get(state.settings.vm_id.as_bytes(), &key)
                            .cloned()
                            .ok_or(Status::NotFound)?;
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
                        // Shared data outlives every stream: a vm_id's may hold what the writer's byte budget allows.
                        let state = c.data();
                        let held = state
                            .process
                            .borrow()
                            .data_bytes(state.settings.vm_id.as_bytes());
                        let bytes = (kl as u32 as usize).saturating_add(vl as u32 as usize);
                        if held.saturating_add(bytes) > state.budget.limit() {
                            return Err(BudgetExceeded {
                                what: "a shared data entry",
                                bytes,
                                used: held,
                                limit: state.budget.limit(),
                            }
                            .into());
                        }
                        let key = read(c, k, kl)?;
                        let value = read(c, v, vl)?;
                        let state = c.data();
                        let vm_id = state.settings.vm_id.as_bytes();
                        Ok(state
                            .process
                            .borrow_mut()
                            .set(vm_id, &key, value, cas as u32)?)
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
                        let name = read(c, name, name_len)?;
                        let state = c.data();
                        let vm_id = state.settings.vm_id.as_bytes();
                        let token =
                            state
                                .process
                                .borrow_mut()
                                .register(vm_id, &name, state.plugin_id);
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
                        let state = c.data();
                        // An empty vm_id means the caller's own.
                        let vm_id = match vm_id.is_empty() {
                            true => state.settings.vm_id.as_bytes(),
                            false => &vm_id,
                        };
                        let token = state
                            .process
                            .borrow()
                            .resolve(vm_id, &name)
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
                        // A queue nobody drains would grow without end: it may hold what the plugin's byte budget allows.
                        let state = c.data();
                        let held = state.process.borrow().queue_bytes(token as u32)?;
                        let bytes = len as u32 as usize;
                        if held.saturating_add(bytes) > state.budget.limit() {
                            return Err(BudgetExceeded {
                                what: "a shared queue item",
                                bytes,
                                used: held,
                                limit: state.budget.limit(),
                            }
                            .into());
                        }
                        let item = read(c, ptr, len)?;
                        let state = c.data_mut();
                        let mut process = state.process.borrow_mut();
                        let owner = process.enqueue(token as u32, item)?;
                        // Envoy posts the notification to the registering thread's dispatcher: it runs later, here after
                        // the current test step, or when the test next touches the registering plugin.
                        if owner == state.plugin_id {
                            drop(process);
                            state.queue_ready.push_back(token as u32);
                        } else {
                            process.post(owner, token as u32);
                        }
                        Ok(())
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
                        let item = c.data().process.borrow_mut().dequeue(token as u32)?;
                        return_bytes(c, &item, ret_ptr, ret_len)
                    })
                },
            )
        },
    ),
];
