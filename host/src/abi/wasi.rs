//! The WASI preview1 functions proxy-wasm SDKs import (Rust on wasip1, TinyGo, C++/Emscripten), implemented as
//! cpp-host does: stdout/stderr go to the plugin log, clocks read virtual time, everything file-like is refused.

use wasmtime::{Caller, Linker, format_err};

use super::LogLevel;
use super::memory::{with_memory_mut, write, write_u32, write_u64};
use crate::envoy::{BudgetExceeded, HostState};

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
            let gathered = with_memory_mut(&mut c, |state, data| {
                gather_write(state, data, level, iovs, n)
            });
            match gathered {
                Ok(Ok(written)) => Ok(errno(write_u32(&mut c, ret, written))),
                Ok(Err(WriteError::Errno(errno))) => Ok(errno),
                Ok(Err(WriteError::Budget(exceeded))) => Err(wasmtime::Error::new(exceeded)),
                Err(_) => Ok(FAULT),
            }
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
            // Filled in place: the length is the guest's, and only its own memory can hold that much.
            let filled = with_memory_mut(&mut c, |state, data| {
                let out = guest_range_mut(data, ptr, len).ok_or(FAULT)?;
                state.random_bytes(out);
                Ok(())
            });
            filled.map_or(FAULT, |filled| filled.err().unwrap_or(SUCCESS))
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

/// Why `fd_write` wrote nothing.
enum WriteError {
    Errno(i32),
    Budget(BudgetExceeded),
}

/// `fd_write` to stdout/stderr: every iovec is checked and their total measured before anything is copied, since
/// iovecs may all point at one region (a small module can name gigabytes); the text is one log line, charged to
/// the plugin's byte budget. Returns the bytes written.
fn gather_write(
    state: &mut HostState,
    data: &[u8],
    level: LogLevel,
    iovs: i32,
    n: i32,
) -> Result<u32, WriteError> {
    let array_len = (n as u32 as usize)
        .checked_mul(8)
        .ok_or(WriteError::Errno(FAULT))?;
    let array = guest_range(data, iovs, array_len).ok_or(WriteError::Errno(FAULT))?;
    let (entries, _) = array.as_chunks::<8>();
    let iov = |entry: &[u8; 8]| {
        let [p0, p1, p2, p3, l0, l1, l2, l3] = *entry;
        guest_range(
            data,
            i32::from_le_bytes([p0, p1, p2, p3]),
            u32::from_le_bytes([l0, l1, l2, l3]) as usize,
        )
    };
    let mut total = 0usize;
    for entry in entries {
        total += iov(entry).ok_or(WriteError::Errno(FAULT))?.len();
    }
    // The count the guest gets back is a u32: more in one call is refused, as POSIX `writev` refuses it.
    let written = u32::try_from(total).map_err(|_| WriteError::Errno(INVAL))?;
    if state.logs_at(level) {
        state
            .budget
            .check("a write to stdout/stderr", total)
            .map_err(WriteError::Budget)?;
        let mut bytes = Vec::with_capacity(total);
        for entry in entries {
            bytes.extend_from_slice(iov(entry).unwrap_or_default());
        }
        let text = String::from_utf8_lossy(&bytes);
        let line = text.strip_suffix('\n').unwrap_or(&text).to_string();
        state.log(level, line).map_err(WriteError::Budget)?;
    }
    Ok(written)
}

/// `len` bytes at `ptr` in guest memory, or `None` if any is outside it (nothing is always there).
fn guest_range(data: &[u8], ptr: i32, len: usize) -> Option<&[u8]> {
    if len == 0 {
        return Some(&[]);
    }
    let start = ptr as u32 as usize;
    data.get(start..start.checked_add(len)?)
}

fn guest_range_mut(data: &mut [u8], ptr: i32, len: i32) -> Option<&mut [u8]> {
    let start = ptr as u32 as usize;
    data.get_mut(start..start.checked_add(len as u32 as usize)?)
}

fn zero_sizes(c: &mut Caller<'_, HostState>, count: i32, size: i32) -> i32 {
    errno(write_u32(c, count, 0).and_then(|()| write_u32(c, size, 0)))
}

/// The errno of a write into guest memory: a bad pointer is EFAULT.
fn errno<T, E>(written: Result<T, E>) -> i32 {
    if written.is_ok() { SUCCESS } else { FAULT }
}
