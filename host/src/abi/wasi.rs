//! The WASI preview1 functions Envoy provides, as cpp-host @ 52a0291 (Envoy 1.39) implements them: the 45 of its
//! `FOR_ALL_WASI_FUNCTIONS`, with its signatures (a module importing one with another signature does not load in
//! Envoy either) and its return values. stdout/stderr go to the plugin log, clocks read virtual time, environment
//! variables are the VM's (`environment_variables`), everything file- or socket-like is refused the way cpp-host
//! refuses it (mostly BADF, NOSYS or NOTSUP; a few "succeed" on stdout/stderr).

use envoy_targets::Change;
use wasmtime::Caller;

use super::imports::{Import, import};
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

/// The host functions of this area.
pub(super) const IMPORTS: &[Import] = &[
    import!(wasi fd_write),
    import!(wasi fd_pwrite),
    import!(wasi fd_read),
    import!(wasi fd_pread),
    import!(wasi fd_seek),
    import!(wasi fd_close),
    import!(wasi fd_fdstat_get),
    import!(wasi fd_fdstat_set_flags),
    import!(wasi fd_fdstat_set_rights),
    import!(wasi fd_advise),
    import!(wasi fd_allocate),
    import!(wasi fd_datasync),
    import!(wasi fd_sync),
    import!(wasi fd_filestat_set_size),
    import!(wasi fd_filestat_set_times),
    import!(wasi fd_filestat_get),
    import!(wasi fd_readdir),
    import!(wasi fd_renumber),
    import!(wasi fd_tell),
    import!(wasi fd_prestat_get),
    import!(wasi fd_prestat_dir_name),
    import!(wasi path_open),
    import!(wasi path_filestat_get),
    import!(wasi path_create_directory),
    import!(wasi path_remove_directory),
    import!(wasi path_unlink_file),
    import!(wasi path_filestat_set_times),
    import!(wasi path_link),
    import!(wasi path_rename),
    import!(wasi path_symlink),
    import!(wasi path_readlink),
    import!(wasi sock_accept),
    import!(wasi sock_recv),
    import!(wasi sock_send),
    import!(wasi sock_shutdown),
    import!(wasi environ_get),
    import!(wasi environ_sizes_get),
    import!(wasi args_get),
    import!(wasi args_sizes_get),
    import!(wasi clock_time_get),
    import!(wasi clock_res_get),
    import!(wasi random_get),
    import!(wasi sched_yield),
    import!(wasi poll_oneoff),
    import!(wasi proc_exit),
];

fn fd_write(
    mut c: Caller<'_, HostState>,
    fd: i32,
    iovs: i32,
    n: i32,
    ret: i32,
) -> wasmtime::Result<i32> {
    write_to_log(&mut c, fd, iovs, n, ret)
}

/// The offset is ignored: stdout and stderr have none.
fn fd_pwrite(
    mut c: Caller<'_, HostState>,
    fd: i32,
    iovs: i32,
    n: i32,
    _offset: i64,
    ret: i32,
) -> wasmtime::Result<i32> {
    write_to_log(&mut c, fd, iovs, n, ret)
}

fn fd_read(_fd: i32, _iovs: i32, _n: i32, _ret: i32) -> i32 {
    NOSYS
}

fn fd_pread(_fd: i32, _iovs: i32, _n: i32, _offset: i64, _ret: i32) -> i32 {
    NOSYS
}

/// cpp-host logs this to Envoy's own trace log ("wasi_unstable fd_seek") and reports success.
fn fd_seek(_fd: i32, _offset: i64, _whence: i32, _ret: i32) -> i32 {
    SUCCESS
}

fn fd_close(_fd: i32) -> i32 {
    SUCCESS
}

fn fd_fdstat_get(mut c: Caller<'_, HostState>, fd: i32, ret: i32) -> i32 {
    if !is_std_out_or_err(fd) {
        return BADF;
    }
    // filetype 0 and no flags, rights_base FD_WRITE (64), rights_inheriting 0. cpp-host does not check that the
    // write landed: success either way.
    let mut stat = [0u8; 24];
    stat[8] = 64;
    let _ = write(&mut c, ret, &stat);
    SUCCESS
}

fn fd_fdstat_set_flags(_fd: i32, _flags: i32) -> i32 {
    NOSYS
}

fn fd_fdstat_set_rights(fd: i32, _base: i64, _inheriting: i64) -> i32 {
    std_only(fd)
}

fn fd_advise(_fd: i32, _offset: i64, _len: i64, _advice: i32) -> i32 {
    SUCCESS
}

fn fd_allocate(fd: i32, _offset: i64, _len: i64) -> i32 {
    std_only(fd)
}

fn fd_datasync(fd: i32) -> i32 {
    std_only(fd)
}

fn fd_sync(fd: i32) -> i32 {
    std_only(fd)
}

fn fd_filestat_set_size(fd: i32, _size: i64) -> i32 {
    std_only(fd)
}

fn fd_filestat_set_times(fd: i32, _atime: i64, _mtime: i64, _flags: i32) -> i32 {
    std_only(fd)
}

fn fd_filestat_get(_fd: i32, _ret: i32) -> i32 {
    BADF
}

fn fd_readdir(
    mut c: Caller<'_, HostState>,
    _fd: i32,
    _buf: i32,
    _len: i32,
    _cookie: i64,
    used: i32,
) -> i32 {
    or_fault(write_u32(&mut c, used, 0), NOTDIR)
}

fn fd_renumber(fd: i32, to: i32) -> i32 {
    if is_std_out_or_err(fd) && is_std_out_or_err(to) {
        NOTSUP
    } else {
        BADF
    }
}

fn fd_tell(mut c: Caller<'_, HostState>, fd: i32, ret: i32) -> i32 {
    if !is_std_out_or_err(fd) {
        return BADF;
    }
    errno(write_u64(&mut c, ret, 0))
}

/// No preopened directories: wasi-libc stops asking at the first BADF.
fn fd_prestat_get(_fd: i32, _ret: i32) -> i32 {
    BADF
}

fn fd_prestat_dir_name(_fd: i32, _path: i32, _len: i32) -> i32 {
    NOSYS
}

#[allow(clippy::too_many_arguments)] // WASI's signature
fn path_open(
    _fd: i32,
    _dirflags: i32,
    _path: i32,
    _path_len: i32,
    _oflags: i32,
    _rights_base: i64,
    _rights_inheriting: i64,
    _fdflags: i32,
    _ret: i32,
) -> i32 {
    NOENT
}

fn path_filestat_get(_fd: i32, _flags: i32, _path: i32, _path_len: i32, _ret: i32) -> i32 {
    NOTSUP
}

fn path_create_directory(_fd: i32, _path: i32, _path_len: i32) -> i32 {
    NOTSUP
}

fn path_remove_directory(_fd: i32, _path: i32, _path_len: i32) -> i32 {
    NOTSUP
}

fn path_unlink_file(_fd: i32, _path: i32, _path_len: i32) -> i32 {
    NOTSUP
}

fn path_filestat_set_times(
    _fd: i32,
    _flags: i32,
    _path: i32,
    _path_len: i32,
    _atime: i64,
    _mtime: i64,
    _fst_flags: i32,
) -> i32 {
    NOTSUP
}

/// cpp-host's signature (six words).
fn path_link(_: i32, _: i32, _: i32, _: i32, _: i32, _: i32) -> i32 {
    NOTSUP
}

fn path_rename(_fd: i32, _old: i32, _old_len: i32, _new_fd: i32, _new: i32, _new_len: i32) -> i32 {
    NOTSUP
}

/// cpp-host's signature (four words).
fn path_symlink(_: i32, _: i32, _: i32, _: i32) -> i32 {
    NOTSUP
}

fn path_readlink(
    mut c: Caller<'_, HostState>,
    _fd: i32,
    _path: i32,
    _path_len: i32,
    _buf: i32,
    _buf_len: i32,
    used: i32,
) -> i32 {
    or_fault(write_u32(&mut c, used, 0), NOTSUP)
}

/// cpp-host clears 8 bytes for the new descriptor (a u32 in WASI): the guest sees both words zeroed.
fn sock_accept(mut c: Caller<'_, HostState>, _fd: i32, _flags: i32, ret_fd: i32) -> i32 {
    or_fault(write_u64(&mut c, ret_fd, 0), NOTSUP)
}

fn sock_recv(
    mut c: Caller<'_, HostState>,
    _fd: i32,
    _iovs: i32,
    _n: i32,
    _flags: i32,
    ret_len: i32,
    ret_flags: i32,
) -> i32 {
    let cleared = write_u32(&mut c, ret_len, 0).and_then(|()| write(&mut c, ret_flags, &[0, 0]));
    or_fault(cleared, NOTSUP)
}

fn sock_send(
    mut c: Caller<'_, HostState>,
    _fd: i32,
    _iovs: i32,
    _n: i32,
    _flags: i32,
    ret_len: i32,
) -> i32 {
    or_fault(write_u32(&mut c, ret_len, 0), NOTSUP)
}

fn sock_shutdown(_fd: i32, _how: i32) -> i32 {
    NOTSUP
}

/// A pointer per variable into one buffer of `KEY=VALUE\0` strings (cpp-host writes them one by one and stops at the
/// first that does not fit: EFAULT).
fn environ_get(mut c: Caller<'_, HostState>, mut array: i32, mut buf: i32) -> i32 {
    let entries: Vec<Vec<u8>> = c
        .data()
        .settings()
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}\0").into_bytes())
        .collect();
    for entry in entries {
        if write_u32(&mut c, array, buf as u32).is_err() || write(&mut c, buf, &entry).is_err() {
            return FAULT;
        }
        buf = buf.wrapping_add(entry.len() as i32);
        array = array.wrapping_add(4);
    }
    SUCCESS
}

fn environ_sizes_get(mut c: Caller<'_, HostState>, count: i32, size: i32) -> i32 {
    let env = &c.data().settings().env;
    let n = env.len() as u32;
    // Each entry is `KEY=VALUE\0`.
    let bytes: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    errno(write_u32(&mut c, count, n).and_then(|()| write_u32(&mut c, size, bytes as u32)))
}

fn args_get(_argv: i32, _buf: i32) -> i32 {
    SUCCESS
}

fn args_sizes_get(mut c: Caller<'_, HostState>, count: i32, size: i32) -> i32 {
    errno(write_u32(&mut c, count, 0).and_then(|()| write_u32(&mut c, size, 0)))
}

fn clock_time_get(mut c: Caller<'_, HostState>, id: i32, _precision: i64, ret: i32) -> i32 {
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
}

fn clock_res_get(mut c: Caller<'_, HostState>, id: i32, ret: i32) -> i32 {
    if id != REALTIME && id != MONOTONIC {
        return NOTSUP;
    }
    errno(write_u64(&mut c, ret, 1))
}

fn random_get(mut c: Caller<'_, HostState>, ptr: i32, len: i32) -> i32 {
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
}

fn sched_yield() -> i32 {
    SUCCESS
}

/// Nothing is polled: zero events, success (the Go runtime requires ESUCCESS; cpp-host #497), in the releases with
/// cpp-host 94091cd; the ones before answer NOSYS.
fn poll_oneoff(mut c: Caller<'_, HostState>, _in: i32, _out: i32, _n: i32, events: i32) -> i32 {
    if !c.data().settings().envoy.has(Change::PollOneoffSucceeds) {
        return NOSYS;
    }
    errno(write_u32(&mut c, events, 0))
}

/// cpp-host returns from proc_exit: the guest goes on (compilers put an `unreachable` after it, which traps).
fn proc_exit(mut c: Caller<'_, HostState>, code: i32) {
    c.data_mut().exited(code);
}

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
