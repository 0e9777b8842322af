//! Metrics: `proxy_define_metric`, `proxy_increment_metric`, `proxy_record_metric`, `proxy_get_metric`.

use wasmtime::Caller;

use super::HostResult;
use super::imports::{Import, import};
use super::memory::{read, write_u32, write_u64};
use crate::envoy::{HostState, MetricKind};

/// The host functions of this area.
pub(super) const IMPORTS: &[Import] = &[
    import!(hostcall proxy_define_metric),
    import!(hostcall proxy_increment_metric),
    import!(hostcall proxy_record_metric),
    import!(hostcall proxy_get_metric),
];

fn proxy_define_metric(
    c: &mut Caller<'_, HostState>,
    kind: MetricKind,
    name_ptr: i32,
    name_len: i32,
    ret_id: i32,
) -> HostResult {
    c.data()
        .check_budget_entry("a metric name", name_len as u32 as usize)?;
    let name = String::from_utf8_lossy(&read(c, name_ptr, name_len)?).into_owned();
    let id = c.data_mut().define_metric(kind, name)?;
    write_u32(c, ret_id, id)
}

fn proxy_increment_metric(c: &mut Caller<'_, HostState>, id: u32, delta: i64) -> HostResult {
    Ok(c.data_mut().metrics_mut().increment(id, delta)?)
}

fn proxy_record_metric(c: &mut Caller<'_, HostState>, id: u32, value: i64) -> HostResult {
    Ok(c.data_mut().record_metric(id, value)?)
}

fn proxy_get_metric(c: &mut Caller<'_, HostState>, id: u32, ret: i32) -> HostResult {
    let value = c.data().metrics().get(id)?;
    write_u64(c, ret, value as u64)
}
