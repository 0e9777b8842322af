//! Metrics: `proxy_define_metric`, `proxy_increment_metric`, `proxy_record_metric`, `proxy_get_metric`.

use wasmtime::Caller;

use super::imports::{EVERY_ABI, Import};
use super::memory::{hostcall, read, write_u32, write_u64};
use crate::envoy::{HostState, MetricKind};
use crate::spec::Status;

/// The host functions of this area, each with the ABI versions cpp-host registers it for.
pub(super) const IMPORTS: &[Import] = &[
    Import::env(
        "proxy_define_metric",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>,
                      ty: i32,
                      name: i32,
                      name_len: i32,
                      ret_id: i32| {
                    hostcall(&mut c, import, |c| {
                        let kind = MetricKind::from_raw(ty).ok_or(Status::BadArgument)?;
                        c.data()
                            .check_budget_entry("a metric name", name_len as u32 as usize)?;
                        let name = String::from_utf8_lossy(&read(c, name, name_len)?).into_owned();
                        let id = c.data_mut().define_metric(kind, name)?;
                        write_u32(c, ret_id, id)
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_increment_metric",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, id: i32, delta: i64| {
                    hostcall(&mut c, import, |c| {
                        Ok(c.data_mut().metrics_mut().increment(id as u32, delta)?)
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_record_metric",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, id: i32, value: i64| {
                    hostcall(&mut c, import, |c| {
                        Ok(c.data_mut().record_metric(id as u32, value)?)
                    })
                },
            )
        },
    ),
    Import::env("proxy_get_metric", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            move |mut c: Caller<'_, HostState>, id: i32, ret: i32| {
                hostcall(&mut c, import, |c| {
                    let value = c.data().metrics().get(id as u32)?;
                    write_u64(c, ret, value as u64)
                })
            },
        )
    }),
];
