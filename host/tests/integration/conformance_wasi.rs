//! WASI as Envoy provides it: the 45 functions of cpp-host's `FOR_ALL_WASI_FUNCTIONS` (52a0291, Envoy 1.39), with
//! cpp-host's signatures and return values (`src/exports.cc`, `wasi_unstable_*`), the VM's environment variables,
//! and the load failure of a module that imports anything else.
//!
//! Each function is called by a hand-written module whose `proxy_on_vm_start` logs `name=errno` per call.

use host::testing::*;

/// One call: what the log line is named, the import (module, name, parameter types), the arguments, and the errno
/// cpp-host returns.
struct Call {
    label: &'static str,
    module: &'static str,
    name: &'static str,
    params: &'static str,
    args: &'static str,
    errno: u32,
}

const fn call(
    label: &'static str,
    name: &'static str,
    params: &'static str,
    args: &'static str,
    errno: u32,
) -> Call {
    Call {
        label,
        module: "wasi_snapshot_preview1",
        name,
        params,
        args,
        errno,
    }
}

/// Scratch memory the calls point at: 1024.. is an iovec naming "out\n" at 1100, 1200.. receives results.
const CALLS: &[Call] = &[
    // cpp-host `writevImpl`: stdout and stderr only.
    call(
        "fd_write_3",
        "fd_write",
        "i32 i32 i32 i32",
        "3 1024 1 1200",
        8,
    ),
    call(
        "fd_pwrite_1",
        "fd_pwrite",
        "i32 i32 i32 i64 i32",
        "1 1024 1 0 1200",
        0,
    ),
    call(
        "fd_pwrite_3",
        "fd_pwrite",
        "i32 i32 i32 i64 i32",
        "3 1024 1 0 1200",
        8,
    ),
    call("fd_read", "fd_read", "i32 i32 i32 i32", "0 1024 1 1200", 52),
    call(
        "fd_pread",
        "fd_pread",
        "i32 i32 i32 i64 i32",
        "0 1024 1 0 1200",
        52,
    ),
    // `wasi_unstable_fd_seek` / `fd_close`: logged to Envoy's trace log, then success.
    call("fd_seek", "fd_seek", "i32 i64 i32 i32", "1 0 0 1200", 0),
    call("fd_close", "fd_close", "i32", "3", 0),
    call("fd_fdstat_get_0", "fd_fdstat_get", "i32 i32", "0 1200", 8),
    call("fd_fdstat_get_1", "fd_fdstat_get", "i32 i32", "1 1200", 0),
    call(
        "fd_fdstat_set_flags",
        "fd_fdstat_set_flags",
        "i32 i32",
        "1 0",
        52,
    ),
    call(
        "fd_fdstat_set_rights_1",
        "fd_fdstat_set_rights",
        "i32 i64 i64",
        "1 0 0",
        0,
    ),
    call(
        "fd_fdstat_set_rights_5",
        "fd_fdstat_set_rights",
        "i32 i64 i64",
        "5 0 0",
        8,
    ),
    call("args_get", "args_get", "i32 i32", "1200 1300", 0),
    call(
        "args_sizes_get",
        "args_sizes_get",
        "i32 i32",
        "1200 1204",
        0,
    ),
    // `wasi_unstable_clock_time_get`: realtime and monotonic only.
    call(
        "clock_time_get_0",
        "clock_time_get",
        "i32 i64 i32",
        "0 1 1200",
        0,
    ),
    call(
        "clock_time_get_1",
        "clock_time_get",
        "i32 i64 i32",
        "1 1 1200",
        0,
    ),
    call(
        "clock_time_get_2",
        "clock_time_get",
        "i32 i64 i32",
        "2 1 1200",
        58,
    ),
    call(
        "clock_time_get_3",
        "clock_time_get",
        "i32 i64 i32",
        "3 1 1200",
        58,
    ),
    call("clock_res_get_1", "clock_res_get", "i32 i32", "1 1200", 0),
    call("clock_res_get_2", "clock_res_get", "i32 i32", "2 1200", 58),
    call("fd_advise", "fd_advise", "i32 i64 i64 i32", "9 0 0 0", 0),
    call("fd_allocate_1", "fd_allocate", "i32 i64 i64", "1 0 0", 0),
    call("fd_allocate_9", "fd_allocate", "i32 i64 i64", "9 0 0", 8),
    call("fd_datasync_2", "fd_datasync", "i32", "2", 0),
    call("fd_datasync_0", "fd_datasync", "i32", "0", 8),
    call("fd_sync_1", "fd_sync", "i32", "1", 0),
    call(
        "fd_filestat_set_size_1",
        "fd_filestat_set_size",
        "i32 i64",
        "1 0",
        0,
    ),
    call(
        "fd_filestat_set_size_3",
        "fd_filestat_set_size",
        "i32 i64",
        "3 0",
        8,
    ),
    call(
        "fd_filestat_set_times_4",
        "fd_filestat_set_times",
        "i32 i64 i64 i32",
        "4 0 0 0",
        8,
    ),
    call("fd_filestat_get", "fd_filestat_get", "i32 i32", "1 1200", 8),
    call(
        "fd_readdir",
        "fd_readdir",
        "i32 i32 i32 i64 i32",
        "3 1300 16 0 1200",
        20,
    ),
    call("fd_renumber_1_2", "fd_renumber", "i32 i32", "1 2", 58),
    call("fd_renumber_1_5", "fd_renumber", "i32 i32", "1 5", 8),
    call("fd_tell_1", "fd_tell", "i32 i32", "1 1200", 0),
    call("fd_tell_7", "fd_tell", "i32 i32", "7 1200", 8),
    // No preopens, no paths: `path_open` is NOENT, the rest NOTSUP.
    call("fd_prestat_get", "fd_prestat_get", "i32 i32", "3 1200", 8),
    call(
        "fd_prestat_dir_name",
        "fd_prestat_dir_name",
        "i32 i32 i32",
        "3 1300 16",
        52,
    ),
    call(
        "path_open",
        "path_open",
        "i32 i32 i32 i32 i32 i64 i64 i32 i32",
        "3 0 1300 4 0 0 0 0 1200",
        44,
    ),
    call(
        "path_filestat_get",
        "path_filestat_get",
        "i32 i32 i32 i32 i32",
        "3 0 1300 4 1200",
        58,
    ),
    call(
        "path_create_directory",
        "path_create_directory",
        "i32 i32 i32",
        "3 1300 4",
        58,
    ),
    call(
        "path_remove_directory",
        "path_remove_directory",
        "i32 i32 i32",
        "3 1300 4",
        58,
    ),
    call(
        "path_unlink_file",
        "path_unlink_file",
        "i32 i32 i32",
        "3 1300 4",
        58,
    ),
    call(
        "path_filestat_set_times",
        "path_filestat_set_times",
        "i32 i32 i32 i32 i64 i64 i32",
        "3 0 1300 4 0 0 0",
        58,
    ),
    call(
        "path_link",
        "path_link",
        "i32 i32 i32 i32 i32 i32",
        "3 0 1300 4 3 1300",
        58,
    ),
    call(
        "path_rename",
        "path_rename",
        "i32 i32 i32 i32 i32 i32",
        "3 1300 4 3 1300 4",
        58,
    ),
    call(
        "path_symlink",
        "path_symlink",
        "i32 i32 i32 i32",
        "1300 4 3 1300",
        58,
    ),
    call(
        "path_readlink",
        "path_readlink",
        "i32 i32 i32 i32 i32 i32",
        "3 1300 4 1300 16 1200",
        58,
    ),
    call("sock_accept", "sock_accept", "i32 i32 i32", "3 0 1200", 58),
    call(
        "sock_recv",
        "sock_recv",
        "i32 i32 i32 i32 i32 i32",
        "3 1024 1 0 1200 1204",
        58,
    ),
    call(
        "sock_send",
        "sock_send",
        "i32 i32 i32 i32 i32",
        "3 1024 1 0 1200",
        58,
    ),
    call("sock_shutdown", "sock_shutdown", "i32 i32", "3 0", 58),
    // `wasi_unstable_random_get`: at most 64 KiB (PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES).
    call("random_get_16", "random_get", "i32 i32", "1300 16", 0),
    call("random_get_64k", "random_get", "i32 i32", "65536 65536", 0),
    call(
        "random_get_64k_plus_1",
        "random_get",
        "i32 i32",
        "65535 65537",
        28,
    ),
    call(
        "random_get_outside",
        "random_get",
        "i32 i32",
        "131070 16",
        21,
    ),
    call("sched_yield", "sched_yield", "", "", 0),
    // cpp-host 94091cd+: zero events, success (ENOSYS in Envoy 1.3x–1.38).
    call(
        "poll_oneoff",
        "poll_oneoff",
        "i32 i32 i32 i32",
        "1300 1400 1 1200",
        0,
    ),
    Call {
        label: "unstable_fd_write_2",
        module: "wasi_unstable",
        name: "fd_write",
        params: "i32 i32 i32 i32",
        args: "2 1024 1 1200",
        errno: 0,
    },
];

/// The module: imports every call's function, and `proxy_on_vm_start` makes the calls, logging `label=errno`.
fn module(calls: &[Call], extra_imports: &str, on_vm_start_end: &str) -> Vec<u8> {
    let mut imports = String::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut body = String::new();
    let mut data = String::new();
    let mut offset = 4096;
    for (i, c) in calls.iter().enumerate() {
        let import = format!("${}_{}", c.module, c.name);
        if seen.insert(import.clone()) {
            imports.push_str(&format!(
                "(import \"{}\" \"{}\" (func {import} (param {}) (result i32)))\n",
                c.module, c.name, c.params
            ));
        }
        let args: String = c
            .params
            .split_whitespace()
            .zip(c.args.split_whitespace())
            .map(|(ty, v)| format!("({ty}.const {v})"))
            .collect();
        data.push_str(&format!("(data (i32.const {offset}) \"{}=\")\n", c.label));
        body.push_str(&format!(
            ";; {i}\n(call $report (i32.const {offset}) (i32.const {}) (call {import} {args}))\n",
            c.label.len() + 1
        ));
        offset += 64;
    }
    let wat = format!(
        r#"(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  {imports}
  {extra_imports}
  (memory (export "memory") 2)
  (data (i32.const 1024) "\4c\04\00\00\04\00\00\00")
  (data (i32.const 1100) "out\n")
  {data}
  (func (export "malloc") (param i32) (result i32) (i32.const 65536))
  (func (export "proxy_abi_version_0_2_1"))
  ;; Logs the label at $at (length $len, ending in '=') followed by $errno in decimal.
  (func $report (param $at i32) (param $len i32) (param $errno i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $at) (local.get $len)))
    (i32.store8 (local.get $end) (i32.add (i32.const 48) (i32.div_u (local.get $errno) (i32.const 10))))
    (i32.store8 (i32.add (local.get $end) (i32.const 1))
      (i32.add (i32.const 48) (i32.rem_u (local.get $errno) (i32.const 10))))
    (drop (call $log (i32.const 2) (local.get $at) (i32.add (local.get $len) (i32.const 2)))))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    {body}
    {on_vm_start_end}
    (i32.const 1))
)"#
    );
    wat::parse_str(&wat).unwrap_or_else(|e| panic!("{e}\n{wat}"))
}

/// The `label=NN` lines the worker VM logged, as (label, errno).
fn reported(plugin: &Plugin) -> Vec<(String, u32)> {
    plugin
        .logs_at(Level::Info)
        .into_iter()
        .filter_map(|line| {
            let (label, errno) = line.rsplit_once('=')?;
            Some((label.to_string(), errno.parse().ok()?))
        })
        .collect()
}

/// cpp-host @ 52a0291 `FOR_ALL_WASI_FUNCTIONS` and each `wasi_unstable_*` function in `src/exports.cc`: every one
/// links with cpp-host's signature, under both module names, and returns what cpp-host returns.
#[test]
fn every_wasi_function_envoy_registers_links_and_returns_cpp_hosts_errno() {
    let plugin = Plugin::from_bytes(module(CALLS, "", ""))
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let expected: Vec<(String, u32)> = CALLS
        .iter()
        .map(|c| (c.label.to_string(), c.errno))
        .collect();
    assert_eq!(reported(&plugin), expected);
    let names: std::collections::BTreeSet<&str> = CALLS.iter().map(|c| c.name).collect();
    // 45 minus the four that need a test of their own: environ_get, environ_sizes_get, proc_exit and
    // fd_fdstat_get's output (below).
    assert_eq!(names.len() + 3, 45, "{names:?}");
    // `fd_pwrite` and `wasi_unstable.fd_write` go to the log like `fd_write`: stdout at info, stderr at error.
    assert_eq!(
        plugin
            .logs_at(Level::Info)
            .iter()
            .filter(|l| *l == "out")
            .count(),
        1
    );
    assert_eq!(plugin.logs_at(Level::Error), ["out"]);
}

/// cpp-host `wasi_unstable_fd_fdstat_get`: for stdout/stderr, filetype 0, no flags, `fs_rights_base` FD_WRITE (64).
/// cpp-host `wasi_unstable_poll_oneoff`: `nevents` is set to 0.
#[test]
fn fd_fdstat_get_and_poll_oneoff_write_what_cpp_host_writes() {
    let calls = [
        call("fd_fdstat_get_2", "fd_fdstat_get", "i32 i32", "2 1200", 0),
        call(
            "poll_oneoff",
            "poll_oneoff",
            "i32 i32 i32 i32",
            "1300 1400 1 1232",
            0,
        ),
    ];
    // The output areas start as 0xff, so the test sees what the host wrote.
    let fill = format!("(data (i32.const 1200) \"{}\")", "\\ff".repeat(36));
    let end = r#"
      (drop (call $log (i32.const 2) (i32.const 1200) (i32.const 24)))
      (drop (call $log (i32.const 2) (i32.const 1232) (i32.const 4)))"#;
    let bytes = module(&calls, &fill, end);
    let plugin = Plugin::from_bytes(bytes)
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let logs = plugin.logs();
    let raw: Vec<&[u8]> = logs
        .iter()
        .filter(|l| !l.message.contains('='))
        .map(|l| l.message.as_bytes())
        .collect();
    let mut fdstat = [0u8; 24];
    fdstat[8] = 64;
    assert_eq!(raw[0], fdstat, "{logs:?}");
    assert_eq!(raw[1], [0u8; 4], "{logs:?}");
}

/// A module that logs its environment from `proxy_on_vm_start`: the count and buffer size, then each entry.
const ENVIRON: &str = r#"(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 8192))
  (func (export "proxy_abi_version_0_2_1"))
  (func $strlen (param $p i32) (result i32)
    (local $q i32)
    (local.set $q (local.get $p))
    (block $end
      (loop $scan
        (br_if $end (i32.eqz (i32.load8_u (local.get $q))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $scan)))
    (i32.sub (local.get $q) (local.get $p)))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (local $i i32)
    (local $p i32)
    (if (call $sizes (i32.const 100) (i32.const 104)) (then (unreachable)))
    ;; The count and the buffer size, as raw little-endian words.
    (drop (call $log (i32.const 1) (i32.const 100) (i32.const 8)))
    (if (call $get (i32.const 200) (i32.const 1000)) (then (unreachable)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 100))))
        (local.set $p (i32.load (i32.add (i32.const 200) (i32.mul (local.get $i) (i32.const 4)))))
        (drop (call $log (i32.const 2) (local.get $p) (call $strlen (local.get $p))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))
)"#;

/// cpp-host `wasi_unstable_environ_get` / `environ_sizes_get` serve `WasmBase::envs()`: Envoy's `WasmConfig` merges
/// `environment_variables.key_values` and the `host_env_keys` set in Envoy's environment (unset ones are left out).
#[test]
fn environ_is_the_vms_environment_variables() {
    let plugin = Plugin::from_bytes(wat::parse_str(ENVIRON).unwrap())
        .env(&[("REGION", "eu"), ("A", "1")])
        // Cargo sets CARGO_PKG_NAME for the test process; the second name is set nowhere.
        .host_env(&["CARGO_PKG_NAME", "PROXY_WASM_HOST_TEST_UNSET_VARIABLE"])
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        plugin.logs_at(Level::Info),
        ["A=1", "CARGO_PKG_NAME=host", "REGION=eu"]
    );
    let words = plugin.logs_at(Level::Debug)[0].as_bytes().to_vec();
    let count = u32::from_le_bytes(words[0..4].try_into().unwrap());
    let size = u32::from_le_bytes(words[4..8].try_into().unwrap());
    assert_eq!(
        (count, size),
        (3, "A=1\0CARGO_PKG_NAME=host\0REGION=eu\0".len() as u32)
    );
}

/// Envoy's `WasmConfig`: "Key X is duplicated in envoy.extensions.wasm.v3.VmConfig.environment_variables".
#[test]
fn an_environment_variable_named_twice_is_refused_like_envoy_refuses_it() {
    let error = Plugin::from_bytes(wat::parse_str(ENVIRON).unwrap())
        .name("my-filter")
        .env(&[("REGION", "eu")])
        .host_env(&["REGION"])
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Config);
    assert!(
        error.message.contains(
            "Key REGION is duplicated in envoy.extensions.wasm.v3.VmConfig.environment_variables for my-filter"
        ),
        "{error}"
    );
}

/// Without environment variables the VM's environment is empty (not the host's).
#[test]
fn without_variables_the_environment_is_empty() {
    let plugin = Plugin::from_bytes(wat::parse_str(ENVIRON).unwrap())
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plugin.logs_at(Level::Info), Vec::<String>::new());
    assert_eq!(plugin.logs_at(Level::Debug)[0].as_bytes(), [0u8; 8]);
}

/// cpp-host `V8::link` / `Wasmtime::link`: an import the host does not register fails the load ("Failed to load Wasm
/// module due to a missing import: …"). Envoy names the first; the host names every one.
#[test]
fn a_module_importing_what_envoy_lacks_fails_to_load_naming_every_missing_import() {
    let extra = r#"
      (import "wasi_snapshot_preview1" "fd_mmap" (func (param i32) (result i32)))
      (import "env" "proxy_get_secret" (func (param i32) (result i32)))
      (import "wasi_snapshot_preview1" "thread_spawn" (func (param i32) (result i32)))"#;
    let error = Plugin::from_bytes(module(&CALLS[..2], extra, ""))
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Load);
    assert!(
        error.message.starts_with(
            "Failed to load Wasm module due to a missing import: wasi_snapshot_preview1.fd_mmap"
        ),
        "{error}"
    );
    assert!(
        error.message.contains(
            "3 imports of this proxy-wasm ABI 0.2.1 module: `wasi_snapshot_preview1.fd_mmap`, \
             `env.proxy_get_secret`, `wasi_snapshot_preview1.thread_spawn`"
        ),
        "{error}"
    );
}

/// cpp-host `wasi_unstable_path_link(Word × 6)` has one parameter fewer than WASI preview1's `path_link`: V8's
/// `link` fails with "import type mismatch", so a module importing WASI's signature does not load in Envoy.
#[test]
fn an_import_with_another_signature_than_cpp_hosts_fails_to_load() {
    let wasi_path_link = [call(
        "path_link",
        "path_link",
        "i32 i32 i32 i32 i32 i32 i32",
        "3 0 1300 4 3 1300 4",
        58,
    )];
    let error = Plugin::from_bytes(module(&wasi_path_link, "", ""))
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::Load);
    assert!(error.message.contains("path_link"), "{error}");
}

/// cpp-host `wasi_unstable_proc_exit` only logs to Envoy's trace log and returns: the guest carries on, here into an
/// `unreachable` as compilers emit after `proc_exit`, which traps.
#[test]
fn proc_exit_returns_and_the_guest_traps_after_it() {
    let extra = r#"(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (data (i32.const 3000) "after proc_exit")"#;
    let end = r#"
      (call $exit (i32.const 3))
      (drop (call $log (i32.const 2) (i32.const 3000) (i32.const 15)))
      (unreachable)"#;
    let error = Plugin::from_bytes(module(&[], extra, end))
        .start()
        .unwrap_err();
    assert_eq!(error.failure, StartFailure::VmStart);
    assert!(
        error.logs.iter().any(|l| l.message == "after proc_exit"),
        "{error}"
    );
    assert!(error.message.contains("proc_exit(3)"), "{error}");
}

/// The 16 hex digits `random_get_module` logged from the worker VM.
fn drawn(randomness: Randomness) -> String {
    let plugin = Plugin::from_bytes(crate::support::random_get_module())
        .random(randomness)
        .disk_cache(false)
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let logs = plugin.logs_at(Level::Info);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].len(), 16, "{logs:?}");
    logs[0].clone()
}

// cpp-host `wasi_unstable_random_get` (src/exports.cc) fills the bytes with BoringSSL's `RAND_bytes`: different on
// every run. The host's default is a seeded stream, so tests are reproducible; `Randomness::Os` is Envoy's.
#[test]
fn random_get_is_a_seeded_stream_by_default_and_the_operating_systems_on_request() {
    let default = drawn(Randomness::default());
    assert_eq!(default, drawn(Randomness::Seeded(Randomness::DEFAULT_SEED)));
    assert_eq!(
        default,
        drawn(Randomness::default()),
        "the same bytes every run"
    );
    let other = drawn(Randomness::Seeded(7));
    assert_ne!(default, other, "another seed, other bytes");
    assert_eq!(other, drawn(Randomness::Seeded(7)));
    let (a, b) = (drawn(Randomness::Os), drawn(Randomness::Os));
    assert_ne!(
        a, b,
        "the operating system's bytes differ between runs (2^-64 chance of a false failure)"
    );
    assert_ne!(a, default);
}
