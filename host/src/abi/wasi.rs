//! The WASI preview1 functions proxy-wasm SDKs import (Rust on wasip1, TinyGo, C++/Emscripten), implemented as
//! cpp-host does: stdout/stderr go to the plugin log, clocks read virtual time, everything file-like is refused.

use wasmtime::{Caller, Linker, format_err};

use super::LogLevel;
use super::memory::{read, write, write_u32, write_u64};
use crate::envoy::HostState;

/// WASI errno values cpp-host returns.
const SUCCESS: i32 = 0;
const BADF: i32 = 8;
const FAULT: i32 = 21;
const INVAL: i32 = 28;
const NOSYS: i32 = 52;

pub(crate) const FUNCTIONS: &[&str] = &[
    "fd_write",
    "fd_read",
    "fd_close",
    "fd_seek",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "path_open",
    "clock_time_get",
    "clock_res_get",
    "random_get",
    "environ_get",
    "environ_sizes_get",
    "args_get",
    "args_sizes_get",
    "proc_exit",
    "sched_yield",
    "poll_oneoff",
];

pub(super) fn add(linker: &mut Linker<HostState>, module: &str) -> wasmtime::Result<()> {
    linker.func_wrap(
        module,
        "fd_write",
        |mut c: Caller<'_, HostState>, fd: i32, iovs: i32, n: i32, ret: i32| {
            let level = match fd {
                1 => LogLevel::Info,
                2 => LogLevel::Error,
                _ => return Ok(BADF),
            };
            let mut bytes = Vec::new();
            for i in 0..n {
                let Ok(iov) = read(&mut c, iovs.wrapping_add(i * 8), 8) else {
                    return Ok(FAULT);
                };
                let ptr = i32::from_le_bytes(iov[0..4].try_into().expect("4 bytes"));
                let len = i32::from_le_bytes(iov[4..8].try_into().expect("4 bytes"));
                let Ok(chunk) = read(&mut c, ptr, len) else {
                    return Ok(FAULT);
                };
                bytes.extend_from_slice(&chunk);
            }
            let written = bytes.len() as u32;
            let text = String::from_utf8_lossy(&bytes);
            c.data_mut()
                .log(level, text.strip_suffix('\n').unwrap_or(&text).to_string());
            Ok(errno(write_u32(&mut c, ret, written)))
        },
    )?;
    linker.func_wrap(module, "fd_read", |_: i32, _: i32, _: i32, _: i32| NOSYS)?;
    linker.func_wrap(module, "fd_close", |_: i32| NOSYS)?;
    linker.func_wrap(module, "fd_seek", |_: i32, _: i64, _: i32, _: i32| NOSYS)?;
    linker.func_wrap(
        module,
        "fd_fdstat_get",
        |mut c: Caller<'_, HostState>, fd: i32, ret: i32| {
            if !(0..=2).contains(&fd) {
                return BADF;
            }
            // filetype CHARACTER_DEVICE (2), no flags, no rights.
            let mut stat = [0u8; 24];
            stat[0] = 2;
            errno(write(&mut c, ret, &stat))
        },
    )?;
    linker.func_wrap(module, "fd_fdstat_set_flags", |_: i32, _: i32| NOSYS)?;
    // No preopened directories: wasi-libc stops asking at the first BADF.
    linker.func_wrap(module, "fd_prestat_get", |_: i32, _: i32| BADF)?;
    linker.func_wrap(module, "fd_prestat_dir_name", |_: i32, _: i32, _: i32| BADF)?;
    linker.func_wrap(
        module,
        "path_open",
        |_: i32, _: i32, _: i32, _: i32, _: i32, _: i64, _: i64, _: i32, _: i32| NOSYS,
    )?;
    linker.func_wrap(
        module,
        "clock_time_get",
        |mut c: Caller<'_, HostState>, id: i32, _precision: i64, ret: i32| {
            if !(0..=3).contains(&id) {
                return INVAL;
            }
            let now = c.data().now.as_nanos() as u64;
            errno(write_u64(&mut c, ret, now))
        },
    )?;
    linker.func_wrap(
        module,
        "clock_res_get",
        |mut c: Caller<'_, HostState>, _id: i32, ret: i32| errno(write_u64(&mut c, ret, 1)),
    )?;
    linker.func_wrap(
        module,
        "random_get",
        |mut c: Caller<'_, HostState>, ptr: i32, len: i32| {
            let mut bytes = vec![0; len as u32 as usize];
            c.data_mut().random_bytes(&mut bytes);
            errno(write(&mut c, ptr, &bytes))
        },
    )?;
    linker.func_wrap(module, "environ_get", |_: i32, _: i32| SUCCESS)?;
    linker.func_wrap(
        module,
        "environ_sizes_get",
        |mut c: Caller<'_, HostState>, count: i32, size: i32| zero_sizes(&mut c, count, size),
    )?;
    linker.func_wrap(module, "args_get", |_: i32, _: i32| SUCCESS)?;
    linker.func_wrap(
        module,
        "args_sizes_get",
        |mut c: Caller<'_, HostState>, count: i32, size: i32| zero_sizes(&mut c, count, size),
    )?;
    linker.func_wrap(module, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        Err(format_err!("the guest called WASI proc_exit({code})"))
    })?;
    linker.func_wrap(module, "sched_yield", || SUCCESS)?;
    linker.func_wrap(module, "poll_oneoff", |_: i32, _: i32, _: i32, _: i32| {
        NOSYS
    })?;
    Ok(())
}

fn zero_sizes(c: &mut Caller<'_, HostState>, count: i32, size: i32) -> i32 {
    errno(write_u32(c, count, 0).and_then(|()| write_u32(c, size, 0)))
}

/// The errno of a write into guest memory: a bad pointer is EFAULT.
fn errno<T, E>(written: Result<T, E>) -> i32 {
    if written.is_ok() { SUCCESS } else { FAULT }
}
