//! Logging, time and timers: `proxy_log`, `proxy_get_log_level`, `proxy_get_current_time_nanoseconds`,
//! `proxy_set_tick_period_milliseconds`.

use std::time::Duration;

use wasmtime::{Caller, Linker};

use super::memory::{check_range, hostcall, read, write_u32, write_u64};
use crate::envoy::HostState;
use crate::spec::{LogLevel, Status};

pub(super) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |mut c: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| {
            // Logging is allowed while the VM starts, so it bypasses the start-phase check.
            let Some(level) = LogLevel::from_raw(level) else {
                return Ok(Status::BadArgument as i32);
            };
            // cpp-host reads the message before Envoy's level check: a bad pointer is refused either way.
            if check_range(&mut c, ptr, len).is_err() {
                return Ok(Status::InvalidMemoryAccess as i32);
            }
            if !c.data().logs_at(level) {
                return Ok(Status::Ok as i32);
            }
            // Refused before the copy: one call could otherwise make the host copy all of guest memory.
            c.data()
                .budget
                .check("a log message", len as u32 as usize)
                .map_err(wasmtime::Error::new)?;
            match read(&mut c, ptr, len) {
                Ok(bytes) => {
                    c.data_mut()
                        .log(level, String::from_utf8_lossy(&bytes).into_owned())
                        .map_err(wasmtime::Error::new)?;
                    Ok(Status::Ok as i32)
                }
                Err(_) => Ok(Status::InvalidMemoryAccess as i32),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_log_level",
        |mut c: Caller<'_, HostState>, ret: i32| {
            hostcall(&mut c, "proxy_get_log_level", |c| {
                let level = c.data().settings.log_level as u32;
                write_u32(c, ret, level)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: Caller<'_, HostState>, ret: i32| {
            hostcall(&mut c, "proxy_get_current_time_nanoseconds", |c| {
                let now = c.data().now.as_nanos() as u64;
                write_u64(c, ret, now)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: Caller<'_, HostState>, ms: i32| {
            hostcall(&mut c, "proxy_set_tick_period_milliseconds", |c| {
                // The timer belongs to the root context, whichever context calls.
                let state = c.data_mut();
                let period = Duration::from_millis(ms as u32 as u64);
                state.tick = (!period.is_zero()).then(|| (period, state.now + period));
                Ok(())
            })
        },
    )?;
    Ok(())
}
