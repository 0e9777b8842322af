//! Logging, time and timers: `proxy_log`, `proxy_get_log_level`, `proxy_get_current_time_nanoseconds`,
//! `proxy_set_tick_period_milliseconds`.

use std::time::Duration;

use wasmtime::Caller;

use super::HostResult;
use super::imports::{Import, import};
use super::memory::{check_range, read, write_u32, write_u64};
use crate::envoy::HostState;
use crate::spec::{LogLevel, Status};

/// The host functions of this area.
pub(super) const IMPORTS: &[Import] = &[
    // Logging is allowed while the VM starts.
    import!(while_starting proxy_log),
    import!(hostcall proxy_get_log_level),
    import!(hostcall proxy_get_current_time_nanoseconds),
    import!(hostcall proxy_set_tick_period_milliseconds),
];

fn proxy_log(c: &mut Caller<'_, HostState>, level: LogLevel, ptr: i32, len: i32) -> HostResult {
    // cpp-host reads the message before Envoy's level check: a bad pointer is refused either way.
    check_range(c, ptr, len).map_err(|_| Status::InvalidMemoryAccess)?;
    if !c.data().logs_at(level) {
        return Ok(());
    }
    // Refused before the copy: one call could otherwise make the host copy all of guest memory.
    c.data()
        .check_budget_entry("a log message", len as u32 as usize)?;
    let bytes = read(c, ptr, len).map_err(|_| Status::InvalidMemoryAccess)?;
    c.data_mut()
        .log(level, String::from_utf8_lossy(&bytes).into_owned())?;
    Ok(())
}

fn proxy_get_log_level(c: &mut Caller<'_, HostState>, ret: i32) -> HostResult {
    let level = c.data().settings().log_level as u32;
    write_u32(c, ret, level)
}

fn proxy_get_current_time_nanoseconds(c: &mut Caller<'_, HostState>, ret: i32) -> HostResult {
    let now = c.data().clock().now().as_nanos() as u64;
    write_u64(c, ret, now)
}

/// The timer belongs to the root context, whichever context calls.
fn proxy_set_tick_period_milliseconds(c: &mut Caller<'_, HostState>, ms: u32) -> HostResult {
    let period = Duration::from_millis(u64::from(ms));
    c.data_mut().clock_mut().set_tick_period(period);
    Ok(())
}
