//! The WASI preview1 functions Envoy provides, as cpp-host @ 52a0291 (Envoy 1.39) implements them: the 45 of its
//! `FOR_ALL_WASI_FUNCTIONS`, with its signatures (a module importing one with another signature does not load in
//! Envoy either) and its return values. stdout/stderr go to the plugin log, clocks read virtual time, environment
//! variables are the VM's (`environment_variables`), everything file- or socket-like is refused the way cpp-host
//! refuses it (mostly BADF, NOSYS or NOTSUP; a few "succeed" on stdout/stderr).

use envoy_targets::Change;
use wasmtime::Caller;

use super::imports::Import;
use super::memory::{with_memory_mut, write, write_u32, write_u64};
use crate::envoy::{BudgetExceeded, HostState};
use crate::spec::LogLevel;

/// WASI errno values cpp-host returns.
const SUCCESS: i32 = 0;
const BADF: i32 = 8;
const NOTDIR: i32 = 20;
const FAULT: i32 = 21;
const INVAL: i32 = 28;
const NOENT: i32 = 44;
const NOSYS: i32 = 52;
const IO: i32 = 29;
const NOTSUP: i32 = 58;

/// cpp-host's `PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES`: a longer `random_get` is EINVAL.
const RANDOM_GET_MAX: u32 = 64 * 1024;

/// Whether `fd` is stdout or stderr, the only descriptors cpp-host knows.
fn is_std_out_or_err(fd: i32) -> bool {
    fd == 1 || fd == 2
}

/// cpp-host's answer for the fd functions that "succeed" on stdout/stderr and are BADF elsewhere.
fn std_only(fd: i32) -> i32 {
    if is_std_out_or_err(fd) { SUCCESS } else { BADF }
}

/// The host functions of this area, each with the ABI versions cpp-host registers it for.
pub(super) const IMPORTS: &[Import] = &[
    Import::wasi("fd_write", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, fd: i32, iovs: i32, n: i32, ret: i32| {
                write_to_log(&mut c, fd, iovs, n, ret)
            },
        )
    }),
    // The offset is ignored: stdout and stderr have none.
    Import::wasi("fd_pwrite", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, fd: i32, iovs: i32, n: i32, _offset: i64, ret: i32| {
                write_to_log(&mut c, fd, iovs, n, ret)
            },
        )
    }),
    Import::wasi("fd_read", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32, _: i32, _: i32| NOSYS)
    }),
    Import::wasi("fd_pread", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32, _: i32, _: i64, _: i32| {
            NOSYS
        })
    }),
    // cpp-host logs these to Envoy's own trace log ("wasi_unstable fd_seek") and reports success.
    Import::wasi("fd_seek", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i64, _: i32, _: i32| SUCCESS)
    }),
    Import::wasi("fd_close", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32| SUCCESS)
    }),
    Import::wasi("fd_fdstat_get", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, fd: i32, ret: i32| {
                if !is_std_out_or_err(fd) {
                    return BADF;
                }
                // filetype 0 and no flags, rights_base FD_WRITE (64), rights_inheriting 0. cpp-host does not check
                // that the write landed: success either way.
                let mut stat = [0u8; 24];
                stat[8] = 64;
                let _ = write(&mut c, ret, &stat);
                SUCCESS
            },
        )
    }),
    Import::wasi("fd_fdstat_set_flags", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32| NOSYS)
    }),
    Import::wasi("fd_fdstat_set_rights", |linker, module, import| {
        linker.func_wrap(module, import, |fd: i32, _: i64, _: i64| std_only(fd))
    }),
    Import::wasi("fd_advise", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i64, _: i64, _: i32| SUCCESS)
    }),
    Import::wasi("fd_allocate", |linker, module, import| {
        linker.func_wrap(module, import, |fd: i32, _: i64, _: i64| std_only(fd))
    }),
    Import::wasi("fd_datasync", |linker, module, import| {
        linker.func_wrap(module, import, std_only)
    }),
    Import::wasi("fd_sync", |linker, module, import| {
        linker.func_wrap(module, import, std_only)
    }),
    Import::wasi("fd_filestat_set_size", |linker, module, import| {
        linker.func_wrap(module, import, |fd: i32, _: i64| std_only(fd))
    }),
    Import::wasi("fd_filestat_set_times", |linker, module, import| {
        linker.func_wrap(module, import, |fd: i32, _: i64, _: i64, _: i32| {
            std_only(fd)
        })
    }),
    Import::wasi("fd_filestat_get", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32| BADF)
    }),
    Import::wasi("fd_readdir", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, _: i32, _: i32, _: i32, _: i64, used: i32| {
                or_fault(write_u32(&mut c, used, 0), NOTDIR)
            },
        )
    }),
    Import::wasi("fd_renumber", |linker, module, import| {
        linker.func_wrap(module, import, |fd: i32, to: i32| {
            if is_std_out_or_err(fd) && is_std_out_or_err(to) {
                NOTSUP
            } else {
                BADF
            }
        })
    }),
    Import::wasi("fd_tell", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, fd: i32, ret: i32| {
                if !is_std_out_or_err(fd) {
                    return BADF;
                }
                errno(write_u64(&mut c, ret, 0))
            },
        )
    }),
    // No preopened directories: wasi-libc stops asking at the first BADF.
    Import::wasi("fd_prestat_get", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32| BADF)
    }),
    Import::wasi("fd_prestat_dir_name", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32, _: i32| NOSYS)
    }),
    Import::wasi("path_open", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |_: i32, _: i32, _: i32, _: i32, _: i32, _: i64, _: i64, _: i32, _: i32| NOENT,
        )
    }),
    Import::wasi("path_filestat_get", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32, _: i32, _: i32, _: i32| {
            NOTSUP
        })
    }),
    Import::wasi("path_create_directory", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32, _: i32| NOTSUP)
    }),
    Import::wasi("path_remove_directory", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32, _: i32| NOTSUP)
    }),
    Import::wasi("path_unlink_file", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32, _: i32| NOTSUP)
    }),
    Import::wasi("path_filestat_set_times", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |_: i32, _: i32, _: i32, _: i32, _: i64, _: i64, _: i32| NOTSUP,
        )
    }),
    Import::wasi("path_link", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |_: i32, _: i32, _: i32, _: i32, _: i32, _: i32| NOTSUP,
        )
    }),
    Import::wasi("path_rename", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |_: i32, _: i32, _: i32, _: i32, _: i32, _: i32| NOTSUP,
        )
    }),
    Import::wasi("path_symlink", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32, _: i32, _: i32| NOTSUP)
    }),
    Import::wasi("path_readlink", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, _: i32, _: i32, _: i32, _: i32, _: i32, used: i32| {
                or_fault(write_u32(&mut c, used, 0), NOTSUP)
            },
        )
    }),
    // cpp-host clears 8 bytes for the new descriptor (a u32 in WASI): the guest sees both words zeroed.
    Import::wasi("sock_accept", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, _: i32, _: i32, fd: i32| {
                or_fault(write_u64(&mut c, fd, 0), NOTSUP)
            },
        )
    }),
    Import::wasi("sock_recv", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, _: i32, _: i32, _: i32, _: i32, len: i32, flags: i32| {
                let cleared =
                    write_u32(&mut c, len, 0).and_then(|()| write(&mut c, flags, &[0, 0]));
                or_fault(cleared, NOTSUP)
            },
        )
    }),
    Import::wasi("sock_send", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, _: i32, _: i32, _: i32, _: i32, len: i32| {
                or_fault(write_u32(&mut c, len, 0), NOTSUP)
            },
        )
    }),
    Import::wasi("sock_shutdown", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32| NOTSUP)
    }),
    Import::wasi("environ_get", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, array: i32, buf: i32| environ_get(&mut c, array, buf),
        )
    }),
    Import::wasi("environ_sizes_get", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, count: i32, size: i32| {
                let env = &c.data().settings().env;
                let n = env.len() as u32;
                // Each entry is `KEY=VALUE\0`.
                let bytes: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
                errno(
                    write_u32(&mut c, count, n)
                        .and_then(|()| write_u32(&mut c, size, bytes as u32)),
                )
            },
        )
    }),
    Import::wasi("args_get", |linker, module, import| {
        linker.func_wrap(module, import, |_: i32, _: i32| SUCCESS)
    }),
    Import::wasi("args_sizes_get", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, count: i32, size: i32| {
                errno(write_u32(&mut c, count, 0).and_then(|()| write_u32(&mut c, size, 0)))
            },
        )
    }),
    Import::wasi("clock_time_get", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, id: i32, _precision: i64, ret: i32| {
                let state = c.data();
                let now = match id {
                    REALTIME => state.clock().now(),
                    MONOTONIC => state
                        .clock()
                        .now()
                        .saturating_sub(state.settings().start_time),
                    // cpp-host: "process_cputime_id and thread_cputime_id are not supported yet".
                    _ => return NOTSUP,
                };
                errno(write_u64(&mut c, ret, now.as_nanos() as u64))
            },
        )
    }),
    Import::wasi("clock_res_get", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, id: i32, ret: i32| {
                if id != REALTIME && id != MONOTONIC {
                    return NOTSUP;
                }
                errno(write_u64(&mut c, ret, 1))
            },
        )
    }),
    Import::wasi("random_get", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, ptr: i32, len: i32| {
                if len as u32 > RANDOM_GET_MAX {
                    return INVAL;
                }
                if len == 0 {
                    return SUCCESS;
                }
                let filled = with_memory_mut(&mut c, |state, data| {
                    let out = guest_range_mut(data, ptr, len).ok_or(FAULT)?;
                    // cpp-host aborts if BoringSSL cannot fill them; a guest here hears EIO instead.
                    state.random_bytes(out).map_err(|_| IO)
                });
                filled.map_or(FAULT, |filled| filled.err().unwrap_or(SUCCESS))
            },
        )
    }),
    Import::wasi("sched_yield", |linker, module, import| {
        linker.func_wrap(module, import, || SUCCESS)
    }),
    // Nothing is polled: zero events, success (the Go runtime requires ESUCCESS; cpp-host #497), in the releases
    // with cpp-host 94091cd; the ones before answer NOSYS.
    Import::wasi("poll_oneoff", |linker, module, import| {
        linker.func_wrap(
            module,
            import,
            |mut c: Caller<'_, HostState>, _in: i32, _out: i32, _n: i32, events: i32| {
                if !c.data().settings().envoy.has(Change::PollOneoffSucceeds) {
                    return NOSYS;
                }
                errno(write_u32(&mut c, events, 0))
            },
        )
    }),
    // cpp-host returns from proc_exit: the guest goes on (compilers put an `unreachable` after it, which traps).
    Import::wasi("proc_exit", |linker, module, import| {
        linker.func_wrap(module, import, |mut c: Caller<'_, HostState>, code: i32| {
            c.data_mut().exited(code);
        })
    }),
];

fn write_to_log(
    c: &mut Caller<'_, HostState>,
    fd: i32,
    iovs: i32,
    n: i32,
    ret: i32,
) -> wasmtime::Result<i32> {
    let level = match fd {
        1 => LogLevel::Info,
        2 => LogLevel::Error,
        _ => return Ok(BADF),
    };
    let gathered = with_memory_mut(c, |state, data| gather_write(state, data, level, iovs, n));
    match gathered {
        Ok(Ok(written)) => Ok(errno(write_u32(c, ret, written))),
        Ok(Err(WriteError::Errno(errno))) => Ok(errno),
        Ok(Err(WriteError::Budget(exceeded))) => Err(wasmtime::Error::new(exceeded)),
        Err(_) => Ok(FAULT),
    }
}

/// WASI clock ids cpp-host serves.
const REALTIME: i32 = 0;
const MONOTONIC: i32 = 1;

/// `environ_get`: a pointer per variable into one buffer of `KEY=VALUE\0` strings (cpp-host writes them one by one
/// and stops at the first that does not fit: EFAULT).
fn environ_get(c: &mut Caller<'_, HostState>, mut array: i32, mut buf: i32) -> i32 {
    let entries: Vec<Vec<u8>> = c
        .data()
        .settings()
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}\0").into_bytes())
        .collect();
    for entry in entries {
        if write_u32(c, array, buf as u32).is_err() || write(c, buf, &entry).is_err() {
            return FAULT;
        }
        buf = buf.wrapping_add(entry.len() as i32);
        array = array.wrapping_add(4);
    }
    SUCCESS
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
    // cpp-host logs nothing for an empty write.
    if total != 0 && state.logs_at(level) {
        state
            .check_budget_entry("a write to stdout/stderr", total)
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

/// The errno of a write into guest memory: a bad pointer is EFAULT.
fn errno<T, E>(written: Result<T, E>) -> i32 {
    if written.is_ok() { SUCCESS } else { FAULT }
}

/// `code` when the out-parameter was written, else EFAULT (cpp-host's order: the write is checked first).
fn or_fault<T, E>(written: Result<T, E>, code: i32) -> i32 {
    if written.is_ok() { code } else { FAULT }
}
