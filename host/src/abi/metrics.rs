//! Metrics: `proxy_define_metric`, `proxy_increment_metric`, `proxy_record_metric`, `proxy_get_metric`.

use wasmtime::{Caller, Linker};

use super::memory::{hostcall, read, write_u32, write_u64};
use crate::envoy::{HostState, MetricKind};
use crate::spec::Status;

pub(super) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Caller<'_, HostState>, ty: i32, name: i32, name_len: i32, ret_id: i32| {
            hostcall(&mut c, "proxy_define_metric", |c| {
                let kind = MetricKind::from_raw(ty).ok_or(Status::BadArgument)?;
                let name = String::from_utf8_lossy(&read(c, name, name_len)?).into_owned();
                let id = c.data_mut().metrics.define(kind, name);
                write_u32(c, ret_id, id)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |mut c: Caller<'_, HostState>, id: i32, delta: i64| {
            hostcall(&mut c, "proxy_increment_metric", |c| {
                Ok(c.data_mut().metrics.increment(id as u32, delta)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |mut c: Caller<'_, HostState>, id: i32, value: i64| {
            hostcall(&mut c, "proxy_record_metric", |c| {
                Ok(c.data_mut().metrics.record(id as u32, value)?)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_metric",
        |mut c: Caller<'_, HostState>, id: i32, ret: i32| {
            hostcall(&mut c, "proxy_get_metric", |c| {
                let value = c.data().metrics.get(id as u32)?;
                write_u64(c, ret, value as u64)
            })
        },
    )?;
    Ok(())
}
