//! Logging, time and timers: `proxy_log`, `proxy_get_log_level`, `proxy_get_current_time_nanoseconds`,
//! `proxy_set_tick_period_milliseconds`.

use std::time::Duration;

use wasmtime::Caller;

use super::imports::{ABI_0_2_1, EVERY_ABI, Import};
use super::memory::{check_range, hostcall, read, write_u32, write_u64};
use crate::envoy::HostState;
use crate::spec::{LogLevel, Status};

/// The host functions of this area, each with the ABI versions cpp-host registers it for.
pub(super) const IMPORTS: &[Import] = &[
    Import::env("proxy_log", EVERY_ABI, |linker, module, import| {
        linker.func_wrap(
            module,
            import,
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
                    .check_budget_entry("a log message", len as u32 as usize)
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
        )
    }),
    Import::env(
        "proxy_get_log_level",
        ABI_0_2_1,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, ret: i32| {
                    hostcall(&mut c, import, |c| {
                        let level = c.data().settings().log_level as u32;
                        write_u32(c, ret, level)
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_get_current_time_nanoseconds",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, ret: i32| {
                    hostcall(&mut c, import, |c| {
                        let now = c.data().clock().now().as_nanos() as u64;
                        write_u64(c, ret, now)
                    })
                },
            )
        },
    ),
    Import::env(
        "proxy_set_tick_period_milliseconds",
        EVERY_ABI,
        |linker, module, import| {
            linker.func_wrap(
                module,
                import,
                move |mut c: Caller<'_, HostState>, ms: i32| {
                    hostcall(&mut c, import, |c| {
                        // The timer belongs to the root context, whichever context calls.
                        let state = c.data_mut();
                        let period = Duration::from_millis(ms as u32 as u64);
                        state.clock_mut().set_tick_period(period);
                        Ok(())
                    })
                },
            )
        },
    ),
];
